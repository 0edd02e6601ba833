package tasks_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

// TestSideBySideNodeUpdate updates one node of every profile of 4.4.0 and
// of two profiles of 3.2.0, runs the update again on the updated node, and
// rolls it back.
func TestSideBySideNodeUpdate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		version string
		nodes   []lab.NodeSpec
	}{
		{"4.4.0", specs("cp", "control-plane", "tm", "traffic-manager", "gw", "gateway-worker", "km", "api-key-manager-node")},
		{"3.2.0", specs("km", "api-key-manager", "gw", "gateway-worker")},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			t.Parallel()
			tl := newLab(t, c.version, "20s", c.nodes...)
			for _, n := range tl.Nodes {
				t.Run(n.Profile, func(t *testing.T) {
					t.Parallel()
					updateRerunRollback(t, tl, n)
				})
			}
		})
	}
}

func updateRerunRollback(t *testing.T, tl *testLab, n *lab.Node) {
	custom := customise(t, tl, n)
	b := snapshot(t, tl, n, custom)

	// The update, with the data compared byte for byte at the two moments
	// it matters: the copy against the stopped server's files, and the
	// product directory after the switch against the kept release.
	rec := &recorder{}
	rec.on = func(e tasks.Event) {
		if e.Type != tasks.EventStepDone {
			return
		}
		for _, p := range persisted(tl.inv) {
			switch e.Step {
			case "persist":
				sameFiles(t, "staged copy of "+p, fileSums(t, n.Home, p), fileSums(t, tasks.NewPaths(n.Home).Staged(), p))
			case "switch":
				sameFiles(t, "switched-in "+p, fileSums(t, previousDir(n), p), fileSums(t, n.Home, p))
			}
		}
	}
	if err := apply(tl.job(t, n.Name, "update", rec)); err != nil {
		t.Fatalf("update: %v\nsteps run: %v", err, rec.steps(tasks.EventStepStarted))
	}
	if got := rec.steps(tasks.EventStepStarted); len(got) < 8 {
		t.Errorf("the update ran only %v", got)
	}
	checkUpdated(t, tl, n, b)

	// A plan of the updated node: nothing left to do.
	plan, err := tl.job(t, n.Name, "plan", &recorder{}).PlanNode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan {
		if !s.Done && s.Name != "preflight" && s.Name != "health" {
			t.Errorf("the plan of an updated node would run %s: %s", s.Name, s.Summary)
		}
	}

	rerun(t, tl, n)

	// Rollback after a successful update: the kept release, its data
	// renamed back, never restored from a copy.
	logAt := fileSize(apimsim.LogFile(previousDir(n)))
	rec = &recorder{}
	if err := rollback(tl.job(t, n.Name, "undo", rec)); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	checkBack(t, tl, n, b)
	if got := rec.steps(tasks.EventRolledBack); len(got) != 1 {
		t.Errorf("rollback emitted %d rolled_back events", len(got))
	}
	if got := level(t, tasks.NewPaths(n.Home).Failed("undo")); got != b.level+1 {
		t.Errorf("the release rolled back from is at level %d, want %d kept in failed/undo", got, b.level+1)
	}
	if pathExists(previousDir(n)) {
		t.Error("a previous release is still kept after the rollback put it back")
	}
	checkCleanStart(t, n.Home, logAt)
}

// checkUpdated asserts a node fully on the pack's release: the new level
// running and healthy from home, the old release kept untouched, the data
// the stopped server left carried (journal sums against the kept release),
// the operator's configuration carried, the profile optimized.
func checkUpdated(t *testing.T, tl *testLab, n *lab.Node, b before) {
	t.Helper()
	if got := level(t, n.Home); got != b.level+1 {
		t.Errorf("%s: level %d after the update, want %d", n.Name, got, b.level+1)
	}
	if pid := running(t, n.Home); pid == b.pid {
		t.Errorf("%s: still the old server (PID %d)", n.Name, pid)
	}
	prev := previousDir(n)
	if got := level(t, prev); got != b.level {
		t.Errorf("%s: kept previous release at level %d, want %d", n.Name, got, b.level)
	}
	if got := dataInodes(t, tl.inv, prev); !maps.Equal(got, b.inodes) {
		t.Errorf("%s: the kept release's data files are not the ones it ran with", n.Name)
	}
	sums := persistSums(journal(t, n))
	for _, p := range persisted(tl.inv) {
		if want := treeSum(t, prev, p); sums[p] != want {
			t.Errorf("%s: %s persisted with sum %q, the stopped release has %q", n.Name, p, sums[p], want)
		}
	}
	checkFiles(t, n.Name+" updated", n.Home, updated(b.files, tl.inv.Node(n.Name)))
	gone, kept := optimizedAway(t, tl.inv.Cluster.Version.String(), n.Profile)
	for _, p := range gone {
		if pathExists(filepath.Join(n.Home, p)) {
			t.Errorf("%s: %s is still there: profileSetup did not run for %s", n.Name, p, n.Profile)
		}
	}
	for _, p := range kept {
		if !pathExists(filepath.Join(n.Home, p)) {
			t.Errorf("%s: %s is missing; %s needs it", n.Name, p, n.Profile)
		}
	}
	if b.killed {
		// The old server was killed: its H2 files were carried as it left
		// them, unclosed, and the new server recovers them as H2 does.
		if log, _ := os.ReadFile(apimsim.LogFile(n.Home)); !strings.Contains(string(log), "not closed properly") {
			t.Errorf("%s: the new server did not recover the data a killed server left", n.Name)
		}
	} else {
		checkCleanStart(t, n.Home, 0)
	}
	paths := tasks.NewPaths(n.Home)
	for _, p := range []string{paths.Staged(), paths.Unpack(), paths.StagedState()} {
		if pathExists(p) {
			t.Errorf("%s: %s left after the update", n.Name, p)
		}
	}
	f := tl.probe(t, n.Name)
	if !f.Healthy || f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomeDone || f.Current != tl.pack.SHA256 {
		t.Errorf("%s: facts after the update: healthy %v (%s), last run %+v, current %q", n.Name, f.Healthy, f.UnhealthyBecause, f.LastRun, f.Current)
	}
}

// checkCleanStart asserts that the server that started from home (log
// lines after offset) found its data whole: no H2 recovery, no re-index.
func checkCleanStart(t *testing.T, home string, offset int64) {
	t.Helper()
	b, err := os.ReadFile(apimsim.LogFile(home))
	if err != nil {
		t.Fatal(err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	log := string(b[offset:])
	if !strings.Contains(log, "WSO2 Carbon started in") {
		t.Errorf("%s: no start in the log since byte %d", home, offset)
	}
	for _, bad := range []string{"not closed properly", "re-indexing"} {
		if strings.Contains(log, bad) {
			t.Errorf("%s: the server found its data damaged (%q in the log)", home, bad)
		}
	}
}

// rerun applies the update again to the updated node: only the read-only
// steps run, and the release, its data, its configuration, the kept
// release and the server are as they were.
func rerun(t *testing.T, tl *testLab, n *lab.Node) {
	t.Helper()
	type state struct {
		pid      int
		homeIno  map[string]uint64
		config   map[string]string
		previous map[string]string
		journal  int
		events   int
		lb       string
		current  string
	}
	read := func() state {
		cur, _ := os.ReadFile(tasks.NewPaths(n.Home).Current())
		lb, _ := os.ReadFile(filepath.Join(tl.Dir, "lb.log"))
		return state{
			pid: running(t, n.Home), homeIno: dataInodes(t, tl.inv, n.Home),
			config:   fileSums(t, n.Home, "repository/conf"),
			previous: fileSums(t, previousDir(n), "."),
			journal:  len(journal(t, n)), events: len(simEvents(t, n)),
			lb: lbLines(string(lb), n.Name), current: string(cur),
		}
	}
	was := read()
	rec := &recorder{}
	if err := apply(tl.job(t, n.Name, "again", rec)); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	now := read()
	if got := rec.steps(tasks.EventStepStarted); !slices.Equal(got, []string{"preflight", "health"}) {
		t.Errorf("the second apply ran %v, want only preflight and health", got)
	}
	want := slices.DeleteFunc(stepNames(tl.inv), func(s string) bool { return s == "preflight" || s == "health" })
	if got := rec.steps(tasks.EventStepSkipped); !slices.Equal(got, want) {
		t.Errorf("the second apply skipped %v, want %v", got, want)
	}
	if now.pid != was.pid || !maps.Equal(now.homeIno, was.homeIno) || now.current != was.current {
		t.Errorf("the second apply changed the release: pid %d -> %d, data %v -> %v, current %q -> %q",
			was.pid, now.pid, was.homeIno, now.homeIno, was.current, now.current)
	}
	sameFiles(t, "configuration after the second apply", was.config, now.config)
	sameFiles(t, "kept release after the second apply", was.previous, now.previous)
	if now.events != was.events || now.lb != was.lb {
		t.Errorf("the second apply touched the server (%d lifecycle events) or the load balancer (%q -> %q)", now.events-was.events, was.lb, now.lb)
	}
	// The journal grows by this run's own records and nothing else.
	for _, r := range journal(t, n)[was.journal:] {
		ok := r.Run == "again" && (r.Step == "preflight" || r.Step == "health" ||
			(r.Step == "run" && (r.Phase == tasks.PhaseBegin || r.Phase == tasks.OutcomeDone)))
		if !ok || (r.Step != "run" && r.Phase != tasks.PhaseBegin && r.Phase != tasks.PhaseEnd) {
			t.Errorf("the second apply journaled %+v", r)
		}
	}
}

// lbLines returns what the lab's load balancer stand-in was asked about a
// node, one action a line.
func lbLines(log, node string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == node {
			out = append(out, f[1])
		}
	}
	return strings.Join(out, ",")
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestResumeAfterInterrupt interrupts an update right after persist and
// right after switch; the next Apply finishes it without repeating a
// completed step, and a Rollback from the same points restores the
// previous release.
func TestResumeAfterInterrupt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		node, profile, after string
		undo                 bool
		// byHand: the operator starts and stops the old release before
		// the resume, so the data copied before is stale.
		byHand bool
	}{
		{"persist-apply", "gateway-worker", "persist", false, false},
		{"persist-undo", "control-plane", "persist", true, false},
		{"persist-by-hand", "api-key-manager-node", "persist", false, true},
		{"switch-apply", "traffic-manager", "switch", false, false},
		{"switch-undo", "gateway-worker", "switch", true, false},
	}
	var specs []lab.NodeSpec
	for _, c := range cases {
		specs = append(specs, lab.NodeSpec{Name: c.node, Profile: c.profile})
	}
	tl := newLab(t, "4.4.0", "20s", specs...)
	for _, c := range cases {
		t.Run(c.node, func(t *testing.T) {
			t.Parallel()
			n := tl.node(t, c.node)
			b := snapshot(t, tl, n, customise(t, tl, n))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &recorder{}
			rec.on = func(e tasks.Event) {
				if e.Type == tasks.EventStepDone && e.Step == c.after {
					cancel() // as if drover died right after the step
				}
			}
			err := tl.job(t, n.Name, "first", rec).Apply(ctx, true)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted apply = %v, want canceled", err)
			}
			done := rec.steps(tasks.EventStepDone)
			if len(done) == 0 || done[len(done)-1] != c.after || len(rec.steps(tasks.EventRollback)) > 0 {
				t.Fatalf("the interrupted run completed %v and rolled back %d times", done, len(rec.steps(tasks.EventRollback)))
			}
			checkInterrupted(t, tl, n, b, c.after, done)

			rec2 := &recorder{}
			stops := 1
			if c.undo {
				if err := rollback(tl.job(t, n.Name, "second", rec2)); err != nil {
					t.Fatalf("rollback after the interrupt: %v", err)
				}
				checkBack(t, tl, n, b)
				if c.after == "switch" && level(t, tasks.NewPaths(n.Home).Failed("second")) != b.level+1 {
					t.Error("the switched-in release is not kept in failed/second")
				}
				if c.after == "persist" {
					// The old release ran again after its data was copied:
					// the next update must copy it again, not switch in
					// the stale copy (checkUpdated compares the journal's
					// sums with what the server left at its last stop).
					stops++
					rec3 := &recorder{}
					if err := apply(tl.job(t, n.Name, "third", rec3)); err != nil {
						t.Fatalf("update after the rollback: %v", err)
					}
					if !slices.Contains(rec3.steps(tasks.EventStepStarted), "persist") {
						t.Error("the update after the rollback did not copy the data again")
					}
					checkUpdated(t, tl, n, b)
				}
			} else {
				if c.byHand {
					runByHand(t, tl, n)
					stops++
					done = slices.DeleteFunc(done, func(s string) bool { return s == "persist" })
				}
				if err := apply(tl.job(t, n.Name, "second", rec2)); err != nil {
					t.Fatalf("resume: %v", err)
				}
				for _, s := range rec2.steps(tasks.EventStepStarted) {
					if slices.Contains(done, s) && s != "preflight" {
						t.Errorf("the resumed run repeated %s", s)
					}
				}
				for _, s := range done {
					if s != "preflight" && !slices.Contains(rec2.steps(tasks.EventStepSkipped), s) {
						t.Errorf("the resumed run did not skip %s", s)
					}
				}
				if c.byHand && !slices.Contains(rec2.steps(tasks.EventStepStarted), "persist") {
					t.Error("the old release ran after its data was copied, and the resumed run kept the stale copy")
				}
				checkUpdated(t, tl, n, b)
			}
			if got := countEvents(simEvents(t, n), apimsim.EventStopping); got != stops {
				t.Errorf("the old server was stopped %d times, want %d", got, stops)
			}
			if n.Profile == "gateway-worker" {
				lb, _ := os.ReadFile(filepath.Join(tl.Dir, "lb.log"))
				if got := lbLines(string(lb), n.Name); got != "drain,enable" {
					t.Errorf("load balancer asked %q about %s, want drain,enable", got, n.Name)
				}
			}
		})
	}
}

// checkInterrupted asserts where an interrupted update left the node: the
// server stopped, the data copied whole, the journal saying interrupted and
// a plan that would skip what was done.
func checkInterrupted(t *testing.T, tl *testLab, n *lab.Node, b before, after string, done []string) {
	t.Helper()
	paths := tasks.NewPaths(n.Home)
	if pid, alive := apimsim.PIDAlive(n.Home); alive {
		t.Errorf("a server (PID %d) runs after an interrupt past stop", pid)
	}
	stopped := n.Home // the release the stopped server left
	copied := paths.Staged()
	if after == "switch" {
		stopped, copied = paths.Previous(), n.Home
		if level(t, n.Home) != b.level+1 || level(t, paths.Previous()) != b.level {
			t.Errorf("after switch: home at %d, previous at %d", level(t, n.Home), level(t, paths.Previous()))
		}
	} else if level(t, n.Home) != b.level || level(t, paths.Staged()) != b.level+1 {
		t.Errorf("after persist: home at %d, staged at %d", level(t, n.Home), level(t, paths.Staged()))
	}
	if err := apimsim.VerifyData(stopped); err != nil {
		t.Errorf("the stopped server's data: %v", err)
	}
	for _, p := range persisted(tl.inv) {
		sameFiles(t, "copy of "+p, fileSums(t, stopped, p), fileSums(t, copied, p))
	}
	f := tl.probe(t, n.Name)
	if f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomeInterrupted {
		t.Errorf("last run after the interrupt: %+v", f.LastRun)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan, err := tl.job(t, n.Name, "plan", &recorder{}).PlanNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan {
		wasDone := slices.Contains(done, s.Name) && s.Name != "preflight"
		if wasDone && !s.Done {
			t.Errorf("after the interrupt the plan would run %s again", s.Name)
		}
		if (s.Name == "start" || s.Name == "health") && s.Done {
			t.Errorf("after the interrupt the plan would skip %s", s.Name)
		}
	}
}
