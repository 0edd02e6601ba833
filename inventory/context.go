package inventory

import (
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// envFunc builds the env("NAME") function. A redacting env function returns
// a placeholder instead of the value, so that what plans and logs show never
// holds a secret.
func envFunc(getenv func(string) string, redact bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if redact {
				return cty.StringVal("(env " + name + ")"), nil
			}
			return cty.StringVal(getenv(name)), nil
		},
	})
}

func (b *builder) envOnlyContext() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": envFunc(b.getenv, false)}}
}

// baseContext is what every expression sees: cluster, vars and env().
func (b *builder) baseContext() *hcl.EvalContext { return b.contextFor(false) }

// contextFor is the base context; with redact, env() yields placeholders
// and vars hold the placeholders of the env() calls they were built from,
// so nothing evaluated in it can show a secret.
func (b *builder) contextFor(redact bool) *hcl.EvalContext {
	c := b.inv.Cluster
	vars := c.Vars
	if redact {
		vars = b.shownVars
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"cluster": cty.ObjectVal(map[string]cty.Value{
				"name":    cty.StringVal(c.Name),
				"product": cty.StringVal(c.Product),
				"version": cty.StringVal(c.Version.String()),
				"home":    cty.StringVal(c.Home),
			}),
			"vars": stringMap(vars),
		},
		Functions: map[string]function.Function{"env": envFunc(b.getenv, redact)},
	}
}

// nodeContexts returns the context for one node's expressions, and the same
// context with env() redacted for display.
func (b *builder) nodeContexts(n *Node) (real, display *hcl.EvalContext) {
	mk := func(redact bool) *hcl.EvalContext {
		clusterVars, nodeVars := b.inv.Cluster.Vars, n.Vars
		if redact {
			clusterVars, nodeVars = b.shownVars, b.shownNodeVars[n.Name]
		}
		vars := map[string]string{}
		for k, v := range clusterVars {
			vars[k] = v
		}
		for k, v := range nodeVars {
			vars[k] = v
		}
		ctx := b.contextFor(redact)
		ctx.Variables["node"] = cty.ObjectVal(map[string]cty.Value{
			"name":    cty.StringVal(n.Name),
			"host":    cty.StringVal(n.Host),
			"profile": cty.StringVal(n.Profile),
			"home":    cty.StringVal(n.Home),
			"offset":  cty.NumberIntVal(int64(n.Offset)),
			"port":    cty.NumberIntVal(int64(n.SSH.EffectivePort())),
			"user":    cty.StringVal(n.SSH.User),
			"vars":    stringMap(nodeVars),
		})
		ctx.Variables["vars"] = stringMap(vars)
		return ctx
	}
	return mk(false), mk(true)
}

// shownValues evaluates a vars map again with env() redacted, for display.
// Errors were reported by the real evaluation.
func (b *builder) shownValues(expr hcl.Expression) map[string]string {
	var m map[string]string
	gohcl.DecodeExpression(expr, b.contextFor(true), &m)
	return m
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := map[string]cty.Value{}
	for _, k := range keys {
		vals[k] = cty.StringVal(m[k])
	}
	return cty.ObjectVal(vals)
}

// attrRange returns the range of an attribute's value in a native-syntax
// body, or the body's range when the attribute is absent.
func attrRange(body hcl.Body, name string) *hcl.Range {
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			r := a.Expr.Range()
			return &r
		}
	}
	r := body.MissingItemRange()
	return &r
}

// tupleElems returns the element expressions of a list attribute written
// as a literal, for per-element diagnostics.
func tupleElems(body hcl.Body, name string) []hcl.Expression {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	a, ok := sb.Attributes[name]
	if !ok {
		return nil
	}
	t, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil
	}
	out := make([]hcl.Expression, len(t.Exprs))
	for i, e := range t.Exprs {
		out[i] = e
	}
	return out
}
