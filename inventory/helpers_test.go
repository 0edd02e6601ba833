package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// fakeEnv is the environment env() sees in tests.
var fakeEnv = map[string]string{"LB_TOKEN": "s3cret", "REGION": "eu"}

// writeFiles writes name -> content under a new temporary directory and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testLoader() *Loader {
	l := NewLoader()
	l.Home = "/home/tester"
	l.Getenv = func(k string) string { return fakeEnv[k] }
	l.EnvFile = fakeEnvFile
	return l
}

// fakeEnvFile stands in for the product's environment file: one NAME=value
// line per variable, then the jvm settings.
func fakeEnvFile(n *Node) (string, []byte, []byte, error) {
	var real, shown strings.Builder
	for _, e := range n.Env {
		real.WriteString(e.Name + "=" + e.Value + "\n")
		shown.WriteString(e.Name + "=" + e.Shown + "\n")
	}
	j := "heap=" + n.JVM.HeapMin + ".." + n.JVM.HeapMax + "\n"
	real.WriteString(j + "opts=" + strings.Join(n.JVM.Options, " ") + "\n")
	shown.WriteString(j + "opts=" + strings.Join(n.JVM.ShownOptions, " ") + "\n")
	return "bin/test.env", []byte(real.String()), []byte(shown.String()), nil
}

// mustLoad loads path and fails the test on any error diagnostic.
func mustLoad(t *testing.T, path string) (*Inventory, hcl.Diagnostics) {
	t.Helper()
	inv, diags := testLoader().Load(path)
	if diags.HasErrors() || inv == nil {
		t.Fatalf("Load(%s): %s", path, diagsString(diags))
	}
	return inv, diags
}

// loadSrc writes one drover.hcl (plus extra files) and loads it.
func loadSrc(t *testing.T, src string, extra map[string]string) *Inventory {
	t.Helper()
	files := map[string]string{"drover.hcl": src}
	for k, v := range extra {
		files[k] = v
	}
	dir := writeFiles(t, files)
	inv, _ := mustLoad(t, filepath.Join(dir, "drover.hcl"))
	return inv
}

func diagsString(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString("\n  " + d.Error() + ": " + d.Detail)
	}
	return b.String()
}

const header44 = `
cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
`
