package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/urfave/cli/v2"
)

func (e *env) newApplyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "perform the rolling update; without a plan file it plans, shows the plan and asks first",
		ArgsUsage: "[PLANFILE]",
		Description: "Locks every target node, then updates wave by wave (rollout.order), batch by batch (at most\n" +
			"max_unavailable nodes of a profile down at once), each node behind its health gate. A failed\n" +
			"node is rolled back (auto_rollback) and counted against failure_budget; past it no new batch\n" +
			"starts. With PLANFILE (from `drover plan -o`), the nodes are probed again and the plan is\n" +
			"refused (exit 3) if any of them drifted. Without it, the plan is shown and confirmed (--yes\n" +
			"skips the question; without a terminal --yes is required).\n\n" +
			"Ctrl-C once: nodes in flight finish (or roll back), nothing new starts, exit 130. Twice: the\n" +
			"steps in flight stop at their next safe point; each node's journal says where it stopped, and\n" +
			"running apply again resumes. A run record is written to .drover/runs/ beside the inventory.",
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			if c.NArg() > 1 {
				return usageErrorf("apply takes at most one plan file")
			}
			return e.runApply(c.Context, g, c.Args().First())
		},
	}
}

func (e *env) runApply(ctx context.Context, g globals, planFile string) error {
	cl, err := e.openClusterFor(g, "apply")
	if err != nil {
		return err
	}
	defer cl.close()
	run := newRunID()
	var saved *rollout.Plan
	if planFile != "" {
		if saved, err = readPlanFile(planFile); err != nil {
			return err
		}
	}
	p, pack, err := e.makePlan(ctx, g, cl, run)
	if err != nil {
		return err
	}
	if err := cl.dials.refusal(); err != nil { // exit 3 with each node's fix, stale plan or not
		return err
	}
	if saved != nil {
		if err := rollout.Drift(saved, p); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "plan %s still matches every node\n", planFile)
	} else if !g.json {
		renderPlan(e.stdout, p, g.color && e.isTerminal(e.stdout), false)
	}
	// Anything knowable up front (unreachable, locked, preflight, capacity)
	// refuses the whole run before any node is touched.
	if err := p.Refusal(); err != nil {
		cl.dials.writeHints(e.stderr)
		return err
	}
	if p.Summary.Update == 0 {
		if g.json { // one event that says so, so that stdout is never empty on success
			redactSink(cl.inv, jsonSink(e.stdout)).Emit(tasks.Event{Type: tasks.EventRunFinished, Run: run, Message: nothingToDo})
		}
		fmt.Fprintln(e.stderr, nothingToDo)
		return nil
	}
	if saved == nil && !g.yes {
		ok, err := e.confirm(ctx, fmt.Sprintf("Apply this plan to %d node(s)?", p.Summary.Update))
		if err != nil {
			return err
		}
		if !ok {
			return refused(fmt.Errorf("not confirmed; nothing changed"))
		}
	}
	sink := lineSink(e.stderr, g.color, g.verbose)
	var live *liveView
	switch {
	case g.json:
		sink = jsonSink(e.stdout)
	case e.isTerminal(e.stderr) && !g.verbose:
		live = newLiveView(e.stderr, g.color)
		defer live.Close()
		sink = live.sink()
	}
	o := cl.options(g, run, pack, sink)
	soft := ctx
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	go secondInterrupt(soft, hard, cancelHard, sink)
	rep, err := rollout.Apply(soft, hard, o, p)
	if live != nil {
		live.Close()
	}
	if path, werr := writeRunRecord(cl.inv, rep); werr == nil {
		fmt.Fprintf(e.stderr, "run record: %s\n", path)
	} else {
		fmt.Fprintf(e.stderr, "warning: could not write the run record: %v\n", werr)
	}
	if err != nil && !g.json {
		return err
	}
	if err != nil {
		return &silentError{ExitCode(err)}
	}
	return nil
}

const nothingToDo = "nothing to do: every selected node is up to date"

// secondInterrupt waits for the first interrupt (soft is cancelled), says
// what happens now, and cancels hard on the second.
func secondInterrupt(soft, hard context.Context, cancelHard func(), sink tasks.Sink) {
	select {
	case <-soft.Done():
	case <-hard.Done():
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	sink.Emit(tasks.Event{Type: tasks.EventWarning, Message: "interrupted: nodes in flight finish, nothing new starts; press Ctrl-C again to stop them at their next safe point"})
	select {
	case <-sigs:
		sink.Emit(tasks.Event{Type: tasks.EventWarning, Message: "interrupted again: stopping the steps in flight"})
		cancelHard()
	case <-hard.Done():
	}
}

// confirm asks a yes/no question on the terminal. The answer is read in the
// background so that an interrupt (ctx cancelled by SIGINT) aborts the
// question at once: the error wraps context.Canceled, which is exit 130.
// The reader left behind blocks on the terminal until the process exits.
func (e *env) confirm(ctx context.Context, question string) (bool, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !e.isTerminal(f) {
		return false, usageErrorf("standard input is not a terminal, so drover cannot ask for confirmation; pass --yes to apply without asking")
	}
	if err := ctx.Err(); err != nil {
		return false, errPromptInterrupted(err)
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(f).ReadString('\n')
		answer <- line
	}()
	select {
	case line := <-answer:
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	case <-ctx.Done():
		fmt.Fprintln(e.stderr)
		return false, errPromptInterrupted(ctx.Err())
	}
}

// errPromptInterrupted is an interrupt at a confirmation: nothing was
// changed, and the exit status is 130.
func errPromptInterrupted(cause error) error {
	return fmt.Errorf("interrupted at the confirmation; nothing changed: %w", cause)
}

// writeRunRecord saves a run's report beside the inventory, with every
// env() value and secret redacted.
func writeRunRecord(inv *inventory.Inventory, rep *rollout.Report) (string, error) {
	dir := inv.Path
	if st, err := os.Stat(inv.Path); err == nil && !st.IsDir() {
		dir = filepath.Dir(inv.Path)
	}
	dir = filepath.Join(dir, ".drover", "runs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, rep.Run+".json")
	return path, os.WriteFile(path, append([]byte(inv.Redact(string(b))), '\n'), 0o644)
}
