package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-sh/drover/inventory"
)

// ErrNoWayBack is returned when a node has no previous release to go back to.
var ErrNoWayBack = errors.New("no previous release is kept on the node")

// Rollback returns the node to the release it ran before the update: the
// new release is stopped and set aside under failed/<run>, the previous
// release (whose data was never touched) is renamed back, started and
// health-gated, and the after_healthy hooks run to undo the before_stop
// ones. Seconds, not a restore. A node whose update never got past staging
// only needs its old server started again, if it was stopped.
func (j *Job) Rollback(ctx context.Context) error {
	if j.Inv.Update.Strategy == inventory.InPlace {
		return j.rollbackInPlace(ctx)
	}
	start := time.Now()
	j.Sink.Emit(Event{Type: EventRollback, Node: j.Node.Name})
	j.journal(ctx, Record{Step: "rollback", Phase: PhaseBegin})
	err := j.rollback(ctx)
	if err != nil {
		j.journal(context.WithoutCancel(ctx), Record{Step: "rollback", Phase: PhaseFail, Detail: oneLine(err.Error())})
		return err
	}
	j.journal(ctx, Record{Step: "rollback", Phase: PhaseEnd})
	j.Sink.Emit(Event{Type: EventRolledBack, Node: j.Node.Name, ElapsedMS: time.Since(start).Milliseconds()})
	return nil
}

func (j *Job) rollback(ctx context.Context) error {
	f, err := j.Refresh(ctx)
	if err != nil {
		return err
	}
	switch {
	case !f.HomeExists && f.Previous:
		// Interrupted in the middle of the switch.
		if _, err := sh(ctx, j.Conn, j.vars()+`mv "$P" "$H"`); err != nil {
			return fmt.Errorf("restore previous release: %w", err)
		}
	case f.HomeExists && f.Current != "" && j.Pack != nil && f.Current == j.Pack.SHA256:
		if !f.Previous {
			return ErrNoWayBack
		}
		if err := j.stopServer(ctx, j.Paths.Home); err != nil {
			return err
		}
		failed := j.Paths.Failed(j.Run)
		cur := fmt.Sprintf(`{"pack":"","level":%d,"rolled_back_from":%q,"at":%q,"run":%q}`, f.PreviousLvl, j.Pack.SHA256, time.Now().UTC().Format(time.RFC3339), j.Run)
		script := j.vars() + fmt.Sprintf(`mkdir -p %[1]s
rm -rf %[2]s
mv "$H" %[2]s
mv "$P" "$H"
printf '%%s\n' %[3]s > "$S/current.json.tmp" && mv "$S/current.json.tmp" "$S/current.json"
`, q(j.Paths.State+"/failed"), q(failed), q(cur))
		if _, err := sh(ctx, j.Conn, script); err != nil {
			return fmt.Errorf("switch back: %w", err)
		}
		j.journal(ctx, Record{Step: "rollback", Phase: PhaseNote, Detail: "the failed release is kept in " + failed})
	case !f.HomeExists:
		return fmt.Errorf("%s is missing and %w", j.Paths.Home, ErrNoWayBack)
	}
	pid, err := j.runningPID(ctx)
	if err != nil {
		return err
	}
	if pid == 0 {
		if err := j.startServer(ctx); err != nil {
			return err
		}
		if err := j.healthGate(ctx); err != nil {
			return fmt.Errorf("previous release: %w", err)
		}
	}
	return j.runHooks(ctx, inventory.AfterHealthy)
}
