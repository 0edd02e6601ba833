// Package apim is WSO2 API Manager as drover's node procedure sees it: it
// implements tasks.Product from the release catalog (tasks/apim/catalog):
// which release and distribution a product directory holds, the startup
// script and -Dprofile argument of each profile on each pack, profileSetup.sh
// and how its success is read, and which nodes and packs fit an inventory
// (product, distribution, release, H2 format).
//
// The package imports neither tasks nor the rollout engine: the engine
// reaches it only through the tasks.Product interface, which Product
// satisfies.
package apim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/transport"
)

// Product is WSO2 API Manager 3.0.0-4.7.0.
type Product struct{}

// What profileSetup.sh prints: it always exits 0, so its output is the only
// sign of success.
const (
	setupDone      = "Finished the optimizations"
	setupBadProfle = "Profile is not specified properly"
)

// Identify returns the release and distribution of a product name such as
// "wso2am-universal-gw-4.7.0".
func (Product) Identify(product string) (release, distribution string) {
	if d := catalog.ByProduct(product); d != nil {
		return d.Release.Version, d.Name
	}
	return "", ""
}

// dist is the catalog entry of product, or, for "" or a product the catalog
// does not know, the distribution the inventory says the node runs.
func dist(inv *inventory.Inventory, n *inventory.Node, product string) *catalog.Distribution {
	if d := catalog.ByProduct(product); d != nil {
		return d
	}
	return inv.Distribution(n)
}

// Start is the distribution's script for the profile (key-manager.sh for a
// 4.5+ key manager) and -Dprofile=<profile> only where the pack ships an OSGi
// profile of that name; elsewhere (4.3-4.4 api-key-manager-node, every 4.5+
// split pack) the server would look for a repository/components/<profile>
// that does not exist.
func (Product) Start(inv *inventory.Inventory, n *inventory.Node, product string) (string, []string) {
	d := dist(inv, n, product)
	var args []string
	if p := d.StartProfile(n.Profile); p != "" {
		args = append(args, "-Dprofile="+p)
	}
	return d.StartScript(n.Profile), args
}

// Setup is bin/profileSetup.sh -Dprofile=<profile> where the pack runs it
// for the profile. -Dprofile must be its first argument. Without
// --skipConfigOptimization (3.0.0 has none) the script replaces
// deployment.toml with the profile's template and leaves the operator's
// file as deployment.toml.backup: the operator's file is kept aside and put
// back, and the .backup removed.
func (Product) Setup(inv *inventory.Inventory, n *inventory.Node, product, dir string) (string, string, func(string) error) {
	d := dist(inv, n, product)
	if !d.HasSetup(n.Profile) {
		return "", fmt.Sprintf("%s has no profileSetup.sh for %s", d.Product, n.Profile), nil
	}
	q := transport.Quote
	cmd := fmt.Sprintf("cd %s/bin && sh ./profileSetup.sh -Dprofile=%s", q(dir), q(n.Profile))
	if d.SkipConfigOptimization {
		cmd += " --skipConfigOptimization"
	} else {
		conf := q(dir + "/repository/conf/deployment.toml")
		cmd = fmt.Sprintf("cp -p %[1]s %[1]s.drover-keep && { %[2]s; rc=$?; mv -f %[1]s.drover-keep %[1]s && rm -f %[1]s.backup; exit $rc; }", conf, cmd)
	}
	check := func(out string) error {
		switch {
		case strings.Contains(out, setupBadProfle):
			return fmt.Errorf("profileSetup.sh rejected profile %q: %s", n.Profile, lastLines(out, 2))
		case !strings.Contains(out, setupDone):
			return fmt.Errorf("profileSetup.sh did not finish the optimizations: %s", lastLines(out, 3))
		}
		return nil
	}
	return cmd + " 2>&1", "profileSetup.sh -Dprofile=" + n.Profile, check
}

// Carry is what operators carry from the running release to the updated
// one (wso2-facts.md): deployment.toml, log4j2.properties, the secure
// vault (repository/conf/security: secret-conf.properties,
// cipher-text.properties and whatever else the operator keeps there, and
// the password-persist or password-tmp file at home that unlocks it),
// keystores and tenants overwrite the new release's; custom jars, dropins
// and deployed artifacts are added where the new release lacks them, so an
// update's newer jar or war is not undone. Tomcat unpacks every webapp
// .war at start: those folders are runtime copies of the old release's
// wars.
func (Product) Carry() (overwrite, add, unpacked []string) {
	return []string{
			"repository/conf/deployment.toml",
			"repository/conf/log4j2.properties",
			"repository/conf/security",
			"password-persist",
			"password-tmp",
			"repository/resources/security",
			"repository/tenants",
		}, []string{
			"repository/components/lib",
			"repository/components/dropins",
			"repository/deployment/server",
		}, []string{"repository/deployment/server/webapps"}
}

// Check refuses a node whose product, or whose pack, is not what the
// inventory says it runs, a downgrade, an in-place update across releases,
// and a release upgrade across an H2 format change that would carry the
// local databases.
func (Product) Check(inv *inventory.Inventory, n *inventory.Node, product, packProduct, packPath string) error {
	want, rel := inv.Distribution(n), inv.Defaults.Release
	cur := catalog.ByProduct(product)
	switch {
	case cur == nil:
		return fmt.Errorf("%s/updates/product.txt says %q, which is no API Manager release drover knows (%s); point home at the product directory",
			n.Home, product, strings.Join(catalog.Versions(), ", "))
	case cur.Name != want.Name && cur.Release == want.Release:
		return fmt.Errorf("%s holds %s, but the inventory runs %s (%s) on %s nodes; point home at the %s directory or set distribution in the profile %q block",
			n.Home, product, want.Product, want.Name, n.Profile, want.Product, n.Profile)
	case catalog.Less(rel.Version, cur.Release.Version):
		return fmt.Errorf("%s runs %s, newer than the inventory's version %s; drover does not downgrade a release: fix cluster.version", n.Home, product, rel.Version)
	case cur.Release != rel && packProduct == "":
		return fmt.Errorf("%s runs %s and the inventory says %s; the in-place update tool stays within a release: use strategy = \"side-by-side\" with a %s pack to move to %s",
			n.Home, product, rel.Version, rel.Version, rel.Version)
	}
	if packProduct == "" {
		return nil
	}
	pd := catalog.ByProduct(packProduct)
	switch {
	case pd == nil:
		return fmt.Errorf("the pack %s says it is %q (updates/product.txt), which is no API Manager pack drover knows", packPath, packProduct)
	case pd.Release != rel:
		return fmt.Errorf("the pack %s is %s, but the inventory's version is %s; use a %s pack or set cluster.version = %q", packPath, packProduct, rel.Version, rel.Version, pd.Release.Version)
	case pd.Name != want.Name:
		return fmt.Errorf("the pack %s is %s (%s), but %s nodes run %s: set pack in the profile %q block to a %s pack (or distribution = %q there, if these nodes are to run that pack)",
			packPath, packProduct, pd.Name, n.Profile, want.Name, n.Profile, want.Product, pd.Name)
	case catalog.H2Break(cur.Release, pd.Release) && slices.Contains(inv.Persist, "repository/database"):
		return &H2BreakError{From: cur.Release, To: pd.Release}
	}
	return nil
}

// H2BreakError is a release upgrade that would carry H2 databases into a
// release whose H2 engine cannot open them.
type H2BreakError struct{ From, To *catalog.Release }

func (e *H2BreakError) Error() string {
	return fmt.Sprintf("%s -> %s changes the H2 file format (H2 %s writes format %d, %s reads format %d): the new server cannot open the repository/database this node has. "+
		"Move what those databases hold first (point them at an external database, or export each with the old release's H2 Script tool and import it with the new one's RunScript), "+
		"then set update { reset_local_data = true } so the new release starts with the pack's own H2 files and rebuilds its Solr index",
		e.From.Version, e.To.Version, e.From.H2Engine, e.From.H2Format, e.To.H2Engine, e.To.H2Format)
}

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
