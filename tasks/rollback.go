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
//
// What is switched in and what is kept comes from the node's own record
// (current.json and the kept previous release), never from the inventory's
// pack, which may have been rebuilt, moved or replaced since. A serving
// node is drained (before_stop) before it is stopped, and the result is
// checked: a rollback that did not take is an error, never "rolled back".
func (j *Job) Rollback(ctx context.Context) error {
	if j.Product == nil {
		return errNoProduct
	}
	if j.facts == nil {
		if _, err := j.Refresh(ctx); err != nil {
			return err
		}
	}
	if j.reconfig {
		return j.rollbackConfig(ctx)
	}
	if j.Inv.Update.Strategy == inventory.InPlace {
		return j.rollbackInPlace(ctx)
	}
	start := time.Now()
	j.Sink.Emit(Event{Type: EventRollback, Node: j.Node.Name})
	if _, err := j.Refresh(ctx); err != nil {
		return err
	}
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

// rolledBackState is current.json after a rollback: no pack of drover's is
// switched in.
func (j *Job) rolledBackState(level int, from string) string {
	return fmt.Sprintf(`{"pack":"","level":%d,"rolled_back_from":%q,"at":%q,"run":%q}`, level, from, time.Now().UTC().Format(time.RFC3339), j.Run)
}

func (j *Job) writeCurrent(ctx context.Context, body string) error {
	_, err := sh(ctx, j.Conn, j.vars()+fmt.Sprintf(`mkdir -p "$S" && printf '%%s\n' %s > "$S/current.json.tmp" && mv "$S/current.json.tmp" "$S/current.json"`, q(body)))
	return err
}

func (j *Job) rollback(ctx context.Context) error {
	f := j.facts
	wantLevel := f.UpdateLevel
	// product is the release home holds once the rollback is done: its
	// startup script may differ from the target's (a 3.2 -> 4.0 upgrade).
	product := f.Product
	switch {
	case !f.HomeExists && f.Previous:
		// Interrupted in the middle of the switch: home was renamed to
		// previous and the staged release not yet renamed to home.
		if _, err := sh(ctx, j.Conn, j.vars()+`mv "$P" "$H"`); err != nil {
			return fmt.Errorf("restore previous release: %w", err)
		}
		wantLevel, product = f.PreviousLvl, f.PreviousProduct
		if err := j.writeCurrent(ctx, j.rolledBackState(f.PreviousLvl, f.Current)); err != nil {
			return fmt.Errorf("record the rollback: %w", err)
		}
	case !f.HomeExists:
		return fmt.Errorf("%s is missing and %w", j.Paths.Home, ErrNoWayBack)
	case f.Current != "" && f.Previous:
		// A release drover switched in is home, and the one before it is
		// kept: stop the first, put the second back.
		if f.Running && !j.drained() {
			if err := j.hooks(ctx, inventory.BeforeStop); err != nil {
				return fmt.Errorf("drain before the rollback: %w", err)
			}
		}
		if err := j.stopServer(ctx, j.Paths.Home, f.Product); err != nil {
			return err
		}
		failed := j.Paths.Failed(j.Run)
		script := j.vars() + "R=\"$H\"\n" + pidScript + fmt.Sprintf(`if alive; then echo "the server is still running (PID $pid); refusing to switch back" >&2; exit 1; fi
mkdir -p %[1]s
rm -rf %[2]s
mv "$H" %[2]s
mv "$P" "$H"
`, q(j.Paths.State+"/failed"), q(failed))
		if _, err := sh(ctx, j.Conn, script); err != nil {
			return fmt.Errorf("switch back: %w", err)
		}
		wantLevel, product = f.PreviousLvl, f.PreviousProduct
		if err := j.writeCurrent(ctx, j.rolledBackState(f.PreviousLvl, f.Current)); err != nil {
			return fmt.Errorf("record the rollback: %w", err)
		}
		j.journal(ctx, Record{Step: "rollback", Phase: PhaseNote, Detail: "the failed release is kept in " + failed})
	}
	// Home now holds the release to run: start it unless it runs.
	pid, err := j.runningPID(ctx)
	if err != nil {
		return err
	}
	if pid == 0 {
		if err := j.startServer(ctx, product); err != nil {
			return err
		}
	}
	if err := j.healthGate(ctx); err != nil {
		return fmt.Errorf("previous release: %w", err)
	}
	// Check that the rollback took before saying it did.
	g, err := j.Refresh(ctx)
	if err != nil {
		return err
	}
	switch {
	case !g.Running:
		return fmt.Errorf("after the rollback no server runs from %s", j.Paths.Home)
	case g.UpdateLevel != wantLevel:
		return fmt.Errorf("after the rollback %s is at level %d, not the previous level %d", j.Paths.Home, g.UpdateLevel, wantLevel)
	case g.Current != "" && g.Current == f.Current && wantLevel != f.UpdateLevel:
		return fmt.Errorf("after the rollback %s still records pack %.12s as switched in", j.Paths.Home, g.Current)
	}
	return j.hooks(ctx, inventory.AfterHealthy)
}
