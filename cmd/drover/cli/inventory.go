package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func (e *env) newInventoryCommand() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "list the selected nodes in rollout order (wave, profile, node, address, home)",
		Description: "Waves follow rollout.order; within a profile nodes keep their inventory order. --limit\n" +
			"selects nodes by name, glob (gw-*) or profile:NAME. --json prints an array of objects.",
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			return e.runInventory(c.Context, g)
		},
	}
}

// inventoryRow is one node as `inventory --json` prints it.
type inventoryRow struct {
	Wave    int    `json:"wave"`
	Profile string `json:"profile"`
	Node    string `json:"node"`
	User    string `json:"user,omitempty"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Home    string `json:"home"`
	Offset  int    `json:"offset"`
	// Distribution is the pack the node runs (all-in-one up to 4.4).
	Distribution string `json:"distribution"`
}

func (e *env) runInventory(_ context.Context, g globals) error {
	inv, nodes, err := e.selectNodes(g)
	if err != nil {
		return err
	}
	// Waves are numbered as plan numbers them: only profiles with nodes
	// count, so the release's default order leaves no gaps.
	wave := map[string]int{}
	for _, prof := range inv.Rollout.Order {
		if len(inv.NodesOf(prof)) > 0 {
			wave[prof] = len(wave) + 1
		}
	}
	rows := make([]inventoryRow, 0, len(nodes))
	for _, n := range nodes {
		rows = append(rows, inventoryRow{
			Wave: wave[n.Profile], Profile: n.Profile, Node: n.Name, User: n.SSH.User,
			Host: n.Host, Port: n.SSH.EffectivePort(), Home: n.Home, Offset: n.Offset, Distribution: n.Distribution,
		})
	}
	if g.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tPROFILE\tNODE\tADDRESS\tHOME")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Wave, r.Profile, r.Node, address(r.User, r.Host, r.Port), r.Home)
	}
	return tw.Flush()
}

func address(user, host string, port int) string {
	a := fmt.Sprintf("%s:%d", host, port)
	if user != "" {
		a = user + "@" + a
	}
	return a
}
