package tasks

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/drover-sh/drover/inventory"
)

// Hooks come in pairs: every before_stop that ran (draining a node from a
// load balancer, say) is followed by after_healthy, or by its run during a
// rollback, on every path. Which hooks ran, and when, is read from the
// node's journal, so a resumed or recovered node gets the hooks its
// interrupted run still owed it and none it already had.

func hookStep(name, event string) Step {
	return Step{
		Name: name,
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			hooks := j.Node.HooksFor(event)
			if len(hooks) == 0 {
				return Change{Done: true, Summary: "no " + event + " hook to run"}, nil
			}
			if event == inventory.BeforeStop && (j.onTarget() || !j.facts.Running) {
				return Change{Done: true, Summary: "the server is not serving the old release"}, nil
			}
			if event != inventory.BeforeStop && j.onTarget() && j.facts.Running && j.ranSinceStart(event) {
				return Change{Done: true, Summary: "the " + event + " hooks ran after the last start"}, nil
			}
			ch := Change{Summary: fmt.Sprintf("run %d %s hook(s)", len(hooks), event)}
			for _, h := range hooks {
				ch.Details = append(ch.Details, h.Where+": "+h.Display)
			}
			return ch, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.runHooks(ctx, event) },
	}
}

// lifecycleSteps are the journal steps after which the hooks of a start
// are owed again.
var lifecycleSteps = map[string]bool{"start": true, "stop": true, "switch": true, "rollback": true, inventory.BeforeStop: true}

// ranSinceStart reports whether the event's hooks completed after the
// server's last start and nothing stopped, drained or switched it since.
func (j *Job) ranSinceStart(event string) bool {
	recs := j.facts.journal
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Step == event && r.Phase == PhaseEnd {
			return true
		}
		if lifecycleSteps[r.Step] && r.Step != event {
			return false
		}
	}
	return false
}

// drained reports whether before_stop hooks began on the node and no
// after_healthy hooks completed since: the node is (or may be) out of its
// load balancer.
func (j *Job) drained() bool { return drainedIn(j.facts.journal) }

// Drained reports whether the node's journal says its before_stop hooks
// began and no after_healthy hooks completed since.
func (f *Facts) Drained() bool { return drainedIn(f.journal) }

func drainedIn(recs []Record) bool {
	for i := len(recs) - 1; i >= 0; i-- {
		switch r := recs[i]; {
		case r.Step == inventory.BeforeStop:
			return true
		case r.Step == inventory.AfterHealthy && r.Phase == PhaseEnd:
			return false
		}
	}
	return false
}

// undrain runs the after_healthy hooks of a node whose before_stop hooks
// ran, when its old release still serves.
func (j *Job) undrain(ctx context.Context) error {
	if !j.drained() {
		return nil
	}
	return j.hooks(ctx, inventory.AfterHealthy)
}

// hooks runs one event's hooks outside the step sequence (rollback,
// undoing a drain), recorded in the journal like a step.
func (j *Job) hooks(ctx context.Context, event string) error {
	if len(j.Node.HooksFor(event)) == 0 {
		return nil
	}
	j.journal(ctx, Record{Step: event, Phase: PhaseBegin})
	if err := j.runHooks(ctx, event); err != nil {
		j.journal(context.WithoutCancel(ctx), Record{Step: event, Phase: PhaseFail, Detail: oneLine(err.Error())})
		return err
	}
	j.journal(ctx, Record{Step: event, Phase: PhaseEnd})
	return nil
}

// runHooks runs a node's hooks for one event, in order; the first failure
// stops them. Local hooks run on the controller in the inventory's folder,
// remote ones on the node. Only the redacted form is ever reported.
func (j *Job) runHooks(ctx context.Context, event string) error {
	for _, h := range j.Node.HooksFor(event) {
		var out []byte
		var err error
		if h.Where == "local" {
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", h.Command)
			cmd.Dir = h.Dir
			cmd.Env = append(cmd.Environ(), "DROVER_NODE="+j.Node.Name, "DROVER_HOST="+j.Node.Host,
				"DROVER_PROFILE="+j.Node.Profile, "DROVER_EVENT="+event, "DROVER_RUN="+j.Run)
			out, err = cmd.CombinedOutput()
		} else {
			var s string
			s, err = sh(ctx, j.Conn, h.Command)
			out = []byte(s)
		}
		if err != nil {
			return fmt.Errorf("%s hook %q failed: %v: %s", event, h.Display, err, lastLines(string(out), 2))
		}
	}
	return nil
}

// onTarget reports whether the node's release is already the one this job
// updates to: the pack switched in, or (in-place) the target level reached.
func (j *Job) onTarget() bool { return j.switched() || (j.Pack == nil && j.updated()) }
