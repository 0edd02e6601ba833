package tasks

import (
	"github.com/drover-sh/drover/tasks/apim/catalog"
)

// dist is the catalog entry of the pack the node is being brought to: the
// pack's own product when one is installed, else the inventory's
// distribution for the node.
func (j *Job) dist() *catalog.Distribution {
	if j.Pack != nil {
		if d := catalog.ByProduct(j.Pack.Product); d != nil {
			return d
		}
	}
	return j.Inv.Distribution(j.Node)
}

// distOf is the catalog entry of a product read from the node (a
// release's updates/product.txt), or dist() when the product is unknown.
func (j *Job) distOf(product string) *catalog.Distribution {
	if d := catalog.ByProduct(product); d != nil {
		return d
	}
	return j.dist()
}

// script returns the startup script of the target release for the node's
// profile, relative to home.
func (j *Job) script() string { return j.dist().StartScript(j.Node.Profile) }

// startArgs are the arguments after "start": -Dprofile=<name> only where
// the pack ships an OSGi profile of that name. Elsewhere (4.3-4.4
// api-key-manager-node, every 4.5+ split pack) the server would look for a
// repository/components/<name> that does not exist.
func startArgs(d *catalog.Distribution, profile string) string {
	if p := d.StartProfile(profile); p != "" {
		return " -Dprofile=" + p
	}
	return ""
}

// hasSetup reports whether the target release runs profileSetup.sh for the
// node's profile.
func (j *Job) hasSetup() bool { return j.dist().HasSetup(j.Node.Profile) }
