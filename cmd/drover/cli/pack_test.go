package cli

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackWithoutLevelRefused: plan and apply refuse (exit 3) a pack
// without updates/config.json, naming the pack and the fix, before any
// node is contacted.
func TestPackWithoutLevelRefused(t *testing.T) {
	dir := t.TempDir()
	pack := filepath.Join(dir, "wso2am-4.4.0-custom.zip")
	f, err := os.Create(pack)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("wso2am-4.4.0/updates/product.txt")
	w.Write([]byte("wso2am-4.4.0\n"))
	zw.Close()
	f.Close()
	inv := filepath.Join(dir, "drover.hcl")
	os.WriteFile(inv, []byte(`
cluster "c" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update { pack = "wso2am-4.4.0-custom.zip" }
node "gw-1" {
  profile = "gateway-worker"
  host    = "192.0.2.1"
}
`), 0o644)
	for _, args := range [][]string{{"plan"}, {"apply", "--yes"}} {
		r := run(t, append([]string{"-i", inv}, args...)...)
		if r.code != ExitRefused || !strings.Contains(r.stderr, pack) || !strings.Contains(r.stderr, "updates/config.json") || strings.Contains(r.stderr, "probing") {
			t.Errorf("drover %s with a pack without updates/config.json: want exit 3 naming the pack, before probing:\n%s", strings.Join(args, " "), r)
		}
	}
}
