package cli

import (
	"context"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/urfave/cli/v2"
)

func (e *env) newRecoverCommand() *cli.Command {
	return &cli.Command{
		Name:      "recover",
		Usage:     "per-node recovery: --resume (finish the interrupted update) or --rollback (back to the previous release)",
		ArgsUsage: "NODE",
		Description: "Takes the node's lock, shows what it will do, then either finishes the interrupted update from\n" +
			"the step after the last completed one (--resume) or returns the node to its previous release,\n" +
			"whose data was never touched (--rollback). Both end behind the same health gate as apply.\n" +
			"A lock left by a dead run must be broken first with `drover unlock ID --force`.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "resume", Usage: "finish the interrupted update"},
			&cli.BoolFlag{Name: "rollback", Usage: "return to the previous release"},
		},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			args, set := trailingFlags(c, "resume", "rollback")
			if len(args) != 1 {
				return usageErrorf("recover takes exactly one NODE")
			}
			if set["resume"] == set["rollback"] {
				return usageErrorf("recover needs exactly one of --resume or --rollback")
			}
			return e.runRecover(c.Context, g, args[0], set["rollback"])
		},
	}
}

func (e *env) runRecover(ctx context.Context, g globals, name string, rollback bool) error {
	g.limits = []string{name}
	needs := "recover --resume" // the update's pack; a rollback needs none
	if rollback {
		needs = ""
	}
	cl, err := e.openClusterFor(g, needs)
	if err != nil {
		return err
	}
	defer cl.close()
	var n *inventory.Node
	for _, x := range cl.nodes {
		if x.Name == name {
			n = x
		}
	}
	if n == nil {
		return usageErrorf("no node named %q in the inventory", name)
	}
	pk, err := openPacks(cl.inv, []*inventory.Node{n})
	pack := pk.of(n.Profile)
	if err != nil && !rollback {
		return err
	}
	conn, err := cl.conns.Get(ctx, n)
	if err != nil {
		return err
	}
	run := newRunID()
	sink := lineSink(e.stderr, g.color, g.verbose)
	if g.json {
		sink = jsonSink(e.stdout)
	}
	sink = redactSink(cl.inv, sink) // no secret in events
	j := &tasks.Job{Inv: cl.inv, Node: n, Conn: conn, Paths: tasks.NewPaths(n.Home), Pack: pack, Product: apim.Product{}, Run: run, Owner: owner(), Sink: sink}
	j.Redial = func(ctx context.Context) (tasks.Conn, error) {
		cl.conns.Forget(n)
		return cl.conns.Get(ctx, n)
	}
	// The lock first: a node another run holds is refused before anything
	// is shown or asked.
	lk := tasks.Lock{ID: run, Owner: j.Owner}
	lk.Since = time.Now().UTC()
	lk.Expires = lk.Since.Add(tasks.LockTTL)
	if err := tasks.Acquire(ctx, conn, n.Name, j.Paths, lk); err != nil {
		return err
	}
	defer tasks.Release(context.WithoutCancel(ctx), conn, j.Paths, run)
	f, err := j.Refresh(ctx)
	if err != nil {
		return err
	}
	what := ""
	if rollback {
		switch {
		case cl.inv.Update.Strategy == inventory.InPlace:
			// The way back is the update tool's --revert and drover's
			// backup, which the rollback checks itself.
			what = fmt.Sprintf("stop %s (level %d), revert the update tool's change (an update stopped on conflicts included), restore drover's verified backup, start it, health gate", n.Name, f.UpdateLevel)
		case !f.Previous:
			return refused(fmt.Errorf("%s: %w; there is nothing to roll back to", n.Name, tasks.ErrNoWayBack))
		case f.HomeExists && f.Current == "":
			what = fmt.Sprintf("%s runs the release drover rolled back to already; start it and check its health", n.Name)
		default:
			what = fmt.Sprintf("stop %s (level %d), set it aside, put back the previous release (level %d), start it, health gate", n.Name, f.UpdateLevel, f.PreviousLvl)
		}
	} else {
		steps, err := j.PlanNode(ctx)
		if err != nil {
			return err
		}
		what = fmt.Sprintf("finish the update of %s:", n.Name)
		for _, s := range steps {
			if !s.Done {
				what += "\n  " + s.Name + ": " + s.Summary
			}
		}
	}
	// Capacity is the profile's, as in apply: a serving node is taken out
	// only when the rest of its profile can spare it.
	if err := rollout.CheckCapacity(ctx, cl.options(g, run, pk, nil), n); err != nil {
		return err
	}
	if g.json { // stdout is JSON lines only: what will happen is the run_started event
		sink.Emit(tasks.Event{Type: tasks.EventRunStarted, Run: run, Node: n.Name, Profile: n.Profile, Message: what})
	} else {
		fmt.Fprintln(e.stdout, cl.inv.Redact(what))
	}
	if !g.yes {
		ok, err := e.confirm(ctx, "Go ahead?")
		if err != nil {
			return err
		}
		if !ok {
			return refused(fmt.Errorf("not confirmed; nothing changed"))
		}
	}
	if rollback {
		err = j.Rollback(ctx)
	} else {
		err = j.Apply(ctx, cl.inv.Rollout.AutoRollback)
	}
	if g.json {
		ev := tasks.Event{Type: tasks.EventRunFinished, Run: run, Node: n.Name, Message: n.Name + " recovered", ElapsedMS: time.Since(lk.Since).Milliseconds()}
		if err != nil {
			ev.Message, ev.Error = n.Name+" not recovered", err.Error()
		}
		sink.Emit(ev)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%s recovered\n", n.Name)
	return nil
}
