package cli

import (
	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
)

// redactSink passes events on with every env() value and secret of the
// inventory replaced by "(env NAME)": whatever renders them (the live view,
// log lines, JSON lines) never sees a secret.
func redactSink(inv *inventory.Inventory, s tasks.Sink) tasks.Sink {
	if s == nil || !inv.HasSecrets() {
		return s
	}
	return func(ev tasks.Event) {
		ev.Message, ev.Error = inv.Redact(ev.Message), inv.Redact(ev.Error)
		s(ev)
	}
}

// redactPlan replaces secrets in every text of a plan that can carry
// command output or file content: reasons, errors, step summaries and
// details (managed-file diffs), warnings. The plan file and plan --json are
// written from the redacted plan; fingerprints and digests hold no text of
// that kind and are left alone, so drift checks are unaffected.
func redactPlan(inv *inventory.Inventory, p *rollout.Plan) {
	if p == nil || !inv.HasSecrets() {
		return
	}
	node := func(n *rollout.NodePlan) {
		n.Reason, n.Host = inv.Redact(n.Reason), inv.Redact(n.Host)
		redactFacts(inv, n.Facts)
		for i := range n.Steps {
			st := &n.Steps[i]
			st.Summary = inv.Redact(st.Summary)
			for k, d := range st.Details {
				st.Details[k] = inv.Redact(d)
			}
		}
	}
	for w := range p.Waves {
		wv := &p.Waves[w]
		for b := range wv.Batches {
			for i := range wv.Batches[b].Nodes {
				node(&wv.Batches[b].Nodes[i])
			}
		}
		for i := range wv.Skipped {
			node(&wv.Skipped[i])
		}
	}
	for i, wn := range p.Warnings {
		p.Warnings[i] = inv.Redact(wn)
	}
	p.Inventory = inv.Redact(p.Inventory)
	for _, k := range p.ProfilePacks {
		k.Path = inv.Redact(k.Path)
	}
	if p.Pack != nil {
		p.Pack.Path = inv.Redact(p.Pack.Path)
	}
}

// redactFacts replaces secrets in the texts of a node's facts.
func redactFacts(inv *inventory.Inventory, f *tasks.Facts) {
	if f == nil || !inv.HasSecrets() {
		return
	}
	f.Host, f.Error, f.UnhealthyBecause = inv.Redact(f.Host), inv.Redact(f.Error), inv.Redact(f.UnhealthyBecause)
}
