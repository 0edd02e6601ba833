package rollout

import (
	"sync"
	"time"

	"github.com/drover-sh/drover/tasks"
)

// Step outcomes in a StepTiming.
const (
	StepDone        = "done"
	StepFailed      = "failed"
	StepSkipped     = "skipped"
	StepInterrupted = "interrupted" // started and never finished
)

// StepTiming is when one step of a node ran, from the engine's events. A
// rollback is a step named "rollback".
type StepTiming struct {
	Step    string    `json:"step"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Outcome string    `json:"outcome"`
}

// timings records the step, node and wave events of a run, to put them in
// its report: the run record says where the time went.
type timings struct {
	mu    sync.Mutex
	nodes map[string]*nodeTimes
}

type nodeTimes struct {
	wave       int
	start, end time.Time
	steps      []StepTiming
	open       map[string]int
}

// tee returns options whose sink records into t before passing events on.
func (t *timings) tee(o *Options) *Options {
	t.nodes = map[string]*nodeTimes{}
	next := o.Sink
	oo := *o
	oo.Sink = func(ev tasks.Event) {
		t.record(ev)
		if next != nil {
			next(ev)
		}
	}
	return &oo
}

func (t *timings) node(name string) *nodeTimes {
	n := t.nodes[name]
	if n == nil {
		n = &nodeTimes{open: map[string]int{}}
		t.nodes[name] = n
	}
	return n
}

func (t *timings) record(ev tasks.Event) {
	if ev.Node == "" {
		return
	}
	at := ev.At.UTC().Round(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.node(ev.Node)
	if ev.Wave != 0 {
		n.wave = ev.Wave
	}
	begin := func(step string) {
		n.steps = append(n.steps, StepTiming{Step: step, Start: at, Outcome: StepInterrupted})
		n.open[step] = len(n.steps) - 1
	}
	end := func(step, outcome string) {
		i, ok := n.open[step]
		if !ok {
			return
		}
		delete(n.open, step)
		n.steps[i].End, n.steps[i].Outcome = at, outcome
	}
	switch ev.Type {
	case tasks.EventNodeStarted:
		n.start = at
	case tasks.EventNodeDone, tasks.EventNodeFailed:
		n.end = at
	case tasks.EventStepStarted:
		begin(ev.Step)
	case tasks.EventStepDone:
		end(ev.Step, StepDone)
	case tasks.EventStepFailed:
		end(ev.Step, StepFailed)
	case tasks.EventStepSkipped:
		n.steps = append(n.steps, StepTiming{Step: ev.Step, Start: at, End: at, Outcome: StepSkipped})
	case tasks.EventRollback:
		begin("rollback")
	case tasks.EventRolledBack:
		end("rollback", StepDone)
	}
}

// fill adds the recorded timings to the report's nodes.
func (t *timings) fill(rep *Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range rep.Nodes {
		nr := &rep.Nodes[i]
		n := t.nodes[nr.Node]
		if n == nil {
			continue
		}
		nr.Wave, nr.Start, nr.End = n.wave, n.start, n.end
		nr.Steps = append([]StepTiming(nil), n.steps...)
		for j := range nr.Steps {
			if s := &nr.Steps[j]; s.Outcome == StepInterrupted && s.Step == "rollback" && nr.Outcome == OutcomeFailed {
				s.Outcome, s.End = StepFailed, n.end // a rollback that failed says so only in node_failed
			}
		}
	}
}
