package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
	"text/tabwriter"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"
)

func (e *env) newFactsCommand() *cli.Command {
	return &cli.Command{
		Name:  "facts",
		Usage: "probe the selected nodes read-only: reachable, version, update level, running, healthy, disk, lock, last run",
		Description: "Connects to every selected node (at most --parallel at once) and reads, without changing\n" +
			"anything: the product and its update level, whether the server runs (its PID alive, not just a\n" +
			"PID file), whether the default health checks pass, free disk beside home, the lock holder and\n" +
			"the last run from the node's journal. An unreachable node is reported and the others still\n" +
			"answer; the exit status is 1 when any node could not be probed. --json prints an array.",
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			return e.runFacts(c.Context, g, false)
		},
	}
}

// probeAll probes the selected nodes in parallel, health included.
func (e *env) probeAll(ctx context.Context, g globals, cl *cluster) []*tasks.Facts {
	out := make([]*tasks.Facts, len(cl.nodes))
	var eg errgroup.Group
	eg.SetLimit(g.parallel)
	for i, n := range cl.nodes {
		eg.Go(func() error {
			c, err := cl.conns.Get(ctx, n)
			if err != nil {
				out[i] = &tasks.Facts{Node: n.Name, Profile: n.Profile, Host: n.Host, Error: err.Error()}
				return nil
			}
			out[i] = tasks.Probe(ctx, c, cl.inv, n, tasks.ProbeOptions{Health: true, Product: apim.Product{}})
			return nil
		})
	}
	eg.Wait()
	return out
}

func (e *env) runFacts(ctx context.Context, g globals, status bool) error {
	cl, err := e.openCluster(g)
	if err != nil {
		return err
	}
	defer cl.close()
	facts := e.probeAll(ctx, g, cl)
	for _, f := range facts {
		redactFacts(cl.inv, f)
	}
	if g.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(facts); err != nil {
			return err
		}
	} else if status {
		renderStatus(e, facts)
	} else {
		renderFacts(e, facts)
	}
	var bad int
	for _, f := range facts {
		if !f.Reachable {
			bad++
			if !g.json && cl.dials.hostKey(f.Node) == nil { // refused host keys are told below, with their fix
				fmt.Fprintf(e.stderr, "%s: %s\n", f.Node, f.Error)
				if h := cl.dials.hint(f.Node); h != "" {
					fmt.Fprintf(e.stderr, "  hint: %s\n", cl.inv.Redact(h))
				}
			}
		}
	}
	if err := cl.dials.refusal(); err != nil {
		return err
	}
	if bad > 0 {
		return &exitError{ExitFailed, fmt.Errorf("%d of %d node(s) could not be probed", bad, len(facts))}
	}
	return nil
}

func renderFacts(e *env, facts []*tasks.Facts) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPROFILE\tHOST\tREACHABLE\tVERSION\tLEVEL\tRUNNING\tHEALTHY\tDISK FREE\tLOCK\tLAST RUN")
	for _, f := range facts {
		if !f.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t%s\tno\t-\t-\t-\t-\t-\t-\t-\n", f.Node, f.Profile, f.Host)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tyes\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", f.Node, f.Profile, f.Host, dash(f.Version), f.UpdateLevel,
			yesNo(f.Running), yesNo(f.Healthy), tasks.HumanBytes(f.DiskFreeBytes), lockText(f.Lock), lastRunText(f.LastRun))
	}
	tw.Flush()
	for _, f := range facts {
		if s := f.Service; s != nil && s.Manager == "systemd" {
			fmt.Fprintf(e.stderr, "%s: systemd unit %s is %s (MainPID %d)\n", f.Node, s.Unit, dash(s.ActiveState), s.MainPID)
		}
		for _, w := range f.Warnings {
			fmt.Fprintf(e.stderr, "warning: %s: %s\n", f.Node, w)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func lockText(l *tasks.Lock) string {
	if l == nil {
		return "-"
	}
	if l.Pending {
		return "(being taken)"
	}
	if l.Owner != "" {
		return l.ID + " (" + l.Owner + ")"
	}
	return l.ID
}

func lastRunText(r *tasks.LastRun) string {
	if r == nil {
		return "-"
	}
	s := r.Outcome
	if r.Outcome == tasks.OutcomeInterrupted && r.Step != "" {
		s += " at " + r.Step
	}
	return fmt.Sprintf("%s %s (%s ago)", r.ID, s, time.Since(r.At).Round(time.Second))
}
