package inventory

import (
	"errors"
	"strings"
	"testing"
)

const selectInv = header44 + `
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.11"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "10.0.0.13"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
}
node "cp-2" {
  profile = "control-plane"
  host    = "10.0.0.12"
}
node "km-1" {
  profile = "api-key-manager-node"
  host    = "10.0.0.31"
}
`

func names(nodes []*Node) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, " ")
}

func TestSelect(t *testing.T) {
	inv := loadSrc(t, selectInv, nil)
	tests := []struct {
		name      string
		selectors []string
		want      string
	}{
		// rollout order is the 4.4 default: control-plane, api-key-manager-node, traffic-manager, gateway-worker
		{"all", nil, "cp-1 cp-2 km-1 tm-1 gw-1 gw-2"},
		{"one name", []string{"gw-2"}, "gw-2"},
		{"glob", []string{"gw-*"}, "gw-1 gw-2"},
		{"glob with class", []string{"*-[12]"}, "cp-1 cp-2 km-1 tm-1 gw-1 gw-2"},
		{"profile", []string{"profile:gateway-worker"}, "gw-1 gw-2"},
		{"profile glob", []string{"profile:*-manager*"}, "km-1 tm-1"},
		{"comma-separated", []string{"gw-2,cp-1"}, "cp-1 gw-2"},
		{"repeated", []string{"gw-2", "profile:traffic-manager"}, "tm-1 gw-2"},
		{"overlap counted once", []string{"gw-*", "gw-1", "profile:gateway-worker"}, "gw-1 gw-2"},
		{"spaces and empty terms", []string{" gw-1 , ,cp-2"}, "cp-2 gw-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inv.Select(tt.selectors)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("Select(%q) = %s, want %s", tt.selectors, names(got), tt.want)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	inv := loadSrc(t, selectInv, nil)
	tests := []struct {
		selectors []string
		selector  string // SelectError.Selector
		contains  string
	}{
		{[]string{"gw-9"}, "gw-9", "matches no node"},
		{[]string{"gw-1,gw-3"}, "gw-3", `did you mean "gw-1"`},
		{[]string{"gw-1", "db-*"}, "db-*", "matches no node"},
		{[]string{"profile:gateway"}, "profile:gateway", "matches no profile"},
		{[]string{"profile:gateway-workers"}, "profile:gateway-workers", `did you mean "gateway-worker"`},
		{[]string{"gw-["}, "gw-[", "not a valid glob"},
		{[]string{","}, ",", "is empty"},
	}
	for _, tt := range tests {
		_, err := inv.Select(tt.selectors)
		var se *SelectError
		if !errors.As(err, &se) {
			t.Errorf("Select(%q) error = %v, want a *SelectError", tt.selectors, err)
			continue
		}
		if se.Selector != tt.selector {
			t.Errorf("Select(%q) names selector %q, want %q", tt.selectors, se.Selector, tt.selector)
		}
		if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), tt.selector) {
			t.Errorf("Select(%q) = %q, want it to name %q and say %q", tt.selectors, err, tt.selector, tt.contains)
		}
	}
}

func TestOrderedFollowsRolloutOrder(t *testing.T) {
	inv := loadSrc(t, selectInv+`
rollout {
  order = ["gateway-worker", "api-key-manager-node", "traffic-manager", "control-plane"]
}
`, nil)
	if got, want := names(inv.Ordered()), "gw-1 gw-2 km-1 tm-1 cp-1 cp-2"; got != want {
		t.Errorf("Ordered() = %s, want %s", got, want)
	}
	if w := inv.Wave("traffic-manager"); w != 2 {
		t.Errorf("Wave(traffic-manager) = %d, want 2", w)
	}
	if got := names(inv.NodesOf("control-plane")); got != "cp-1 cp-2" {
		t.Errorf("NodesOf(control-plane) = %s", got)
	}
	if inv.Node("tm-1") == nil || inv.Node("tm-9") != nil {
		t.Error("Node() lookup is wrong")
	}
}
