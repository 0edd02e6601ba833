package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

// TestLabUpDownUp runs `drover lab` itself: a lab of 34 nodes (10 under the
// race detector) with key managers comes up (its SSH ports handed from `lab
// up` to the daemon), its inventory plans, it goes down leaving no process,
// and brought up again after its nodes moved to level 12 it says level 12.
func TestLabUpDownUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab of 34 nodes")
	}
	gw, total := "30", "34"
	if raceEnabled { // every simulated server is this drover, race detector and all
		gw, total = "6", "10"
	}
	dir := filepath.Join(t.TempDir(), "lab")
	labCmd := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(droverBin, append([]string{"lab"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { labCmd("down", "--dir", dir) })
	out, err := labCmd("up", "--dir", dir, "--nodes", "cp=1,tm=1,km=2,gw="+gw)
	if err != nil || !strings.Contains(out, total+" API Manager 4.4.0 nodes at update level 11") {
		t.Fatalf("lab up: %v\n%s", err, out)
	}
	l, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	plan := exec.Command(droverBin, "-i", l.Inventory, "plan", "--compact")
	plan.Env = append(os.Environ(), "DROVER_SSH_CONFIG=none", "SSH_AUTH_SOCK=")
	if b, err := plan.CombinedOutput(); err != nil || !strings.Contains(string(b), total+" to update") || !strings.Contains(string(b), "api-key-manager-node") {
		t.Fatalf("plan: %v\n%s", err, b)
	}
	if out, err := labCmd("down", "--dir", dir); err != nil {
		t.Fatalf("lab down: %v\n%s", err, out)
	}
	for _, n := range l.Nodes {
		if _, alive := apimsim.PIDAlive(n.Home); alive {
			t.Fatalf("node %s still runs after lab down", n.Name)
		}
		setConfigLevel(t, n.Home, 12) // as an apply would leave it
	}
	out, err = labCmd("up", "--dir", dir)
	if err != nil || !strings.Contains(out, total+" API Manager 4.4.0 nodes at update level 12") {
		t.Fatalf("lab up again: %v\n%s", err, out)
	}
}

func setConfigLevel(t *testing.T, home string, level int) {
	t.Helper()
	p := filepath.Join(home, "updates", "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["update-level"] = level
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
