package cli

import (
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"

	"github.com/drover-sh/drover/inventory"
	"github.com/hashicorp/hcl/v2"
)

// loadInventory loads the inventory and prints its diagnostics to stderr.
// An invalid inventory is exit 2; warnings are shown and loading goes on.
// For a command that rolls an update (e.needsUpdate, set by openClusterFor)
// the inventory must also have an update block and a pack that exists.
func (e *env) loadInventory(g globals) (*inventory.Inventory, error) {
	l := inventory.NewLoader()
	l.Getenv = e.getenv
	l.EnvFile = apim.Product{}.EnvFile // the jvm and env settings' file
	inv, diags := l.Load(g.inventory)
	if e.needsUpdate != "" && inv != nil && !diags.HasErrors() {
		diags = append(diags, updateDiags(inv, e.needsUpdate)...)
	}
	if len(diags) > 0 {
		l.WriteDiagnostics(e.stderr, diags, g.color, 100)
	}
	if diags.HasErrors() {
		return nil, invalidInventory(g.inventory, diags)
	}
	e.inv = inv
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

// invalidInventory is the exit-2 error of an inventory with errors; it
// names the first error as FILE:LINE so the line can be found even when the
// diagnostics above scrolled away.
func invalidInventory(path string, diags hcl.Diagnostics) error {
	msg := fmt.Sprintf("invalid inventory %s: %s", path, countDiags(diags))
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if d.Subject != nil {
			msg += fmt.Sprintf("; first at %s:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Summary)
		}
		break
	}
	return &exitError{ExitUsage, &inventoryError{msg}}
}

// inventoryError is an invalid inventory: exit 2 like a usage error, but
// without the pointer to --help.
type inventoryError struct{ msg string }

func (e *inventoryError) Error() string { return e.msg }

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
