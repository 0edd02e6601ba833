package inventory

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// SelectError reports a --limit selector that is malformed or matches no
// node.
type SelectError struct {
	Selector string
	Reason   string
}

func (e *SelectError) Error() string {
	return fmt.Sprintf("inventory: --limit %q %s", e.Selector, e.Reason)
}

// Ordered returns every node in rollout order: by wave (the profile's place
// in rollout.order), then in inventory order.
func (inv *Inventory) Ordered() []*Node {
	out := append([]*Node(nil), inv.Nodes...)
	sort.SliceStable(out, func(i, j int) bool {
		wi, wj := inv.Wave(out[i].Profile), inv.Wave(out[j].Profile)
		if wi != wj {
			return wi < wj
		}
		return out[i].Index < out[j].Index
	})
	return out
}

// Select returns the nodes matched by any of the selectors, in rollout
// order. Each selector may hold several comma-separated terms: a node name,
// a glob such as "gw-*", or "profile:NAME" (NAME may be a glob too). With no
// selector every node is selected. A term that matches no node is an error,
// since it is almost always a typo.
func (inv *Inventory) Select(selectors []string) ([]*Node, error) {
	if len(selectors) == 0 {
		return inv.Ordered(), nil
	}
	picked := map[*Node]bool{}
	for _, sel := range selectors {
		for _, term := range strings.Split(sel, ",") {
			term = strings.TrimSpace(term)
			if term == "" {
				continue
			}
			matched, err := inv.match(term)
			if err != nil {
				return nil, err
			}
			for _, n := range matched {
				picked[n] = true
			}
		}
	}
	if len(picked) == 0 {
		return nil, &SelectError{Selector: strings.Join(selectors, ","), Reason: "is empty; give node names, globs such as \"gw-*\" or profile:NAME"}
	}
	var out []*Node
	for _, n := range inv.Ordered() {
		if picked[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (inv *Inventory) match(term string) ([]*Node, error) {
	field := func(n *Node) string { return n.Name }
	pattern := term
	if p, ok := strings.CutPrefix(term, "profile:"); ok {
		pattern = p
		field = func(n *Node) string { return n.Profile }
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, &SelectError{Selector: term, Reason: "is not a valid glob: " + err.Error()}
	}
	var out []*Node
	for _, n := range inv.Nodes {
		if ok, _ := path.Match(pattern, field(n)); ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, &SelectError{Selector: term, Reason: inv.noMatchHint(term, pattern, field)}
	}
	return out, nil
}

func (inv *Inventory) noMatchHint(term, pattern string, field func(*Node) string) string {
	var names []string
	seen := map[string]bool{}
	for _, n := range inv.Nodes {
		if v := field(n); !seen[v] {
			seen[v] = true
			names = append(names, v)
		}
	}
	what := "node"
	if strings.HasPrefix(term, "profile:") {
		what = "profile"
	}
	return fmt.Sprintf("matches no %s%s; the inventory has: %s", what, didYouMean(pattern, names), strings.Join(names, ", "))
}
