package rollout_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

const shortHealth = `  order            = ["control-plane", "traffic-manager", "gateway-worker"]
  max_unavailable  = 1
  failure_budget   = 0
  health_timeout   = "4s"
  min_healthy_time = "1s"
  stop_timeout     = "5s"`

func fault(t *testing.T, n *lab.Node, f apimsim.Faults) {
	t.Helper()
	f.StartDelay, f.StopDelay = labtest.FastStart, labtest.FastStop
	if err := apimsim.WriteFaults(n.Home, f); err != nil {
		t.Fatal(err)
	}
}

func stopEvents(t *testing.T, n *lab.Node) int {
	evs, err := apimsim.ReadEvents(filepath.Join(n.Dir, "wso2"))
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, e := range evs {
		if e.Event == "stopping" {
			c++
		}
	}
	return c
}

func TestUnhealthyGatewayIsRolledBackAndTheRunHalts(t *testing.T) {
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=3"), Rollout: shortHealth})
	gw1 := l.Nodes[0]
	fault(t, gw1, apimsim.Faults{OnlyLevel: l.Level + 1, Unhealthy: true})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	rep, err := apply(t, o, plan(t, o))
	var fe *rollout.FailedError
	if !errors.As(err, &fe) || len(fe.Nodes) != 1 || fe.Nodes[0] != "gw-1" || !fe.Halted {
		t.Fatalf("apply error = %v, want gw-1 failed and the run halted", err)
	}
	if !strings.Contains(err.Error(), "health") {
		t.Errorf("error %q does not say the health gate failed", err)
	}
	outcome := map[string]string{}
	for _, n := range rep.Nodes {
		outcome[n.Node] = n.Outcome
	}
	if outcome["gw-1"] != rollout.OutcomeRolledBack || outcome["gw-2"] != rollout.OutcomeNotStarted || outcome["gw-3"] != rollout.OutcomeNotStarted {
		t.Errorf("outcomes = %v, want gw-1 rolled back and the others not started", outcome)
	}
	if got := level(t, gw1.Home); got != l.Level {
		t.Errorf("gw-1 at level %d after the rollback, want %d", got, l.Level)
	}
	if _, alive := apimsim.PIDAlive(gw1.Home); !alive {
		t.Error("gw-1 is not running after the rollback")
	}
	if _, err := os.Stat(filepath.Join(stateDir(gw1), "failed", o.Run)); err != nil {
		t.Errorf("the failed release is not kept for inspection: %v", err)
	}
	for _, n := range l.Nodes[1:] {
		if c := stopEvents(t, n); c != 0 {
			t.Errorf("%s was stopped %d time(s) although the run halted before it", n.Name, c)
		}
		if got := level(t, n.Home); got != l.Level {
			t.Errorf("%s changed to level %d", n.Name, got)
		}
	}
	// The lb hooks: gw-1 drained, then enabled again by the rollback.
	lb, _ := os.ReadFile(filepath.Join(l.Dir, "lb.log"))
	if !strings.Contains(string(lb), "drain gw-1") || !strings.Contains(string(lb), "enable gw-1") {
		t.Errorf("lb.log = %q, want gw-1 drained and enabled again", lb)
	}
	// The node's last run says rolled back.
	c, _ := o.Conns.Get(context.Background(), o.Inv.Node("gw-1"))
	f := tasks.Probe(context.Background(), c, o.Inv, o.Inv.Node("gw-1"), tasks.ProbeOptions{Health: true})
	if f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomeRolledBack || !f.Healthy {
		t.Errorf("facts after rollback: last run %+v, healthy %v (%s)", f.LastRun, f.Healthy, f.UnhealthyBecause)
	}
}

func TestStalePlanIsRefused(t *testing.T) {
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
	o, _ := setup(t, l, &recorder{})
	saved := plan(t, o)
	// Someone stops gw-2 by hand after the plan was made.
	script(t, l.Nodes[1], "stop")
	waitDown(t, l.Nodes[1])
	fresh := plan(t, o)
	err := rollout.Drift(saved, fresh)
	var de *rollout.DriftError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "gw-2: running was \"true\", now \"false\"") {
		t.Fatalf("Drift = %v, want gw-2's running state named", err)
	}
	if strings.Contains(err.Error(), "gw-1") {
		t.Errorf("Drift names gw-1, which did not change: %v", err)
	}
	if rollout.Drift(fresh, fresh) != nil {
		t.Error("a plan drifts from itself")
	}
}

func TestLockHeldByAnotherRunRefusesBeforeAnyChange(t *testing.T) {
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
	o, inv := setup(t, l, &recorder{})
	p := plan(t, o)
	gw2 := inv.Node("gw-2")
	c, err := o.Conns.Get(context.Background(), gw2)
	if err != nil {
		t.Fatal(err)
	}
	other := tasks.Lock{ID: "other-run", Owner: "someone", Since: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := tasks.Acquire(context.Background(), c, "gw-2", tasks.NewPaths(gw2.Home), other); err != nil {
		t.Fatal(err)
	}
	_, err = apply(t, o, p)
	var le *tasks.LockedError
	if !errors.As(err, &le) || le.Held.ID != "other-run" || !strings.Contains(err.Error(), "drover unlock other-run --force") {
		t.Fatalf("apply = %v, want a LockedError naming other-run and the unlock command", err)
	}
	for _, n := range l.Nodes {
		if c := stopEvents(t, n); c != 0 {
			t.Errorf("%s was stopped although the run was refused", n.Name)
		}
	}
	// gw-1's lock was given back; gw-2 still has the other run's.
	if _, err := os.Stat(filepath.Join(stateDir(l.Nodes[0]), "lock")); !os.IsNotExist(err) {
		t.Errorf("gw-1 still locked after the refused run: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(stateDir(l.Nodes[1]), "lock", "owner.json")); !strings.Contains(string(b), "other-run") {
		t.Errorf("gw-2's lock was touched: %s", b)
	}
	// Breaking the lock lets the run through.
	if ok, err := tasks.Break(context.Background(), c, tasks.NewPaths(gw2.Home), "other-run"); !ok || err != nil {
		t.Fatalf("Break = %v, %v", ok, err)
	}
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("apply after unlock: %v", err)
	}
}

func TestInterruptFinishesNodesInFlightThenResumes(t *testing.T) {
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=3")})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	p := plan(t, o)
	soft, cancelSoft := context.WithCancel(context.Background())
	hard, cancelHard := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelHard()
	// Interrupt as soon as the first node starts its update.
	o.Sink = func(e tasks.Event) {
		rec.sink()(e)
		if e.Type == tasks.EventNodeStarted {
			cancelSoft()
		}
	}
	_, err := rollout.Apply(soft, hard, o, p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("apply = %v, want interrupted", err)
	}
	if got := level(t, l.Nodes[0].Home); got != l.Level+1 {
		t.Errorf("gw-1, in flight at the interrupt, is at level %d; it should have finished", got)
	}
	for _, n := range l.Nodes[1:] {
		if got := level(t, n.Home); got != l.Level {
			t.Errorf("%s started after the interrupt", n.Name)
		}
	}
	o.Sink = rec.sink()
	o.Run += "-again"
	p2 := plan(t, o)
	if p2.Summary.Update != 2 || p2.Summary.UpToDate != 1 {
		t.Fatalf("plan after the interrupt = %+v, want 2 to update and 1 up to date", p2.Summary)
	}
	if _, err := apply(t, o, p2); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d after resuming", n.Name, got)
		}
	}
}

func TestHardStopMidNodeResumesFromTheJournal(t *testing.T) {
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	rec := &recorder{}
	o, inv := setup(t, l, rec)
	p := plan(t, o)
	hard, cancelHard := context.WithCancel(context.Background())
	o.Sink = func(e tasks.Event) {
		rec.sink()(e)
		if e.Type == tasks.EventStepDone && e.Step == "persist" {
			cancelHard() // as if drover died right after the data was copied
		}
	}
	_, err := rollout.Apply(hard, hard, o, p)
	if err == nil {
		t.Fatal("apply survived a hard stop")
	}
	gw := inv.Node("gw-1")
	c, _ := o.Conns.Get(context.Background(), gw)
	f := tasks.Probe(context.Background(), c, inv, gw, tasks.ProbeOptions{})
	if f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomeInterrupted {
		t.Fatalf("last run after the hard stop = %+v, want interrupted", f.LastRun)
	}
	if f.Running {
		t.Fatal("the node runs although the run stopped after persist")
	}
	// A run stopped hard still gives its locks back on the way out (a
	// killed drover cannot; the CLI tests cover that with unlock).
	if f.Lock != nil {
		t.Errorf("lock left after a hard stop: %+v", f.Lock)
	}
	o.Sink, o.Run = rec.sink(), "second"
	p2 := plan(t, o)
	if len(p2.Nodes()) != 1 || p2.Nodes()[0].Action != rollout.ActionResume {
		t.Fatalf("plan after the hard stop: %+v", p2.Summary)
	}
	for _, st := range p2.Nodes()[0].Steps {
		if (st.Name == "stage" || st.Name == "persist") && !st.Done {
			t.Errorf("step %s would run again after it completed", st.Name)
		}
	}
	if _, err := apply(t, o, p2); err != nil {
		t.Fatal(err)
	}
	if got := level(t, l.Nodes[0].Home); got != l.Level+1 {
		t.Errorf("level %d after resuming", got)
	}
	checkPersistSums(t, l)
}
