package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"

	"github.com/drover-sh/drover/inventory"
	"github.com/urfave/cli/v2"
)

func (e *env) newValidateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "load and check the inventory; print diagnostics; change nothing",
		Description: "Loads the inventory (-i) and reports every problem with its file, line and column and how to\n" +
			"fix it. Exits 2 when there is any error; warnings alone exit 0. With --json, prints\n" +
			"{\"valid\", \"diagnostics\": [{severity, summary, detail, file, line, column, ...}]} on stdout.\n" +
			"Nodes are not contacted: the pack itself is checked by plan.",
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			return e.runValidate(c.Context, g)
		},
	}
}

type validateOutput struct {
	Valid       bool                       `json:"valid"`
	Cluster     string                     `json:"cluster,omitempty"`
	Nodes       int                        `json:"nodes"`
	Diagnostics []inventory.JSONDiagnostic `json:"diagnostics"`
}

func (e *env) runValidate(_ context.Context, g globals) error {
	l := inventory.NewLoader()
	l.Getenv = e.getenv
	l.EnvFile = apim.Product{}.EnvFile // the jvm and env settings' file
	inv, diags := l.Load(g.inventory)
	if inv != nil && !diags.HasErrors() {
		diags = append(diags, updateDiags(inv, "")...) // plan's needs, as warnings
	}
	if g.json {
		out := validateOutput{Valid: !diags.HasErrors(), Diagnostics: inventory.JSONDiagnostics(diags)}
		if inv != nil {
			out.Cluster, out.Nodes = inv.Cluster.Name, len(inv.Nodes)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else if len(diags) > 0 {
		l.WriteDiagnostics(e.stderr, diags, g.color, 100)
	}
	if diags.HasErrors() {
		if g.json {
			return &silentError{ExitUsage}
		}
		return invalidInventory(g.inventory, diags)
	}
	if !g.json {
		fmt.Fprintf(e.stdout, "%s: valid (cluster %q, %s %s, %s in %s)\n", g.inventory, inv.Cluster.Name,
			inv.Cluster.Product, inv.Cluster.Version, plural(len(inv.Nodes), "node"), plural(countProfiles(inv), "profile"))
	}
	return nil
}

func countProfiles(inv *inventory.Inventory) int {
	seen := map[string]bool{}
	for _, n := range inv.Nodes {
		seen[n.Profile] = true
	}
	return len(seen)
}
