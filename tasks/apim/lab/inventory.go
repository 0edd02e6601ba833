package lab

import (
	"fmt"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
)

// defaultRollout is the lab's rollout block; writeInventory adds the order
// (every profile of the lab, in the release's default order).
const defaultRollout = `  max_unavailable  = 1
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = "2m"
  min_healthy_time = "3s"
  stop_timeout     = "30s"`

// gatewayTemplate is the managed deployment.toml of the lab's gateways. It
// shows templating: ${node...} is filled per node; $${...} is WSO2's own
// placeholder syntax, written through untouched.
const gatewayTemplate = `# Managed by drover: rendered for ${node.name} (${cluster.name}).
[server]
hostname = "localhost"
offset = ${node.offset}
server_role = "gateway-worker"

[super_admin]
username = "admin"
password = "admin"
create_admin_account = true

[apim.key_manager]
service_url = "https://localhost:$${mgt.transport.https.port}/services/"

[[apim.gateway.environment]]
name = "Default"
type = "hybrid"
http_endpoint = "http://localhost:$${http.nio.port}"
https_endpoint = "https://localhost:$${https.nio.port}"

[apim.throttling]
enable_data_publishing = true
`

// lbScript stands in for a load balancer: it records what drover asks of it.
const lbScript = `#!/bin/sh
# A stand-in load balancer: records drain/enable requests in lb.log.
echo "$(date +%H:%M:%S) $1 $2" >> "$(dirname "$0")/lb.log"
`

// rolloutOrder is the rollout order of the lab's profiles: the release's
// default order (inventory.DefaultsFor), then any other profile the lab has.
func (l *Lab) rolloutOrder() []string {
	var order []string
	if v, err := inventory.ParseVersion(l.Version); err == nil {
		if d, err := inventory.DefaultsFor(v); err == nil {
			for _, p := range d.Profiles {
				if slices.ContainsFunc(l.Nodes, func(n *Node) bool { return n.Profile == p }) {
					order = append(order, p)
				}
			}
		}
	}
	for _, n := range l.Nodes {
		if !slices.Contains(order, n.Profile) {
			order = append(order, n.Profile)
		}
	}
	return order
}

func (l *Lab) writeInventory(rollout string, extra map[string]string) error {
	if rollout == "" {
		quoted := make([]string, 0, 4)
		for _, p := range l.rolloutOrder() {
			quoted = append(quoted, strconv.Quote(p))
		}
		rollout = "  order            = [" + strings.Join(quoted, ", ") + "]\n" + defaultRollout
	}
	pack, err := tasks.OpenPack(l.Pack, "")
	if err != nil {
		return err
	}
	sum := pack.SHA256
	name := "wso2"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# A local lab cluster made by drover lab up: %d simulated API Manager %s nodes,
# each reached over SSH on 127.0.0.1 with its own host key and product directory.
# Every node overrides home because the nodes share this machine.

cluster "lab" {
  product = "wso2am"
  version = %q
  home    = %q
}

ssh {
  user            = %q
  identity_files  = ["id_ed25519"]
  known_hosts     = "known_hosts"
  host_key_policy = "strict"
  connect_timeout = "10s"
}

update {
  strategy = "side-by-side"
  pack     = %q
  sha256   = %q
}

rollout {
%s
}
`, len(l.Nodes), l.Version, l.Version, l.Nodes[0].Home, name, "packs/"+filepath.Base(l.Pack), sum, rollout)
	// Profiles whose nodes run another distribution than the first node's
	// (4.5+ split packs) name their own pack.
	for _, prof := range l.rolloutOrder() {
		var body []string
		if i := slices.IndexFunc(l.Nodes, func(n *Node) bool { return n.Profile == prof }); i >= 0 {
			if d := l.Nodes[i].Distribution; l.defaultDistribution(prof) != d {
				body = append(body, fmt.Sprintf("  distribution = %q", d))
			}
			if pk := l.Packs[l.Nodes[i].Distribution]; pk != "" && pk != l.Pack {
				p, err := tasks.OpenPack(pk, "")
				if err != nil {
					return err
				}
				body = append(body, fmt.Sprintf("  pack   = %q\n  sha256 = %q", "packs/"+filepath.Base(pk), p.SHA256))
			}
		}
		if prof == inventory.GatewayWorker {
			body = append(body, `  hook "before_stop" { local = "./lb.sh drain ${node.name}" }
  hook "after_healthy" { local = "./lb.sh enable ${node.name}" }
  file "repository/conf/deployment.toml" { template = "templates/gateway.toml" }`)
		}
		if x := extra[prof]; x != "" {
			body = append(body, x)
		}
		if len(body) > 0 {
			fmt.Fprintf(&b, "\nprofile %q {\n%s\n}\n", prof, strings.Join(body, "\n"))
		}
	}
	for _, n := range l.Nodes {
		svc := ""
		if n.Unit != "" {
			svc = fmt.Sprintf("  service {\n    manager = \"systemd\"\n    unit    = %q\n  }\n", n.Unit)
		}
		fmt.Fprintf(&b, "\nnode %q {\n  profile = %q\n  host    = \"127.0.0.1\"\n  port    = %d\n  offset  = %d\n  home    = %q\n%s}\n",
			n.Name, n.Profile, n.SSHPort, n.Offset, n.Home, svc)
	}
	if err := os.MkdirAll(filepath.Join(l.Dir, "templates"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "templates", "gateway.toml"), []byte(gatewayTemplate), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "lb.sh"), []byte(lbScript), 0o755); err != nil {
		return err
	}
	return os.WriteFile(l.Inventory, []byte(b.String()), 0o644)
}

// setNodeAttr rewrites a number attribute (offset, port) of node name in
// the lab's inventory, leaving everything else as it is.
func setNodeAttr(file, name, attr string, value int) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?s)(node\s+` + regexp.QuoteMeta(strconv.Quote(name)) + `\s*\{[^}]*?\b` + attr + `\s*=\s*)\d+`)
	loc := re.FindSubmatchIndex(b)
	if loc == nil {
		return fmt.Errorf("lab: %s: no %s in the block of node %q", file, attr, name)
	}
	out := append(append(append([]byte(nil), b[:loc[3]]...), strconv.Itoa(value)...), b[loc[1]:]...)
	return os.WriteFile(file, out, 0o644)
}

// setKnownHostsPort moves the known_hosts entry of 127.0.0.1:from to port to.
func setKnownHostsPort(file string, from, to int) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	old := fmt.Sprintf("[127.0.0.1]:%d ", from)
	if !strings.Contains(string(b), old) {
		return fmt.Errorf("lab: %s has no entry for 127.0.0.1:%d", file, from)
	}
	out := strings.Replace(string(b), old, fmt.Sprintf("[127.0.0.1]:%d ", to), 1)
	return os.WriteFile(file, []byte(out), 0o600)
}

// defaultDistribution is the pack the release runs a profile on when the
// inventory does not say.
func (l *Lab) defaultDistribution(profile string) string {
	if r, err := catalog.Lookup(l.Version); err == nil {
		return r.DefaultDistribution(profile).Name
	}
	return ""
}
