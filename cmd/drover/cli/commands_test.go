package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
)

func TestValidateExitCodes(t *testing.T) {
	for _, ex := range []string{"apim-3.2-distributed", "apim-4.4-distributed", "apim-4.4-separate-km", "apim-4.7-split"} {
		r := run(t, "validate", "-i", example(ex))
		// The examples name packs the operator brings (one per profile in
		// the split example): their absence is validate's only warning.
		packs := 1
		if ex == "apim-4.7-split" {
			packs = 3
		}
		if r.code != ExitOK || !strings.Contains(r.stdout, ": valid (cluster ") ||
			strings.Count(r.stderr, "Warning: ") != packs || strings.Count(r.stderr, "Warning: Update pack not found") != packs {
			t.Errorf("validate %s: %s", ex, r)
		}
	}
	// Every invalid fixture exits 2 and names its file and the line of its
	// first error, both in the snippet and on the last line.
	fixtures, _ := filepath.Glob(fixture("*.hcl"))
	if len(fixtures) < 24 {
		t.Fatalf("found %d fixtures", len(fixtures))
	}
	for _, path := range fixtures {
		line := firstAnnotated(t, path, "# ERROR: ")
		if line == 0 {
			continue // warnings only
		}
		r := run(t, "validate", "-i", path)
		if r.code != ExitUsage {
			t.Errorf("%s: %s", path, r)
			continue
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("on %s line %d", path, line)) {
			t.Errorf("%s: stderr does not show the snippet of line %d:\n%s", path, line, r.stderr)
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("first at %s:%d: ", path, line)) {
			t.Errorf("%s: stderr does not end with %s:%d:\n%s", path, path, line, r.stderr)
		}
		if strings.Contains(r.stderr, "--help") || r.stdout != "" {
			t.Errorf("%s: an invalid inventory is not a usage mistake: %s", path, r)
		}
	}
	// Warnings alone: exit 0, the warning on stderr.
	r := run(t, "validate", "-i", fixture("same-address-warning.hcl"))
	if r.code != ExitOK || !strings.Contains(r.stderr, "Warning: Two nodes at one address") || !strings.Contains(r.stdout, "valid") {
		t.Errorf("warnings only: %s", r)
	}
}

// firstAnnotated returns the first line of a fixture that holds marker.
func firstAnnotated(t *testing.T, path, marker string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	return 0
}

func TestValidateJSONShape(t *testing.T) {
	r := run(t, "validate", "--json", "-i", fixture("port-out-of-range.hcl"))
	if r.code != ExitUsage {
		t.Fatalf("%s", r)
	}
	var out struct {
		Valid       bool                       `json:"valid"`
		Diagnostics []inventory.JSONDiagnostic `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Valid || len(out.Diagnostics) != 3 {
		t.Fatalf("got %+v", out)
	}
	for _, d := range out.Diagnostics {
		if d.Severity != "error" || d.Summary != "Invalid port" || d.Detail == "" || !strings.HasSuffix(d.File, "port-out-of-range.hcl") || d.Line == 0 || d.Column == 0 {
			t.Errorf("diagnostic %+v", d)
		}
	}
}

func TestInventoryCommand(t *testing.T) {
	inv := example("apim-4.4-distributed")
	gateways := []string{"gw-1", "gw-2", "gw-3", "gw-4"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"limit profile after command", []string{"inventory", "--limit", "profile:gateway-worker", "-i", inv}, gateways},
		{"limit before command", []string{"-l", "profile:gateway-worker", "-i", inv, "inventory"}, gateways},
		{"limit with =", []string{"inventory", "--limit=profile:gateway-worker", "--inventory=" + inv}, gateways},
		{"glob", []string{"inventory", "-l", "gw-*", "-i", inv}, gateways},
		{"comma and repeat in rollout order", []string{"inventory", "-l", "gw-3,tm-2", "-l", "cp-1", "-i", inv}, []string{"cp-1", "tm-2", "gw-3"}},
		{"all", []string{"inventory", "-i", inv}, []string{"cp-1", "cp-2", "tm-1", "tm-2", "gw-1", "gw-2", "gw-3", "gw-4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, append(tt.args, "--json")...)
			if r.code != ExitOK {
				t.Fatalf("%s", r)
			}
			var rows []inventoryRow
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, row := range rows {
				got = append(got, row.Node)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("nodes %v, want %v", got, tt.want)
			}

			text := run(t, tt.args...)
			lines := strings.Split(strings.TrimSpace(text.stdout), "\n")
			if text.code != ExitOK || len(lines) != len(tt.want)+1 || !strings.HasPrefix(lines[0], "WAVE") {
				t.Fatalf("%s", text)
			}
			for i, l := range lines[1:] {
				if f := strings.Fields(l); len(f) != 5 || f[2] != tt.want[i] {
					t.Errorf("row %d = %q, want node %s", i, l, tt.want[i])
				}
			}
		})
	}
	r := run(t, "inventory", "-l", "profile:gateway-worker", "-i", inv)
	if !strings.Contains(r.stdout, "\n3     gateway-worker  gw-4  wso2@10.0.0.24:2222  /opt/wso2/wso2am-4.4.0\n") {
		t.Errorf("gw-4 row (port 2222, wave 3) missing:\n%s", r.stdout)
	}
}

func TestInventoryErrors(t *testing.T) {
	inv := example("apim-4.4-distributed")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no match names the selector", []string{"inventory", "-l", "gw-9", "-i", inv}, ExitUsage, `--limit "gw-9" matches no node`},
		{"unknown profile", []string{"inventory", "-l", "profile:gateway", "-i", inv}, ExitUsage, `--limit "profile:gateway" matches no profile`},
		{"one of several misses", []string{"inventory", "-l", "gw-1,db-1", "-i", inv}, ExitUsage, `"db-1"`},
		{"invalid inventory", []string{"inventory", "-i", fixture("duplicate-node.hcl")}, ExitUsage, "duplicate-node.hcl:16: Duplicate node"},
		{"missing inventory", []string{"inventory", "-i", filepath.Join(t.TempDir(), "none.hcl")}, ExitUsage, "Inventory not found"},
		{"empty directory", []string{"validate", "-i", t.TempDir()}, ExitUsage, "No inventory files"},
		{"unknown command", []string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"inventory", "--frob", "-i", inv}, ExitUsage, "frob"},
		{"bad parallel", []string{"inventory", "--parallel", "0", "-i", inv}, ExitUsage, "--parallel 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("want exit %d and stderr with %q; got %s", tt.code, tt.stderr, r)
			}
			if r.stdout != "" {
				t.Errorf("stdout must stay empty on failure: %q", r.stdout)
			}
		})
	}
}

func TestInventoryFromEnvironment(t *testing.T) {
	t.Setenv("DROVER_INVENTORY", example("apim-3.2-distributed"))
	r := run(t, "inventory", "-l", "profile:gateway-worker")
	if r.code != ExitOK || !strings.Contains(r.stdout, "gw-1") || strings.Contains(r.stdout, "km-1") {
		t.Errorf("%s", r)
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := run(t, "version")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "drover "+Version+"\n") || !strings.Contains(r.stdout, runtime.Version()) ||
		!strings.Contains(r.stdout, "commit:") {
		t.Errorf("version: %s", r)
	}
	for _, args := range [][]string{{"--help"}, {"validate", "--help"}} {
		r := run(t, args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "EXIT STATUS") || !strings.Contains(r.stdout, "130  interrupted") {
			t.Errorf("%v: %s", args, r)
		}
	}
	if r := run(t); r.code != ExitUsage || !strings.Contains(r.stdout, "validate") {
		t.Errorf("no command: %s", r)
	}
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut strings.Builder
	if code := Run(ctx, []string{"drover", "version"}, strings.NewReader(""), &out, &errOut); code != ExitInterrupted {
		t.Errorf("exit %d after interrupt, want 130", code)
	}
}

type refusal struct{}

func (refusal) Error() string { return "host key changed" }
func (refusal) Refused() bool { return true }

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitFailed},
		{usageErrorf("bad"), ExitUsage},
		{fmt.Errorf("wrapped: %w", usageErrorf("bad")), ExitUsage},
		{refused(errors.New("stale plan")), ExitRefused},
		{fmt.Errorf("dial: %w", refusal{}), ExitRefused},
		{&silentError{ExitFailed}, ExitFailed},
		{&inventory.SelectError{Selector: "x", Reason: "matches no node"}, ExitUsage},
		{fmt.Errorf("run: %w", context.Canceled), ExitInterrupted},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestHoistGlobals(t *testing.T) {
	tests := []struct{ in, want string }{
		{"drover inventory -l gw-1", "drover -l gw-1 inventory"},
		{"drover -i x inventory --json", "drover -i x --json inventory"},
		{"drover inventory --limit=a,b -v", "drover --limit=a,b -v inventory"},
		{"drover exec -l gw-1 -- ls -l --json", "drover -l gw-1 exec -- ls -l --json"},
		{"drover inventory -l", "drover inventory -l"}, // missing value left for the parser to report
		{"drover validate --json=false -i x", "drover --json=false -i x validate"},
		{"drover", "drover"},
	}
	for _, tt := range tests {
		if got := strings.Join(hoistGlobals(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("hoistGlobals(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
