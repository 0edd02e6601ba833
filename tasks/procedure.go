package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// Job is one node's update: everything a step needs to probe or apply.
type Job struct {
	Inv   *inventory.Inventory
	Node  *inventory.Node
	Conn  Conn
	Paths Paths
	// Pack is the updated release (side-by-side); nil for in-place.
	Pack *Pack
	// Product knows the releases of the product being rolled out.
	Product Product
	// Run identifies this run in journals and locks; Owner says who runs it.
	Run   string
	Owner string
	Sink  Sink
	// Poll is how often the health gate looks again (default 50ms); the
	// waits for a server to stop or to write its PID run on the node.
	Poll time.Duration
	// Env resolves UPDATE_TOOL_* credentials and local hook variables;
	// os.Getenv when nil.
	Env func(string) string
	// Redial opens a new connection to the node when the one in Conn
	// broke; nil means a lost connection fails the node.
	Redial func(ctx context.Context) (Conn, error)

	facts *Facts
	// planning is set by PlanNode: its probe also runs the log health
	// checks, for CheckHealth.
	planning bool
	// reconfig is set once the job finds the node's release current and
	// its configuration drifted (or a reconfiguration unfinished): the job
	// then reconfigures the node instead of updating it.
	reconfig bool
	// restarted is set when a reconfiguration started the server.
	restarted bool
	// logOffset is the size of the product log before start, so the
	// health gate reads only what the new start wrote.
	logOffset int64
	// stalePID is what wso2carbon.pid held before start: the server writes
	// the file itself once it boots, so until it changes the server of this
	// start has not started yet (which is not the same as having exited).
	stalePID string
	// delta is what the stage step's probe found the node lacks, for its
	// apply.
	delta *delta
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
	f := Probe(ctx, j.Conn, j.Inv, j.Node, j.probeOptions())
	defer func() {
		if j.facts != nil && j.facts.Reachable && !j.reconfig {
			j.reconfig = j.configMode()
		}
	}()
	if !f.Reachable {
		if f.err != nil {
			return f, fmt.Errorf("probe: %w", f.err)
		}
		return f, fmt.Errorf("probe: %s", f.Error)
	}
	j.facts = f
	return f, nil
}

// probeOptions has the probe gather what the steps' probes read of the
// node, in its one round trip: the persisted data's sizes and the sums
// template drift compares (side-by-side), and for a plan the log health
// checks.
func (j *Job) probeOptions() ProbeOptions {
	opts := ProbeOptions{Product: j.Product, healthLog: j.planning}
	if j.Pack != nil && j.Inv.Update.Strategy == inventory.SideBySide {
		opts.persist = append([]string{}, j.persistPaths()...)
		if _, cands, err := j.driftCandidates(); err == nil {
			opts.carried = cands
		}
	}
	return opts
}

// StepPlan is one step as a plan shows it.
type StepPlan struct {
	Name string `json:"name"`
	Change
}

// PlanNode probes every step of the procedure. It changes nothing.
func (j *Job) PlanNode(ctx context.Context) ([]StepPlan, error) {
	if j.Product == nil {
		return nil, errNoProduct
	}
	j.planning = true
	if _, err := j.Refresh(ctx); err != nil {
		return nil, err
	}
	var out []StepPlan
	for _, s := range j.procedure() {
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
	if j.Interrupted() {
		// The journal is the truth: a run that stopped before it finished
		// left steps (a health gate, after_healthy hooks) to do.
		return false
	}
	if j.reconfig {
		return false // the release is current, its configuration is not
	}
	if j.Pack != nil {
		return f.UpdateLevel >= j.Pack.Level && f.Product == j.Pack.Product && (f.Staged == nil || !f.Staged.Exists)
	}
	return j.Inv.Update.Level > 0 && f.UpdateLevel >= j.Inv.Update.Level
}

// Interrupted reports whether the node's last run stopped before it
// finished: killed, cancelled, or cut off in any step.
func (j *Job) Interrupted() bool {
	lr := j.facts.LastRun
	return lr != nil && lr.Outcome == OutcomeInterrupted
}

// Apply runs the procedure on the node, from wherever it stands: steps that
// probe as done are skipped, so an interrupted update resumes after its last
// completed step and a second run on an updated node changes nothing. On a
// failure after the node was taken out of service, and when rollback is
// set, the node is rolled back; the error is returned either way. A
// connection lost on the way is dialled again (Redial, within
// health_timeout) and the procedure goes on from what the node's state says.
func (j *Job) Apply(ctx context.Context, rollback bool) error {
	if j.Product == nil {
		return errNoProduct
	}
	for attempt := 1; ; attempt++ {
		err := j.applyOnce(ctx, rollback)
		var lost *connLost
		if !errors.As(err, &lost) {
			return err
		}
		if attempt > maxReconnects {
			return lost.giveUp(j, fmt.Errorf("the connection dropped %d times", attempt))
		}
		j.warn(fmt.Sprintf("lost the connection during %s; reconnecting (up to %s)", lost.step, j.Inv.Rollout.HealthTimeout))
		if rerr := j.reconnect(ctx); rerr != nil {
			return lost.giveUp(j, rerr)
		}
	}
}

// maxReconnects bounds how often one node's procedure reconnects.
const maxReconnects = 5

// connLost is a step that failed because the connection to the node broke.
type connLost struct {
	step    string
	stopped bool
	err     error
}

func (e *connLost) Error() string { return e.err.Error() }
func (e *connLost) Unwrap() error { return e.err }

// giveUp turns a lost connection that could not be made again into the
// node's failure, saying whether the node is down and how to recover it.
func (e *connLost) giveUp(j *Job, cause error) error {
	serr := &StepError{Node: j.Node.Name, Step: e.step, Down: e.stopped}
	if e.stopped {
		serr.Err = fmt.Errorf("lost the connection after the server was stopped and could not reconnect (%v); the node may be down: when it is reachable, run drover recover %s --resume (or --rollback)", cause, j.Node.Name)
	} else {
		serr.Err = fmt.Errorf("lost the connection and could not reconnect (%v); the node still runs its old release; run apply again when it is reachable", cause)
	}
	return serr
}

// isConnLoss reports an error of the connection rather than of the command.
func isConnLoss(err error) bool {
	var ce *transport.ConnError
	return errors.As(err, &ce)
}

// reconnect dials the node again with backoff, within health_timeout.
func (j *Job) reconnect(ctx context.Context) error {
	if j.Redial == nil {
		return errors.New("no way to dial the node again")
	}
	deadline := time.Now().Add(j.Inv.Rollout.HealthTimeout)
	wait := 200 * time.Millisecond
	for {
		c, err := j.Redial(ctx)
		if err == nil {
			j.Conn = c
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		if serr := sleep(ctx, wait); serr != nil {
			return err
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (j *Job) applyOnce(ctx context.Context, rollback bool) error {
	if _, err := j.Refresh(ctx); err != nil {
		if j.Redial != nil && isConnLoss(err) && ctx.Err() == nil {
			// Not knowing is counted as stopped.
			return &connLost{step: "probe", stopped: j.facts == nil || !j.facts.Running, err: err}
		}
		return &StepError{Node: j.Node.Name, Step: "probe", Err: err}
	}
	target := j.target()
	j.journal(ctx, Record{Step: "run", Phase: PhaseBegin, Target: target})
	stopped := false
	for _, s := range j.procedure() {
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
		var pe *PreflightError
		if errors.As(perr, &pe) {
			// Refused before anything changed: no hooks, no rollback.
			serr := &StepError{Node: j.Node.Name, Step: s.Name, Err: perr}
			j.Sink.Emit(Event{Type: EventStepFailed, Node: j.Node.Name, Step: s.Name, Error: perr.Error(), ElapsedMS: time.Since(start).Milliseconds()})
			j.journal(ctx, Record{Step: s.Name, Phase: PhaseFail, Target: target, Detail: oneLine(perr.Error())})
			j.journal(ctx, Record{Step: "run", Phase: OutcomeFailed, Target: target, Detail: oneLine(serr.Error())})
			return serr
		}
		err := perr
		if err == nil {
			err = s.Apply(ctx, j)
		}
		if err == nil {
			j.journal(ctx, Record{Step: s.Name, Phase: PhaseEnd, Target: target})
			j.Sink.Emit(Event{Type: EventStepDone, Node: j.Node.Name, Step: s.Name, ElapsedMS: time.Since(start).Milliseconds()})
			continue
		}
		if j.Redial != nil && isConnLoss(err) && ctx.Err() == nil {
			return &connLost{step: s.Name, stopped: stopped || !j.facts.Running, err: err}
		}
		return j.fail(ctx, &StepError{Node: j.Node.Name, Step: s.Name, Err: err}, start, stopped, rollback)
	}
	if j.Pack != nil && j.switched() && !j.facts.CurrentDone {
		// The release passed its gate and its hooks ran: from now on it is
		// one to update from.
		if err := j.writeCurrent(ctx, j.currentState(true)); err != nil {
			j.warn("could not record the update as complete: " + err.Error())
		} else {
			j.facts.CurrentDone = true
			// Only this release's pristine copies are of use from now on.
			j.prunePristine(ctx, j.Pack.SHA256)
		}
	}
	j.recordManaged(ctx)
	j.journal(ctx, Record{Step: "run", Phase: OutcomeDone, Target: target})
	return nil
}

// procedure is the node's list of steps: a reconfiguration when the job
// found the release current and the configuration drifted, else the
// update of the inventory's strategy.
func (j *Job) procedure() []Step {
	if j.reconfig {
		return reconfigureSteps()
	}
	return Steps(j.Inv)
}

// fail records a failed step and leaves the node either rolled back and
// serving, or serving its old release with its before_stop hooks undone,
// or (no rollback) down, as the error then says.
func (j *Job) fail(ctx context.Context, serr *StepError, start time.Time, stopped, rollback bool) error {
	target := j.target()
	j.Sink.Emit(Event{Type: EventStepFailed, Node: j.Node.Name, Step: serr.Step, Error: serr.Err.Error(), ElapsedMS: time.Since(start).Milliseconds()})
	// The journal write uses a fresh context: an interrupted run still
	// records where it stopped.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	j.journal(wctx, Record{Step: serr.Step, Phase: PhaseFail, Target: target, Detail: oneLine(serr.Err.Error())})
	cancel()
	if ctx.Err() != nil {
		// Interrupted: the journal says where; resume or recover finishes
		// the node, hooks included.
		return serr
	}
	if herr := j.runHooks(ctx, inventory.OnFailure); herr != nil {
		j.warn(herr.Error())
	}
	if stopped && waitsForOperator(serr.Err) {
		// The update tool's conflicts wait for the operator's merges: a
		// rollback would revert them away. The node stays stopped.
		serr.Down = true
		j.journal(ctx, Record{Step: "run", Phase: OutcomeFailed, Target: target, Detail: oneLine(serr.Error())})
		return serr
	}
	if stopped && rollback {
		if rerr := j.Rollback(ctx); rerr != nil {
			serr.Down = true
			j.journal(context.WithoutCancel(ctx), Record{Step: "run", Phase: OutcomeFailed, Target: target, Detail: oneLine(serr.Error() + "; rollback failed: " + rerr.Error())})
			return errors.Join(serr, fmt.Errorf("%s: rollback failed: %w", j.Node.Name, rerr))
		}
		serr.RolledBack = true
		j.journal(ctx, Record{Step: "run", Phase: OutcomeRolledBack, Target: target, Detail: oneLine(serr.Error())})
		return serr
	}
	if !stopped {
		// The old release still serves: undo the before_stop hooks that
		// ran (a drained node is enabled again).
		if err := j.undrain(ctx); err != nil {
			serr.Err = fmt.Errorf("%w; and undoing before_stop failed: %v", serr.Err, err)
		}
	}
	serr.Down = stopped
	j.journal(ctx, Record{Step: "run", Phase: OutcomeFailed, Target: target, Detail: oneLine(serr.Error())})
	return serr
}

// target names what this run updates to, for the journal.
func (j *Job) target() string {
	if j.reconfig {
		return configTarget + j.desiredDigest()
	}
	if j.Pack != nil {
		return fmt.Sprintf("pack:%s level:%d", j.Pack.SHA256, j.Pack.Level)
	}
	return fmt.Sprintf("level:%d", j.Inv.Update.Level)
}

// journal appends a record; a failure to write the journal is reported as a
// warning event, never hidden.
func (j *Job) journal(ctx context.Context, r Record) {
	r.Run, r.Owner = j.Run, j.Owner
	// A detail may carry a command's or a hook's output: never a secret.
	r.Detail, r.Target = j.Inv.Redact(r.Detail), j.Inv.Redact(r.Target)
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	if j.facts != nil {
		// Keep the probed journal current: hook and rollback decisions read it.
		j.facts.journal = append(j.facts.journal, r)
	}
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
	return 50 * time.Millisecond
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
