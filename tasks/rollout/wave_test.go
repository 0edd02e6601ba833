package rollout

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/drover-sh/drover/inventory"
)

// TestMakeWaveAsEveryBatchPicked: makeWave takes the batches after the
// first without asking pick again; on random waves (nodes out of service,
// selected or not, resumes, changes without a restart, every capacity) its
// waves and warnings are exactly those of calling pick for every batch.
func TestMakeWaveAsEveryBatchPicked(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1000))
	actions := []string{ActionUpdate, ActionUpdate, ActionUpdate, ActionResume, ActionReconfigure, ActionSkip, ActionUnreachable, ActionLocked, ActionOutside}
	for i := 0; i < 3000; i++ {
		inv := &inventory.Inventory{Rollout: inventory.Rollout{MaxUnavailable: inventory.Amount{N: 1 + r.IntN(5), Percent: r.IntN(4) == 0}}}
		if inv.Rollout.MaxUnavailable.Percent {
			inv.Rollout.MaxUnavailable.N = 10 + r.IntN(60)
		}
		var nodes []NodePlan
		for k := range 1 + r.IntN(40) {
			name := fmt.Sprintf("n%d", k)
			inv.Nodes = append(inv.Nodes, &inventory.Node{Name: name, Profile: "p"})
			np := NodePlan{Node: name, Profile: "p", Action: actions[r.IntN(len(actions))]}
			if r.IntN(5) == 0 {
				np.Down = "not running"
			}
			np.NoRestart = np.Action == ActionReconfigure && r.IntN(2) == 0
			nodes = append(nodes, np)
		}
		var warnFast, warnPicked []string
		fast, okFast := makeWave(inv, "p", nodes, 1, &warnFast)
		picked, okPicked := makeWaveByPicks(inv, "p", nodes, 1, &warnPicked)
		if okFast != okPicked || !reflect.DeepEqual(fast, picked) || !reflect.DeepEqual(warnFast, warnPicked) {
			t.Fatalf("case %d (max_unavailable %s):\nmakeWave %v %+v %q\npicked   %v %+v %q", i, inv.Rollout.MaxUnavailable, okFast, fast, warnFast, okPicked, picked, warnPicked)
		}
	}
}

// makeWaveByPicks is makeWave asking pick for every batch.
func makeWaveByPicks(inv *inventory.Inventory, prof string, nodes []NodePlan, number int, warnings *[]string) (Wave, bool) {
	w, down, queue, ok := sortWave(inv, prof, nodes, number)
	if !ok {
		return w, false
	}
	for len(queue) > 0 {
		batch, rest, why := pick(queue, down, w.MaxUnavailable)
		if len(batch) == 0 {
			*warnings = append(*warnings, fmt.Sprintf("profile %s: %s; bring them back (or finish them: drover apply --limit NODE) before updating %s", prof, why, NodeNames(rest)))
			for _, np := range rest {
				np.Action, np.Reason = ActionBlocked, why
				w.Skipped = append(w.Skipped, np)
			}
			break
		}
		w.Batches = append(w.Batches, Batch{Number: len(w.Batches) + 1, Nodes: batch})
		for _, np := range batch {
			delete(down, np.Node)
		}
		queue = rest
	}
	if total := len(inv.NodesOf(prof)); total == 1 && len(w.Batches) == 1 && len(w.Batches[0].Nodes) == 1 {
		*warnings = append(*warnings, fmt.Sprintf("profile %s has a single node: updating %s means an outage of that profile while it restarts", prof, w.Batches[0].Nodes[0].Node))
	}
	return w, true
}
