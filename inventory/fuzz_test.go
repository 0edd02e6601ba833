package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary text to the loader as a drover.hcl: it may
// report anything, but must never panic, and an inventory comes back
// exactly when there is no error. The seed corpus is every invalid fixture
// and every example, so `go test` runs them all.
func FuzzLoad(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/invalid/*.hcl", "testdata/invalid/*/*.hcl", "../examples/*/*.hcl"} {
		m, _ := filepath.Glob(pattern)
		seeds = append(seeds, m...)
	}
	if len(seeds) == 0 {
		f.Fatal("no seed inputs")
	}
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// One directory for every input (inputs run one at a time in each
	// worker process), with the files the examples name, so that seeds
	// reach the per-node stages.
	dir := f.TempDir()
	template := []byte("x = \"${node.name}\"\n")
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	for _, name := range []string{"templates/gateway.toml", "templates/key-manager.toml", "templates/gw.toml"} {
		os.WriteFile(filepath.Join(dir, name), template, 0o644)
	}
	path := filepath.Join(dir, "drover.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		inv, diags := testLoader().Load(path)
		if diags.HasErrors() != (inv == nil) {
			t.Fatalf("errors %v but inventory %v", diags.HasErrors(), inv != nil)
		}
		for _, d := range diags {
			if d.Summary == "" || d.Detail == "" {
				t.Errorf("diagnostic without summary or detail: %#v", d)
			}
		}
		if inv != nil {
			inv.Ordered()
			inv.Select([]string{"*", "profile:*"})
			for _, n := range inv.Nodes {
				inv.MaxUnavailable(n.Profile)
				_ = n.Address()
			}
		}
	})
}
