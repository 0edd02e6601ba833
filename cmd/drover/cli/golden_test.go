package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func itoa(n int) string { return strconv.Itoa(n) }

// stable makes output independent of where the repository is checked out:
// the absolute path of the repository root becomes $ROOT.
func stable(t *testing.T, s string) string {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(s, abs, "$ROOT")
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata/golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoldenInventory(t *testing.T) {
	for _, ex := range []string{"apim-3.2-distributed", "apim-4.4-distributed", "apim-4.4-separate-km", "apim-4.7-split"} {
		t.Run(ex, func(t *testing.T) {
			text := run(t, "inventory", "-i", example(ex))
			if text.code != ExitOK || text.stderr != "" {
				t.Fatalf("inventory: %s", text)
			}
			golden(t, "inventory-"+ex+".txt", stable(t, text.stdout))

			js := run(t, "--json", "inventory", "-i", example(ex))
			if js.code != ExitOK || js.stderr != "" {
				t.Fatalf("inventory --json: %s", js)
			}
			golden(t, "inventory-"+ex+".json", stable(t, js.stdout))
		})
	}
}

func TestGoldenValidateJSON(t *testing.T) {
	tests := []struct {
		fixture string
		code    int
	}{
		{"duplicate-node.hcl", ExitUsage},
		{"profile-not-in-version.hcl", ExitUsage},
		{"bad-jump.hcl", ExitUsage},
		{"invalid-file-path.hcl", ExitUsage},
		{"syntax-unclosed-block.hcl", ExitUsage},
		{"duplicate-node-across-files", ExitUsage},
		{"same-address-warning.hcl", ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := run(t, "validate", "--json", "-i", fixture(tt.fixture))
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r)
			}
			if r.stderr != "" {
				t.Errorf("validate --json wrote to stderr: %q", r.stderr)
			}
			golden(t, "validate-"+strings.TrimSuffix(tt.fixture, ".hcl")+".json", stable(t, r.stdout))
		})
	}
	r := run(t, "validate", "--json", "-i", example("apim-4.4-distributed"))
	if r.code != ExitOK {
		t.Fatalf("%s", r)
	}
	golden(t, "validate-apim-4.4-distributed.json", stable(t, r.stdout))
}
