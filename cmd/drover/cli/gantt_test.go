package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
)

// fixedReport is a run of four nodes in two waves: cp-1 and cp-2 updated,
// gw-1 failed its health gate and was rolled back, gw-2 was up to date.
func fixedReport() *rollout.Report {
	t0 := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := func(start int, names []string, ms []int, last string) []rollout.StepTiming {
		var out []rollout.StepTiming
		t := start
		for i, n := range names {
			o := rollout.StepDone
			if i == len(names)-1 && last != "" {
				o = last
			}
			out = append(out, rollout.StepTiming{Step: n, Start: at(t), End: at(t + ms[i]), Outcome: o})
			t += ms[i]
		}
		return out
	}
	full := []string{"preflight", "stage", "configure", "optimize", "stop", "persist", "switch", "start", "health", "after_healthy"}
	cp1 := steps(500, full, []int{1000, 3000, 1000, 2000, 4000, 1000, 500, 500, 8000, 500}, "")
	cp2 := steps(22500, full, []int{1000, 3000, 1000, 2000, 3000, 1000, 500, 500, 7000, 500}, "")
	gw1 := steps(42500, full[:9], []int{1000, 2000, 1000, 2000, 2000, 1000, 500, 500, 10000}, rollout.StepFailed)
	gw1 = append([]rollout.StepTiming{{Step: "preflight", Start: at(42000), End: at(42000), Outcome: rollout.StepSkipped}}, gw1...)
	gw1 = append(gw1, rollout.StepTiming{Step: "rollback", Start: at(62500), End: at(69000), Outcome: rollout.StepDone})
	return &rollout.Report{
		Run: "20261130T180000-abc123", Owner: "ops@ctl pid 42", Cluster: "apim-prod", Started: t0, Finished: at(70000),
		Halted: true,
		Nodes: []rollout.NodeReport{
			{Node: "cp-1", Profile: "control-plane", Outcome: rollout.OutcomeDone, ElapsedMS: 22000, Wave: 1, Start: at(0), End: at(22000), Steps: cp1},
			{Node: "cp-2", Profile: "control-plane", Outcome: rollout.OutcomeDone, ElapsedMS: 20000, Wave: 1, Start: at(22000), End: at(42000), Steps: cp2},
			{Node: "gw-1", Profile: "gateway-worker", Outcome: rollout.OutcomeRolledBack, ElapsedMS: 27500, Wave: 2, Start: at(42000), End: at(69500), Steps: gw1,
				Error: "gw-1: health: the gateway health check did not pass within 10s"},
			{Node: "gw-2", Profile: "gateway-worker", Outcome: rollout.OutcomeSkipped, Wave: 2, Error: "up to date"},
		},
	}
}

func TestRunsShowGantt(t *testing.T) {
	for _, width := range []int{60, 120} {
		var b bytes.Buffer
		renderTimeline(&b, rollout.TimelineOf(fixedReport()), width, false)
		out := b.String()
		for _, l := range strings.Split(out, "\n") {
			if len(l) > width {
				t.Errorf("width %d: line of %d columns: %q", width, len(l), l)
			}
		}
		golden(t, "runs-show-"+itoa(width)+".txt", out)
	}
}

func TestRunsShowGanttColor(t *testing.T) {
	var b bytes.Buffer
	renderTimeline(&b, rollout.TimelineOf(fixedReport()), 80, true)
	out := b.String()
	if !strings.Contains(out, "\x1b[41m") || strings.Contains(out, "#") {
		t.Fatalf("with colour the downtime is red, not '#':\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if visibleLen(l) > 80 {
			t.Errorf("line of %d visible columns: %q", visibleLen(l), l)
		}
	}
}

// TestRunsShowRecord: runs, runs show (by prefix, path and --limit) and
// their --json read records from .drover/runs beside the inventory.
func TestRunsShowRecord(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "drover.hcl")
	os.WriteFile(inv, []byte("# not read by runs\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".drover", "runs"), 0o755)
	rep := fixedReport()
	b, _ := json.Marshal(rep)
	record := filepath.Join(dir, ".drover", "runs", rep.Run+".json")
	os.WriteFile(record, b, 0o644)
	t.Setenv("COLUMNS", "90")

	r := run(t, "-i", inv, "runs")
	if r.code != 0 || !strings.Contains(r.stdout, rep.Run) || !strings.Contains(r.stdout, "2 done, 1 skipped, 1 rolled back (halted)") {
		t.Fatalf("runs:\n%s", r)
	}
	r = run(t, "-i", inv, "runs", "--json")
	var list []runSummary
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 || list[0].Outcomes["done"] != 2 {
		t.Fatalf("runs --json:\n%s", r)
	}
	r = run(t, "-i", inv, "runs", "show", "20261130T18")
	var want bytes.Buffer
	renderTimeline(&want, rollout.TimelineOf(rep), 90, false)
	if r.code != 0 || r.stdout != want.String() {
		t.Fatalf("runs show PREFIX ($COLUMNS=90):\n%s", r)
	}
	if r = run(t, "runs", "show", record, "--width", "60", "-l", "gw-*"); r.code != 0 || strings.Contains(r.stdout, "cp-1") || !strings.Contains(r.stdout, "gw-1") {
		t.Fatalf("runs show PATH --limit:\n%s", r)
	}
	r = run(t, "-i", inv, "runs", "show", rep.Run, "--json")
	var tl rollout.Timeline
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tl) != nil || tl.Downtime.WorstNode != "gw-1" || len(tl.Nodes[0].Steps) != 10 {
		t.Fatalf("runs show --json:\n%s", r)
	}
	if r = run(t, "-i", inv, "runs", "show", "nope"); r.code != ExitUsage {
		t.Fatalf("runs show of an unknown run:\n%s", r)
	}
}

// TestRenderHistoryInterrupted: a run that stopped mid-step says where, and
// the step it stopped in has no duration.
func TestRenderHistoryInterrupted(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	recs := []tasks.Record{
		{At: t0, Run: "R1", Owner: "ops", Step: "run", Phase: tasks.PhaseBegin},
		{At: t0, Run: "R1", Step: "stop", Phase: tasks.PhaseBegin, Detail: "stop it"},
		{At: t0.Add(time.Minute), Run: "R2", Step: "rollback", Phase: tasks.PhaseBegin},
		{At: t0.Add(time.Minute + 4*time.Second), Run: "R2", Step: "rollback", Phase: tasks.PhaseEnd},
	}
	runs := tasks.Runs(recs)
	slices.Reverse(runs)
	var b bytes.Buffer
	renderHistory(&b, []nodeHistory{{Node: "gw-1", Profile: "gateway-worker", Total: 3, Runs: runs}}, 2)
	out := b.String()
	for _, want := range []string{"the newest 2 of 3 runs", "run R1  interrupted at stop", "    stop  -  interrupted  stop it", "run R2  rolled back", "rollback  4.0s  done\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "R2") > strings.Index(out, "R1") {
		t.Errorf("not newest first:\n%s", out)
	}
}
