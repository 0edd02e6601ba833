package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRecoverRollsBackAnUpdatedNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	gw1 := f.node("gw-1")
	if r := f.drover("apply", "--yes", "--limit", "gw-1"); r.code != 0 || level(t, gw1.Home) != toLevel {
		t.Fatalf("apply on gw-1 exited %d, level %d", r.code, level(t, gw1.Home))
	}
	prevInodes := dbInodes(t, statePath(gw1, "previous"))

	r := f.drover("recover", "gw-1", "--rollback", "--yes")
	if r.code != 0 {
		t.Fatalf("recover --rollback exited %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "previous release (level 11)") || !strings.Contains(r.stderr, "gw-1 recovered") {
		t.Errorf("recover --rollback did not say what it does and that it did it")
	}
	if got := level(t, gw1.Home); got != fromLevel || !running(gw1.Home) {
		t.Errorf("gw-1: level %d, running %v after the rollback; want level %d running", got, running(gw1.Home), fromLevel)
	}
	// The release back in service is the kept one, with its own data files.
	for name, ino := range dbInodes(t, gw1.Home) {
		if prevInodes[name] != ino {
			t.Errorf("gw-1: %s is not the kept release's file (inode %d, was %d)\n%s", name, ino, prevInodes[name], listInodes(gw1))
		}
	}
	failed, _ := filepath.Glob(statePath(gw1, "failed", "*"))
	if len(failed) != 1 || level(t, failed[0]) != toLevel {
		t.Errorf("the release rolled back from is not kept in failed/: %v", failed)
	}
	st, _ := f.status("--limit", "gw-1")
	s := st["gw-1"]
	if s == nil || s.UpdateLevel != fromLevel || !s.Healthy || s.Lock != nil {
		t.Fatalf("status of gw-1 after recover --rollback: %+v", s)
	}
	t.Run("status says rolled back", func(t *testing.T) {
		// Run by recover, Job.Rollback journals "rollback" begin/end and no
		// final "run" record: the journal's last run must still read as
		// rolled back, not interrupted (which would make the next plan
		// "resume" it).
		if s.LastRun == nil || s.LastRun.Outcome == "interrupted" {
			t.Errorf("last_run after a successful recover --rollback: %+v, want an outcome that is not interrupted", s.LastRun)
		}
		p := f.drover("plan", "--limit", "gw-1", "--compact")
		if strings.Contains(p.stdout, "resumes") {
			t.Errorf("the next plan treats the finished rollback as an interrupted run to resume:\n%s", p.stdout)
		}
	})
	checkDataAfterCleanStop(t, gw1)
}

func TestRecoverResumesAnInterruptedNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	gw2 := f.node("gw-2")
	// Killed once the new release is switched in, before it starts (the
	// apply test kills after persist).
	p := f.startKillOn(stepLine("gw-2", "switch"), syscall.SIGKILL, "apply", "--yes", "--limit", "gw-2")
	killed := p.wait()
	if p.killedAt() == "" {
		t.Fatalf("drover ended (exit %d) before printing gw-2's switch line", killed.code)
	}
	run := runIDOf(t, killed.stderr)
	unlockCmd := "drover unlock " + run + " --force"

	// The dead run's lock must be broken first.
	before := f.settledSnapshot()
	r := f.drover("recover", "gw-2", "--resume", "--yes")
	if r.code != 3 || !strings.Contains(r.output(), unlockCmd) {
		t.Errorf("recover while the killed run's lock is held exited %d (want 3) without naming %q", r.code, unlockCmd)
	}
	f.unchanged(t, before, "by a recover refused for a held lock")
	if r := f.drover("unlock", run, "--force"); r.code != 0 {
		t.Fatalf("unlock exited %d", r.code)
	}

	r = f.drover("recover", "gw-2", "--resume", "--yes")
	if r.code != 0 {
		t.Fatalf("recover --resume exited %d, want 0", r.code)
	}
	steps := r.stdout[strings.Index(r.stdout, "finish the update of gw-2:")+1:]
	for _, done := range []string{"stage:", "stop:", "persist:", "switch:"} {
		if strings.Contains(steps, done) {
			t.Errorf("recover --resume would run %s again although the killed run completed it:\n%s", strings.TrimSuffix(done, ":"), r.stdout)
		}
	}
	for _, todo := range []string{"start:", "health:", "after_healthy:"} {
		if !strings.Contains(steps, todo) {
			t.Errorf("recover --resume does not show the %s step it has left:\n%s", strings.TrimSuffix(todo, ":"), r.stdout)
		}
	}
	if got := level(t, gw2.Home); got != toLevel || !running(gw2.Home) {
		t.Errorf("gw-2: level %d, running %v after recover --resume; want level %d running", got, running(gw2.Home), toLevel)
	}
	checkPersisted(t, gw2)
	if w := recoveryWarnings(gw2.Home); w != "" {
		t.Errorf("gw-2: the updated server found its persisted data unclean:\n%s", w)
	}
	// The drain of the killed run is undone by the resumed after_healthy hook.
	lb, _ := os.ReadFile(filepath.Join(f.dir, "lb.log"))
	if string(lb) != "drain gw-2\nenable gw-2\n" {
		t.Errorf("lb.log = %q, want gw-2 drained by the killed run and enabled by recover", lb)
	}
	st, _ := f.status("--limit", "gw-2")
	if s := st["gw-2"]; s == nil || !s.Healthy || s.Lock != nil || s.LastRun == nil || s.LastRun.Outcome != "done" {
		t.Errorf("status of gw-2 after recover --resume: %+v", s)
	}
	// Nothing else was touched.
	for _, n := range f.lab.Nodes {
		if n != gw2 && len(journal(t, n)) != 0 {
			t.Errorf("%s: journal written by a run limited to gw-2", n.Name)
		}
	}
}
