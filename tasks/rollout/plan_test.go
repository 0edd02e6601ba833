package rollout_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden plans")

// TestBatchesProperties checks the batch arithmetic on random inputs:
// batches cover every node once, in order, none larger than the size, and
// only the last one smaller.
func TestBatchesProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		n, size := r.IntN(200), r.IntN(20)-2
		bs := rollout.Batches(n, size)
		eff := max(size, 1)
		next := 0
		for k, b := range bs {
			if b[0] != next || b[1] <= b[0] || b[1]-b[0] > eff {
				t.Fatalf("Batches(%d, %d)[%d] = %v", n, size, k, b)
			}
			if k < len(bs)-1 && b[1]-b[0] != eff {
				t.Fatalf("Batches(%d, %d): batch %d of %v is short but not last", n, size, k, bs)
			}
			next = b[1]
		}
		if next != n || len(bs) != (n+eff-1)/eff {
			t.Fatalf("Batches(%d, %d) = %v covers %d nodes", n, size, bs, next)
		}
	}
}

// TestMaxUnavailableNeverExceeded: whatever the profile size and the
// setting, a plan's batches never hold more nodes than max_unavailable
// allows, less the nodes of the profile already down.
func TestMaxUnavailableNeverExceeded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		gws, down := 1+r.IntN(12), 0
		amount := []string{"1", "2", "3", `"25%"`, `"50%"`, `"100%"`}[r.IntN(6)]
		inv := loadInline(t, fmt.Sprintf(`
cluster "c" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update { pack = %q }
rollout { max_unavailable = %s }
%s`, packPath(t), amount, nodesHCL(gws)))
		var probed []rollout.NodePlan
		for _, n := range inv.Nodes {
			np := rollout.NodePlan{Node: n.Name, Profile: n.Profile, Action: rollout.ActionUpdate, Facts: &tasks.Facts{Running: true, Reachable: true}}
			if r.IntN(5) == 0 {
				np.Action, down = rollout.ActionUnreachable, down+1
			}
			probed = append(probed, np)
		}
		p := rollout.Make(&rollout.Options{Inv: inv, Nodes: inv.Nodes}, probed)
		limit := inv.MaxUnavailable(inventory.GatewayWorker) - down
		total := 0
		for _, w := range p.Waves {
			for _, b := range w.Batches {
				if len(b.Nodes) > limit {
					t.Fatalf("%d gateways, max_unavailable %s, %d down: batch of %d", gws, amount, down, len(b.Nodes))
				}
				total += len(b.Nodes)
			}
		}
		if limit >= 1 && total != gws-down {
			t.Fatalf("%d gateways, %d down: %d planned", gws, down, total)
		}
		if limit < 1 && total != 0 {
			t.Fatalf("no capacity but %d nodes planned", total)
		}
	}
}

func nodesHCL(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "node \"gw-%d\" {\n  profile = \"gateway-worker\"\n  host = \"10.0.0.%d\"\n}\n", i, i)
	}
	return b.String()
}

func packPath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "pack.zip")
	os.WriteFile(p, nil, 0o644)
	return p
}

func loadInline(t *testing.T, src string) *inventory.Inventory {
	t.Helper()
	f := filepath.Join(t.TempDir(), "drover.hcl")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, diags := inventory.NewLoader().Load(f)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", src, diags)
	}
	return inv
}

// TestGoldenPlans fixes the waves and batches of each example for a
// cluster where every node is reachable, running level 11, and a pack of
// level 12 (testdata/golden/<example>.json).
func TestGoldenPlans(t *testing.T) {
	for _, ex := range []string{"apim-4.4-distributed", "apim-4.4-separate-km", "apim-3.2-distributed", "apim-4.7-split"} {
		t.Run(ex, func(t *testing.T) {
			inv, diags := inventory.NewLoader().Load(filepath.Join("..", "..", "examples", ex))
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var probed []rollout.NodePlan
			for _, n := range inv.Ordered() {
				probed = append(probed, rollout.NodePlan{Node: n.Name, Profile: n.Profile, Host: n.Host, Action: rollout.ActionUpdate,
					Facts: &tasks.Facts{Node: n.Name, Reachable: true, Running: true, UpdateLevel: 11}})
			}
			p := rollout.Make(&rollout.Options{Inv: inv, Nodes: inv.Ordered()}, probed)
			type batch struct {
				Wave    string
				Max     int
				Batches [][]string
			}
			var got []batch
			for _, w := range p.Waves {
				b := batch{Wave: w.Profile, Max: w.MaxUnavailable}
				for _, bt := range w.Batches {
					var names []string
					for _, n := range bt.Nodes {
						names = append(names, n.Node)
					}
					b.Batches = append(b.Batches, names)
				}
				got = append(got, b)
			}
			out, _ := json.MarshalIndent(struct {
				Waves    []batch
				Summary  rollout.Summary
				Warnings []string
			}{got, p.Summary, p.Warnings}, "", "  ")
			golden := filepath.Join("testdata", "golden", ex+".json")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				os.WriteFile(golden, append(out, '\n'), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(out)) {
				t.Errorf("plan of %s changed:\n%s\nwant:\n%s", ex, out, want)
			}
		})
	}
}

// TestCapacityCountsNodesAlreadyDown: with nodes of the profile already out
// of service (stopped by hand, unhealthy, unreachable; selected or left out
// by --limit), walking the plan's batches in order never has more than
// max_unavailable nodes out at once, except by updating nodes that were
// down already; the down nodes that need the update come first; and a node
// is blocked only when no capacity is left.
func TestCapacityCountsNodesAlreadyDown(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 500; i++ {
		gws := 1 + r.IntN(8)
		amount := []string{"1", "2", `"50%"`}[r.IntN(3)]
		inv := loadInline(t, fmt.Sprintf(`
cluster "c" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update { pack = %q }
rollout { max_unavailable = %s }
%s`, packPath(t), amount, nodesHCL(gws)))
		max := inv.MaxUnavailable(inventory.GatewayWorker)
		down := map[string]bool{}
		var probed []rollout.NodePlan
		for _, n := range inv.Nodes {
			np := rollout.NodePlan{Node: n.Name, Profile: n.Profile, Action: rollout.ActionUpdate, Facts: &tasks.Facts{Running: true, Reachable: true}}
			switch r.IntN(6) {
			case 0:
				np.Down = "not running"
			case 1:
				np.Action, np.Down = rollout.ActionOutside, "unhealthy"
			case 2:
				np.Action = rollout.ActionOutside
			case 3:
				np.Action, np.Down = rollout.ActionSkip, "not running"
			}
			if np.Down != "" {
				down[np.Node] = true
			}
			probed = append(probed, np)
		}
		p := rollout.Make(&rollout.Options{Inv: inv, Nodes: inv.Nodes}, probed)
		desc := fmt.Sprintf("%d gateways, max %d, down %v", gws, max, down)
		if len(p.Waves) == 0 {
			continue
		}
		w := p.Waves[0]
		sawServing := false
		for _, b := range w.Batches {
			out := map[string]bool{}
			for n := range down {
				out[n] = true
			}
			costly := false
			for _, n := range b.Nodes {
				if !down[n.Node] {
					costly = true
					sawServing = true
				} else if sawServing {
					t.Fatalf("%s: down node %s planned after a serving node was taken down", desc, n.Node)
				}
				out[n.Node] = true
			}
			if costly && len(out) > max {
				t.Fatalf("%s: batch %d (%s) has %d nodes out of service at once", desc, b.Number, rollout.NodeNames(b.Nodes), len(out))
			}
			for _, n := range b.Nodes {
				delete(down, n.Node) // back in service after its batch
			}
		}
		others := 0
		for _, s := range append(w.Skipped, w.Outside...) {
			if s.Down != "" {
				others++
			}
		}
		for _, s := range w.Skipped {
			if s.Action == rollout.ActionBlocked && max-others >= 1 {
				t.Fatalf("%s: %s blocked although %d of %d slots are free", desc, s.Node, max-others, max)
			}
		}
	}
}
