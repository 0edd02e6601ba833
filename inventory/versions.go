package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/tasks/apim/catalog"
)

// Product is the only product drover knows so far.
const Product = "wso2am"

// Version is a parsed API Manager release number such as 4.4.0.
type Version struct {
	Major, Minor, Patch int
}

// ParseVersion reads "MAJOR.MINOR" or "MAJOR.MINOR.PATCH".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("version %q is not of the form MAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("version %q is not of the form MAJOR.MINOR.PATCH", s)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// Profile names used across releases.
const (
	ControlPlane   = catalog.ProfileControlPlane
	GatewayWorker  = catalog.ProfileGateway
	TrafficManager = catalog.ProfileTrafficManager
)

// Defaults is what a product release implies when the inventory is silent:
// which profile names it knows and the order they are updated in, and what
// must survive an update. The release facts live in the catalog
// (tasks/apim/catalog); this is the part of them the inventory needs.
type Defaults struct {
	// Release is the catalog entry of the cluster's release.
	Release *catalog.Release
	// Profiles are the profile names valid for this release, in rollout order.
	Profiles []string
	// Persist lists the paths, relative to home, carried from the stopped
	// release into the new one.
	Persist []string
	// Optional persist paths are carried when the node has them.
	OptionalPersist []string
	// H2Glob matches the local H2 database files.
	H2Glob string
}

// DefaultsFor returns the defaults of an API Manager release.
func DefaultsFor(v Version) (Defaults, error) {
	r, err := catalog.Lookup(v.String())
	if err != nil {
		return Defaults{}, err
	}
	return Defaults{
		Release:  r,
		Profiles: slices.Clone(r.Profiles),
		H2Glob:   "repository/database/*.mv.db",
		// The Solr index and the H2 files (WSO2CARBON_DB among them) belong
		// together; every release from 3.0 keeps the index in solr/data.
		Persist: []string{"solr/data", "repository/database"},
		// Older 3.x installs may keep an index under repository/data; carrying
		// it costs nothing and losing it can cost an index.
		OptionalPersist: []string{"repository/data"},
	}, nil
}

// ValidProfile reports whether name is a profile of this release.
func (d Defaults) ValidProfile(name string) bool { return slices.Contains(d.Profiles, name) }

// Distribution returns the pack a node of the profile runs: the profile
// block's distribution when it names one, else the release's default.
func (inv *Inventory) Distribution(n *Node) *catalog.Distribution {
	if d := inv.Defaults.Release.Distribution(n.Distribution); d != nil {
		return d
	}
	return inv.Defaults.Release.DefaultDistribution(n.Profile)
}

// GatewayHealth reports whether the node serves the gateway startup health
// check: a gateway whose pack ships it.
func (inv *Inventory) GatewayHealth(n *Node) bool {
	return inv.Distribution(n).GatewayHealthFor(n.Profile)
}
