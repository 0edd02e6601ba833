package inventory

import "github.com/hashicorp/hcl/v2"

// The raw structures below mirror the HCL syntax one to one. Block structure
// is read with explicit schemas (so every block keeps its range); the
// attributes of each block are decoded with gohcl, which also reports unknown
// arguments with a "did you mean" suggestion. Pointers mark values whose
// absence matters; expressions are kept where a value depends on the node.

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "persist"},
		{Name: "carry"},
		{Name: "vars"},
		{Name: "env"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "cluster", LabelNames: []string{"name"}},
		{Type: "ssh"},
		{Type: "update"},
		{Type: "rollout"},
		{Type: "profile", LabelNames: []string{"name"}},
		{Type: "node", LabelNames: []string{"name"}},
		{Type: "jvm"},
		{Type: "service"},
	},
}

var profileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "max_unavailable"}, {Name: "pack"}, {Name: "sha256"}, {Name: "home"}, {Name: "distribution"},
		{Name: "env"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "jvm"},
		{Type: "service"},
		{Type: "health", LabelNames: []string{"kind"}},
		{Type: "hook", LabelNames: []string{"event"}},
		{Type: "file", LabelNames: []string{"path"}},
	},
}

type rawCluster struct {
	Product *string `hcl:"product,optional"`
	Version *string `hcl:"version,optional"`
	Home    *string `hcl:"home,optional"`
}

// rawSSH is the ssh block. Nodes may override any of its settings, so
// rawNode repeats its fields.
type rawSSH struct {
	User           *string  `hcl:"user,optional"`
	Port           *int     `hcl:"port,optional"`
	IdentityFiles  []string `hcl:"identity_files,optional"`
	KnownHosts     *string  `hcl:"known_hosts,optional"`
	HostKeyPolicy  *string  `hcl:"host_key_policy,optional"`
	Jump           []string `hcl:"jump,optional"`
	Become         *string  `hcl:"become,optional"`
	ConnectTimeout *string  `hcl:"connect_timeout,optional"`
}

type rawNode struct {
	Profile *string           `hcl:"profile,optional"`
	Host    *string           `hcl:"host,optional"`
	Home    *string           `hcl:"home,optional"`
	Offset  *int              `hcl:"offset,optional"`
	Vars    map[string]string `hcl:"vars,optional"`

	User           *string  `hcl:"user,optional"`
	Port           *int     `hcl:"port,optional"`
	IdentityFiles  []string `hcl:"identity_files,optional"`
	KnownHosts     *string  `hcl:"known_hosts,optional"`
	HostKeyPolicy  *string  `hcl:"host_key_policy,optional"`
	Jump           []string `hcl:"jump,optional"`
	Become         *string  `hcl:"become,optional"`
	ConnectTimeout *string  `hcl:"connect_timeout,optional"`

	// The node's runtime settings (runtime.go): jvm and service blocks,
	// an env map.
	Env     hcl.Expression `hcl:"env,optional"`
	JVM     *rawJVM        `hcl:"jvm,block"`
	Service *rawService    `hcl:"service,block"`
}

// rawJVM is a jvm block: heap sizes and JVM options.
type rawJVM struct {
	HeapMin *string        `hcl:"heap_min,optional"`
	HeapMax *string        `hcl:"heap_max,optional"`
	Options hcl.Expression `hcl:"options,optional"`
}

// rawService is a service block: how the node's server is started and
// stopped.
type rawService struct {
	Manager *string `hcl:"manager,optional"`
	Unit    *string `hcl:"unit,optional"`
}

func (n *rawNode) ssh() rawSSH {
	return rawSSH{
		User: n.User, Port: n.Port, IdentityFiles: n.IdentityFiles, KnownHosts: n.KnownHosts,
		HostKeyPolicy: n.HostKeyPolicy, Jump: n.Jump, Become: n.Become, ConnectTimeout: n.ConnectTimeout,
	}
}

type rawUpdate struct {
	Strategy *string `hcl:"strategy,optional"`
	Pack     *string `hcl:"pack,optional"`
	SHA256   *string `hcl:"sha256,optional"`
	Level    *int    `hcl:"level,optional"`
	// ResetLocalData starts the new release with the pack's own H2 files
	// and an empty Solr index instead of carrying the node's.
	ResetLocalData *bool `hcl:"reset_local_data,optional"`
}

type rawRollout struct {
	Order          []string       `hcl:"order,optional"`
	MaxUnavailable hcl.Expression `hcl:"max_unavailable,optional"`
	FailureBudget  *int           `hcl:"failure_budget,optional"`
	AutoRollback   *bool          `hcl:"auto_rollback,optional"`
	HealthTimeout  *string        `hcl:"health_timeout,optional"`
	MinHealthyTime *string        `hcl:"min_healthy_time,optional"`
	StopTimeout    *string        `hcl:"stop_timeout,optional"`
}

type rawHealth struct {
	URL         hcl.Expression `hcl:"url,optional"`
	Status      *int           `hcl:"status,optional"`
	InsecureTLS *bool          `hcl:"insecure_tls,optional"`
	Port        *int           `hcl:"port,optional"`
	Pattern     hcl.Expression `hcl:"pattern,optional"`
	Run         hcl.Expression `hcl:"run,optional"`
}

type rawHook struct {
	Local  hcl.Expression `hcl:"local,optional"`
	Remote hcl.Expression `hcl:"remote,optional"`
}

type rawFile struct {
	Source   *string `hcl:"source,optional"`
	Template *string `hcl:"template,optional"`
	Mode     *string `hcl:"mode,optional"`
	// Restart = false: a change of this file needs no restart of the
	// server (a load balancer include, a file the product rereads).
	Restart *bool `hcl:"restart,optional"`
}
