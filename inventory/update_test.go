package inventory

import (
	"path/filepath"
	"testing"
)

// TestNoUpdateBlock: an inventory without an update block (or with one
// without a pack) loads without any diagnostic; the update's ranges say
// what the inventory has, for the commands that need an update.
func TestNoUpdateBlock(t *testing.T) {
	const nodes = `
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`
	const cluster = `cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
`
	for _, tt := range []struct {
		name, update string
		block, pack  bool
	}{
		{"no update block", "", false, false},
		{"update without pack", "update {\n  strategy = \"side-by-side\"\n}\n", true, false},
		{"pack that does not exist", "update {\n  pack = \"packs/nowhere.zip\"\n}\n", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"drover.hcl": cluster + tt.update + nodes})
			inv, diags := mustLoad(t, filepath.Join(dir, "drover.hcl"))
			if len(diags) != 0 {
				t.Errorf("want no diagnostics, got %s", diagsString(diags))
			}
			if inv.Cluster.Range.Start.Line != 1 || inv.Update.Strategy != SideBySide {
				t.Errorf("cluster range %v, strategy %q", inv.Cluster.Range, inv.Update.Strategy)
			}
			if (inv.Update.Range != nil) != tt.block || (inv.Update.PackRange != nil) != tt.pack {
				t.Errorf("update range %v, pack range %v; want block %v, pack %v", inv.Update.Range, inv.Update.PackRange, tt.block, tt.pack)
			}
			if tt.pack && (inv.Update.Pack != filepath.Join(dir, "packs/nowhere.zip") || inv.Update.PackRange.Start.Line != 6) {
				t.Errorf("pack %q at %v", inv.Update.Pack, inv.Update.PackRange)
			}
		})
	}
}
