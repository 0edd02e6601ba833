package inventory

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/transport"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// profileSpec is a checked profile block whose per-node values are still
// expressions.
type profileSpec struct {
	block  *hcl.Block
	dir    string
	health []*healthSpec
	hooks  []*hookSpec
	files  []*fileSpec
	// runtime is the profile's jvm block, env map and service block.
	runtime runtimeLayer
}

type healthSpec struct {
	kind  string
	raw   rawHealth
	block *hcl.Block
}

type hookSpec struct {
	event string
	raw   rawHook
	block *hcl.Block
}

type fileSpec struct {
	path      string
	source    string
	template  bool
	mode      uint32
	noRestart bool
	block     *hcl.Block
}

var nodeNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (b *builder) profileBlocks() map[string]*profileSpec {
	specs := map[string]*profileSpec{}
	for _, lp := range b.profiles {
		blk := lp.v
		name := blk.Labels[0]
		if !b.inv.Defaults.ValidProfile(name) {
			b.errorf(blk.LabelRanges[0].Ptr(), "Unknown profile", "%s", b.unknownProfileDetail(name))
			continue
		}
		if prev, ok := specs[name]; ok {
			b.errorf(blk.DefRange.Ptr(), "Duplicate profile block",
				"Profile %q was already configured at %s. Merge the two blocks into one.", name, prev.block.DefRange)
			continue
		}
		spec := b.profileSpec(blk, lp.dir)
		specs[name] = spec
		p := &Profile{Name: name, DeclRange: blk.DefRange}
		b.inv.Profiles[name] = p
		content, d := blk.Body.Content(profileSchema)
		b.diags = append(b.diags, d...)
		if a, ok := content.Attributes["max_unavailable"]; ok {
			if amt, ok := b.amount(a.Expr, "max_unavailable"); ok {
				p.MaxUnavailable, p.MaxUnavailableSet = amt, true
			}
		}
		b.profilePack(p, content, lp.dir)
	}
	b.specs = specs
	return specs
}

// profileSpec checks the health, hook and file blocks of a profile.
func (b *builder) profileSpec(blk *hcl.Block, dir string) *profileSpec {
	spec := &profileSpec{block: blk, dir: dir}
	content, _ := blk.Body.Content(profileSchema) // errors are reported by the caller
	if content == nil {
		return spec
	}
	if a, ok := content.Attributes["env"]; ok {
		spec.runtime.env = a.Expr
	}
	for _, hb := range content.Blocks {
		switch hb.Type {
		case "jvm", "service":
			b.runtimeBlock(&spec.runtime, hb)
		case "health":
			if h := b.healthSpec(hb); h != nil {
				spec.health = append(spec.health, h)
			}
		case "hook":
			if h := b.hookSpec(hb); h != nil {
				spec.hooks = append(spec.hooks, h)
			}
		case "file":
			if f := b.fileSpec(hb, dir, spec.files); f != nil {
				spec.files = append(spec.files, f)
			}
		}
	}
	return spec
}

func (b *builder) nodeBlocks() {
	seen := map[string]*hcl.Block{}
	for i, ln := range b.nodes {
		blk := ln.v
		name := blk.Labels[0]
		if !nodeNameRe.MatchString(name) {
			b.errorf(blk.LabelRanges[0].Ptr(), "Invalid node name",
				"Node name %q must start with a letter or digit and hold only letters, digits, '.', '_' and '-' (it is used in --limit selectors and file names).", name)
			continue
		}
		if prev, ok := seen[name]; ok {
			b.errorf(blk.LabelRanges[0].Ptr(), "Duplicate node",
				"A node named %q was already defined at %s. Node names must be unique: rename one of the two.", name, prev.DefRange)
			continue
		}
		seen[name] = blk
		if n := b.node(blk, ln.dir, i); n != nil {
			b.inv.Nodes = append(b.inv.Nodes, n)
		}
	}
	if len(b.nodes) == 0 {
		b.warnf(b.clusterBlock.DefRange.Ptr(), "No nodes",
			"The inventory defines no node blocks, so there is nothing to update. Add one per server, for example:\n\nnode \"gw-1\" {\n  profile = \"gateway-worker\"\n  host    = \"10.0.0.21\"\n}")
	}
}

func (b *builder) node(blk *hcl.Block, dir string, index int) *Node {
	var raw rawNode
	if !b.decode(blk.Body, b.ctx, &raw) {
		return nil
	}
	n := &Node{Name: blk.Labels[0], Index: index, DeclRange: blk.DefRange, Vars: raw.Vars}
	if sb, ok := blk.Body.(*hclsyntax.Body); ok && sb.Attributes["vars"] != nil {
		if b.shownNodeVars == nil {
			b.shownNodeVars = map[string]map[string]string{}
		}
		b.shownNodeVars[n.Name] = b.shownValues(sb.Attributes["vars"].Expr)
	}
	ok := true
	switch {
	case raw.Profile == nil:
		b.errorf(blk.DefRange.Ptr(), "Missing profile",
			"Node %q has no profile. Add one of the profiles of API Manager %s, for example profile = %q. Valid profiles: %s.",
			n.Name, b.inv.Cluster.Version, GatewayWorker, joinQuoted(b.inv.Defaults.Profiles))
		ok = false
	case !b.inv.Defaults.ValidProfile(*raw.Profile):
		b.errorf(attrRange(blk.Body, "profile"), "Unknown profile", "%s", b.unknownProfileDetail(*raw.Profile))
		ok = false
	default:
		n.Profile = *raw.Profile
		n.Distribution, n.Home = b.distributionOf(n.Profile)
	}
	if raw.Host == nil || *raw.Host == "" {
		b.errorf(blk.DefRange.Ptr(), "Missing host",
			"Node %q has no host. Add the address drover connects to over SSH, for example host = \"10.0.0.21\".", n.Name)
		ok = false
	} else {
		n.Host = *raw.Host
	}
	if raw.Home != nil {
		if h, good := b.checkHome(*raw.Home, attrRange(blk.Body, "home")); good {
			n.Home = h
		} else {
			ok = false
		}
	}
	if raw.Offset != nil {
		if *raw.Offset < 0 || *raw.Offset > 65535-9763 {
			b.errorf(attrRange(blk.Body, "offset"), "Invalid offset",
				"offset %d must be between 0 and %d: it shifts every WSO2 port (9443, 9763, ...) and they must stay below 65536.", *raw.Offset, 65535-9763)
			ok = false
		}
		n.Offset = *raw.Offset
	}
	n.SSH = b.resolveSSH(b.sshBase, raw.ssh(), blk.Body, dir)
	if !ok {
		return nil
	}
	b.resolveNode(n, b.specs[n.Profile])
	b.resolveRuntime(n, b.specs[n.Profile], b.nodeRuntimeLayer(blk, &raw))
	return n
}

// sshDefaults resolves the ssh block over the built-in defaults, once.
func (b *builder) sshDefaults() {
	b.sshBase = SSH{HostKeyPolicy: transport.PolicyStrict, ConnectTimeout: transport.DefaultConnectTimeout}
	if b.sshRaw != nil {
		b.sshBase = b.resolveSSH(b.sshBase, b.sshRaw.v, b.sshBlock.Body, b.sshRaw.dir)
	}
}

// crossChecks look at the inventory as a whole.
func (b *builder) crossChecks() {
	inv := b.inv
	if b.rolloutBlock != nil {
		for _, n := range inv.Nodes {
			if !slices.Contains(inv.Rollout.Order, n.Profile) {
				b.errorf(attrRange(b.nodeBlock(n).Body, "profile"), "Profile not in rollout order",
					"Node %q has profile %q, which rollout.order (%s) leaves out, so it would never be updated. Add %q to rollout.order.",
					n.Name, n.Profile, joinQuoted(inv.Rollout.Order), n.Profile)
			}
		}
	}
	for _, lp := range b.profiles { // source order, for stable output
		name := lp.v.Labels[0]
		if p := inv.Profiles[name]; p != nil && p.DeclRange == lp.v.DefRange && len(inv.NodesOf(name)) == 0 {
			b.warnf(p.DeclRange.Ptr(), "Profile without nodes",
				"No node has profile %q, so this block has no effect. Check the nodes' profile names.", name)
		}
	}
	seen := map[string]*Node{}
	for _, n := range inv.Nodes {
		key := strings.ToLower(n.Host) + ":" + strconv.Itoa(n.SSH.EffectivePort())
		if prev, ok := seen[key]; ok {
			rng := attrRange(b.nodeBlock(n).Body, "host")
			b.warnf(rng, "Two nodes at one address",
				"Node %q connects to %s, like node %q defined at %s. Unless they are distinct products on one host with different homes, one of them is probably a copy-paste mistake: check host and port.",
				n.Name, n.Address(), prev.Name, prev.DeclRange)
			continue
		}
		seen[key] = n
	}
}

func (b *builder) nodeBlock(n *Node) *hcl.Block {
	return b.nodes[n.Index].v
}

// profilePack reads a profile block's pack, sha256, home and distribution.
func (b *builder) profilePack(p *Profile, content *hcl.BodyContent, dir string) {
	str := func(name string) (string, *hcl.Range, bool) {
		a, ok := content.Attributes[name]
		if !ok {
			return "", nil, false
		}
		s, good := b.exprString(a.Expr, b.ctx)
		return s, a.Expr.Range().Ptr(), good && s != ""
	}
	if s, rng, ok := str("pack"); ok {
		p.Pack, p.PackRange = b.loader.expandPath(dir, s), rng
	}
	if s, rng, ok := str("sha256"); ok {
		if sum, good := b.sha256(s, rng); good {
			p.SHA256 = sum
		}
	}
	if s, rng, ok := str("home"); ok {
		if h, good := b.checkHome(s, rng); good {
			p.Home = h
		}
	}
	if s, rng, ok := str("distribution"); ok {
		r := b.inv.Defaults.Release
		var names []string
		for _, d := range r.Distributions {
			names = append(names, d.Name)
		}
		switch d := r.Distribution(s); {
		case d == nil:
			b.errorf(rng, "Unknown distribution",
				"API Manager %s ships %s; %q is not one of them%s.", r.Version, joinQuoted(names), s, didYouMean(s, names))
		case !d.RunsProfile(p.Name):
			b.errorf(rng, "Distribution cannot run this profile",
				"The %s pack (%s) runs %s, not %q. Remove distribution to use the default for %q (%s), or move these nodes to another profile.",
				d.Name, d.Product, joinQuoted(d.Runs), p.Name, p.Name, r.DefaultDistribution(p.Name).Name)
		default:
			p.Distribution = d.Name
		}
	}
}

// distributionOf resolves the distribution and default home of a profile's
// nodes. Home comes from the profile block, else from the cluster: when the
// cluster's home is named after one of the release's packs (such as
// /opt/wso2/wso2am-4.7.0), a node running another pack gets the sibling
// directory named after its own (/opt/wso2/wso2am-universal-gw-4.7.0), as
// the packs unzip.
func (b *builder) distributionOf(profile string) (dist, home string) {
	r := b.inv.Defaults.Release
	d := r.DefaultDistribution(profile)
	if p := b.inv.Profiles[profile]; p != nil && p.Distribution != "" {
		d = r.Distribution(p.Distribution)
	}
	if p := b.inv.Profiles[profile]; p != nil && p.Home != "" {
		return d.Name, p.Home
	}
	home = b.inv.Cluster.Home
	for _, other := range r.Distributions {
		if path.Base(home) == other.Product && home != "" {
			return d.Name, path.Join(path.Dir(home), d.Product)
		}
	}
	return d.Name, home
}
