package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDoesNotLinkTesting: the shipped drover must not link the testing
// package (its flags and its init would ride along in every binary). The lab
// hosts its nodes on transport/sshtest servers, so sshtest and the lab must
// stay free of it; labtest and the _test files may use it.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "github.com/drover-sh/drover/cmd/drover").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var importers []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "testing" {
			importers = append(importers, "(testing itself is a dependency)")
		}
		for _, imp := range f[1:] {
			if imp == "testing" {
				importers = append(importers, f[0])
			}
		}
	}
	if len(importers) > 0 {
		t.Fatalf("cmd/drover links the testing package; imported by: %s", strings.Join(importers, ", "))
	}
}
