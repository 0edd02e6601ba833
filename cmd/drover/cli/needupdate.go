package cli

import (
	"fmt"
	"os"

	"github.com/drover-sh/drover/inventory"
	"github.com/hashicorp/hcl/v2"
)

// updateDiags checks what a command that rolls an update (plan, apply,
// recover --resume) needs from the inventory and nobody else does: an
// update block and, side-by-side, a pack that exists. The inventory package
// accepts an inventory without them, so that validate, inventory, facts,
// status and exec work on any cluster.
//
// For such a command (cmd names it, as the user would type it) the problems
// are errors. For validate (cmd is "") they are warnings, and a missing
// update block is no problem at all.
func updateDiags(inv *inventory.Inventory, cmd string) hcl.Diagnostics {
	sev, needs := hcl.DiagError, cmd+" needs"
	if cmd == "" {
		sev, needs = hcl.DiagWarning, "plan and apply need"
	}
	u := inv.Update
	// Nodes whose profile names its own pack (split distributions) need
	// no update block pack.
	needDefault := false
	for _, n := range inv.Nodes {
		if p := inv.Profiles[n.Profile]; p == nil || p.Pack == "" {
			needDefault = true
		}
	}
	var diags hcl.Diagnostics
	missing := func(pack string, rng *hcl.Range) {
		if _, err := os.Stat(pack); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: sev, Subject: rng,
				Summary: "Update pack not found",
				Detail: fmt.Sprintf("%s the pack, and %s cannot be read (%v). Point pack at the updated product zip; a relative path is relative to the file that holds it.",
					needs, pack, unwrapPathErr(err)),
			})
		}
	}
	if u.Strategy == inventory.SideBySide {
		for _, name := range inv.Defaults.Profiles {
			if p := inv.Profiles[name]; p != nil && p.Pack != "" {
				missing(p.Pack, p.PackRange)
			}
		}
	}
	switch {
	case !needDefault && u.Strategy == inventory.SideBySide:
		// every node's profile names its pack
	case u.Range == nil:
		if cmd == "" {
			return diags
		}
		rng := inv.Cluster.Range
		diags = append(diags, &hcl.Diagnostic{
			Severity: sev, Subject: &rng,
			Summary: "Missing update block",
			Detail: fmt.Sprintf("%s an update block: it names the updated release to roll out. Add one beside the cluster block, for example:\n\n"+
				"update {\n  pack = \"packs/wso2am-%s-u12.zip\"\n}\n\nvalidate, inventory, facts, status and exec work without it.", needs, inv.Cluster.Version),
		})
	case u.Strategy != inventory.SideBySide:
		// in-place runs the update tool on the nodes: no pack.
	case u.Pack == "":
		diags = append(diags, &hcl.Diagnostic{
			Severity: sev, Subject: u.Range,
			Summary: "Missing update pack",
			Detail: fmt.Sprintf("%s the pack: the side-by-side strategy pushes an updated product zip to every node. Add it to the update block, for example:\n\n"+
				"update {\n  pack = \"packs/wso2am-%s-u12.zip\"\n}\n\n(or, for the split packs of 4.5 and later, a pack in each profile block).", needs, inv.Cluster.Version),
		})
	default:
		missing(u.Pack, u.PackRange)
	}
	return diags
}

// unwrapPathErr drops the path an *os.PathError repeats.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
