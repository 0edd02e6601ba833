// Package lab builds a local cluster of simulated API Manager nodes reached
// over SSH: one in-process SSH server per node on a 127.0.0.1 port, each
// with its own host key and its own directory holding the simulated product
// (tasks/apim/apimsim) at an older update level, plus an inventory written
// the way an operator would write it, a client key, a known_hosts file with
// the nodes' host keys, and an updated pack one level higher.
//
// `drover lab up` and the tests use it alike: Create lays the lab out on
// disk, Serve starts its SSH servers, StartProducts starts API Manager on
// every node, and Stop undoes both.
package lab

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/drover-sh/drover/tasks/apim"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/transport/sshtest"
)

// NodeSpec is one node of a lab.
type NodeSpec struct {
	Name    string `json:"name"`
	Profile string `json:"profile"`
	// Distribution is the pack the node runs; "" for the release's default
	// for the profile (4.5+: e.g. "all-in-one" for a mixed cluster).
	Distribution string `json:"distribution,omitempty"`
	// Systemd lays the node out under a simulated systemd unit
	// (DefaultUnit, see systemd.go) and declares it in the inventory with
	// service { manager = "systemd" }.
	Systemd bool `json:"systemd,omitempty"`
}

// Spec describes a lab to create.
type Spec struct {
	Dir     string
	Version string // default 4.4.0
	Level   int    // update level the nodes run; the pack is one higher (default 11)
	Nodes   []NodeSpec
	// SimBin is the simulator binary the product scripts exec.
	SimBin string
	// Rollout is the body of the inventory's rollout block; "" for the
	// lab's defaults.
	Rollout string
	// StartDelay and StopDelay set the simulated server's timings ("" for
	// its defaults).
	StartDelay, StopDelay string
	// Profiles adds lines to the inventory's profile blocks, by profile
	// (such as a jvm block or an env map).
	Profiles map[string]string
}

// DefaultNodes is the lab's default 4.x cluster: 2 control planes, 2
// traffic managers, 2 gateways.
func DefaultNodes() []NodeSpec {
	return []NodeSpec{
		{Name: "cp-1", Profile: "control-plane"}, {Name: "cp-2", Profile: "control-plane"},
		{Name: "tm-1", Profile: "traffic-manager"}, {Name: "tm-2", Profile: "traffic-manager"},
		{Name: "gw-1", Profile: "gateway-worker"}, {Name: "gw-2", Profile: "gateway-worker"},
	}
}

// DefaultNodesSpec is the --nodes default for a release: the 3.x way (a key
// manager, a traffic manager, a publisher, a developer portal, two
// gateways) before 4.0, DefaultNodes up to 4.4, and from 4.5 two control
// planes, two traffic managers and three universal gateways.
func DefaultNodesSpec(version string) string {
	switch {
	case catalog.Less(version, "4.0.0"):
		return "km=1,tm=1,pub=1,dev=1,gw=2"
	case catalog.Less(version, "4.5.0"):
		return "cp=2,tm=2,gw=2"
	default:
		return "cp=2,tm=2,gw=3"
	}
}

// nodeKeys maps the --nodes keys to the release's profile names.
func nodeKeys(r *catalog.Release) (keys []string, profiles map[string]string) {
	profiles = map[string]string{}
	add := func(key, profile string) {
		if r.ValidProfile(profile) {
			keys, profiles[key] = append(keys, key), profile
		}
	}
	add("cp", catalog.ProfileControlPlane)
	for _, km := range []string{"api-key-manager", "api-key-manager-deprecated", "api-key-manager-node", catalog.ProfileKeyManager} {
		add("km", km)
	}
	for _, pub := range []string{"api-publisher", "api-publisher-deprecated"} {
		add("pub", pub)
	}
	for _, dev := range []string{"api-devportal", "api-devportal-deprecated"} {
		add("dev", dev)
	}
	add("aio", catalog.ProfileAllInOne)
	add("tm", catalog.ProfileTrafficManager)
	add("gw", catalog.ProfileGateway)
	return keys, profiles
}

// MaxNodes is the most nodes a lab takes (see `drover lab up --help` for
// what one costs).
const MaxNodes = 500

// ParseNodes reads a --nodes spec such as "cp=2,tm=2,gw=4" for a 4.4 lab.
func ParseNodes(spec string) ([]NodeSpec, error) { return ParseNodesFor(spec, "4.4.0") }

// ParseNodesFor reads a --nodes spec for a release: cp (control-plane),
// km (the release's key manager profile), pub, dev (3.x-4.1 publisher and
// developer portal), aio (4.5+ all-in-one), tm, gw. A key may name the
// pack its nodes run after a slash, for a mixed 4.5+ cluster:
// tm/all-in-one=2 runs two traffic managers on the all-in-one pack.
func ParseNodesFor(spec, version string) ([]NodeSpec, error) {
	r, err := catalog.Lookup(version)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	keys, profiles := nodeKeys(r)
	var out []NodeSpec
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, dist, mixed := strings.Cut(k, "/")
		var n int
		if _, err := fmt.Sscan(v, &n); !ok || err != nil || n < 0 || n > MaxNodes || profiles[k] == "" {
			return nil, fmt.Errorf("lab: --nodes %q: write it as %s (API Manager %s has %s; at most %d nodes in all)",
				spec, DefaultNodesSpec(r.Version), r.Version, strings.Join(keys, ", "), MaxNodes)
		}
		name := k
		if mixed {
			d := r.Distribution(dist)
			if d == nil || !d.RunsProfile(profiles[k]) {
				return nil, fmt.Errorf("lab: --nodes %q: API Manager %s has no pack %q that runs %s", spec, r.Version, dist, profiles[k])
			}
			name = k + "-" + map[string]string{catalog.AllInOne: "aio", catalog.APIControlPlane: "acp", catalog.UniversalGateway: "ugw", catalog.TrafficManager: "tmp"}[dist]
		}
		for i := 1; i <= n; i++ {
			out = append(out, NodeSpec{Name: fmt.Sprintf("%s-%d", name, i), Profile: profiles[k], Distribution: dist})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lab: --nodes %q has no node", spec)
	}
	if len(out) > MaxNodes {
		return nil, fmt.Errorf("lab: --nodes %q makes %d nodes; a lab takes at most %d", spec, len(out), MaxNodes)
	}
	return out, nil
}

// Node is one node of a created lab.
type Node struct {
	Name    string `json:"name"`
	Profile string `json:"profile"`
	// Distribution is the pack the node runs (all-in-one up to 4.4).
	Distribution string `json:"distribution"`
	// Dir is the node's own directory; Home the product directory in it.
	Dir     string `json:"dir"`
	Home    string `json:"home"`
	SSHPort int    `json:"ssh_port"`
	Offset  int    `json:"offset"`
	// Unit is the simulated systemd unit that runs the node's server, ""
	// when its startup script does.
	Unit string `json:"unit,omitempty"`
}

// Lab is a created lab, as recorded in <dir>/lab.json.
type Lab struct {
	Dir        string `json:"dir"`
	Version    string `json:"version"`
	Level      int    `json:"level"`
	Inventory  string `json:"inventory"`
	ClientKey  string `json:"client_key"`
	KnownHosts string `json:"known_hosts"`
	Pack       string `json:"pack"`
	// Packs are the updated packs by distribution (one per distribution the
	// lab runs); Pack is the first node's.
	Packs  map[string]string `json:"packs"`
	SimBin string            `json:"sim_bin"`
	Nodes  []*Node           `json:"nodes"`

	// listeners are the nodes' SSH listeners, bound by Create and kept open
	// until Serve serves on them, so no other program can take a port
	// between the lab choosing it and serving it.
	listeners map[string]net.Listener
	mu        sync.Mutex // guards the inventory and lab.json while nodes start at once
}

func manifest(dir string) string { return filepath.Join(dir, "lab.json") }

// Load reads a lab created earlier.
func Load(dir string) (*Lab, error) {
	b, err := os.ReadFile(manifest(dir))
	if err != nil {
		return nil, fmt.Errorf("lab: no lab in %s (%v); create one with: drover lab up --dir %s", dir, err, dir)
	}
	var l Lab
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", manifest(dir), err)
	}
	return &l, nil
}

func (l *Lab) save() error {
	b, _ := json.MarshalIndent(l, "", "  ")
	return os.WriteFile(manifest(l.Dir), append(b, '\n'), 0o644)
}

// hostKeyFile is where a node's SSH host key is kept, so the lab's
// known_hosts stays valid across `lab up` and `lab down`.
func (n *Node) hostKeyFile() string { return filepath.Join(n.Dir, "ssh_host_ed25519_key") }

// Create lays a lab out in spec.Dir (which must be empty or absent). The
// nodes' SSH ports stay bound (by the returned Lab) until Serve, or until
// ListenerFiles hands them to another process and CloseListeners.
func Create(spec Spec) (_ *Lab, err error) {
	if spec.Version == "" {
		spec.Version = "4.4.0"
	}
	rel, err := catalog.Lookup(spec.Version)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	spec.Version = rel.Version
	if spec.Level == 0 {
		spec.Level = 11
	}
	if len(spec.Nodes) == 0 {
		if spec.Nodes, err = ParseNodesFor(DefaultNodesSpec(rel.Version), rel.Version); err != nil {
			return nil, err
		}
	}
	for _, ns := range spec.Nodes {
		if !rel.ValidProfile(ns.Profile) {
			return nil, fmt.Errorf("lab: node %s: API Manager %s has no profile %q", ns.Name, rel.Version, ns.Profile)
		}
	}
	dir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("lab: %s is not empty; take the lab there down (drover lab down --dir %s) or pick another --dir", dir, dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "packs"), 0o755); err != nil {
		return nil, err
	}
	offsets, err := apimsim.FreeOffsets(len(spec.Nodes))
	if err != nil {
		return nil, err
	}
	l := &Lab{
		Dir: dir, Version: spec.Version, Level: spec.Level, SimBin: spec.SimBin,
		Inventory:  filepath.Join(dir, "drover.hcl"),
		ClientKey:  filepath.Join(dir, "id_ed25519"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
		Packs:      map[string]string{},
		listeners:  map[string]net.Listener{},
	}
	defer func() {
		if err != nil {
			l.CloseListeners()
		}
	}()
	if _, err := sshtest.ClientKey(l.ClientKey); err != nil {
		return nil, err
	}
	var known strings.Builder
	for i, ns := range spec.Nodes {
		d := rel.DefaultDistribution(ns.Profile)
		if ns.Distribution != "" {
			if d = rel.Distribution(ns.Distribution); d == nil || !d.RunsProfile(ns.Profile) {
				return nil, fmt.Errorf("lab: node %s: API Manager %s has no pack %q that runs %s", ns.Name, rel.Version, ns.Distribution, ns.Profile)
			}
		}
		n := &Node{Name: ns.Name, Profile: ns.Profile, Distribution: d.Name, Dir: filepath.Join(dir, "nodes", ns.Name), Offset: offsets[i]}
		n.Home = filepath.Join(n.Dir, "wso2", d.Product)
		if err := apimsim.Layout(n.Home, apimsim.Spec{Version: spec.Version, Distribution: d.Name, Level: spec.Level, SimBin: spec.SimBin}); err != nil {
			return nil, err
		}
		if l.Packs[d.Name] == "" {
			l.Packs[d.Name] = filepath.Join(dir, "packs", fmt.Sprintf("%s-u%d.zip", d.Product, spec.Level+1))
		}
		if l.Pack == "" {
			l.Pack = l.Packs[d.Name]
		}
		if err := apimsim.SetOffset(n.Home, n.Offset); err != nil {
			return nil, err
		}
		if spec.StartDelay != "" || spec.StopDelay != "" {
			if err := apimsim.WriteFaults(n.Home, apimsim.Faults{StartDelay: spec.StartDelay, StopDelay: spec.StopDelay}); err != nil {
				return nil, err
			}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("lab: node %s: %w", n.Name, err)
		}
		l.listeners[n.Name] = ln
		n.SSHPort = ln.Addr().(*net.TCPAddr).Port
		pub, err := hostKey(n.hostKeyFile())
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&known, "[127.0.0.1]:%d %s", n.SSHPort, pub)
		l.Nodes = append(l.Nodes, n)
		if ns.Systemd {
			n.Unit = DefaultUnit
			if err := l.InstallUnit(n, n.Unit, apim.EnvFilePath); err != nil {
				return nil, err
			}
		}
	}
	if err := os.WriteFile(l.KnownHosts, []byte(known.String()), 0o600); err != nil {
		return nil, err
	}
	for dist, pack := range l.Packs {
		if err := apimsim.BuildPack(pack, apimsim.Spec{Version: spec.Version, Distribution: dist, Level: spec.Level + 1, SimBin: spec.SimBin}); err != nil {
			return nil, err
		}
	}
	if err := l.writeInventory(spec.Rollout, spec.Profiles); err != nil {
		return nil, err
	}
	return l, l.save()
}
