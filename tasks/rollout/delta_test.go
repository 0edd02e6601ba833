package rollout_test

import (
	"os"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// TestLabUpdateStagesByDelta: the lab's update from level 11 to 12 stages
// by delta: the plan ships less than the pack, the journal says the staged
// release was verified, no pack lands on the node, and the node runs level
// 12 afterwards.
func TestLabUpdateStagesByDelta(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	o, _ := setup(t, l, &recorder{})
	p := plan(t, o)
	var stage *tasks.StepPlan
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			for _, n := range b.Nodes {
				for i, s := range n.Steps {
					if s.Name == "stage" {
						stage = &n.Steps[i]
					}
				}
			}
		}
	}
	if stage == nil {
		t.Fatal("the plan has no stage step")
	}
	if !strings.HasPrefix(stage.Summary, "ship ") || stage.Bytes <= 0 || stage.Bytes >= o.Pack.Size {
		t.Errorf("stage plans %q (%d bytes of a %d-byte pack), want a delta", stage.Summary, stage.Bytes, o.Pack.Size)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	n := l.Nodes[0]
	if got := level(t, n.Home); got != l.Level+1 {
		t.Errorf("level %d after the update, want %d", got, l.Level+1)
	}
	paths := tasks.NewPaths(n.Home)
	journal, _ := os.ReadFile(paths.Journal())
	if !strings.Contains(string(journal), "staged by delta") || strings.Contains(string(journal), "push the whole pack") {
		t.Errorf("the journal does not say the release was staged by delta:\n%s", journal)
	}
	if _, err := os.Stat(paths.Pack(o.Pack.SHA256)); err == nil {
		t.Error("the pack was pushed to the node")
	}
}
