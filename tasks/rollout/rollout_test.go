package rollout_test

import (
	"context"
	"github.com/drover-sh/drover/tasks/apim"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// recorder keeps every event of a run; on, when set, sees each event as
// it is emitted, before the run goes on.
type recorder struct {
	mu     sync.Mutex
	events []tasks.Event
	on     func(tasks.Event)
}

func (r *recorder) sink() tasks.Sink {
	return func(e tasks.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		on := r.on
		r.mu.Unlock()
		if on != nil {
			on(e)
		}
	}
}

func setup(t *testing.T, l *lab.Lab, rec *recorder) (*rollout.Options, *inventory.Inventory) {
	inv := labtest.Inventory(t, l)
	pack, err := tasks.OpenPack(inv.Update.Pack, inv.Update.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	conns := rollout.NewConns(rollout.TransportDialer(nil))
	t.Cleanup(conns.Close)
	o := &rollout.Options{Inv: inv, Nodes: inv.Ordered(), Pack: pack, ProfilePacks: profilePacks(t, inv), Product: apim.Product{}, Conns: conns, Parallel: 8,
		Run: "run-" + t.Name(), Owner: "test", Sink: rec.sink(), Poll: 200 * time.Millisecond}
	return o, inv
}

// profilePacks opens the packs of the profiles that name their own (4.5+
// split distributions), as the CLI's openPacks does; nil when none does.
func profilePacks(t *testing.T, inv *inventory.Inventory) map[string]*tasks.Pack {
	t.Helper()
	var out map[string]*tasks.Pack
	for name, prof := range inv.Profiles {
		if prof == nil || prof.Pack == "" {
			continue
		}
		p, err := tasks.OpenPack(prof.Pack, prof.SHA256)
		if err != nil {
			t.Fatalf("profile %s: %v", name, err)
		}
		if out == nil {
			out = map[string]*tasks.Pack{}
		}
		out[name] = p
	}
	return out
}

func plan(t *testing.T, o *rollout.Options) *rollout.Plan {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return rollout.Make(o, rollout.Probe(ctx, o))
}

func apply(t *testing.T, o *rollout.Options, p *rollout.Plan) (*rollout.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return rollout.Apply(ctx, ctx, o, p)
}

func level(t *testing.T, home string) int {
	n, err := apimsim.ReadLevel(home)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRollingUpdateOfAWholeCluster(t *testing.T) {
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "cp=2,tm=1,gw=2")})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	p := plan(t, o)
	if p.Summary.Update != 5 || p.Summary.Waves != 3 || p.Summary.Batches != 5 {
		t.Fatalf("plan summary = %+v, want 5 nodes in 3 waves of single-node batches; warnings %v", p.Summary, p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s: level %d after the update, want %d", n.Name, got, l.Level+1)
		}
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			t.Errorf("%s: not running after the update", n.Name)
		}
		prev := filepath.Join(filepath.Dir(n.Home), ".drover", filepath.Base(n.Home), "previous")
		if got := level(t, prev); got != l.Level {
			t.Errorf("%s: previous release at level %d, want %d", n.Name, got, l.Level)
		}
		// The kept release is the one the stopped server left; its data must
		// be whole, and what was copied must equal it (checked against the
		// journal's checksums below).
		if err := apimsim.VerifyData(prev); err != nil {
			t.Errorf("%s: previous release data: %v", n.Name, err)
		}
	}
	checkOrder(t, l)
	checkPersistSums(t, l)

	// A second run changes nothing.
	before := journalLines(t, l)
	p2 := plan(t, o)
	if p2.Summary.Update != 0 || p2.Summary.UpToDate != 5 {
		t.Fatalf("second plan = %+v, want every node up to date", p2.Summary)
	}
	if _, err := apply(t, o, p2); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	after := journalLines(t, l)
	for name, n := range before {
		if after[name] != n {
			t.Errorf("%s: the second run wrote %d journal lines to an up-to-date node", name, after[name]-n)
		}
	}
}

// checkOrder reads the simulator's lifecycle records: every node of a wave
// is back before the next wave takes a node down, and never more than one
// node of a profile is down at once.
func checkOrder(t *testing.T, l *lab.Lab) {
	t.Helper()
	type span struct {
		node, profile string
		down, up      time.Time
	}
	var spans []span
	for _, n := range l.Nodes {
		evs, err := apimsim.ReadEvents(filepath.Join(n.Dir, "wso2"))
		if err != nil {
			t.Fatal(err)
		}
		var down time.Time
		for _, e := range evs {
			switch e.Event {
			case "stopping":
				down = e.At
			case "started":
				if !down.IsZero() {
					spans = append(spans, span{n.Name, n.Profile, down, e.At})
					down = time.Time{}
				}
			}
		}
	}
	if len(spans) != len(l.Nodes) {
		t.Fatalf("found %d stop/start spans, want one per node: %+v", len(spans), spans)
	}
	wave := map[string]int{"control-plane": 0, "traffic-manager": 1, "gateway-worker": 2}
	for _, a := range spans {
		for _, b := range spans {
			if a.node == b.node {
				continue
			}
			if a.profile == b.profile && a.down.Before(b.up) && b.down.Before(a.up) {
				t.Errorf("%s and %s (%s) were down at the same time", a.node, b.node, a.profile)
			}
			if wave[a.profile] < wave[b.profile] && !a.up.Before(b.down) {
				t.Errorf("%s (%s) went down at %s before %s (%s) was back at %s", b.node, b.profile, b.down, a.node, a.profile, a.up)
			}
		}
	}
}

func stateDir(n *lab.Node) string {
	return filepath.Join(filepath.Dir(n.Home), ".drover", filepath.Base(n.Home))
}

func journalLines(t *testing.T, l *lab.Lab) map[string]int {
	out := map[string]int{}
	for _, n := range l.Nodes {
		b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		out[n.Name] = strings.Count(string(b), "\n")
	}
	return out
}

// checkPersistSums compares the checksums the persist step recorded with
// the data of the kept previous release, which nothing touched since.
func checkPersistSums(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, n := range l.Nodes {
		b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var sums map[string]string
		for _, r := range tasks.ParseJournal(string(b)) {
			if r.Step == "persist" && r.Phase == tasks.PhaseNote {
				sums = r.Sums
			}
		}
		for _, p := range []string{"solr/data", "repository/database"} {
			want := treeSum(t, filepath.Join(stateDir(n), "previous"), p)
			if sums[p] != want {
				t.Errorf("%s: %s persisted with sum %q, the stopped release has %q", n.Name, p, sums[p], want)
			}
		}
	}
}

func nodes(t *testing.T, spec string) []lab.NodeSpec {
	ns, err := lab.ParseNodes(spec)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
