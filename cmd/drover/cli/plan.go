package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/urfave/cli/v2"
)

func (e *env) newPlanCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "probe the nodes and show exactly what apply would do; change nothing",
		ArgsUsage: " ",
		Description: "Probes the selected nodes in parallel (read-only) and prints the rollout: waves in\n" +
			"rollout.order, batches of at most max_unavailable nodes, and for each node its steps with what\n" +
			"they change (bytes to push, data to persist, managed file diffs, profile optimization, hooks,\n" +
			"health checks). -o FILE saves the plan as JSON for `drover apply FILE`, which refuses it (exit 3)\n" +
			"when any node drifted since. --json prints the plan JSON on stdout.\n\n" +
			"Nodes whose release is current but whose managed files differ from the inventory's rendering\n" +
			"are planned as `reconfigure`, with each file's diff and whether it was changed on the node by\n" +
			"hand or in the inventory. --detailed-exitcode (for cron jobs and pipelines watching for drift)\n" +
			"exits 0 when nothing would change and 4 when something would.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the plan to `FILE` (JSON) for apply"},
			&cli.BoolFlag{Name: "compact", Usage: "one line per node instead of every step's details"},
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 4 when the plan would change something, 0 when nothing (errors keep their codes)"},
		},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			return e.runPlan(c.Context, g, c.String("out"), c.Bool("compact"), c.Bool("detailed-exitcode"))
		},
	}
}

func (e *env) runPlan(ctx context.Context, g globals, out string, compact, detailed bool) error {
	cl, err := e.openClusterFor(g, "plan")
	if err != nil {
		return err
	}
	defer cl.close()
	p, _, err := e.makePlan(ctx, g, cl, "")
	if err != nil {
		return err
	}
	if out != "" {
		if err := writePlanFile(out, p); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "plan written to %s; apply it with: %s apply %s\n", out, e.program(), out)
	}
	if g.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return err
		}
		if err := cl.dials.refusal(); err != nil {
			return err
		}
		return changesErr(p, detailed, true)
	}
	renderPlan(e.stdout, p, g.color && e.isTerminal(e.stdout), compact)
	cl.dials.writeHints(e.stderr)
	if err := cl.dials.refusal(); err != nil {
		return err
	}
	if err := planErr(p); err != nil {
		return err
	}
	return changesErr(p, detailed, false)
}

// changesErr is --detailed-exitcode's exit 4 when the plan would change
// something. With --json the plan's own errors are not exits of their own
// (the JSON says them), so only blocked or unreachable nodes make it 1.
func changesErr(p *rollout.Plan, detailed, json bool) error {
	if !detailed {
		return nil
	}
	if json && p.Summary.Unreachable+p.Summary.Blocked > 0 {
		return &silentError{ExitFailed}
	}
	if p.Summary.Update > 0 {
		return &silentError{ExitChanges}
	}
	return nil
}

// makePlan checks the pack, probes the nodes and builds the plan.
func (e *env) makePlan(ctx context.Context, g globals, cl *cluster, run string) (*rollout.Plan, packs, error) {
	pack, err := openPacks(cl.inv, cl.nodes)
	if err != nil {
		return nil, pack, err
	}
	o := cl.options(g, run, pack, nil)
	if !g.json {
		if peers := len(o.Peers()); peers > 0 {
			fmt.Fprintf(e.stderr, "probing %d node(s), and read-only the %d other node(s) of their profiles (capacity counts them)...\n", len(cl.nodes), peers)
		} else {
			fmt.Fprintf(e.stderr, "probing %d node(s)...\n", len(cl.nodes))
		}
	}
	probed := rollout.Probe(ctx, o)
	if ctx.Err() != nil {
		return nil, pack, ctx.Err()
	}
	p := rollout.Make(o, probed)
	redactPlan(cl.inv, p)
	namePlan(e.program(), p)
	return p, pack, nil
}

// planErr is exit 1 when the plan found nodes it cannot reach or update.
func planErr(p *rollout.Plan) error {
	if p.Summary.Unreachable+p.Summary.Blocked > 0 {
		return &exitError{ExitFailed, fmt.Errorf("%d node(s) unreachable and %d blocked; see the warnings above", p.Summary.Unreachable, p.Summary.Blocked)}
	}
	return nil
}

func writePlanFile(path string, p *rollout.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return os.Rename(tmp, path)
}

func readPlanFile(path string) (*rollout.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("read plan: %v", err)
	}
	var p rollout.Plan
	if err := json.Unmarshal(b, &p); err != nil || p.FormatVersion == 0 {
		return nil, usageErrorf("%s is not a drover plan file (make one with: drover plan -o %s)", path, path)
	}
	return &p, nil
}

// renderPlan prints a plan for people.
func renderPlan(w io.Writer, p *rollout.Plan, color, compact bool) {
	bold := func(s string) string {
		if color {
			return "\x1b[1m" + s + "\x1b[0m"
		}
		return s
	}
	fmt.Fprintf(w, "Plan for cluster %q (wso2am %s, %s)\n", p.Cluster, p.Version, p.Strategy)
	if p.Pack != nil {
		label := "Pack"
		if len(p.ProfilePacks) > 0 {
			label = "Pack for the other profiles"
		}
		fmt.Fprintf(w, "%s: %s, %s level %d, %s, sha256 %s\n", label, p.Pack.Path, p.Pack.Product, p.Pack.Level, tasks.HumanBytes(p.Pack.Size), p.Pack.SHA256)
	}
	profs := make([]string, 0, len(p.ProfilePacks))
	for prof := range p.ProfilePacks {
		profs = append(profs, prof)
	}
	sort.Strings(profs)
	for _, prof := range profs {
		k := p.ProfilePacks[prof]
		fmt.Fprintf(w, "Pack for %s: %s, %s level %d, %s, sha256 %s\n", prof, k.Path, k.Product, k.Level, tasks.HumanBytes(k.Size), k.SHA256)
	}
	for _, wv := range p.Waves {
		fmt.Fprintf(w, "\n%s\n", bold(fmt.Sprintf("Wave %d: %s (at most %d node(s) down at once)", wv.Number, wv.Profile, wv.MaxUnavailable)))
		if wv.OutOfService > 0 {
			fmt.Fprintf(w, "  %d node(s) of %s out of service now; they count against max_unavailable\n", wv.OutOfService, wv.Profile)
		}
		for _, b := range wv.Batches {
			fmt.Fprintf(w, "  Batch %d: %s\n", b.Number, rollout.NodeNames(b.Nodes))
			for _, n := range b.Nodes {
				renderNodePlan(w, p, n, compact)
			}
		}
		var upToDate []rollout.NodePlan
		for _, s := range wv.Skipped {
			if s.Action == rollout.ActionSkip {
				upToDate = append(upToDate, s)
				continue
			}
			fmt.Fprintf(w, "  %s: not updated (%s: %s)\n", s.Node, s.Action, s.Reason)
			if s.Facts != nil && s.Facts.UpdateConflicts != nil {
				renderConflicts(w, "    ", "", s.Node, s.Facts.UpdateConflicts)
			}
		}
		if len(upToDate) > 0 { // one line for the nodes with nothing to do
			fmt.Fprintf(w, "  Up to date: %s\n", rollout.NodeNames(upToDate))
		}
		for _, s := range wv.Outside {
			state := "serving"
			if s.Down != "" {
				state = "out of service: " + s.Down
			}
			fmt.Fprintf(w, "  %s: outside --limit, %s\n", s.Node, state)
		}
	}
	s := p.Summary
	reconf := ""
	if s.Reconfigure > 0 {
		reconf = fmt.Sprintf(", %d to reconfigure", s.Reconfigure)
	}
	fmt.Fprintf(w, "\n%s %d to update%s, %d up to date, %d unreachable, %d blocked; %d wave(s), %d batch(es).\n",
		bold("Summary:"), s.Update-s.Reconfigure, reconf, s.UpToDate, s.Unreachable, s.Blocked, s.Waves, s.Batches)
	if len(p.Warnings) > 0 {
		fmt.Fprintln(w, "Warnings:")
		for _, wn := range p.Warnings {
			fmt.Fprintf(w, "  - %s\n", wn)
		}
	}
}

func renderNodePlan(w io.Writer, p *rollout.Plan, n rollout.NodePlan, compact bool) {
	f := n.Facts
	target := p.TargetLevel
	if k := p.ProfilePacks[n.Profile]; k != nil {
		target = k.Level
	}
	head := fmt.Sprintf("    %s (%s): level %d -> %d", n.Node, n.Host, f.UpdateLevel, target)
	if f.Version != "" && f.Version != p.Version {
		head = fmt.Sprintf("    %s (%s): %s level %d -> %s level %d", n.Node, n.Host, f.Version, f.UpdateLevel, p.Version, target)
	}
	switch n.Action {
	case rollout.ActionResume:
		head += "; " + n.Reason
	case rollout.ActionReconfigure:
		head = fmt.Sprintf("    %s (%s): reconfigure at level %d; %s", n.Node, n.Host, f.UpdateLevel, n.Reason)
		if n.NoRestart {
			head += " (no restart)"
		}
	}
	var run, done []string
	for _, st := range n.Steps {
		if st.Done {
			done = append(done, st.Name)
		} else {
			run = append(run, st.Name)
		}
	}
	if compact {
		fmt.Fprintf(w, "%s: %s\n", head, strings.Join(run, ", "))
		return
	}
	fmt.Fprintln(w, head)
	for _, st := range n.Steps {
		if st.Done {
			continue
		}
		fmt.Fprintf(w, "      %-13s %s\n", st.Name, st.Summary)
		for _, d := range st.Details {
			for _, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
				fmt.Fprintf(w, "      %-13s   %s\n", "", line)
			}
		}
	}
	if len(done) > 0 {
		fmt.Fprintf(w, "      %-13s %s\n", "(done)", strings.Join(done, ", "))
	}
}
