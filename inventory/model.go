// Package inventory loads and checks drover's HCL inventory: the cluster, its
// nodes by profile, how to reach them, and how to roll an update across them.
//
// Load keeps the parsed sources so that every problem is reported as an HCL
// diagnostic with its file, line, column and source snippet. Values that
// depend on a node (hooks, health checks, managed files) are resolved per
// node at load time, so later stages see plain strings.
package inventory

import (
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Inventory is a loaded and validated inventory.
type Inventory struct {
	// Path is the file or directory the inventory was loaded from.
	Path    string
	Cluster Cluster
	Update  Update
	Rollout Rollout
	// Persist is the full list of paths carried across an update: the
	// release defaults followed by the inventory's own entries.
	Persist []string
	// OptionalPersist are carried only when a node has them.
	OptionalPersist []string
	// Carry lists the inventory's own configuration paths (relative to
	// home, cleaned, no duplicates) carried from the running release into
	// the staged one before it starts, overwriting the new release's copy,
	// in addition to what the product carries.
	Carry    []string
	Profiles map[string]*Profile
	// Nodes in inventory order (file order, files sorted by name).
	Nodes    []*Node
	Defaults Defaults
	// Digest is the sha256 of the inventory sources, for plan files.
	Digest string

	// secrets are the values env() resolved, for Redact; never serialized.
	secrets secrets
}

// Cluster is the cluster block.
type Cluster struct {
	Name    string
	Product string
	Version Version
	Home    string
	Vars    map[string]string
	// Range is where the cluster block is declared (its type and label).
	Range hcl.Range
}

// SSH holds how to reach a node. Zero values mean "not set": later layers
// (ssh_config, built-in defaults) fill them.
type SSH struct {
	User           string
	Port           int
	IdentityFiles  []string
	KnownHosts     string
	HostKeyPolicy  string
	Jump           []string
	Become         string
	ConnectTimeout time.Duration
}

// Strategy names.
const (
	SideBySide = "side-by-side"
	InPlace    = "in-place"
)

// Update is the update block.
type Update struct {
	Strategy string
	// Pack is the absolute path of the updated product zip (side-by-side).
	Pack   string
	SHA256 string
	// Level is the target update level (in-place), 0 when unset.
	Level int
	// ResetLocalData leaves the local H2 databases and the Solr index
	// behind: the new release starts with the pack's own (after the
	// operator moved what they hold, e.g. across an H2 format change).
	ResetLocalData bool
	// Range is where the update block is declared; nil when the inventory
	// has none (commands that do not roll an update need none).
	Range *hcl.Range
	// PackRange is the pack attribute's value; nil when pack is unset.
	PackRange *hcl.Range
}

// Rollout is the rollout block with defaults applied.
type Rollout struct {
	Order          []string
	MaxUnavailable Amount
	FailureBudget  int
	AutoRollback   bool
	HealthTimeout  time.Duration
	MinHealthyTime time.Duration
	StopTimeout    time.Duration
}

// Amount is a node count given as a number or a percentage.
type Amount struct {
	N       int
	Percent bool
}

// Of resolves the amount against a group of total nodes: a percentage is
// rounded down, the result is never below 1 and never above the group (so
// "100%" and a count larger than the group both mean the whole group).
func (a Amount) Of(total int) int {
	n := a.N
	if a.Percent {
		n = total * a.N / 100
	}
	return max(min(n, total), 1)
}

func (a Amount) String() string {
	if a.Percent {
		return strconv.Itoa(a.N) + "%"
	}
	return strconv.Itoa(a.N)
}

// Profile is a profile block, or the implied settings of a profile that has
// no block.
type Profile struct {
	Name string
	// MaxUnavailable overrides the rollout's value when Set.
	MaxUnavailable    Amount
	MaxUnavailableSet bool
	// Pack and SHA256 override the update block's for this profile's nodes
	// (4.5+ split distributions: one pack per distribution); "" when unset.
	Pack      string
	SHA256    string
	PackRange *hcl.Range
	// Home overrides the cluster's home for this profile's nodes; "" when unset.
	Home string
	// Distribution names the pack the profile's nodes run ("all-in-one",
	// "api-control-plane", ...); "" means the release's default for the profile.
	Distribution string
	DeclRange    hcl.Range
}

// PackFor returns the pack (and its expected sha256) for a node's profile:
// the profile block's when it names one, else the update block's.
func (inv *Inventory) PackFor(profile string) (pack, sha string) {
	if p := inv.Profiles[profile]; p != nil && p.Pack != "" {
		return p.Pack, p.SHA256
	}
	return inv.Update.Pack, inv.Update.SHA256
}

// Health check kinds.
const (
	HealthHTTP    = "http"
	HealthTCP     = "tcp"
	HealthLog     = "log"
	HealthCommand = "command"
)

// HealthCheck is one resolved check of a node. Ports already include the
// node's offset.
type HealthCheck struct {
	Kind        string `json:"kind"`
	URL         string `json:"url,omitempty"`
	Status      int    `json:"status,omitempty"`
	InsecureTLS bool   `json:"insecure_tls,omitempty"`
	Port        int    `json:"port,omitempty"`
	Pattern     string `json:"pattern,omitempty"`
	Run         string `json:"run,omitempty"`
	// Default is true for checks that come from the release defaults.
	Default bool `json:"default,omitempty"`
}

// Hook events.
const (
	BeforeStop   = "before_stop"
	AfterStart   = "after_start"
	AfterHealthy = "after_healthy"
	OnFailure    = "on_failure"
)

// Hook is one resolved hook command of a node.
type Hook struct {
	Event string `json:"event"`
	// Where is "local" (run on the controller) or "remote" (on the node).
	Where   string `json:"where"`
	Command string `json:"-"`
	// Display is Command with the values of env() calls hidden, for plans
	// and logs.
	Display string `json:"command"`
	// Dir is the directory local hooks run in: the inventory file's folder.
	Dir string `json:"-"`
}

// File is one managed configuration file of a node.
type File struct {
	// Path is relative to the product home.
	Path string `json:"path"`
	// Source is the absolute local path of the file or template.
	Source   string `json:"source"`
	Template bool   `json:"template"`
	// Mode is the file mode, 0 to keep the mode the file has.
	Mode uint32 `json:"mode,omitempty"`
	// NoRestart marks a file (restart = false) whose change needs no
	// restart of the server.
	NoRestart bool `json:"no_restart,omitempty"`
	// Content is the rendered content for this node.
	Content []byte `json:"-"`
	// Shown is Content rendered with every env() value replaced by
	// "(env NAME)": what plans show of the file.
	Shown []byte `json:"-"`
	// Generated names the settings a file drover renders itself comes
	// from ("jvm/env" for the node's environment file); "" for the
	// operator's file blocks.
	Generated string `json:"generated,omitempty"`
}

// Service managers.
const (
	ManagerScript  = "script"
	ManagerSystemd = "systemd"
)

// Service is how a node's server is started and stopped: by the product's
// startup script (the default) or by a systemd unit.
type Service struct {
	Manager string `json:"manager"`
	// Unit is the systemd unit (systemd only), such as "wso2am.service".
	Unit string `json:"unit,omitempty"`
}

// Systemd reports whether a systemd unit runs the node's server.
func (s Service) Systemd() bool { return s.Manager == ManagerSystemd }

// JVM is a node's jvm settings, resolved node > profile > cluster: each
// heap size on its own, options as a whole list (a lower level's list
// replaces a higher one's).
type JVM struct {
	// HeapMin and HeapMax are sizes such as "512m" or "4g"; "" when unset.
	HeapMin string `json:"heap_min,omitempty"`
	HeapMax string `json:"heap_max,omitempty"`
	// Options are passed to the JVM as they are.
	Options []string `json:"-"`
	// ShownOptions are Options with env() values hidden.
	ShownOptions []string `json:"options,omitempty"`
}

// IsZero reports whether no jvm setting is made.
func (j JVM) IsZero() bool { return j.HeapMin == "" && j.HeapMax == "" && len(j.Options) == 0 }

// EnvVar is one variable of a node's startup environment.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"-"`
	// Shown is Value with env() values hidden.
	Shown string `json:"value"`
}

// Node is a node with every inherited setting resolved.
type Node struct {
	Name    string
	Profile string
	// Distribution is the pack the node runs ("all-in-one" up to 4.4; from
	// 4.5 by default the split pack that carries its profile).
	Distribution string
	Host         string
	Home         string
	Offset       int
	SSH          SSH
	Vars         map[string]string
	Health       []HealthCheck
	Hooks        []Hook
	Files        []File
	// JVM, Env (sorted by name) and Service are the runtime settings, each
	// resolved node > profile > cluster (env merges by name).
	JVM     JVM
	Env     []EnvVar
	Service Service
	// Index is the node's position in inventory order.
	Index     int
	DeclRange hcl.Range
}

// Address returns host:port for display, with port 22 when none is set.
// An IPv6 host is bracketed.
func (n *Node) Address() string {
	return net.JoinHostPort(n.Host, strconv.Itoa(n.SSH.EffectivePort()))
}

// HooksFor returns the node's hooks for one event, in inventory order.
func (n *Node) HooksFor(event string) []Hook {
	var out []Hook
	for _, h := range n.Hooks {
		if h.Event == event {
			out = append(out, h)
		}
	}
	return out
}

// MaxUnavailable returns how many nodes of a profile may be down at once.
func (inv *Inventory) MaxUnavailable(profile string) int {
	total := len(inv.NodesOf(profile))
	if p := inv.Profiles[profile]; p != nil && p.MaxUnavailableSet {
		return p.MaxUnavailable.Of(total)
	}
	return inv.Rollout.MaxUnavailable.Of(total)
}

// NodesOf returns the nodes of one profile in inventory order.
func (inv *Inventory) NodesOf(profile string) []*Node {
	var out []*Node
	for _, n := range inv.Nodes {
		if n.Profile == profile {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node with that name, or nil.
func (inv *Inventory) Node(name string) *Node {
	for _, n := range inv.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Wave returns the position of a profile in the rollout order.
func (inv *Inventory) Wave(profile string) int {
	for i, p := range inv.Rollout.Order {
		if p == profile {
			return i
		}
	}
	return len(inv.Rollout.Order)
}

// EffectivePort is the SSH port, 22 when none is set.
func (s SSH) EffectivePort() int {
	if s.Port == 0 {
		return 22
	}
	return s.Port
}
