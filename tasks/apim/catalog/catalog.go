// Package catalog is drover's knowledge of WSO2 API Manager releases 3.0.0 to 4.7.0: for each
// release, the distributions it ships (one pack up to 4.4; from 4.5 an all-in-one pack plus the
// split control-plane, universal-gateway and traffic-manager packs), their product names, startup
// scripts, which profiles bin/profileSetup.sh accepts and which OSGi profiles exist to start with
// -Dprofile, the H2 format of the local databases, and the profile names an inventory may use.
//
// The facts come from the release facts kept beside the repository (a copy is in
// tasks/apim/testdata/facts); catalog_test.go pins every entry to them. The package is a leaf: it
// imports nothing of drover's, so the inventory can validate against it.
package catalog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Distribution names, as the facts name them.
const (
	AllInOne         = "all-in-one"
	APIControlPlane  = "api-control-plane"
	UniversalGateway = "universal-gateway"
	TrafficManager   = "traffic-manager"
)

// Inventory profile names that more than one release shares.
const (
	ProfileControlPlane   = "control-plane"
	ProfileGateway        = "gateway-worker"
	ProfileTrafficManager = "traffic-manager"
	ProfileKeyManager     = "key-manager" // 4.5+: the control-plane pack started as a key manager
	ProfileAllInOne       = "all-in-one"  // 4.5+: a node running the all-in-one pack as a whole
)

// Release is one API Manager release.
type Release struct {
	Version string // "4.7.0"
	Kernel  string // Carbon kernel version
	// H2Engine is the bundled H2 version; H2Format its MVStore write format. A database written
	// with one format cannot be opened by an engine of another.
	H2Engine string
	H2Format int
	// IndexMovable is true where [indexing] location can move the Solr index (3.1.0 and later);
	// 3.0.0 keeps it at solr/data.
	IndexMovable bool
	// GatewayHealth is true where the gateway serves /api/am/gateway/v2/server-startup-healthcheck
	// (4.1.0 and later; 4.0.0 only with updates).
	GatewayHealth bool
	// JDK is the range of Java versions the scripts accept without a warning.
	JDKMin, JDKMax int
	// Profiles are the profile names an inventory may use, in the default rollout order.
	Profiles []string
	// Distributions are the packs of the release; the first is the all-in-one pack.
	Distributions []*Distribution
	// defaults maps a profile to the distribution its nodes run when the inventory names no pack.
	defaults map[string]string
}

// Distribution is one pack of a release.
type Distribution struct {
	Name    string // AllInOne, APIControlPlane, UniversalGateway or TrafficManager
	Release *Release
	// Product is the first line of updates/product.txt and the pack's top folder, e.g.
	// "wso2am-universal-gw-4.7.0".
	Product string
	// ServerName is carbon.xml's <Name>, which /services/Version answers as "<Name>-<version>".
	ServerName string
	// Script is the startup script relative to home; KeyManagerScript starts the control-plane
	// pack as a key manager (4.5+).
	Script           string
	KeyManagerScript string
	// Setup lists the profiles bin/profileSetup.sh accepts (none: the pack has no profileSetup.sh).
	Setup []string
	// SkipConfigOptimization is true where profileSetup.sh knows --skipConfigOptimization (3.1.0
	// and later); without it every run replaces deployment.toml and leaves a .backup.
	SkipConfigOptimization bool
	// OSGi lists the OSGi profiles the pack ships (repository/components/<name>): the names
	// -Dprofile may select at start.
	OSGi []string
	// Runs lists the inventory profiles a node may run with this pack.
	Runs []string
	// GatewayHealth is true where the pack ships the gateway startup health check.
	GatewayHealth bool
}

var releases = build()

// Releases returns every known release, oldest first.
func Releases() []*Release { return slices.Clone(releases) }

// Versions returns the known release numbers, oldest first.
func Versions() []string {
	out := make([]string, len(releases))
	for i, r := range releases {
		out[i] = r.Version
	}
	return out
}

// Lookup returns the release with that number ("4.7.0"; "4.7" is read as "4.7.0").
func Lookup(version string) (*Release, error) {
	v := strings.TrimSpace(version)
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	for _, r := range releases {
		if r.Version == v {
			return r, nil
		}
	}
	return nil, fmt.Errorf("API Manager %s is not a release drover knows; supported: %s", version, strings.Join(Versions(), ", "))
}

// ByProduct finds the distribution whose updates/product.txt says product, e.g.
// "wso2am-tm-4.6.0", or nil.
func ByProduct(product string) *Distribution {
	for _, r := range releases {
		for _, d := range r.Distributions {
			if d.Product == product {
				return d
			}
		}
	}
	return nil
}

// Distribution returns the release's distribution of that name, or nil.
func (r *Release) Distribution(name string) *Distribution {
	for _, d := range r.Distributions {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Split reports whether the release ships split distributions (4.5 and later).
func (r *Release) Split() bool { return len(r.Distributions) > 1 }

// ValidProfile reports whether an inventory may use the profile name with this release.
func (r *Release) ValidProfile(name string) bool { return slices.Contains(r.Profiles, name) }

// DefaultDistribution is the pack a node of the profile runs when the inventory names none:
// the all-in-one pack up to 4.4, the split pack that carries the profile from 4.5.
func (r *Release) DefaultDistribution(profile string) *Distribution {
	if name, ok := r.defaults[profile]; ok {
		return r.Distribution(name)
	}
	return r.Distributions[0]
}

// Split returns the distribution names in the order a 4.5+ release lists them.
func Split() []string { return []string{AllInOne, APIControlPlane, UniversalGateway, TrafficManager} }

// Gateway reports whether the profile serves API traffic.
func Gateway(profile string) bool { return profile == ProfileGateway }

// Less orders releases by number.
func Less(a, b string) bool { return compare(a, b) < 0 }

func compare(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// Runs reports whether a node of the profile can run this pack.
func (d *Distribution) RunsProfile(profile string) bool { return slices.Contains(d.Runs, profile) }

// StartScript is the script that starts a node of the profile, relative to home.
func (d *Distribution) StartScript(profile string) string {
	if profile == ProfileKeyManager && d.KeyManagerScript != "" {
		return d.KeyManagerScript
	}
	return d.Script
}

// HasSetup reports whether profileSetup.sh accepts the profile in this pack.
func (d *Distribution) HasSetup(profile string) bool { return slices.Contains(d.Setup, profile) }

// StartProfile is the -Dprofile value a node of the profile is started with: the profile's name
// where the pack ships an OSGi profile of that name, else "" (start without -Dprofile; the
// server would otherwise look for a repository/components/<name> that does not exist).
func (d *Distribution) StartProfile(profile string) string {
	if slices.Contains(d.OSGi, profile) {
		return profile
	}
	return ""
}

// GatewayHealthFor reports whether a node of the profile serves the gateway startup health check.
func (d *Distribution) GatewayHealthFor(profile string) bool {
	if !d.GatewayHealth {
		return false
	}
	return profile == ProfileGateway || profile == ProfileAllInOne
}

// H2Break reports whether local H2 databases cannot be carried from release from to release to:
// their MVStore write formats differ (4.0 -> 4.1 and 4.2 -> 4.3).
func H2Break(from, to *Release) bool { return from.H2Format != to.H2Format }
