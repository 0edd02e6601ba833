// Package apimsim is a simulated WSO2 API Manager (4.4.0 and 3.2.0) that behaves like the real
// product in every way drover's node procedure depends on (see /work/shared/wso2-facts.md): the
// product layout and pack zip, the startup script that returns at once and a server process that
// writes its own wso2carbon.pid, serves /services/Version and the gateway startup health check,
// holds solr/data/index/write.lock and keeps writing its H2 files while it runs, profileSetup.sh
// with its always-exit-0 semantics, the wso2update_linux update tool with exit codes 0-4, fault
// knobs and a lifecycle event log.
//
// The shell scripts in the product's bin/ exec the apimsim binary (Spec.SimBin, or $APIMSIM_BIN
// when set); the binary's entry point is Main.
package apimsim

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Spec describes one simulated product pack.
type Spec struct {
	Version string // "4.4.0" or "3.2.0" (script names and profile names follow wso2-facts.md)
	Level   int    // update level written to updates/config.json {"update-level": N}
	SimBin  string // absolute path of the apimsim binary the scripts exec (baked into the scripts)
}

// release holds what differs between the simulated product versions.
type release struct {
	version  string
	script   string   // startup script in bin/
	profiles []string // profiles profileSetup.sh accepts
	h2Format int      // MVStore write format of the bundled H2 engine
	h2Engine string   // H2 engine version quoted in error messages
	coreJar  string   // level-dependent plugin, printf pattern taking the level
	webapps  []string // every webapp in the pack
	keep     map[string][]string
	// dropSynapse lists the profiles whose optimization deletes synapse-config subfolders and
	// the WebSocket inbound endpoints.
	dropSynapse map[string]bool
}

const (
	gatewayProfile = "gateway-worker"
	gatewayWebapp  = "api#am#gateway#v2.war"
)

var releases = map[string]*release{
	"4.4.0": {
		version:  "4.4.0",
		script:   "api-manager.sh",
		profiles: []string{"control-plane", "gateway-worker", "traffic-manager", "api-key-manager-node"},
		h2Format: 2,
		h2Engine: "2.2.224",
		coreJar:  "org.wso2.carbon.apimgt.core_9.0.%d.jar",
		webapps: []string{
			"am#sample#pizzashack#v1.war", "api#am#admin.war", "api#am#devportal.war",
			gatewayWebapp, "api#am#publisher.war", "api#am#service-catalog#v1.war",
			"api#identity#consent-mgt#v1.0.war", "client-registration#v0.17.war",
			"internal#data#v1.war", "keymanager-operations.war", "oauth2.war",
		},
		keep: map[string][]string{
			"control-plane": {
				"am#sample#pizzashack#v1.war", "api#am#admin.war", "api#am#devportal.war",
				"api#am#publisher.war", "api#am#service-catalog#v1.war",
				"api#identity#consent-mgt#v1.0.war", "client-registration#v0.17.war",
				"internal#data#v1.war", "keymanager-operations.war", "oauth2.war",
			},
			"gateway-worker":       {"am#sample#pizzashack#v1.war", gatewayWebapp},
			"traffic-manager":      {"internal#data#v1.war"},
			"api-key-manager-node": {"client-registration#v0.17.war", "internal#data#v1.war", "keymanager-operations.war", "oauth2.war"},
		},
		dropSynapse: map[string]bool{"control-plane": true, "traffic-manager": true, "api-key-manager-node": true},
	},
	"3.2.0": {
		version:  "3.2.0",
		script:   "wso2server.sh",
		profiles: []string{"api-key-manager", "api-publisher", "api-devportal", "traffic-manager", "gateway-worker"},
		h2Format: 1,
		h2Engine: "1.4.199",
		coreJar:  "org.wso2.carbon.apimgt.core_6.7.%d.jar",
		webapps: []string{
			"am#sample#pizzashack#v1.war", "api#am#admin#v1.war", "api#am#publisher#v1.war",
			"api#am#store#v1.war", gatewayWebapp, "api#identity#consent-mgt#v1.0.war",
			"client-registration#v0.17.war", "internal#data#v1.war", "keymanager-operations.war",
			"oauth2.war", "throttle#data#v1.war",
		},
		keep: map[string][]string{
			"api-key-manager": {"client-registration#v0.17.war", "internal#data#v1.war", "keymanager-operations.war", "oauth2.war"},
			"api-publisher":   {"api#am#admin#v1.war", "api#am#publisher#v1.war", "internal#data#v1.war"},
			"api-devportal":   {"api#am#store#v1.war", "internal#data#v1.war"},
			"traffic-manager": {"internal#data#v1.war", "throttle#data#v1.war"},
			"gateway-worker":  {"am#sample#pizzashack#v1.war", gatewayWebapp},
		},
		dropSynapse: map[string]bool{"api-key-manager": true, "api-publisher": true, "api-devportal": true, "traffic-manager": true},
	},
}

func lookupRelease(version string) (*release, error) {
	r, ok := releases[version]
	if !ok {
		return nil, fmt.Errorf("apimsim: unsupported version %q (have 4.4.0, 3.2.0)", version)
	}
	return r, nil
}

// Versions lists the simulated product versions.
func Versions() []string { return []string{"3.2.0", "4.4.0"} }

// Profiles returns the profiles profileSetup.sh accepts for version (nil for an unknown version).
func Profiles(version string) []string {
	r, err := lookupRelease(version)
	if err != nil {
		return nil
	}
	return append([]string(nil), r.profiles...)
}

// Script returns the startup script of version relative to the product home, e.g.
// "bin/api-manager.sh" for 4.4.0 and "bin/wso2server.sh" for 3.2.0 ("" for an unknown version).
func Script(version string) string {
	r, err := lookupRelease(version)
	if err != nil {
		return ""
	}
	return "bin/" + r.script
}

// ProductName returns the pack's folder and product.txt name, e.g. "wso2am-4.4.0".
func ProductName(version string) string { return "wso2am-" + version }

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
