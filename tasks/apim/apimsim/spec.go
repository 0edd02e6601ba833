// Package apimsim is a simulated WSO2 API Manager (every release 3.0.0-4.7.0, and for 4.5.0+ the
// all-in-one pack and the three split packs) that behaves like the real product in every way
// drover's node procedure depends on (see /work/shared/wso2-facts.md and the per-release facts in
// tasks/apim/testdata/facts): the product layout and pack zip, the startup scripts that return at
// once and a server process that writes its own wso2carbon.pid, serves /services/Version and (where
// the gateway REST webapp is deployed) the gateway startup health check, holds
// solr/data/index/write.lock and keeps writing its H2 files while it runs, profileSetup.sh with its
// always-exit-0 semantics and per-release rules, the wso2update_linux update tool with exit codes
// 0-4, fault knobs and a lifecycle event log.
//
// The release table (releases.go) is the simulator's own: the package must not import drover's
// catalog or inventory, so that a wrong fact cannot hide by being used on both sides.
//
// The shell scripts in the product's bin/ exec the apimsim binary (Spec.SimBin, or $APIMSIM_BIN
// when set); the binary's entry point is Main.
package apimsim

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Distributions of a release. Up to 4.4.0 there is only the all-in-one pack; from 4.5.0 WSO2 ships
// the all-in-one pack and three split packs.
const (
	AllInOne         = "all-in-one"
	APIControlPlane  = "api-control-plane"
	UniversalGateway = "universal-gateway"
	TrafficManager   = "traffic-manager"
)

// Spec describes one simulated product pack.
type Spec struct {
	Version      string // "3.0.0" ... "4.7.0" (see Versions)
	Distribution string // "" or AllInOne for the all-in-one pack; 4.5.0+ also APIControlPlane, UniversalGateway, TrafficManager
	Level        int    // update level written to updates/config.json {"update-level": N}
	SimBin       string // absolute path of the apimsim binary the scripts exec (baked into the scripts)
}

// release is one row of the release table: one release x distribution.
type release struct {
	version      string
	distribution string
	product      string   // updates/product.txt, the home directory and the pack's top folder
	name         string   // carbon.xml <Name>: /services/Version answers "<name>-<version>"
	kernel       string   // carbon-kernel version
	apimgt       string   // carbon-apimgt version
	coreJar      string   // level-dependent plugin, printf pattern taking the level (set from apimgt)
	scripts      []string // startup scripts in bin/ (the first one is the main one)
	binFiles     []string // every file the pack has in bin/ (and diagnostics-tool/bin/)
	osgiProfiles []string // repository/components/<name>/: what -Dprofile=<name> can select
	templates    []string // repository/resources/conf/deployment-templates/<name>.toml
	wars         []string // repository/deployment/server/webapps/*.war
	webappDirs   []string // directories shipped in webapps/ (not exploded wars)
	webappFiles  []string // plain files shipped in webapps/
	jaggeryapps  []string // entries of repository/deployment/server/jaggeryapps/ (directories end in '/')
	synapse      []string // every file under synapse-configs/default/
	h2Format     int      // MVStore write format of the bundled H2 engine
	h2Engine     string   // H2 engine version quoted in error messages

	// gatewayHealth: the release's api#am#gateway#v2.war serves the startup health check (4.1.0+;
	// the 4.0.0 GA war does not have it). A node answers it only while it has the war.
	gatewayHealth bool

	// profileSetup.sh
	profileSetup    bool          // bin/profileSetup.sh exists
	skipFlag        bool          // --skipConfigOptimization exists (3.1.0+); false also selects the 3.0.0 script's messages
	swapOp          string        // how a profile template goes onto the live name: "mv" (up to 4.0.0) or "cp" (4.1.0+)
	wsTemplateLines bool          // the WebSocket inbound steps also delete their .j2 templates (3.2.0+)
	wsTemplates     []string      // the WebSocket inbound .j2 templates the pack ships
	profiles        []profileRule // accepted profiles, in the script's order
}

// profileRule is what profileSetup.sh does for one profile.
type profileRule struct {
	name  string
	label string // "Starting to optimize API Manager for the <label> profile"
	// steps are the script's functions in order, with their argument where they take one (see
	// runStep); the webapps and jaggeryapps rules run after them.
	steps   []string
	webapps listRule // top-level entries of repository/deployment/server/webapps
	jaggery listRule // sub-directories of repository/deployment/server/jaggeryapps
}

// listRule says which entries of a directory a profile deletes. Patterns are shell globs matched
// against the entry's name (a keep pattern "oauth2.war" does not keep the exploded "oauth2/").
type listRule struct {
	mode     string // "": untouched; "keep": delete all but matches; "all": delete every entry; "only": delete only matches
	patterns []string
}

func keepOnly(p ...string) listRule   { return listRule{mode: "keep", patterns: p} }
func deleteAll() listRule             { return listRule{mode: "all"} }
func deleteOnly(p ...string) listRule { return listRule{mode: "only", patterns: p} }
func untouched() listRule             { return listRule{} }

// deletes reports whether the rule deletes the entry called name.
func (l listRule) deletes(name string) bool {
	match := false
	for _, p := range l.patterns {
		if ok, _ := filepath.Match(p, name); ok {
			match = true
		}
	}
	switch l.mode {
	case "keep":
		return !match
	case "all":
		return true
	case "only":
		return match
	}
	return false
}

func (p *profileRule) has(step string) bool {
	for _, s := range p.steps {
		if s == step || strings.HasPrefix(s, step+" ") {
			return true
		}
	}
	return false
}

func (r *release) profile(name string) *profileRule {
	for i := range r.profiles {
		if r.profiles[i].name == name {
			return &r.profiles[i]
		}
	}
	return nil
}

// script is the main startup script.
func (r *release) script() string { return r.scripts[0] }

const (
	gatewayWebapp  = "api#am#gateway#v2.war"
	gatewayProfile = "gateway-worker"
)

func normDist(d string) string {
	if d == "" {
		return AllInOne
	}
	return d
}

func lookup(version, distribution string) (*release, error) {
	d := normDist(distribution)
	for _, r := range releaseTable {
		if r.version == version && r.distribution == d {
			return r, nil
		}
	}
	return nil, fmt.Errorf("apimsim: unsupported release %q distribution %q (have %s)", version, d, strings.Join(Versions(), ", "))
}

func lookupRelease(version string) (*release, error) { return lookup(version, AllInOne) }

func lookupProduct(product string) (*release, error) {
	for _, r := range releaseTable {
		if r.product == product {
			return r, nil
		}
	}
	return nil, fmt.Errorf("apimsim: unsupported product %q", product)
}

// Versions lists the simulated releases, oldest first.
func Versions() []string {
	var out []string
	for _, r := range releaseTable {
		if !slices.Contains(out, r.version) {
			out = append(out, r.version)
		}
	}
	return out
}

// Distributions lists the packs of version: AllInOne only up to 4.4.0; from 4.5.0 also
// APIControlPlane, UniversalGateway and TrafficManager (nil for an unknown version).
func Distributions(version string) []string {
	var out []string
	for _, r := range releaseTable {
		if r.version == version {
			out = append(out, r.distribution)
		}
	}
	return out
}

// Profiles returns the profiles the all-in-one pack's profileSetup.sh accepts (nil for an unknown
// version and for 4.5.0+, whose all-in-one pack has no profileSetup.sh).
func Profiles(version string) []string { return ProfilesOf(version, AllInOne) }

// ProfilesOf returns the profiles profileSetup.sh of the pack accepts (nil when it has none).
func ProfilesOf(version, distribution string) []string {
	r, err := lookup(version, distribution)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range r.profiles {
		out = append(out, p.name)
	}
	return out
}

// HasProfileSetup reports whether the pack ships bin/profileSetup.sh.
func HasProfileSetup(version, distribution string) bool {
	r, err := lookup(version, distribution)
	return err == nil && r.profileSetup
}

// OSGiProfiles lists the OSGi profiles the pack materialises (repository/components/<name>/):
// the names "-Dprofile=<name>" can start; any other name makes the server fail.
func OSGiProfiles(version, distribution string) []string {
	r, err := lookup(version, distribution)
	if err != nil {
		return nil
	}
	return slices.Clone(r.osgiProfiles)
}

// Script returns the all-in-one pack's startup script relative to the product home:
// "bin/wso2server.sh" for 3.x, "bin/api-manager.sh" from 4.0.0 ("" for an unknown version).
func Script(version string) string {
	s := ScriptsOf(version, AllInOne)
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// ScriptsOf returns the pack's startup scripts relative to the product home, the main one first:
// e.g. ["bin/api-cp.sh", "bin/key-manager.sh"] for the 4.5.0+ control plane, ["bin/gateway.sh"]
// for the universal gateway, ["bin/traffic-manager.sh"] for the traffic manager.
func ScriptsOf(version, distribution string) []string {
	r, err := lookup(version, distribution)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range r.scripts {
		out = append(out, "bin/"+s)
	}
	return out
}

// ProductName returns the all-in-one pack's folder and product.txt name, e.g. "wso2am-4.4.0".
func ProductName(version string) string { return "wso2am-" + version }

// ProductNameOf returns the pack's folder and product.txt name, e.g. "wso2am-acp-4.7.0",
// "wso2am-universal-gw-4.7.0", "wso2am-tm-4.7.0", "wso2am-4.7.0" ("" for an unknown pack).
func ProductNameOf(version, distribution string) string {
	r, err := lookup(version, distribution)
	if err != nil {
		return ""
	}
	return r.product
}

// CarbonName returns the pack's carbon.xml <Name>: "WSO2 API Manager", "WSO2 API Control Plane",
// "WSO2 Universal Gateway" or "WSO2 Traffic Manager" ("" for an unknown pack).
func CarbonName(version, distribution string) string {
	r, err := lookup(version, distribution)
	if err != nil {
		return ""
	}
	return r.name
}

// VersionBody is the product string /services/Version answers, e.g. "WSO2 Universal Gateway-4.7.0".
func VersionBody(version, distribution string) string {
	n := CarbonName(version, distribution)
	if n == "" {
		return ""
	}
	return n + "-" + version
}

// HasGatewayHealth reports whether the pristine pack answers the gateway startup health check
// (GatewayHealthPath): it ships api#am#gateway#v2.war and the release's war serves it (4.1.0+).
func HasGatewayHealth(version, distribution string) bool {
	r, err := lookup(version, distribution)
	return err == nil && r.gatewayHealth && slices.Contains(r.wars, gatewayWebapp)
}

// H2FormatOf returns the MVStore write format the release's H2 engine writes and requires.
func H2FormatOf(version string) int {
	r, err := lookupRelease(version)
	if err != nil {
		return 0
	}
	return r.h2Format
}

// Ports returns the HTTP servlet port (9763) and HTTPS servlet port (9443) plus offset.
func Ports(offset int) (http, https int) { return 9763 + offset, 9443 + offset }

// stateDir is the directory next to home that holds the faults file and the event log; it is
// outside home so it survives drover's release switch.
func stateDir(home string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(home)), ".apimsim")
}

// FaultsPath is where the fault knobs of the node at home live.
func FaultsPath(home string) string {
	return filepath.Join(stateDir(home), filepath.Base(filepath.Clean(home))+".json")
}

// EventsPath is the lifecycle event log shared by every node whose home is in the same directory.
func EventsPath(home string) string { return filepath.Join(stateDir(home), "events.jsonl") }

// PIDFile is the server's PID file (written by the server itself, never removed).
func PIDFile(home string) string { return filepath.Join(home, "wso2carbon.pid") }

// LogFile is the server's log.
func LogFile(home string) string { return filepath.Join(home, "repository", "logs", "wso2carbon.log") }

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
