package inventory

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// builder turns the parsed sources into an Inventory, collecting every
// problem instead of stopping at the first.
type builder struct {
	loader *Loader
	srcs   []source
	inv    *Inventory

	diags hcl.Diagnostics
	ctx   *hcl.EvalContext

	clusterBlock *hcl.Block
	sshBlock     *hcl.Block
	sshRaw       *located[rawSSH]
	// sshBase is the ssh block laid over the built-in defaults, resolved
	// once so that its problems are reported once.
	sshBase      SSH
	updateBlock  *hcl.Block
	rolloutBlock *hcl.Block
	profiles     []*located[*hcl.Block]
	nodes        []*located[*hcl.Block]
	persist      []*located[*hcl.Attribute]
	carry        []*located[*hcl.Attribute]
	vars         []*located[*hcl.Attribute]
	envAttrs     []*located[*hcl.Attribute]
	jvmBlock     *hcl.Block
	serviceBlock *hcl.Block
	// rootRuntime is the top-level jvm block, env map and service block:
	// the cluster's runtime defaults.
	rootRuntime runtimeLayer
	specs       map[string]*profileSpec
	// shownVars and shownNodeVars are the cluster's and each node's vars
	// with env() values hidden, for hook commands shown in plans and logs.
	shownVars     map[string]string
	shownNodeVars map[string]map[string]string
}

// located pairs a value with the folder of the file it came from, which
// relative paths in it are resolved against.
type located[T any] struct {
	v   T
	dir string
}

func (b *builder) errorf(rng *hcl.Range, summary, format string, args ...any) {
	b.diags = append(b.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng,
	})
}

func (b *builder) warnf(rng *hcl.Range, summary, format string, args ...any) {
	b.diags = append(b.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng,
	})
}

func (b *builder) decode(body hcl.Body, ctx *hcl.EvalContext, v any) bool {
	d := gohcl.DecodeBody(body, ctx, v)
	b.diags = append(b.diags, d...)
	return !d.HasErrors()
}

func (b *builder) build() hcl.Diagnostics {
	b.collect()
	if b.diags.HasErrors() {
		return b.diags
	}
	if !b.cluster() {
		return b.diags
	}
	b.ctx = b.baseContext()
	b.globals()
	b.update()
	b.rollout()
	b.sshDefaults()
	b.rootRuntime = b.rootRuntimeLayer()
	b.profileBlocks()
	b.nodeBlocks()
	if !b.diags.HasErrors() {
		b.crossChecks()
	}
	return dedupe(b.diags)
}

// dedupe drops repeated diagnostics: an expression shared by a profile's
// nodes is evaluated once per node, but a mistake in it is one mistake.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		subject         hcl.Range
	}
	seen := map[key]bool{}
	out := diags[:0:0]
	for _, d := range diags {
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.subject = *d.Subject
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// collect sorts the top-level blocks of every file by type and reports
// duplicates of the blocks that may appear once.
func (b *builder) collect() {
	var sshDir string
	var clusterFirst *hcl.Block
	for _, s := range b.srcs {
		content, d := s.file.Body.Content(rootSchema)
		b.diags = append(b.diags, d...)
		if content == nil {
			continue
		}
		for _, name := range []string{"persist", "carry", "vars", "env"} {
			if a, ok := content.Attributes[name]; ok {
				l := &located[*hcl.Attribute]{a, s.dir}
				switch name {
				case "persist":
					b.persist = append(b.persist, l)
				case "carry":
					b.carry = append(b.carry, l)
				case "vars":
					b.vars = append(b.vars, l)
				default:
					b.envAttrs = append(b.envAttrs, l)
				}
			}
		}
		for _, blk := range content.Blocks {
			switch blk.Type {
			case "cluster":
				if clusterFirst != nil {
					b.errorf(blk.DefRange.Ptr(), "Duplicate cluster block",
						"An inventory describes exactly one cluster; %q was already defined at %s. Remove one of the two cluster blocks.",
						clusterFirst.Labels[0], clusterFirst.DefRange)
					continue
				}
				clusterFirst = blk
			case "ssh":
				if b.once(&b.sshBlock, blk) {
					sshDir = s.dir
				}
			case "update":
				b.once(&b.updateBlock, blk)
			case "rollout":
				b.once(&b.rolloutBlock, blk)
			case "jvm":
				b.once(&b.jvmBlock, blk)
			case "service":
				b.once(&b.serviceBlock, blk)
			case "profile":
				b.profiles = append(b.profiles, &located[*hcl.Block]{blk, s.dir})
			case "node":
				b.nodes = append(b.nodes, &located[*hcl.Block]{blk, s.dir})
			}
		}
	}
	b.clusterBlock = clusterFirst
	if b.sshBlock != nil {
		var raw rawSSH
		if b.decode(b.sshBlock.Body, b.envOnlyContext(), &raw) {
			b.sshRaw = &located[rawSSH]{raw, sshDir}
		}
	}
	if len(b.persist) > 1 {
		b.errorf(b.persist[1].v.NameRange.Ptr(), "Duplicate persist list",
			"persist was already set at %s. Keep one list with every path.", b.persist[0].v.NameRange)
	}
	if len(b.carry) > 1 {
		b.errorf(b.carry[1].v.NameRange.Ptr(), "Duplicate carry list",
			"carry was already set at %s. Keep one list with every path.", b.carry[0].v.NameRange)
	}
	if len(b.vars) > 1 {
		b.errorf(b.vars[1].v.NameRange.Ptr(), "Duplicate vars",
			"vars was already set at %s. Keep one map.", b.vars[0].v.NameRange)
	}
	if len(b.envAttrs) > 1 {
		b.errorf(b.envAttrs[1].v.NameRange.Ptr(), "Duplicate env",
			"env was already set at %s. Keep one map.", b.envAttrs[0].v.NameRange)
	}
}

// once keeps the first block of a kind that may appear once and reports
// any other; it returns whether blk was kept.
func (b *builder) once(slot **hcl.Block, blk *hcl.Block) bool {
	if *slot != nil {
		b.errorf(blk.DefRange.Ptr(), "Duplicate "+blk.Type+" block",
			"Only one %s block is allowed; the first is at %s. Merge the two blocks into one.", blk.Type, (*slot).DefRange)
		return false
	}
	*slot = blk
	return true
}

// cluster reads the cluster block; without a usable cluster nothing else can
// be checked (profile names depend on the version).
func (b *builder) cluster() bool {
	if b.clusterBlock == nil {
		rng := hcl.Range{Filename: b.srcs[0].name, Start: hcl.InitialPos, End: hcl.InitialPos}
		b.errorf(&rng, "Missing cluster block",
			"An inventory needs exactly one cluster block, for example:\n\ncluster \"apim-prod\" {\n  product = \"wso2am\"\n  version = \"4.4.0\"\n  home    = \"/opt/wso2/wso2am-4.4.0\"\n}")
		return false
	}
	blk := b.clusterBlock
	var raw rawCluster
	if !b.decode(blk.Body, b.envOnlyContext(), &raw) {
		return false
	}
	c := &b.inv.Cluster
	c.Name = blk.Labels[0]
	c.Range = blk.DefRange
	if !nodeNameRe.MatchString(c.Name) {
		b.errorf(blk.LabelRanges[0].Ptr(), "Invalid cluster name",
			"Cluster name %q must start with a letter or digit and hold only letters, digits, '.', '_' and '-' (it names the cluster in locks, journals and plans), for example \"apim-prod\".", c.Name)
	}
	c.Product = Product
	if raw.Product != nil && *raw.Product != Product {
		b.errorf(attrRange(blk.Body, "product"), "Unsupported product",
			"drover supports product = %q (WSO2 API Manager) only; %q is not known.", Product, *raw.Product)
	}
	if raw.Version == nil {
		b.errorf(blk.DefRange.Ptr(), "Missing version",
			"The cluster block needs the API Manager release, for example version = \"4.4.0\": it selects the profile names, scripts and defaults.")
		return false
	}
	v, err := ParseVersion(*raw.Version)
	if err != nil {
		b.errorf(attrRange(blk.Body, "version"), "Invalid version", "%s. Write the release as in the pack name, for example \"4.4.0\".", capitalize(err.Error()))
		return false
	}
	d, err := DefaultsFor(v)
	if err != nil {
		b.errorf(attrRange(blk.Body, "version"), "Unsupported version", "%s.", capitalize(err.Error()))
		return false
	}
	c.Version, b.inv.Defaults = v, d
	if raw.Home == nil {
		b.errorf(blk.DefRange.Ptr(), "Missing home",
			"The cluster block needs home, the absolute product directory on the nodes, for example home = \"/opt/wso2/wso2am-%s\".", v)
		return false
	}
	if h, ok := b.checkHome(*raw.Home, attrRange(blk.Body, "home")); ok {
		c.Home = h
	}
	return true
}

// checkHome validates a remote product directory.
func (b *builder) checkHome(h string, rng *hcl.Range) (string, bool) {
	if !path.IsAbs(h) {
		b.errorf(rng, "Relative home",
			"home %q must be an absolute path on the node, such as \"/opt/wso2/wso2am-%s\" (\"~\" is not expanded on nodes).", h, b.inv.Cluster.Version)
		return "", false
	}
	clean := path.Clean(h)
	if clean == "/" || path.Dir(clean) == "/" {
		b.errorf(rng, "Unsafe home",
			"home %q is too close to the root: drover keeps its state and the previous release beside home, in %s. Use a product directory at least two levels deep, such as /opt/wso2/wso2am-%s.", h, path.Dir(clean), b.inv.Cluster.Version)
		return "", false
	}
	return clean, true
}

// globals reads the persist and carry lists and the vars map.
func (b *builder) globals() {
	d := b.inv.Defaults
	b.inv.Persist = slices.Clone(d.Persist)
	b.inv.OptionalPersist = slices.Clone(d.OptionalPersist)
	if len(b.persist) > 0 {
		a := b.persist[0].v
		var list []string
		if diags := gohcl.DecodeExpression(a.Expr, b.ctx, &list); diags.HasErrors() {
			b.diags = append(b.diags, diags...)
		}
		for _, p := range list {
			if !validRelPath(p) {
				b.errorf(a.Expr.Range().Ptr(), "Invalid persist path",
					"%q must be a path relative to the product home that stays inside it, such as \"solr/data\".", p)
				continue
			}
			p = path.Clean(p)
			if !slices.Contains(b.inv.Persist, p) {
				b.inv.Persist = append(b.inv.Persist, p)
			}
		}
	}
	b.inv.OptionalPersist = slices.DeleteFunc(b.inv.OptionalPersist, func(p string) bool {
		return slices.Contains(b.inv.Persist, p)
	})
	if len(b.carry) > 0 {
		a := b.carry[0].v
		var list []string
		if diags := gohcl.DecodeExpression(a.Expr, b.ctx, &list); diags.HasErrors() {
			b.diags = append(b.diags, diags...)
		}
		for _, p := range list {
			if !validRelPath(p) {
				b.errorf(a.Expr.Range().Ptr(), "Invalid carry path",
					"%q must be a path relative to the product home that stays inside it, such as \"repository/conf/jndi.properties\" or \"bin/custom-env.sh\".", p)
				continue
			}
			if p = path.Clean(p); !slices.Contains(b.inv.Carry, p) {
				b.inv.Carry = append(b.inv.Carry, p)
			}
		}
	}
	if len(b.vars) > 0 {
		var vars map[string]string
		b.diags = append(b.diags, gohcl.DecodeExpression(b.vars[0].v.Expr, b.ctx, &vars)...)
		b.shownVars = b.shownValues(b.vars[0].v.Expr)
		b.inv.Cluster.Vars = vars
		b.ctx = b.baseContext()
	}
}

// validRelPath reports whether p is relative and stays below its base.
func validRelPath(p string) bool {
	if p == "" || path.IsAbs(p) {
		return false
	}
	c := path.Clean(p)
	return c != "." && c != ".." && !strings.HasPrefix(c, "../")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// exprString evaluates an optional expression to a string; ok is false when
// the expression is absent.
func (b *builder) exprString(expr hcl.Expression, ctx *hcl.EvalContext) (string, bool) {
	if expr == nil {
		return "", false
	}
	val, d := expr.Value(ctx)
	if d.HasErrors() {
		b.diags = append(b.diags, d...)
		return "", false
	}
	if val.IsNull() {
		return "", false
	}
	var s string
	if d := gohcl.DecodeExpression(&staticExpr{val, expr.Range()}, ctx, &s); d.HasErrors() {
		b.diags = append(b.diags, d...)
		return "", false
	}
	return s, true
}

// isSet reports whether an optional expression was written.
func isSet(expr hcl.Expression) bool {
	if expr == nil {
		return false
	}
	v, d := expr.Value(nil)
	return d.HasErrors() || !v.IsNull()
}

// staticExpr is an already evaluated value that keeps its source range.
type staticExpr struct {
	v   cty.Value
	rng hcl.Range
}

func (e *staticExpr) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) { return e.v, nil }
func (e *staticExpr) Variables() []hcl.Traversal                          { return nil }
func (e *staticExpr) Range() hcl.Range                                    { return e.rng }
func (e *staticExpr) StartRange() hcl.Range                               { return e.rng }

func joinQuoted(list []string) string {
	out := ""
	for i, s := range list {
		if i > 0 {
			out += ", "
		}
		out += `"` + s + `"`
	}
	return out
}
