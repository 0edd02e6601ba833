package cli

import (
	"fmt"
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
}
