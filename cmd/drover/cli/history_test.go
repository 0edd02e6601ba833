package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// TestHistoryAndRuns applies an update on a small lab, then reads it back:
// history from the nodes' journals, runs and runs show from the run record,
// in text and JSON.
func TestHistoryAndRuns(t *testing.T) {
	nodes, _ := lab.ParseNodes("cp=1,gw=2")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	t.Setenv("DROVER_SSH_CONFIG", "none")
	t.Setenv("COLUMNS", "")

	if r := run(t, "runs"); r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "no run records") {
		t.Fatalf("runs before any apply:\n%s", r)
	}
	if r := run(t, "history", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"total": 0`) {
		t.Fatalf("history before any apply:\n%s", r)
	}
	r := run(t, "apply", "--yes")
	if r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	m := regexp.MustCompile(`run record: (\S+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("apply printed no run record:\n%s", r)
	}
	record := m[1]
	id := strings.TrimSuffix(filepath.Base(record), ".json")

	// history: every node, the run with its steps.
	r = run(t, "history")
	if r.code != 0 || strings.Count(r.stdout, "run "+id+"  done") != 3 {
		t.Fatalf("history:\n%s", r)
	}
	t.Logf("history:\n%s", r.stdout)
	for _, step := range []string{"preflight", "stage", "stop", "persist", "switch", "start", "health"} {
		if !regexp.MustCompile(`(?m)^    ` + step + ` +[0-9.]+m?s +done`).MatchString(r.stdout) {
			t.Errorf("history shows no timed %s step:\n%s", step, r.stdout)
		}
	}
	r = run(t, "history", "gw-1", "--json")
	var hs []nodeHistory
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &hs) != nil || len(hs) != 1 || hs[0].Node != "gw-1" {
		t.Fatalf("history gw-1 --json:\n%s", r)
	}
	if h := hs[0]; h.Total != 1 || h.Runs[0].ID != id || h.Runs[0].Outcome != tasks.OutcomeDone || len(h.Runs[0].Steps) < 7 {
		t.Fatalf("gw-1's history: %+v", h)
	}
	// --limit and NODE arguments narrow together.
	if r := run(t, "history", "-l", "profile:gateway-worker", "gw-*", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &hs) != nil || len(hs) != 2 {
		t.Fatalf("history -l profile:gateway-worker gw-*:\n%s", r)
	}

	// runs: the record, listed; runs show: the timeline.
	if r := run(t, "runs"); r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "3 done") {
		t.Fatalf("runs:\n%s", r)
	}
	var list []runSummary
	if r := run(t, "runs", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 || list[0].Run != id {
		t.Fatalf("runs --json:\n%s", r)
	}
	r = run(t, "runs", "show", id)
	if r.code != 0 || !strings.Contains(r.stdout, "cp-1 ") || !strings.Contains(r.stdout, "gw-2 ") || !strings.Contains(r.stdout, "#") ||
		!strings.Contains(r.stdout, "downtime   mean") || !strings.Contains(r.stdout, "wave 2") {
		t.Fatalf("runs show:\n%s", r)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if len(l) > 100 {
			t.Errorf("runs show without a terminal is wider than 100 columns: %q", l)
		}
	}
	t.Logf("runs show:\n%s", r.stdout)
	r = run(t, "runs", "show", record, "--json")
	var tl rollout.Timeline
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tl) != nil || !tl.Timed || len(tl.Nodes) != 3 || len(tl.Waves) != 2 {
		t.Fatalf("runs show --json:\n%s", r)
	}
	for _, n := range tl.Nodes {
		if n.DowntimeMS <= 0 || n.DownEnd.IsZero() || len(n.Steps) < 7 || n.Wave == 0 {
			t.Errorf("%s: downtime %d ms, %d steps, wave %d", n.Node, n.DowntimeMS, len(n.Steps), n.Wave)
		}
	}
}
