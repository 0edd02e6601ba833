package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// TestReadmeTour runs the README's tour in its order (status, a saved plan
// with the gateway template's diff, one gateway updated so that the saved
// plan is refused as stale, a fresh plan applied, status, a rollback and a
// resume of one gateway, unlock) against a lab in-process, checking what
// each command promises.
func TestReadmeTour(t *testing.T) {
	nodes, _ := lab.ParseNodes("cp=1,tm=1,gw=2")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	t.Setenv("DROVER_SSH_CONFIG", "none")

	st := statusOf(t)
	for _, f := range st {
		if f.UpdateLevel != l.Level || !f.Running || !f.Healthy {
			t.Fatalf("before: %s level %d running %v healthy %v (%s)", f.Node, f.UpdateLevel, f.Running, f.Healthy, f.UnhealthyBecause)
		}
	}
	planFile := filepath.Join(t.TempDir(), "tonight.plan.json")
	r := run(t, "plan", "-o", planFile)
	if r.code != 0 || !strings.Contains(r.stdout, "Wave 3: gateway-worker") || !strings.Contains(r.stdout, "4 to update") ||
		!strings.Contains(r.stdout, "--- a/repository/conf/deployment.toml") ||
		!strings.Contains(r.stdout, "+# Managed by drover: rendered for gw-1") || !strings.Contains(r.stdout, `+server_role = "gateway-worker"`) {
		t.Fatalf("plan -o:\n%s", r)
	}
	if r := run(t, "apply"); r.code != ExitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("apply without a terminal or --yes:\n%s", r)
	}
	// One gateway updated since the plan: the saved plan is stale.
	if r := run(t, "apply", "--limit", "gw-1", "--yes"); r.code != 0 {
		t.Fatalf("apply --limit gw-1 --yes:\n%s", r)
	}
	if r := run(t, "apply", planFile); r.code != ExitRefused || !strings.Contains(r.stderr, "the plan is stale: gw-1: update_level") {
		t.Fatalf("apply of a stale plan: want exit 3 naming gw-1\n%s", r)
	}
	if r := run(t, "plan", "-o", planFile); r.code != 0 || !strings.Contains(r.stdout, "3 to update, 1 up to date") {
		t.Fatalf("plan -o again:\n%s", r)
	}
	if r := run(t, "apply", planFile); r.code != 0 || !strings.Contains(r.stderr, "still matches every node") {
		t.Fatalf("apply PLANFILE:\n%s", r)
	}
	for _, f := range statusOf(t) {
		if f.UpdateLevel != l.Level+1 || !f.Healthy || !f.Previous || f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomeDone {
			t.Fatalf("after apply: %+v", f)
		}
	}
	if r := run(t, "status"); r.code != 0 || !strings.Contains(r.stdout, "level 11") {
		t.Fatalf("status:\n%s", r)
	}

	// A recovery: gw-1 back to its previous release, then forward again.
	if r := run(t, "recover", "gw-1", "--rollback", "--yes"); r.code != 0 {
		t.Fatalf("recover --rollback:\n%s", r)
	}
	if f := factsOf(t, "gw-1"); f.UpdateLevel != l.Level || !f.Healthy {
		t.Fatalf("gw-1 after rollback: level %d healthy %v", f.UpdateLevel, f.Healthy)
	}
	if r := run(t, "plan", "--limit", "gw-1", "--compact"); r.code != 0 || !strings.Contains(r.stdout, "1 to update") {
		t.Fatalf("plan --limit gw-1:\n%s", r)
	}
	if r := run(t, "recover", "gw-1", "--resume", "--yes"); r.code != 0 {
		t.Fatalf("recover --resume:\n%s", r)
	}
	if f := factsOf(t, "gw-1"); f.UpdateLevel != l.Level+1 || !f.Healthy {
		t.Fatalf("gw-1 after resume: level %d healthy %v", f.UpdateLevel, f.Healthy)
	}

	// A saved plan applies while nothing changed: here, nothing to do.
	if r := run(t, "plan", "-o", planFile); r.code != 0 {
		t.Fatalf("plan -o:\n%s", r)
	}
	if r := run(t, "apply", planFile); r.code != 0 || !strings.Contains(r.stderr, "nothing to do") {
		t.Fatalf("apply PLANFILE:\n%s", r)
	}

	// A lock left by a dead run: status shows it, apply is refused, unlock
	// breaks it (and only it).
	gw2 := l.Nodes[3]
	state := filepath.Join(filepath.Dir(gw2.Home), ".drover", filepath.Base(gw2.Home))
	dead := tasks.Lock{ID: "20261123T160047-baa136", Owner: "ops@old pid 1", Since: time.Now(), Expires: time.Now().Add(time.Hour)}
	b, _ := json.Marshal(dead)
	os.MkdirAll(filepath.Join(state, "lock"), 0o755)
	os.WriteFile(filepath.Join(state, "lock", "owner.json"), b, 0o644)
	if r := run(t, "status"); !strings.Contains(r.stdout, dead.ID) {
		t.Fatalf("status does not show the lock:\n%s", r)
	}
	if r := run(t, "unlock", "some-other-id", "--force"); r.code != ExitFailed {
		t.Fatalf("unlock of a lock no node holds:\n%s", r)
	}
	if r := run(t, "unlock", dead.ID); r.code != ExitUsage || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("unlock without --force:\n%s", r)
	}
	if r := run(t, "unlock", dead.ID, "--force"); r.code != 0 || !regexp.MustCompile(`gw-2: lock \S+ removed`).MatchString(r.stdout) {
		t.Fatalf("unlock --force:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(state, "lock")); !os.IsNotExist(err) {
		t.Fatalf("the lock is still there: %v", err)
	}
}

func statusOf(t *testing.T) []tasks.Facts {
	t.Helper()
	r := run(t, "status", "--json")
	if r.code != 0 {
		t.Fatalf("status --json:\n%s", r)
	}
	var out []tasks.Facts
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return out
}

func factsOf(t *testing.T, node string) tasks.Facts {
	t.Helper()
	r := run(t, "facts", "--json", "--limit", node)
	var out []tasks.Facts
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out) != 1 {
		t.Fatalf("facts --limit %s:\n%s", node, r)
	}
	return out[0]
}
