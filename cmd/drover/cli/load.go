package cli

import (
	"fmt"

	"github.com/drover-sh/drover/inventory"
	"github.com/hashicorp/hcl/v2"
)

// loadInventory loads the inventory and prints its diagnostics to stderr.
// An invalid inventory is exit 2; warnings are shown and loading goes on.
func (e *env) loadInventory(g globals) (*inventory.Inventory, error) {
	l := inventory.NewLoader()
	l.Getenv = e.getenv
	inv, diags := l.Load(g.inventory)
	if len(diags) > 0 {
		l.WriteDiagnostics(e.stderr, diags, g.color, 100)
	}
	if diags.HasErrors() {
		return nil, &exitError{ExitUsage, fmt.Errorf("invalid inventory %s: %s", g.inventory, countDiags(diags))}
	}
	return inv, nil
}

// selectNodes loads the inventory and applies --limit.
func (e *env) selectNodes(g globals) (*inventory.Inventory, []*inventory.Node, error) {
	inv, err := e.loadInventory(g)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := inv.Select(g.limits)
	if err != nil {
		return nil, nil, err
	}
	return inv, nodes, nil
}

func countDiags(diags hcl.Diagnostics) string {
	var errs, warns int
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return fmt.Sprintf("%s, %s", plural(errs, "error"), plural(warns, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
