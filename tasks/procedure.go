package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-sh/drover/inventory"
)

// Job is one node's update: everything a step needs to probe or apply.
type Job struct {
	Inv   *inventory.Inventory
	Node  *inventory.Node
	Conn  Conn
	Paths Paths
	// Pack is the updated release (side-by-side); nil for in-place.
	Pack *Pack
	// Run identifies this run in journals and locks; Owner says who runs it.
	Run   string
	Owner string
	Sink  Sink
	// Poll is how often stop and the health gate look again (default 1s).
	Poll time.Duration
	// Env resolves UPDATE_TOOL_* credentials and local hook variables;
	// os.Getenv when nil.
	Env func(string) string

	facts *Facts
	// logOffset is the size of the product log before start, so the
	// health gate reads only what the new start wrote.
	logOffset int64
	// stalePID is what wso2carbon.pid held before start: the server writes
	// the file itself once it boots, so until it changes the server of this
	// start has not started yet (which is not the same as having exited).
	stalePID string
}

// Change is what a step would do, as probed.
type Change struct {
	// Done means the step has nothing left to do on this node.
	Done    bool     `json:"done"`
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
	Bytes   int64    `json:"bytes,omitempty"`
}

// Step is one step of the node procedure.
type Step struct {
	Name string
	// Probe is read-only: it says what Apply would change.
	Probe func(ctx context.Context, j *Job) (Change, error)
	Apply func(ctx context.Context, j *Job) error
	// Stops marks the step that takes the node out of service; a failure at
	// or after it needs a rollback.
	Stops bool
}

// Steps returns the node procedure for the inventory's strategy.
func Steps(inv *inventory.Inventory) []Step {
	if inv.Update.Strategy == inventory.InPlace {
		return inPlaceSteps()
	}
	return sideBySideSteps()
}

// Facts returns the facts the job last probed.
func (j *Job) Facts() *Facts { return j.facts }

// Refresh probes the node again.
func (j *Job) Refresh(ctx context.Context) (*Facts, error) {
	f := Probe(ctx, j.Conn, j.Inv, j.Node, ProbeOptions{})
	if !f.Reachable {
		return f, fmt.Errorf("probe: %s", f.Error)
	}
	j.facts = f
	return f, nil
}

// StepPlan is one step as a plan shows it.
type StepPlan struct {
	Name string `json:"name"`
	Change
}

// PlanNode probes every step of the procedure. It changes nothing.
func (j *Job) PlanNode(ctx context.Context) ([]StepPlan, error) {
	if _, err := j.Refresh(ctx); err != nil {
		return nil, err
	}
	var out []StepPlan
	for _, s := range Steps(j.Inv) {
		ch, err := s.Probe(ctx, j)
		if err != nil {
			return out, &StepError{Node: j.Node.Name, Step: s.Name, Err: err}
		}
		out = append(out, StepPlan{Name: s.Name, Change: ch})
	}
	return out, nil
}

// UpToDate reports whether the node already runs the target release and
// nothing of an update is pending.
func (j *Job) UpToDate() bool {
	f := j.facts
	if f == nil || !f.HomeExists || !f.Running {
		return false
	}
	if j.Pack != nil {
		return f.UpdateLevel >= j.Pack.Level && f.Product == j.Pack.Product && (f.Staged == nil || !f.Staged.Exists)
	}
	return j.Inv.Update.Level > 0 && f.UpdateLevel >= j.Inv.Update.Level
}

// Apply runs the procedure on the node, from wherever it stands: steps that
// probe as done are skipped, so an interrupted update resumes after its last
// completed step and a second run on an updated node changes nothing. On a
// failure after the node was taken out of service, and when rollback is
// set, the node is rolled back; the error is returned either way.
func (j *Job) Apply(ctx context.Context, rollback bool) (err error) {
	if _, err := j.Refresh(ctx); err != nil {
		return &StepError{Node: j.Node.Name, Step: "probe", Err: err}
	}
	target := j.target()
	j.journal(ctx, Record{Step: "run", Phase: PhaseBegin, Target: target})
	stopped := false
	for _, s := range Steps(j.Inv) {
		ch, perr := s.Probe(ctx, j)
		if perr == nil && ch.Done {
			j.Sink.Emit(Event{Type: EventStepSkipped, Node: j.Node.Name, Step: s.Name, Message: ch.Summary})
			if s.Stops {
				stopped = true
			}
			continue
		}
		if s.Stops {
			stopped = true
		}
		start := time.Now()
		j.Sink.Emit(Event{Type: EventStepStarted, Node: j.Node.Name, Step: s.Name, Message: ch.Summary})
		j.journal(ctx, Record{Step: s.Name, Phase: PhaseBegin, Target: target, Detail: ch.Summary})
		err := perr
		if err == nil {
			err = s.Apply(ctx, j)
		}
		if err != nil {
			serr := &StepError{Node: j.Node.Name, Step: s.Name, Err: err}
			j.Sink.Emit(Event{Type: EventStepFailed, Node: j.Node.Name, Step: s.Name, Error: err.Error(), ElapsedMS: time.Since(start).Milliseconds()})
			// The journal write uses a fresh context: an interrupted run
			// still records where it stopped.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			j.journal(wctx, Record{Step: s.Name, Phase: PhaseFail, Target: target, Detail: oneLine(err.Error())})
			cancel()
			if ctx.Err() != nil {
				return serr
			}
			j.runHooks(ctx, inventory.OnFailure)
			if stopped && rollback {
				if rerr := j.Rollback(ctx); rerr != nil {
					serr.Down = true
					return errors.Join(serr, fmt.Errorf("%s: rollback failed: %w", j.Node.Name, rerr))
				}
				serr.RolledBack = true
				j.journal(ctx, Record{Step: "run", Phase: OutcomeRolledBack, Target: target, Detail: oneLine(serr.Error())})
				return serr
			}
			serr.Down = stopped
			j.journal(ctx, Record{Step: "run", Phase: OutcomeFailed, Target: target, Detail: oneLine(serr.Error())})
			return serr
		}
		j.journal(ctx, Record{Step: s.Name, Phase: PhaseEnd, Target: target})
		j.Sink.Emit(Event{Type: EventStepDone, Node: j.Node.Name, Step: s.Name, ElapsedMS: time.Since(start).Milliseconds()})
	}
	j.journal(ctx, Record{Step: "run", Phase: OutcomeDone, Target: target})
	return nil
}

// target names what this run updates to, for the journal.
func (j *Job) target() string {
	if j.Pack != nil {
		return fmt.Sprintf("pack:%s level:%d", j.Pack.SHA256, j.Pack.Level)
	}
	return fmt.Sprintf("level:%d", j.Inv.Update.Level)
}

// journal appends a record; a failure to write the journal is reported as a
// warning event, never hidden.
func (j *Job) journal(ctx context.Context, r Record) {
	r.Run, r.Owner = j.Run, j.Owner
	if err := Append(ctx, j.Conn, j.Paths, r); err != nil {
		j.Sink.Emit(Event{Type: EventWarning, Node: j.Node.Name, Message: "could not write the journal: " + err.Error()})
	}
}

func (j *Job) warn(msg string) {
	j.Sink.Emit(Event{Type: EventWarning, Node: j.Node.Name, Message: msg})
}

func (j *Job) poll() time.Duration {
	if j.Poll > 0 {
		return j.Poll
	}
	return time.Second
}

func oneLine(s string) string {
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
