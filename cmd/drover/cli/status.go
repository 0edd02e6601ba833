package cli

import (
	"fmt"
	"io"
	"path"
	"text/tabwriter"

	"github.com/drover-sh/drover/tasks"
	"github.com/urfave/cli/v2"
)

func (e *env) newStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "the cluster now: per node level, running/health, lock, last run and its outcome",
		Description: "Like facts, but about drover's work: per node the update level, running and healthy, the\n" +
			"lock, the last run with its outcome (an interrupted run names the step it stopped at), and\n" +
			"whether a previous release is kept for rollback. --json prints the same fields as facts.",
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			return e.runFacts(c.Context, g, true)
		},
	}
}

func renderStatus(e *env, facts []*tasks.Facts) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPROFILE\tLEVEL\tRUNNING\tHEALTHY\tLOCK\tLAST RUN\tPREVIOUS")
	for _, f := range facts {
		if !f.Reachable {
			fmt.Fprintf(tw, "%s\t%s\tunreachable\t-\t-\t-\t-\t-\n", f.Node, f.Profile)
			continue
		}
		prev := "-"
		if f.Previous {
			prev = fmt.Sprintf("level %d", f.PreviousLvl)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", f.Node, f.Profile, f.UpdateLevel, yesNo(f.Running), yesNo(f.Healthy),
			lockText(f.Lock), lastRunText(f.LastRun), prev)
	}
	tw.Flush()
	for _, f := range facts {
		if f.Reachable && f.UpdateConflicts != nil {
			fmt.Fprintln(e.stdout)
			renderConflicts(e.stdout, "", e.program(), f.Node, f.UpdateConflicts)
		}
	}
}

// renderConflicts shows an update the update tool stopped on conflicts:
// the files, which of them still lack their <file>.final, and, unless prog
// is "", what to do.
func renderConflicts(w io.Writer, indent, prog, node string, c *tasks.UpdateConflicts) {
	missing := map[string]bool{}
	for _, f := range c.MissingFinal {
		missing[f] = true
	}
	fmt.Fprintf(w, "%s%s: the update tool stopped on conflicts in %d file(s) (run %s); %d still lack their .final:\n",
		indent, node, len(c.Files), c.Run, len(c.MissingFinal))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range c.Files {
		state := "merged: " + path.Base(f) + ".final"
		if missing[f] {
			state = "NO " + path.Base(f) + ".final yet"
		}
		fmt.Fprintf(tw, "%s  %s\t%s\n", indent, f, state)
	}
	tw.Flush()
	switch {
	case prog == "": // the caller says what to do
	case len(c.MissingFinal) > 0:
		fmt.Fprintf(w, "%s  merge each <file>.original and <file>.new (beside the file, under the product home) into <file>.final, then: %s recover %s --resume\n", indent, prog, node)
	default:
		fmt.Fprintf(w, "%s  every file is merged: %s recover %s --resume continues the update\n", indent, prog, node)
	}
}
