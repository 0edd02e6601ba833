package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesValidate loads every example inventory: none may have an
// error or a warning.
func TestExamplesValidate(t *testing.T) {
	// Every folder of examples/ holding an inventory (examples/lab holds the
	// demo script; its inventory is written by `drover lab up`).
	files, _ := filepath.Glob("../examples/*/*.hcl")
	var dirs []string
	for _, f := range files {
		if d := filepath.Dir(f); len(dirs) == 0 || dirs[len(dirs)-1] != d {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) < 3 {
		t.Fatalf("found %d examples, want at least 3", len(dirs))
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			inv, diags := mustLoad(t, dir)
			if len(diags) > 0 {
				t.Errorf("warnings: %s", diagsString(diags))
			}
			if len(inv.Nodes) == 0 {
				t.Error("no nodes")
			}
			for _, n := range inv.Nodes {
				if len(n.Health) == 0 {
					t.Errorf("node %s has no health check", n.Name)
				}
			}
		})
	}
}

// TestExample44Distributed pins what issue 2 asks of the 4.4 example.
func TestExample44Distributed(t *testing.T) {
	inv, _ := mustLoad(t, "../examples/apim-4.4-distributed")
	count := map[string]int{}
	for _, n := range inv.Nodes {
		count[n.Profile]++
	}
	if count[ControlPlane] != 2 || count[TrafficManager] != 2 || count[GatewayWorker] != 4 {
		t.Errorf("profiles = %v, want 2 control planes, 2 traffic managers, 4 gateways", count)
	}
	gw := inv.Node("gw-4")
	if len(gw.HooksFor(BeforeStop)) != 1 || len(gw.HooksFor(AfterHealthy)) != 1 {
		t.Errorf("gw-4 hooks = %+v, want a drain and an enable hook", gw.Hooks)
	}
	if len(gw.Files) != 1 || gw.Files[0].Path != "repository/conf/deployment.toml" || !gw.Files[0].Template {
		t.Errorf("gw-4 files = %+v, want the deployment.toml template", gw.Files)
	}
	if gw.Health[0].URL != "https://127.0.0.1:9444/api/am/gateway/v2/server-startup-healthcheck" {
		t.Errorf("gw-4 (offset 1) health = %+v", gw.Health[0])
	}
	if got := names(inv.NodesOf(GatewayWorker)); got != "gw-1 gw-2 gw-3 gw-4" {
		t.Errorf("gateways = %s", got)
	}
}
