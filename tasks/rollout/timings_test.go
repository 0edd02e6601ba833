package rollout

import (
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
)

// TestTimingsFromEvents: the events the engine emits become per-node step
// timings in the report, and the timeline's downtime runs from the stop's
// start to the health gate's end (or the rollback's).
func TestTimingsFromEvents(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var passed int
	var tm timings
	o := tm.tee(&Options{Sink: func(tasks.Event) { passed++ }})
	evs := []tasks.Event{
		{Type: tasks.EventWaveStarted, Wave: 1, At: at(0)},
		{Type: tasks.EventNodeStarted, Node: "a", Wave: 1, At: at(0)},
		{Type: tasks.EventStepSkipped, Node: "a", Step: "preflight", At: at(0)},
		{Type: tasks.EventStepStarted, Node: "a", Step: "stop", At: at(1)},
		{Type: tasks.EventStepDone, Node: "a", Step: "stop", At: at(3)},
		{Type: tasks.EventStepStarted, Node: "a", Step: "health", At: at(3)},
		{Type: tasks.EventStepDone, Node: "a", Step: "health", At: at(9)},
		{Type: tasks.EventNodeDone, Node: "a", At: at(10)},
		{Type: tasks.EventNodeStarted, Node: "b", Wave: 2, At: at(10)},
		{Type: tasks.EventStepStarted, Node: "b", Step: "stop", At: at(11)},
		{Type: tasks.EventStepDone, Node: "b", Step: "stop", At: at(12)},
		{Type: tasks.EventStepStarted, Node: "b", Step: "health", At: at(12)},
		{Type: tasks.EventStepFailed, Node: "b", Step: "health", At: at(20)},
		{Type: tasks.EventRollback, Node: "b", At: at(20)},
		{Type: tasks.EventRolledBack, Node: "b", At: at(24)},
		{Type: tasks.EventNodeFailed, Node: "b", At: at(24)},
	}
	for _, ev := range evs {
		o.Sink.Emit(ev)
	}
	if passed != len(evs) {
		t.Fatalf("the sink passed on %d of %d events", passed, len(evs))
	}
	rep := &Report{Run: "r", Started: at(0), Finished: at(25), Nodes: []NodeReport{
		{Node: "a", Profile: "p1", Outcome: OutcomeDone}, {Node: "b", Profile: "p2", Outcome: OutcomeRolledBack}, {Node: "c", Profile: "p2", Outcome: OutcomeSkipped}}}
	tm.fill(rep)
	a, b := rep.Nodes[0], rep.Nodes[1]
	if a.Wave != 1 || !a.Start.Equal(at(0)) || !a.End.Equal(at(10)) || len(a.Steps) != 3 || a.Steps[0].Outcome != StepSkipped {
		t.Fatalf("a: %+v", a)
	}
	if len(b.Steps) != 3 || b.Steps[1].Outcome != StepFailed || b.Steps[2].Step != "rollback" || !b.Steps[2].End.Equal(at(24)) {
		t.Fatalf("b: %+v", b)
	}
	tl := TimelineOf(rep)
	if !tl.Timed || tl.WallMS != 25000 || tl.Nodes[0].DowntimeMS != 8000 || tl.Nodes[1].DowntimeMS != 13000 || tl.Nodes[2].DowntimeMS != 0 {
		t.Fatalf("timeline: %+v", tl)
	}
	if d := tl.Downtime; d.Nodes != 2 || d.MeanMS != 10500 || d.WorstMS != 13000 || d.WorstNode != "b" {
		t.Fatalf("downtime: %+v", d)
	}
	if len(tl.Waves) != 2 || tl.Waves[0].ElapsedMS != 10000 || tl.Waves[1].ElapsedMS != 14000 || tl.Waves[1].Profile != "p2" {
		t.Fatalf("waves: %+v", tl.Waves)
	}
}
