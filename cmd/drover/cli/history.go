package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"
)

// defaultHistoryRuns is how many runs per node history shows unless told.
const defaultHistoryRuns = 10

func (e *env) newHistoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "the runs recorded in the nodes' journals, with their steps and durations",
		ArgsUsage: "[NODE...]",
		Description: "Reads each selected node's journal (<dirname(home)>/.drover/<basename(home)>/journal.jsonl),\n" +
			"read-only and whole, and prints its runs, newest first: id, owner, start, end, outcome, and\n" +
			"every step with its duration, including rollbacks and hooks run outside the step sequence.\n" +
			"A run that never finished is shown as interrupted at the step it was in. NODE arguments\n" +
			"(names, globs or profile:NAME) narrow the selection like --limit. Only the newest --last runs\n" +
			"of each node are shown (default 10; 0 shows all). --json prints an array, one object per node.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "last", Value: defaultHistoryRuns, Usage: "show the newest `N` runs of each node (0: all)"},
		},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			args, last, err := trailingInt(c, "last")
			if err != nil {
				return err
			}
			if last < 0 {
				return usageErrorf("--last %d: give 0 (all) or more", last)
			}
			return e.runHistory(c.Context, g, args, last)
		},
	}
}

// nodeHistory is one node's part of `history --json`.
type nodeHistory struct {
	Node    string `json:"node"`
	Profile string `json:"profile"`
	Host    string `json:"host"`
	Error   string `json:"error,omitempty"`
	// Total is how many runs the journal holds; Runs has the newest of them.
	Total int                `json:"total"`
	Runs  []tasks.RunHistory `json:"runs"`
}

func (e *env) runHistory(ctx context.Context, g globals, args []string, last int) error {
	cl, err := e.openCluster(g)
	if err != nil {
		return err
	}
	defer cl.close()
	if len(args) > 0 {
		picked, err := cl.inv.Select(args)
		if err != nil {
			return err
		}
		cl.nodes = intersect(cl.nodes, picked)
		if len(cl.nodes) == 0 {
			return usageErrorf("no node is both in --limit and among %s", strings.Join(args, " "))
		}
	}
	out := make([]nodeHistory, len(cl.nodes))
	var eg errgroup.Group
	eg.SetLimit(g.parallel)
	for i, n := range cl.nodes {
		eg.Go(func() error {
			out[i] = nodeHistory{Node: n.Name, Profile: n.Profile, Host: n.Host, Runs: []tasks.RunHistory{}}
			c, err := cl.conns.Get(ctx, n)
			if err == nil {
				var h *tasks.History
				if h, err = tasks.ReadHistory(ctx, c, tasks.NewPaths(n.Home), last); err == nil {
					out[i].Runs, out[i].Total = h.Runs, h.Total
				}
			}
			if err != nil {
				out[i].Error = cl.inv.Redact(err.Error())
			}
			return nil
		})
	}
	eg.Wait()
	if g.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		renderHistory(e.stdout, out, last)
	}
	var bad int
	for _, h := range out {
		if h.Error != "" {
			bad++
			if !g.json && cl.dials.hostKey(h.Node) == nil {
				fmt.Fprintf(e.stderr, "%s: %s\n", h.Node, h.Error)
			}
		}
	}
	if err := cl.dials.refusal(); err != nil {
		return err
	}
	if bad > 0 {
		return &exitError{ExitFailed, fmt.Errorf("%d of %d node(s) could not be read", bad, len(out))}
	}
	return nil
}

func intersect(a, b []*inventory.Node) []*inventory.Node {
	in := map[*inventory.Node]bool{}
	for _, n := range b {
		in[n] = true
	}
	var out []*inventory.Node
	for _, n := range a {
		if in[n] {
			out = append(out, n)
		}
	}
	return out
}

// renderHistory prints each node's runs, newest first, each with its steps.
func renderHistory(w io.Writer, hs []nodeHistory, last int) {
	for i, h := range hs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		switch {
		case h.Error != "":
			fmt.Fprintf(w, "%s (%s): could not read the journal\n", h.Node, h.Profile)
			continue
		case h.Total == 0:
			fmt.Fprintf(w, "%s (%s): no runs in the journal\n", h.Node, h.Profile)
			continue
		case len(h.Runs) < h.Total:
			fmt.Fprintf(w, "%s (%s): the newest %d of %d runs (--last 0 shows all)\n", h.Node, h.Profile, len(h.Runs), h.Total)
		default:
			fmt.Fprintf(w, "%s (%s): %s\n", h.Node, h.Profile, plural(h.Total, "run"))
		}
		for _, r := range h.Runs {
			outcome := strings.ReplaceAll(r.Outcome, "_", " ")
			if r.StoppedAt != "" {
				outcome += " at " + r.StoppedAt
			}
			fmt.Fprintf(w, "  run %s  %s  %s to %s (%s)  by %s\n", r.ID, outcome, clock(r.Start), clock(r.End), dur(r.DurationMS), dash(r.Owner))
			if r.Detail != "" && r.Outcome != tasks.OutcomeDone {
				fmt.Fprintf(w, "    %s\n", r.Detail)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, s := range r.Steps {
				d := dur(s.DurationMS)
				if s.End.IsZero() {
					d = "-"
				}
				text := s.Summary
				if s.Error != "" {
					text = s.Error
				}
				if len(s.Notes) > 0 {
					text = strings.TrimPrefix(text+"; "+strings.Join(s.Notes, "; "), "; ")
				}
				if text != "" {
					text = "\t" + text
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s%s\n", s.Step, d, s.Outcome, text)
			}
			tw.Flush()
		}
	}
}

// clock formats a journal time in the controller's zone.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// dur formats milliseconds for people: 850ms, 4.2s, 38s, 2m05s, 1h03m.
func dur(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
