package e2e

import (
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// stepLine matches the plain progress line drover prints when a node's
// step is done: after "persist" the node is stopped and its data copied,
// the new release not yet switched in; after "switch" the new release is
// in place, not yet started.
func stepLine(node, step string) *regexp.Regexp {
	return regexp.MustCompile(`^\S+ ` + regexp.QuoteMeta(node) + `\s+` + regexp.QuoteMeta(step) + `\s`)
}

func TestKilledApplyIsUnlockedThenResumedWithNothingLost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	p := f.startKillOn(stepLine("cp-1", "persist"), syscall.SIGKILL, "apply", "--yes")
	r := p.wait()
	if p.killedAt() == "" {
		t.Fatalf("drover ended (exit %d) before printing cp-1's persist line", r.code)
	}
	if r.code != -1 {
		t.Fatalf("drover exited %d; it should have died from SIGKILL", r.code)
	}
	run := runIDOf(t, r.stderr)

	// status shows the dead run's lock on every node and cp-1's run as
	// interrupted.
	st, sr := f.status()
	if sr.code != 0 {
		t.Errorf("status exited %d", sr.code)
	}
	for _, n := range f.lab.Nodes {
		s := st[n.Name]
		if s == nil || s.Lock == nil || s.Lock.ID != run || s.Lock.Owner == "" || s.Lock.Since.IsZero() {
			t.Errorf("%s: lock %+v, want the killed run %s", n.Name, s.Lock, run)
		}
	}
	if lr := st["cp-1"].LastRun; lr == nil || lr.ID != run || lr.Outcome != "interrupted" || lr.Step == "" {
		t.Errorf("cp-1: last_run %+v, want run %s interrupted at a step", lr, run)
	}
	if st["cp-1"].Running {
		t.Error("cp-1 runs although drover died after stopping it and copying its data")
	}
	plain := f.drover("status")
	if !regexp.MustCompile(`(?m)^cp-1 .*` + regexp.QuoteMeta(run) + ` interrupted at \w+`).MatchString(plain.stdout) {
		t.Errorf("status does not show cp-1's run %s as interrupted at a step:\n%s", run, plain.stdout)
	}

	// apply is refused while the dead run's locks are held, and changes
	// nothing.
	before := f.settledSnapshot()
	t.Run("apply refused while the lock is held", func(t *testing.T) {
		ra := f.drover("apply", "--yes")
		if ra.code != 3 {
			t.Errorf("apply exited %d while the killed run's locks are held, want 3 (refused)", ra.code)
		}
		if cmd := "drover unlock " + run + " --force"; !strings.Contains(ra.output(), cmd) {
			t.Errorf("the refusal does not name %q", cmd)
		}
	})
	f.unchanged(t, before, "while the lock was held")

	// unlock removes the dead run's lock from every node.
	ru := f.drover("unlock", run, "--force")
	if ru.code != 0 {
		t.Fatalf("unlock exited %d", ru.code)
	}
	for _, n := range f.lab.Nodes {
		if !strings.Contains(ru.stdout, n.Name+": lock "+run+" removed") {
			t.Errorf("unlock does not report %s's lock removed:\n%s", n.Name, ru.stdout)
		}
	}
	st, _ = f.status()
	for _, n := range f.lab.Nodes {
		if s := st[n.Name]; s == nil || s.Lock != nil {
			t.Errorf("%s: still locked after unlock: %+v", n.Name, s)
		}
	}

	// apply finishes the rollout: cp-1 resumes where it stopped, the others
	// update, and nothing is lost.
	rf := f.drover("apply", "--yes")
	if rf.code != 0 {
		t.Fatalf("apply after unlock exited %d, want 0", rf.code)
	}
	if !strings.Contains(rf.stdout, "(run "+run+" was interrupted)") || !strings.Contains(rf.stdout, "resume at ") {
		t.Errorf("the plan does not say cp-1 resumes the interrupted run %s", run)
	}
	for _, n := range f.lab.Nodes {
		if got := level(t, n.Home); got != toLevel || !running(n.Home) {
			t.Errorf("%s: level %d, running %v after the resumed apply", n.Name, got, running(n.Home))
		}
		checkPersisted(t, n)
		if w := recoveryWarnings(n.Home); w != "" {
			t.Errorf("%s: the updated server found its persisted data unclean:\n%s", n.Name, w)
		}
		if c := countEvents(t, n, apimsim.EventKilled); c != 0 {
			t.Errorf("%s: a server was killed %d time(s)", n.Name, c)
		}
	}
	ss := spans(t, f)
	if len(ss) != len(f.lab.Nodes) {
		t.Errorf("%d stop/start spans, want one per node: %+v", len(ss), ss)
	}
	checkOrderAndCapacity(t, f, ss)
}
