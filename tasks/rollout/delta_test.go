package rollout_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
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

// TestLabSecondUpdateShipsOnlyChanges: after an update whose optimize
// step (profileSetup.sh) removed files of the pack from the gateway's
// release, the next update still stages by delta and ships only the
// files whose content the new pack changed: those profileSetup removed
// are copied from the pack's own files kept in the state folder (base),
// not shipped again. The staged release is the pack's tree exactly (the
// journal says every file was verified, and the node runs the new level).
func TestLabSecondUpdateShipsOnlyChanges(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	o, _ := setup(t, l, &recorder{})
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("apply %d: %v", l.Level+1, err)
	}
	n := l.Nodes[0]
	paths := tasks.NewPaths(n.Home)
	old := o.Pack
	// The next pack: one level up, written where the inventory points.
	for dist, p := range l.Packs {
		if err := apimsim.BuildPack(p, apimsim.Spec{Version: l.Version, Distribution: dist, Level: l.Level + 2, SimBin: l.SimBin}); err != nil {
			t.Fatal(err)
		}
	}
	next, err := tasks.OpenPack(old.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	o.Pack, o.Run = next, "run-2-"+t.Name()
	for name, p := range o.ProfilePacks {
		if o.ProfilePacks[name], err = tasks.OpenPack(p.Path, ""); err != nil {
			t.Fatal(err)
		}
	}
	// What the new pack changed: its files whose content the old pack
	// lacks. The pack's files under the persisted and runtime folders are
	// shipped too: those folders are never listed on the node.
	unlisted := func(p string) bool {
		for _, d := range append(append(slices.Clone(o.Inv.Persist), o.Inv.OptionalPersist...), "repository/logs", "tmp") {
			if p == d || strings.HasPrefix(p, d+"/") {
				return true
			}
		}
		return false
	}
	om, err := old.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	nm, err := next.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	had := map[string]bool{}
	for _, e := range om.Entries {
		if e.Type == 'f' {
			had[e.SHA256] = true
		}
	}
	changed, persisted := 0, 0
	for _, e := range nm.Entries {
		switch {
		case e.Type != 'f':
		case !had[e.SHA256]:
			changed++
		case unlisted(e.Path):
			persisted++
		}
	}
	removed := 0
	for _, e := range om.Entries {
		if _, err := os.Lstat(filepath.Join(n.Home, e.Path)); e.Type == 'f' && errors.Is(err, fs.ErrNotExist) {
			removed++
		}
	}
	if removed == 0 {
		t.Fatal("profileSetup.sh removed none of the pack's files from the gateway: the test shows nothing")
	}
	before, _ := os.ReadFile(paths.Journal())
	p := plan(t, o)
	stage := stageStep(t, p)
	if !strings.HasPrefix(stage.Summary, "ship ") {
		t.Fatalf("stage plans %q, want a delta", stage.Summary)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply %d: %v", l.Level+2, err)
	}
	if got := level(t, n.Home); got != l.Level+2 {
		t.Errorf("level %d after the second update, want %d", got, l.Level+2)
	}
	journal, _ := os.ReadFile(paths.Journal())
	second := strings.TrimPrefix(string(journal), string(before))
	m := regexp.MustCompile(`staged by delta: shipped ([^(]*) of [^(]* \((\d+) of (\d+) files`).FindStringSubmatch(second)
	if m == nil {
		t.Fatalf("the second update was not staged by delta:\n%s", second)
	}
	shipped, _ := strconv.Atoi(m[2])
	t.Logf("second update: %d of the pack's files changed, %d unchanged under persisted folders, %d removed by profileSetup.sh; shipped %s (%s of %s files), planned %d bytes of a %d-byte pack",
		changed, persisted, removed, m[1], m[2], m[3], stage.Bytes, next.Size)
	if shipped != changed+persisted {
		t.Errorf("the second update shipped %d files, want the %d the pack changed and the %d under persisted folders (profileSetup.sh removed %d)", shipped, changed, persisted, removed)
	}
	if !strings.Contains(second, "every file verified against the pack") {
		t.Errorf("the journal does not say the staged release was verified:\n%s", second)
	}
}

// stageStep is the stage step of the plan's only node.
func stageStep(t *testing.T, p *rollout.Plan) *tasks.StepPlan {
	t.Helper()
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			for _, n := range b.Nodes {
				for i, s := range n.Steps {
					if s.Name == "stage" {
						return &n.Steps[i]
					}
				}
			}
		}
	}
	t.Fatal("the plan has no stage step")
	return nil
}
