package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	ControlPlane   = "control-plane"
	GatewayWorker  = "gateway-worker"
	TrafficManager = "traffic-manager"
)

// Defaults is what a product release implies when the inventory is silent:
// which profile names it knows, the order they are updated in, how the
// server is started, and what must survive an update. The values follow
// wso2-facts.md.
type Defaults struct {
	// Profiles are the profile names valid for this release, in rollout order.
	Profiles []string
	// Optimized lists the profiles that bin/profileSetup.sh accepts.
	Optimized []string
	// SkipConfigOptimization is true when profileSetup.sh knows
	// --skipConfigOptimization (3.1.0 and later).
	SkipConfigOptimization bool
	// Script maps a profile to its startup script, relative to home.
	Script map[string]string
	// Persist lists the paths, relative to home, carried from the stopped
	// release into the new one.
	Persist []string
	// Optional persist paths are carried when the node has them.
	OptionalPersist []string
	// H2Glob matches the local H2 database files.
	H2Glob string
	// GatewayProfiles get the gateway startup health check by default.
	GatewayProfiles []string
}

// DefaultsFor returns the defaults of an API Manager release. Releases older
// than 3.0 are not supported.
func DefaultsFor(v Version) (Defaults, error) {
	if !v.AtLeast(3, 0) {
		return Defaults{}, fmt.Errorf("API Manager %s is not supported: drover handles 3.0 and later", v)
	}
	d := Defaults{
		H2Glob:          "repository/database/*.mv.db",
		GatewayProfiles: []string{GatewayWorker},
		Persist:         []string{"solr/data", "repository/database"},
		// Older 3.x installs may keep an index under repository/data; carrying
		// it costs nothing and losing it can cost an index.
		OptionalPersist:        []string{"repository/data"},
		SkipConfigOptimization: v.AtLeast(3, 1),
	}
	single := func(script string) {
		d.Script = map[string]string{}
		for _, p := range d.Profiles {
			d.Script[p] = script
		}
	}
	switch {
	case !v.AtLeast(4, 0): // 3.0 - 3.2
		d.Profiles = []string{"api-key-manager", TrafficManager, "api-publisher", "api-devportal", GatewayWorker}
		d.Optimized = d.Profiles
		if !v.AtLeast(3, 1) {
			d.Persist = []string{"repository/database"}
		}
		single("bin/wso2server.sh")
	case !v.AtLeast(4, 2): // 4.0 - 4.1
		d.Profiles = []string{ControlPlane, "api-key-manager-deprecated", "api-publisher-deprecated",
			"api-devportal-deprecated", TrafficManager, GatewayWorker}
		d.Optimized = d.Profiles
		single("bin/api-manager.sh")
	case !v.AtLeast(4, 3): // 4.2
		d.Profiles = []string{ControlPlane, "api-key-manager-deprecated", TrafficManager, GatewayWorker}
		d.Optimized = d.Profiles
		single("bin/api-manager.sh")
	case !v.AtLeast(4, 5): // 4.3 - 4.4
		d.Profiles = []string{ControlPlane, "api-key-manager-node", TrafficManager, GatewayWorker}
		d.Optimized = d.Profiles
		single("bin/api-manager.sh")
	default: // 4.5 and later ship split packs
		d.Profiles = []string{ControlPlane, "key-manager", TrafficManager, GatewayWorker}
		d.Optimized = []string{"key-manager"}
		d.Script = map[string]string{
			ControlPlane:   "bin/api-cp.sh",
			"key-manager":  "bin/key-manager.sh",
			TrafficManager: "bin/traffic-manager.sh",
			GatewayWorker:  "bin/gateway.sh",
		}
	}
	return d, nil
}

// ValidProfile reports whether name is a profile of this release.
func (d Defaults) ValidProfile(name string) bool { return slices.Contains(d.Profiles, name) }

// HasProfileSetup reports whether profileSetup.sh accepts the profile.
func (d Defaults) HasProfileSetup(name string) bool { return slices.Contains(d.Optimized, name) }

// IsGateway reports whether the profile serves API traffic.
func (d Defaults) IsGateway(name string) bool { return slices.Contains(d.GatewayProfiles, name) }
