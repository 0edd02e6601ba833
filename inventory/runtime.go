package inventory

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// runtimeLayer is one level's runtime settings: the top level (the
// cluster's defaults), a profile block or a node block. A lower level
// overrides a higher one setting by setting: heap_min, heap_max, manager
// and unit each on their own, options as a whole list, env name by name.
type runtimeLayer struct {
	jvm      *rawJVM
	jvmBlock *hcl.Block
	env      hcl.Expression
	service  *rawService
	svcBlock *hcl.Block
}

var (
	heapRe    = regexp.MustCompile(`^([1-9][0-9]*)([kKmMgGtT]?)$`)
	envNameRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	unitRe    = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+$`)
)

// EnvFileSource is what File.Generated says of the environment file.
const EnvFileSource = "jvm/env"

// rootRuntimeLayer reads the top-level jvm and service blocks and env map.
func (b *builder) rootRuntimeLayer() runtimeLayer {
	var l runtimeLayer
	if b.jvmBlock != nil {
		b.runtimeBlock(&l, b.jvmBlock)
	}
	if b.serviceBlock != nil {
		b.runtimeBlock(&l, b.serviceBlock)
	}
	if len(b.envAttrs) > 0 {
		l.env = b.envAttrs[0].v.Expr
	}
	return l
}

// runtimeBlock decodes a jvm or service block into l.
func (b *builder) runtimeBlock(l *runtimeLayer, blk *hcl.Block) {
	switch blk.Type {
	case "jvm":
		if l.jvmBlock != nil {
			b.errorf(blk.DefRange.Ptr(), "Duplicate jvm block", "A jvm block was already given at %s. Merge the two blocks into one.", l.jvmBlock.DefRange)
			return
		}
		var raw rawJVM
		if b.decode(blk.Body, b.ctx, &raw) {
			l.jvm, l.jvmBlock = &raw, blk
			b.checkJVM(&raw, blk.Body)
		}
	case "service":
		if l.svcBlock != nil {
			b.errorf(blk.DefRange.Ptr(), "Duplicate service block", "A service block was already given at %s. Merge the two blocks into one.", l.svcBlock.DefRange)
			return
		}
		var raw rawService
		if b.decode(blk.Body, b.ctx, &raw) {
			l.service, l.svcBlock = &raw, blk
			b.checkService(&raw, blk.Body)
		}
	}
}

// nodeRuntimeLayer is a node block's runtime settings (decoded with the
// rest of the node).
func (b *builder) nodeRuntimeLayer(blk *hcl.Block, raw *rawNode) runtimeLayer {
	l := runtimeLayer{env: raw.Env}
	sb, _ := blk.Body.(*hclsyntax.Body)
	find := func(typ string) *hcl.Block {
		if sb == nil {
			return nil
		}
		for _, x := range sb.Blocks {
			if x.Type == typ {
				return x.AsHCLBlock()
			}
		}
		return nil
	}
	if raw.JVM != nil {
		l.jvm, l.jvmBlock = raw.JVM, find("jvm")
		if l.jvmBlock != nil {
			b.checkJVM(raw.JVM, l.jvmBlock.Body)
		}
	}
	if raw.Service != nil {
		l.service, l.svcBlock = raw.Service, find("service")
		if l.svcBlock != nil {
			b.checkService(raw.Service, l.svcBlock.Body)
		}
	}
	return l
}

// checkJVM checks the heap sizes of one jvm block.
func (b *builder) checkJVM(raw *rawJVM, body hcl.Body) {
	for _, h := range []struct {
		name string
		v    *string
	}{{"heap_min", raw.HeapMin}, {"heap_max", raw.HeapMax}} {
		if h.v != nil && !heapRe.MatchString(*h.v) {
			b.errorf(attrRange(body, h.name), "Invalid heap size",
				"%s = %q is not a heap size. Write a whole number with a unit as the JVM takes it (-Xms/-Xmx), such as \"512m\" or \"4g\".", h.name, *h.v)
		}
	}
}

// checkService checks one service block.
func (b *builder) checkService(raw *rawService, body hcl.Body) {
	if raw.Manager != nil && *raw.Manager != ManagerScript && *raw.Manager != ManagerSystemd {
		b.errorf(attrRange(body, "manager"), "Unknown service manager",
			"manager %q is not known%s. Use \"script\" (the product's startup script, the default) or \"systemd\" (systemctl start/stop of unit).",
			*raw.Manager, didYouMean(*raw.Manager, []string{ManagerScript, ManagerSystemd}))
	}
	if raw.Unit != nil && !unitRe.MatchString(*raw.Unit) {
		b.errorf(attrRange(body, "unit"), "Invalid unit name",
			"unit %q is not a systemd unit name. Write the unit's name as systemctl shows it, such as \"wso2am.service\".", *raw.Unit)
	}
}

// heapBytes returns a heap size in bytes, for comparing heap_min and
// heap_max.
func heapBytes(s string) (float64, bool) {
	m := heapRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[strings.ToLower(m[2])]
	return n * mult, true
}

// resolveRuntime lays the cluster's, the profile's and the node's runtime
// settings over each other, checks the result and adds the environment
// file to the node's managed files.
func (b *builder) resolveRuntime(n *Node, spec *profileSpec, node runtimeLayer) {
	layers := []runtimeLayer{b.rootRuntime}
	if spec != nil {
		layers = append(layers, spec.runtime)
	}
	layers = append(layers, node)
	real, display := b.nodeContexts(n)

	n.Service = Service{Manager: ManagerScript}
	var managerRange, heapMaxRange *hcl.Range
	var optExpr hcl.Expression
	env := map[string]EnvVar{}
	for _, l := range layers {
		if s := l.service; s != nil {
			if s.Manager != nil {
				n.Service.Manager = *s.Manager
				managerRange = attrRange(l.svcBlock.Body, "manager")
			}
			if s.Unit != nil {
				n.Service.Unit = *s.Unit
			}
		}
		if j := l.jvm; j != nil {
			if j.HeapMin != nil {
				n.JVM.HeapMin = *j.HeapMin
			}
			if j.HeapMax != nil {
				n.JVM.HeapMax = *j.HeapMax
				heapMaxRange = attrRange(l.jvmBlock.Body, "heap_max")
			}
			if isSet(j.Options) {
				optExpr = j.Options
			}
		}
		if isSet(l.env) {
			var vals, shown map[string]string
			if d := gohcl.DecodeExpression(l.env, real, &vals); d.HasErrors() {
				b.diags = append(b.diags, d...)
				continue
			}
			gohcl.DecodeExpression(l.env, display, &shown)
			for name, v := range vals {
				env[name] = EnvVar{Name: name, Value: v, Shown: shown[name]}
			}
			b.checkEnv(l.env, vals)
		}
	}
	if n.Service.Systemd() && n.Service.Unit == "" {
		b.errorf(managerRange, "Missing unit",
			"Node %q is managed by systemd but no service block names its unit. Add unit = \"wso2am.service\" (the unit that runs %s) next to manager.", n.Name, n.Home)
	}
	if n.Service.Manager == ManagerScript {
		n.Service.Unit = ""
	}
	if optExpr != nil {
		var opts, shown []string
		if d := gohcl.DecodeExpression(optExpr, real, &opts); d.HasErrors() {
			b.diags = append(b.diags, d...)
		} else {
			gohcl.DecodeExpression(optExpr, display, &shown)
			n.JVM.Options, n.JVM.ShownOptions = opts, shown
			b.checkOptions(optExpr, opts)
		}
	}
	if lo, ok1 := heapBytes(n.JVM.HeapMin); ok1 {
		if hi, ok2 := heapBytes(n.JVM.HeapMax); ok2 && lo > hi {
			b.errorf(heapMaxRange, "Heap minimum above maximum",
				"Node %q gets heap_min = %q and heap_max = %q: the JVM refuses to start when the initial heap is larger than the maximum. Raise heap_max or lower heap_min.",
				n.Name, n.JVM.HeapMin, n.JVM.HeapMax)
		}
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		n.Env = append(n.Env, env[k])
	}
	if n.JVM.IsZero() && len(n.Env) == 0 {
		return
	}
	if b.loader.EnvFile == nil {
		b.errorf(n.DeclRange.Ptr(), "jvm and env not supported here",
			"Node %q has jvm or env settings, but this program has no product to render them for. Use drover itself to read this inventory.", n.Name)
		return
	}
	p, content, shown, err := b.loader.EnvFile(n)
	if err != nil {
		b.errorf(n.DeclRange.Ptr(), "Invalid jvm or env settings", "Node %q: %s.", n.Name, capitalize(err.Error()))
		return
	}
	for _, f := range n.Files {
		if f.Path == p {
			b.errorf(n.DeclRange.Ptr(), "Managed file clashes with the environment file",
				"Node %q manages %s with a file block, but drover writes that file itself from the node's jvm and env settings. Remove the file block, or set the variables in env.", n.Name, p)
			return
		}
	}
	n.Files = append(n.Files, File{Path: p, Source: "(" + EnvFileSource + " settings)", Content: content, Shown: shown, Generated: EnvFileSource})
}

// checkEnv checks the names and values of one env map.
func (b *builder) checkEnv(expr hcl.Expression, vals map[string]string) {
	rng := expr.Range()
	keys := map[string]hcl.Range{}
	if obj, ok := expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, it := range obj.Items {
			if k, d := it.KeyExpr.Value(nil); !d.HasErrors() && k.Type().FriendlyName() == "string" {
				keys[k.AsString()] = it.KeyExpr.Range()
			}
		}
	}
	at := func(name string) *hcl.Range {
		if r, ok := keys[name]; ok {
			return &r
		}
		return &rng
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !envNameRe.MatchString(k) {
			b.errorf(at(k), "Invalid environment variable name",
				"%q is not a variable name the startup environment can carry. Use upper-case letters, digits and '_', not starting with a digit, such as JAVA_HOME.", k)
		}
		if strings.ContainsAny(vals[k], "\n\r\x00") {
			b.errorf(at(k), "Invalid environment value",
				"The value of %s holds a line break or NUL, which an environment file cannot carry. Put it on one line.", k)
		}
	}
}

// checkOptions checks a resolved options list.
func (b *builder) checkOptions(expr hcl.Expression, opts []string) {
	rng := expr.Range()
	elems := []hcl.Expression(nil)
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range t.Exprs {
			elems = append(elems, e)
		}
	}
	at := func(i int) *hcl.Range {
		if i < len(elems) {
			r := elems[i].Range()
			return &r
		}
		return &rng
	}
	for i, o := range opts {
		switch {
		case strings.HasPrefix(o, "-Xms") || strings.HasPrefix(o, "-Xmx"):
			attr := "heap_min"
			if strings.HasPrefix(o, "-Xmx") {
				attr = "heap_max"
			}
			b.errorf(at(i), "Heap size in options",
				"%q sets the heap: write it as %s = %q in the jvm block, so drover passes it where the product's startup script expects it.", o, attr, strings.ToLower(o[4:]))
		case !strings.HasPrefix(o, "-"):
			b.errorf(at(i), "Invalid JVM option",
				"%q is not a JVM option: each entry of options is one argument starting with '-', such as \"-XX:+UseG1GC\" or \"-Dfoo=bar\".", o)
		case strings.ContainsAny(o, "\n\r\x00"):
			b.errorf(at(i), "Invalid JVM option", "%q holds a line break or NUL. Put each option on one line.", o)
		case strings.ContainsAny(o, " \t"):
			b.errorf(at(i), "JVM option with a space",
				"%q holds a space: the product's startup script splits its JVM options at spaces, so it would reach the JVM as several arguments. Write one option per list entry, without spaces.", o)
		}
	}
}

// String is a heap size and options for display, as in plans.
func (j JVM) String() string {
	var parts []string
	if j.HeapMin != "" {
		parts = append(parts, "heap_min "+j.HeapMin)
	}
	if j.HeapMax != "" {
		parts = append(parts, "heap_max "+j.HeapMax)
	}
	if len(j.ShownOptions) > 0 {
		parts = append(parts, fmt.Sprintf("options %s", strings.Join(j.ShownOptions, " ")))
	}
	return strings.Join(parts, ", ")
}
