package tasks

import (
	"context"
	"time"

	"github.com/drover-sh/drover/inventory"
)

// OutcomePrepared is the outcome of a run that prepared a node ahead of
// its turn and has not updated it (yet): the old release still serves.
const OutcomePrepared = "prepared"

// aheadSteps are the steps of a side-by-side update that leave the node in
// service: they read the running release and write only beside it, run no
// hook and stop nothing. The engine runs them ahead of a node's turn.
var aheadSteps = map[string]bool{"preflight": true, "stage": true, "configure": true, "optimize": true, "precopy": true}

// Prepare runs the first steps of the node's update while the nodes before
// it are out of service: everything up to the first step that is not one
// of aheadSteps (before_stop, stop, ...), or that an ahead step cannot be
// reached (a switch to roll back first). It never takes the node out of
// service, runs no hook and decides nothing: Apply, at the node's turn,
// probes again and goes on from what the node's state says; an error
// here is met again there and reported then. The journal records the
// run's steps and, when they all ran, the outcome "prepared".
func (j *Job) Prepare(ctx context.Context) error {
	if j.Product == nil {
		return errNoProduct
	}
	if j.Pack == nil || j.Inv.Update.Strategy == inventory.InPlace {
		return nil
	}
	if _, err := j.Refresh(ctx); err != nil {
		return err
	}
	if j.reconfig || j.UpToDate() || j.Interrupted() {
		// An interrupted run may have left the node drained or stopped:
		// its turn finishes it, with the hooks paired.
		return nil
	}
	target := j.target()
	began := false
	for _, s := range j.procedure() {
		ch, perr := s.Probe(ctx, j)
		if perr == nil && ch.Done {
			continue
		}
		if !aheadSteps[s.Name] || perr != nil {
			break
		}
		if !began {
			j.journal(ctx, Record{Step: "run", Phase: PhaseBegin, Target: target})
			began = true
		}
		start := time.Now()
		j.Sink.Emit(Event{Type: EventStepStarted, Node: j.Node.Name, Step: s.Name, Message: ch.Summary + " (ahead of the node's turn)"})
		j.journal(ctx, Record{Step: s.Name, Phase: PhaseBegin, Target: target, Detail: ch.Summary})
		if err := s.Apply(ctx, j); err != nil {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			j.journal(wctx, Record{Step: s.Name, Phase: PhaseFail, Target: target, Detail: oneLine(err.Error())})
			if ctx.Err() == nil {
				j.journal(wctx, Record{Step: "run", Phase: OutcomeFailed, Target: target, Detail: oneLine(err.Error()) + "; the old release still serves"})
			} else {
				// Cut off (Ctrl-C): nothing was taken out of service, so
				// nothing is to resume first; the next run goes on from
				// what the node's state says.
				j.journal(wctx, Record{Step: "run", Phase: OutcomePrepared, Target: target, Detail: "cut off at " + s.Name + "; the old release still serves"})
			}
			cancel()
			j.Sink.Emit(Event{Type: EventWarning, Node: j.Node.Name, Step: s.Name, Message: "preparing ahead of the node's turn failed: " + err.Error() + "; the node's turn tries again"})
			return err
		}
		j.journal(ctx, Record{Step: s.Name, Phase: PhaseEnd, Target: target})
		j.Sink.Emit(Event{Type: EventStepDone, Node: j.Node.Name, Step: s.Name, ElapsedMS: time.Since(start).Milliseconds()})
	}
	if began {
		j.journal(ctx, Record{Step: "run", Phase: OutcomePrepared, Target: target})
	}
	return nil
}
