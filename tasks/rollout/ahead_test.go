package rollout_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// TestNextNodeIsPreparedAhead: while gw-1 is out of service, gw-2 is
// staged, configured and its data pre-copied, and its own turn only stops,
// persists what changed, switches and starts it. Capacity and hooks are
// as without preparation.
func TestNextNodeIsPreparedAhead(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
	t0 := time.Now()
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	var gw1Stopped, gw1Healthy, gw2Staged time.Time
	var gw2Turn time.Time
	for _, e := range rec.events {
		switch {
		case e.Node == "gw-1" && e.Step == "stop" && e.Type == tasks.EventStepStarted:
			gw1Stopped = e.At
		case e.Node == "gw-1" && e.Step == "health" && e.Type == tasks.EventStepDone:
			gw1Healthy = e.At
		case e.Node == "gw-2" && e.Step == "stage" && e.Type == tasks.EventStepDone:
			gw2Staged = e.At
		case e.Node == "gw-2" && e.Type == tasks.EventNodeStarted:
			gw2Turn = e.At
		}
	}
	if gw2Staged.IsZero() || !gw2Staged.Before(gw1Healthy) || gw2Turn.Before(gw1Healthy) {
		t.Errorf("gw-2 staged at %s, its turn at %s; gw-1 stopped at %s and healthy at %s: want gw-2 staged before gw-1 was healthy, its turn after",
			gw2Staged.Format(time.StampMilli), gw2Turn.Format(time.StampMilli), gw1Stopped.Format(time.StampMilli), gw1Healthy.Format(time.StampMilli))
	}
	if n, which := maxDown(downSpans(t, l, inventory.GatewayWorker, t0)); n > 1 {
		t.Errorf("%d gateways down at once (%v)", n, which)
	}
	checkHooksPaired(t, l)
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d, want %d", n.Name, got, l.Level+1)
		}
	}
}

// TestPreparedNodeOfAHaltedRunStillServes: gw-1 fails its update and the
// run halts (no failure budget); gw-2, prepared meanwhile, still serves
// its old release, untouched, and says so; the next run updates it
// without staging again.
func TestPreparedNodeOfAHaltedRunStillServes(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
	gw1, gw2 := l.Nodes[0], l.Nodes[1]
	if err := apimsim.WriteFaults(gw1.Home, apimsim.Faults{OnlyLevel: l.Level + 1, FailStart: true}); err != nil {
		t.Fatal(err)
	}
	pid, alive := apimsim.PIDAlive(gw2.Home)
	if !alive {
		t.Fatal("gw-2 does not run")
	}
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	if _, err := apply(t, o, plan(t, o)); err == nil {
		t.Fatal("apply succeeded although gw-1 cannot start its new release")
	}
	if now, alive := apimsim.PIDAlive(gw2.Home); !alive || now != pid {
		t.Errorf("gw-2 runs PID %d (alive %t), want its server %d untouched", now, alive, pid)
	}
	if got := level(t, gw2.Home); got != l.Level {
		t.Errorf("gw-2 at level %d, want %d", got, l.Level)
	}
	f := probe(t, o, "gw-2")
	if f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomePrepared {
		t.Errorf("gw-2's last run: %+v, want outcome %q", f.LastRun, tasks.OutcomePrepared)
	}
	if _, err := os.Stat(filepath.Join(stateDir(gw2), "staged")); err != nil {
		t.Errorf("gw-2 has no staged release: %v", err)
	}
	checkHooksPaired(t, l)

	// The operator fixes gw-1; the next run finishes both, staging gw-2 no more.
	if err := apimsim.WriteFaults(gw1.Home, apimsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	rec2 := &recorder{}
	o2, _ := setup(t, l, rec2)
	o2.Run += "-again"
	if _, err := apply(t, o2, plan(t, o2)); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, e := range rec2.events {
		if e.Node == "gw-2" && e.Step == "stage" && e.Type == tasks.EventStepStarted {
			t.Errorf("gw-2 was staged again: %s", e.Message)
		}
	}
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d, want %d", n.Name, got, l.Level+1)
		}
	}
}
