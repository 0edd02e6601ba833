package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"golang.org/x/sync/errgroup"
)

// Node outcomes in a Report.
const (
	OutcomeDone       = "done"
	OutcomeFailed     = "failed"
	OutcomeRolledBack = "rolled_back"
	OutcomeSkipped    = "skipped"
	OutcomeNotStarted = "not_started"
	OutcomeStopped    = "interrupted"
)

// Report is the record of a run, kept on the controller.
type Report struct {
	Run         string       `json:"run"`
	Owner       string       `json:"owner"`
	Cluster     string       `json:"cluster"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
	Nodes       []NodeReport `json:"nodes"`
	Halted      bool         `json:"halted"`
	Interrupted bool         `json:"interrupted"`
}

// NodeReport is one node's part of a run.
type NodeReport struct {
	Node      string `json:"node"`
	Profile   string `json:"profile"`
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
	ElapsedMS int64  `json:"elapsed_ms"`
	// Wave, Start, End and Steps say where the node's time went (from the
	// engine's events); absent in records of older versions.
	Wave  int          `json:"wave,omitempty"`
	Start time.Time    `json:"start,omitzero"`
	End   time.Time    `json:"end,omitzero"`
	Steps []StepTiming `json:"steps,omitempty"`
}

// FailedError lists the nodes that failed in a run.
type FailedError struct {
	Nodes  []string
	Errors []string
	Halted bool
	// Reason says why the run halted when no node failed.
	Reason string
	// Errs are the nodes' errors, for errors.As.
	Errs []error
}

func (e *FailedError) Unwrap() []error { return e.Errs }

func (e *FailedError) Error() string {
	if len(e.Nodes) == 0 && e.Reason != "" {
		return "the run halted: " + e.Reason
	}
	s := fmt.Sprintf("%d node(s) failed: %s", len(e.Nodes), strings.Join(e.Errors, "; "))
	if e.Halted {
		s += " (failure budget exceeded: the run halted)"
	}
	return s
}

// Apply performs a plan. soft is cancelled to stop starting new work (the
// first Ctrl-C): nodes in flight finish or roll back. hard is cancelled to
// stop the steps in flight at their next safe point (the second Ctrl-C);
// their journals say where each node stopped.
func Apply(soft, hard context.Context, o *Options, p *Plan) (*Report, error) {
	rep := &Report{Run: o.Run, Owner: o.Owner, Cluster: p.Cluster, Started: time.Now().UTC()}
	var tm timings
	o = tm.tee(o)
	defer tm.fill(rep)
	o.Sink.Emit(tasks.Event{Type: tasks.EventRunStarted, Run: o.Run, Message: fmt.Sprintf("%d node(s) to update in %d wave(s)", p.Summary.Update, p.Summary.Waves)})
	nodes := map[string]*inventory.Node{}
	for _, n := range o.Nodes {
		nodes[n.Name] = n
	}
	targets := p.Nodes()
	haltReason := ""
	// Everything knowable up front was checked on every selected node while
	// planning; any problem refuses the whole run before the first change.
	if err := p.Refusal(); err != nil {
		rep.Finished = time.Now().UTC()
		o.Sink.Emit(tasks.Event{Type: tasks.EventRunFinished, Run: o.Run, Error: err.Error()})
		return rep, err
	}
	if err := lockAll(hard, o, targets, nodes); err != nil {
		rep.Finished = time.Now().UTC()
		o.Sink.Emit(tasks.Event{Type: tasks.EventRunFinished, Run: o.Run, Error: err.Error()})
		return rep, err
	}
	stopRefresh := refreshLocks(hard, o, targets, nodes)
	defer func() {
		stopRefresh()
		unlockAll(context.WithoutCancel(hard), o, targets, nodes)
	}()

	// While a batch is out of service, the nodes of the next one are
	// prepared (staged, configured, data pre-copied) ahead of their turn.
	pre := newAhead(soft, o)
	defer pre.stop()

	results := map[string]*NodeReport{}
	var mu sync.Mutex
	failures := 0
	var failedNames, failedErrs []string
	var nodeErrs []error
	for _, w := range p.Waves {
		for _, s := range w.Skipped {
			results[s.Node] = &NodeReport{Node: s.Node, Profile: s.Profile, Outcome: OutcomeSkipped, Error: s.Reason}
			o.Sink.Emit(tasks.Event{Type: tasks.EventNodeSkipped, Run: o.Run, Node: s.Node, Profile: s.Profile, Wave: w.Number, Message: s.Reason})
		}
	}
waves:
	for _, w := range p.Waves {
		if len(w.Batches) == 0 {
			continue
		}
		o.Sink.Emit(tasks.Event{Type: tasks.EventWaveStarted, Run: o.Run, Wave: w.Number, Profile: w.Profile})
		lostInWave := 0 // nodes of this wave this run left out of service
		var queue []NodePlan
		for _, b := range w.Batches {
			queue = append(queue, b.Nodes...)
		}
		for bn := 1; len(queue) > 0; bn++ {
			if soft.Err() != nil {
				rep.Interrupted = true
				break waves
			}
			// Capacity is judged afresh before every batch, on every node
			// of the profile: a peer that crashed or was stopped by hand
			// since the plan counts.
			down := profileDown(soft, o, w.Profile)
			if soft.Err() != nil {
				rep.Interrupted = true
				break waves
			}
			batch, rest, why := pick(queue, down, w.MaxUnavailable)
			if len(batch) == 0 {
				o.Sink.Emit(tasks.Event{Type: tasks.EventWarning, Run: o.Run, Wave: w.Number, Profile: w.Profile, Message: fmt.Sprintf("profile %s: %s; no new batch starts", w.Profile, why)})
				rep.Halted = true
				haltReason = fmt.Sprintf("profile %s: %s", w.Profile, why)
				break waves
			}
			queue = rest
			o.Sink.Emit(tasks.Event{Type: tasks.EventBatchStarted, Run: o.Run, Wave: w.Number, Batch: bn, Profile: w.Profile, Message: NodeNames(batch)})
			var g errgroup.Group
			for _, np := range batch {
				n := nodes[np.Node]
				g.Go(func() error {
					pre.wait(n.Name)
					r, lost, nerr := runNode(hard, o, n, w.Number, bn)
					mu.Lock()
					defer mu.Unlock()
					results[n.Name] = r
					if r.Outcome == OutcomeFailed || r.Outcome == OutcomeRolledBack {
						failures++
						failedNames = append(failedNames, n.Name)
						msg := r.Error
						if !strings.HasPrefix(msg, n.Name+": ") {
							msg = n.Name + ": " + msg
						}
						failedErrs = append(failedErrs, msg)
						nodeErrs = append(nodeErrs, nerr)
					}
					if lost {
						lostInWave++
					}
					return nil
				})
			}
			for _, np := range upcoming(p.Waves, w.Number, queue, len(batch)) {
				pre.start(nodes[np.Node])
			}
			g.Wait()
			o.Sink.Emit(tasks.Event{Type: tasks.EventBatchDone, Run: o.Run, Wave: w.Number, Batch: bn, Profile: w.Profile})
			if hard.Err() != nil {
				rep.Interrupted = true
				break waves
			}
			if failures > o.Inv.Rollout.FailureBudget {
				rep.Halted = true
				o.Sink.Emit(tasks.Event{Type: tasks.EventWarning, Run: o.Run, Message: fmt.Sprintf("%d failure(s) exceed the failure budget of %d: no new batch starts", failures, o.Inv.Rollout.FailureBudget)})
				break waves
			}
		}
		if lostInWave > 0 {
			rep.Halted = true
			o.Sink.Emit(tasks.Event{Type: tasks.EventWarning, Run: o.Run, Wave: w.Number, Message: fmt.Sprintf("wave %d (%s) is not entirely healthy: the next wave does not start", w.Number, w.Profile)})
			break
		}
		o.Sink.Emit(tasks.Event{Type: tasks.EventWaveDone, Run: o.Run, Wave: w.Number, Profile: w.Profile})
	}
	for _, np := range targets {
		if _, ok := results[np.Node]; !ok {
			results[np.Node] = &NodeReport{Node: np.Node, Profile: np.Profile, Outcome: OutcomeNotStarted}
		}
	}
	for _, n := range o.Nodes {
		if r, ok := results[n.Name]; ok {
			rep.Nodes = append(rep.Nodes, *r)
		}
	}
	rep.Finished = time.Now().UTC()
	var err error
	switch {
	case len(failedNames) > 0:
		err = &FailedError{Nodes: failedNames, Errors: failedErrs, Halted: rep.Halted, Errs: nodeErrs}
	case rep.Interrupted:
		err = fmt.Errorf("rollout: interrupted; run apply again to resume: %w", context.Canceled)
	case rep.Halted:
		err = &FailedError{Halted: true, Reason: haltReason}
	}
	ev := tasks.Event{Type: tasks.EventRunFinished, Run: o.Run, ElapsedMS: rep.Finished.Sub(rep.Started).Milliseconds(), Message: summary(rep)}
	if err != nil {
		ev.Error = err.Error()
	}
	o.Sink.Emit(ev)
	return rep, err
}

// runNode updates one node, rolling it back on failure when the inventory
// says so. lost reports a node left out of service.
func runNode(ctx context.Context, o *Options, n *inventory.Node, wave, batch int) (*NodeReport, bool, error) {
	start := time.Now()
	r := &NodeReport{Node: n.Name, Profile: n.Profile}
	o.Sink.Emit(tasks.Event{Type: tasks.EventNodeStarted, Run: o.Run, Node: n.Name, Profile: n.Profile, Wave: wave, Batch: batch})
	c, err := o.Conns.Get(ctx, n)
	what := "" // how the node was changed, for the done event: "" for an update
	if err == nil {
		j := o.job(n, c)
		j.Redial = func(ctx context.Context) (tasks.Conn, error) {
			o.Conns.Forget(n)
			return o.Conns.Get(ctx, n)
		}
		err = j.Apply(ctx, o.Inv.Rollout.AutoRollback)
		if j.Reconfigure() {
			what = "reconfigured"
		}
	}
	r.ElapsedMS = time.Since(start).Milliseconds()
	lost := false
	switch {
	case err == nil:
		r.Outcome = OutcomeDone
		o.Sink.Emit(tasks.Event{Type: tasks.EventNodeDone, Run: o.Run, Node: n.Name, Profile: n.Profile, Wave: wave, Batch: batch, ElapsedMS: r.ElapsedMS, Message: what})
		return r, false, nil
	case ctx.Err() != nil:
		r.Outcome, r.Error, lost = OutcomeStopped, err.Error(), true
	default:
		r.Outcome, r.Error = OutcomeFailed, err.Error()
		var se *tasks.StepError
		if errors.As(err, &se) {
			if se.RolledBack {
				r.Outcome = OutcomeRolledBack
			}
			lost = se.Down
		} else {
			lost = true // not knowing is counted as down
		}
	}
	o.Sink.Emit(tasks.Event{Type: tasks.EventNodeFailed, Run: o.Run, Node: n.Name, Profile: n.Profile, Wave: wave, Batch: batch, Error: r.Error, Message: r.Outcome, ElapsedMS: r.ElapsedMS})
	return r, lost, err
}

// NodeNames joins the nodes' names with commas.
func NodeNames(nps []NodePlan) string {
	s := make([]string, len(nps))
	for i, n := range nps {
		s[i] = n.Node
	}
	return strings.Join(s, ", ")
}

func summary(r *Report) string {
	count := map[string]int{}
	for _, n := range r.Nodes {
		count[n.Outcome]++
	}
	var parts []string
	for _, k := range []string{OutcomeDone, OutcomeSkipped, OutcomeRolledBack, OutcomeFailed, OutcomeStopped, OutcomeNotStarted} {
		if count[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[k], strings.ReplaceAll(k, "_", " ")))
		}
	}
	return strings.Join(parts, ", ")
}

// profileDown probes every node of a profile read-only, health included,
// and returns why each one out of service is (by node name).
func profileDown(ctx context.Context, o *Options, profile string) map[string]string {
	nodes := o.Inv.NodesOf(profile)
	reasons := make([]string, len(nodes))
	var g errgroup.Group
	g.SetLimit(max(o.Parallel, 1))
	for i, n := range nodes {
		g.Go(func() error {
			_, reasons[i] = serviceState(ctx, o, n)
			return nil
		})
	}
	g.Wait()
	down := map[string]string{}
	for i, n := range nodes {
		if reasons[i] != "" {
			down[n.Name] = reasons[i]
		}
	}
	return down
}

// CheckCapacity refuses to take one node out of service (recover) when
// that would leave more than max_unavailable nodes of its profile out. A
// node that is out of service already costs nothing.
func CheckCapacity(ctx context.Context, o *Options, n *inventory.Node) error {
	down := profileDown(ctx, o, n.Profile)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if down[n.Name] != "" {
		return nil
	}
	max := o.Inv.MaxUnavailable(n.Profile)
	if len(down)+1 <= max {
		return nil
	}
	var others []string
	for name, why := range down {
		others = append(others, name+" ("+why+")")
	}
	slices.Sort(others)
	return &RefusedError{Reasons: []string{fmt.Sprintf("%s: taking it out of service would leave %d node(s) of %s out with max_unavailable %d; out already: %s",
		n.Name, len(down)+1, n.Profile, max, strings.Join(others, ", "))}}
}

// upcoming returns the next n nodes to update after the batch in flight:
// the head of the wave's queue, then the first batch of the waves after.
func upcoming(waves []Wave, current int, queue []NodePlan, n int) []NodePlan {
	out := queue[:min(n, len(queue))]
	for _, w := range waves {
		if len(out) >= n {
			break
		}
		if w.Number <= current || len(w.Batches) == 0 {
			continue
		}
		b := w.Batches[0].Nodes
		out = append(slices.Clone(out), b[:min(n-len(out), len(b))]...)
	}
	return out
}

// ahead prepares nodes ahead of their turn (tasks.Job.Prepare), one
// goroutine per node, at most once per node per run. A node's turn waits
// for its preparation to end: one node never runs two procedures at once.
type ahead struct {
	ctx    context.Context
	cancel context.CancelFunc
	o      *Options
	mu     sync.Mutex
	done   map[string]chan struct{}
}

func newAhead(ctx context.Context, o *Options) *ahead {
	ctx, cancel := context.WithCancel(ctx)
	return &ahead{ctx: ctx, cancel: cancel, o: o, done: map[string]chan struct{}{}}
}

func (a *ahead) start(n *inventory.Node) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n == nil || a.done[n.Name] != nil || a.ctx.Err() != nil {
		return
	}
	ch := make(chan struct{})
	a.done[n.Name] = ch
	go func() {
		defer close(ch)
		c, err := a.o.Conns.Get(a.ctx, n)
		if err != nil {
			return // the node's turn dials again and reports it
		}
		a.o.job(n, c).Prepare(a.ctx)
	}()
}

// wait returns once the node's preparation, if any, has ended.
func (a *ahead) wait(name string) {
	a.mu.Lock()
	ch := a.done[name]
	a.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// stop cancels the preparations still running and waits for them.
func (a *ahead) stop() {
	a.cancel()
	a.mu.Lock()
	chs := make([]chan struct{}, 0, len(a.done))
	for _, ch := range a.done {
		chs = append(chs, ch)
	}
	a.mu.Unlock()
	for _, ch := range chs {
		<-ch
	}
}
