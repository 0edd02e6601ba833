package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/drover-sh/drover/transport"
)

// The rollout invariants of the README, one named test each (or more).
// Capacity is read from the simulator's own lifecycle events, hooks from
// the lab's stand-in load balancer log.

// downSpan is a time a node's server was out: from a stop (or crash) to
// the next start that completed, or open when it never came back.
type downSpan struct {
	node     string
	from, to time.Time
}

// downSpans reads when each node of a profile was down after t0.
func downSpans(t *testing.T, l *lab.Lab, profile string, t0 time.Time) []downSpan {
	t.Helper()
	var out []downSpan
	for _, n := range l.Nodes {
		if n.Profile != profile {
			continue
		}
		evs, err := apimsim.ReadEvents(filepath.Dir(n.Home))
		if err != nil {
			t.Fatal(err)
		}
		var from time.Time
		for _, e := range evs {
			if e.At.Before(t0) {
				continue
			}
			switch e.Event {
			case apimsim.EventStopping, apimsim.EventKilled, apimsim.EventCrashed, apimsim.EventFailed:
				if from.IsZero() {
					from = e.At
				}
			case apimsim.EventStarted:
				if !from.IsZero() {
					out = append(out, downSpan{n.Name, from, e.At})
					from = time.Time{}
				}
			}
		}
		if !from.IsZero() {
			out = append(out, downSpan{n.Name, from, time.Now()})
		}
	}
	return out
}

// maxDown returns the most nodes down at one instant, and which.
func maxDown(spans []downSpan) (int, []string) {
	best, which := 0, []string(nil)
	for _, s := range spans {
		var at []string
		for _, o := range spans {
			if !o.from.After(s.from) && o.to.After(s.from) {
				at = append(at, o.node)
			}
		}
		if len(at) > best {
			best, which = len(at), at
		}
	}
	return best, which
}

func stopByHand(t *testing.T, n *lab.Node) {
	t.Helper()
	script(t, n, "stop")
	waitDown(t, n)
}

func lbLog(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir, "lb.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			out = append(out, f[1]+" "+f[2]) // drop the time
		}
	}
	return out
}

// checkHooksPaired asserts that, for every node, each drain in the load
// balancer log is followed by an enable: every node ends in service.
func checkHooksPaired(t *testing.T, l *lab.Lab) {
	t.Helper()
	drained := map[string]bool{}
	for _, line := range lbLog(t, l) {
		action, node, _ := strings.Cut(line, " ")
		drained[node] = action == "drain"
	}
	for node, d := range drained {
		if d {
			t.Errorf("%s was drained and never enabled again; lb.log: %v", node, lbLog(t, l))
		}
	}
}

func waveOf(p *rollout.Plan, profile string) *rollout.Wave {
	for i := range p.Waves {
		if p.Waves[i].Profile == profile {
			return &p.Waves[i]
		}
	}
	return nil
}

// TestCapacityPeerStoppedByHandGoesFirst: with max_unavailable = 1 and a
// gateway stopped by hand, the stopped gateway is updated first (it costs
// no capacity) and no second gateway is ever down with it.
func TestCapacityPeerStoppedByHandGoesFirst(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=3")})
	t0 := time.Now()
	stopByHand(t, l.Nodes[1])
	o, _ := setup(t, l, &recorder{})
	p := plan(t, o)
	w := waveOf(p, inventory.GatewayWorker)
	if w == nil || len(w.Batches) != 3 || rollout.NodeNames(w.Batches[0].Nodes) != "gw-2" {
		t.Fatalf("plan = %+v, want gw-2 (down) alone in the first of three batches", w)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if n, which := maxDown(downSpans(t, l, inventory.GatewayWorker, t0)); n > 1 {
		t.Errorf("%d gateways were down at once (%v), max_unavailable is 1", n, which)
	}
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d, want %d", n.Name, got, l.Level+1)
		}
	}
	checkHooksPaired(t, l)
}

// TestCapacityCountsNodesOutsideLimit: a gateway stopped by hand outside
// --limit still counts; with max_unavailable = 1 no selected gateway can
// go down, the plan says why and apply refuses with nothing changed.
func TestCapacityCountsNodesOutsideLimit(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=3")})
	t0 := time.Now()
	stopByHand(t, l.Nodes[0])
	o, inv := setup(t, l, &recorder{})
	o.Nodes = []*inventory.Node{inv.Node("gw-2"), inv.Node("gw-3")}
	p := plan(t, o)
	w := waveOf(p, inventory.GatewayWorker)
	if w == nil || len(w.Outside) != 1 || w.Outside[0].Node != "gw-1" || w.Outside[0].Down == "" {
		t.Fatalf("plan wave = %+v, want gw-1 outside --limit and out of service", w)
	}
	if p.Summary.Update != 0 || p.Summary.Blocked != 2 {
		t.Fatalf("plan summary = %+v, want both selected gateways blocked", p.Summary)
	}
	for _, s := range w.Skipped {
		if !strings.Contains(s.Reason, "no capacity") || !strings.Contains(s.Reason, "gw-1") {
			t.Errorf("%s blocked because %q; want it to name the lack of capacity and gw-1", s.Node, s.Reason)
		}
	}
	_, err := apply(t, o, p)
	var re *rollout.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("apply = %v, want a refusal", err)
	}
	if spans := downSpans(t, l, inventory.GatewayWorker, t0); len(spans) != 1 || spans[0].node != "gw-1" {
		t.Errorf("down spans %+v, want only gw-1 (stopped by hand)", spans)
	}
}

// TestCapacityIsCheckedBeforeEveryBatch: a gateway that goes down while
// the run works on another is counted before the next batch starts.
func TestCapacityIsCheckedBeforeEveryBatch(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=3")})
	t0 := time.Now()
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	p := plan(t, o)
	stopped := make(chan struct{})
	var once bool
	rec.on = func(e tasks.Event) {
		// While gw-1 is in its health gate, an operator stops gw-3.
		if e.Type == tasks.EventStepStarted && e.Node == "gw-1" && e.Step == "health" && !once {
			once = true
			stopByHand(t, l.Nodes[2])
			close(stopped)
		}
	}
	_, err := apply(t, o, p)
	<-stopped
	if err != nil {
		t.Fatalf("apply: %v (gw-3 was down but needs the update: it should have gone next, alone)", err)
	}
	if n, which := maxDown(downSpans(t, l, inventory.GatewayWorker, t0)); n > 2 {
		t.Errorf("%d gateways down at once (%v); only the operator's stop may add to drover's one", n, which)
	}
	// After gw-1, capacity is gw-3's: gw-3 goes (it is down anyway), gw-2
	// only after it is back.
	var batches []string
	for _, e := range rec.events {
		if e.Type == tasks.EventBatchStarted {
			batches = append(batches, e.Message)
		}
	}
	if !slices.Equal(batches, []string{"gw-1", "gw-3", "gw-2"}) {
		t.Errorf("batches %v, want gw-1, then gw-3 (stopped during the run), then gw-2", batches)
	}
}

// TestInterruptedInHealthGateIsResumedFirst: a node interrupted in its
// health gate is not up to date; the plan resumes it at the health gate and
// apply finishes it (health gate, after_healthy) before any other node of
// its profile is stopped.
func TestInterruptedInHealthGateIsResumedFirst(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
	rec := &recorder{}
	o, inv := setup(t, l, rec)
	o.Nodes = []*inventory.Node{inv.Node("gw-2")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.on = func(e tasks.Event) {
		if e.Type == tasks.EventStepStarted && e.Step == "health" {
			cancel() // both Ctrl-Cs at once: the health gate stops
		}
	}
	p := plan(t, o)
	if _, err := rollout.Apply(ctx, ctx, o, p); err == nil {
		t.Fatal("apply was not interrupted")
	}
	rec.on = nil
	// The interruption came as the health gate began: the server had been
	// launched but, on a loaded machine, may not have written its PID yet.
	// This test is about a node whose server runs: wait for it.
	home := inv.Node("gw-2").Home
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, alive := apimsim.PIDAlive(home); alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gw-2's server did not come up after the interrupted start")
		}
	}
	o.Nodes = inv.Ordered()
	o.Run = "run-resume"
	p = plan(t, o)
	w := waveOf(p, inventory.GatewayWorker)
	if w == nil || len(w.Batches) != 2 || rollout.NodeNames(w.Batches[0].Nodes) != "gw-2" {
		t.Fatalf("plan wave %+v, want gw-2 resumed first", w)
	}
	if np := w.Batches[0].Nodes[0]; np.Action != rollout.ActionResume || !strings.Contains(np.Reason, "resume at health") {
		t.Errorf("gw-2 planned as %s (%s), want resume at health", np.Action, np.Reason)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	log := lbLog(t, l)
	enable2, drain1 := slices.Index(log, "enable gw-2"), slices.Index(log, "drain gw-1")
	if enable2 < 0 || drain1 < 0 || enable2 > drain1 {
		t.Errorf("lb.log %v: gw-2 must be enabled again before gw-1 is drained", log)
	}
	checkHooksPaired(t, l)
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d, want %d", n.Name, got, l.Level+1)
		}
	}
}

// TestRollbackOfAServingNodeDrainsItFirst: recover --rollback on an
// updated, serving node runs before_stop before it stops the node and
// after_healthy once the previous release is back.
func TestRollbackOfAServingNodeDrainsItFirst(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	rec := &recorder{}
	o, inv := setup(t, l, rec)
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	before := len(lbLog(t, l))
	j := recoverJob(t, o, inv.Node("gw-1"), o.Pack)
	if err := j.Rollback(context.Background()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := lbLog(t, l)[before:]; !slices.Equal(got, []string{"drain gw-1", "enable gw-1"}) {
		t.Errorf("the rollback's hooks were %v, want drain then enable", got)
	}
	if got := level(t, l.Nodes[0].Home); got != l.Level {
		t.Errorf("level %d after the rollback, want %d", got, l.Level)
	}
}

func recoverJob(t *testing.T, o *rollout.Options, n *inventory.Node, pack *tasks.Pack) *tasks.Job {
	t.Helper()
	c, err := o.Conns.Get(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return &tasks.Job{Inv: o.Inv, Node: n, Conn: c, Paths: tasks.NewPaths(n.Home), Pack: pack, Product: apim.Product{},
		Run: "recover-" + t.Name(), Owner: "test", Sink: o.Sink, Poll: 100 * time.Millisecond}
}

// TestRollbackAfterThePackWasRebuilt: the rollback works from the node's
// own record of what is switched in, whatever the inventory's pack is now.
func TestRollbackAfterThePackWasRebuilt(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	o, inv := setup(t, l, &recorder{})
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	// Beside the pack the update used, which the next round updates to
	// again.
	rebuiltPath := l.Pack + ".rebuilt.zip"
	if err := apimsim.BuildPack(rebuiltPath, apimsim.Spec{Version: l.Version, Level: l.Level + 2, SimBin: l.SimBin}); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := tasks.OpenPack(rebuiltPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt.SHA256 == o.Pack.SHA256 {
		t.Fatal("the rebuilt pack has the same bytes")
	}
	for _, pack := range []*tasks.Pack{rebuilt, nil} {
		n := l.Nodes[0]
		j := recoverJob(t, o, inv.Node(n.Name), pack)
		if err := j.Rollback(context.Background()); err != nil {
			t.Fatalf("rollback with pack %v: %v", pack != nil, err)
		}
		if got := level(t, n.Home); got != l.Level {
			t.Fatalf("rollback with pack %v said it was done, but home is at level %d, want %d", pack != nil, got, l.Level)
		}
		running(t, n.Home)
		// Update again for the next round.
		if _, err := apply(t, o, plan(t, o)); err != nil {
			t.Fatalf("apply again: %v", err)
		}
	}
}

func running(t *testing.T, home string) {
	t.Helper()
	if _, alive := apimsim.PIDAlive(home); !alive {
		t.Errorf("no server runs from %s", home)
	}
}

// TestOperatorEditAfterConfigureIsCarried: an edit of deployment.toml on
// the running release after an interrupted run configured the staged copy
// is carried: the plan says configure runs again and why, and the updated
// release has the edit.
func TestOperatorEditAfterConfigureIsCarried(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "cp=1")})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.on = func(e tasks.Event) {
		if e.Type == tasks.EventStepDone && e.Step == "configure" {
			cancel()
		}
	}
	if _, err := rollout.Apply(ctx, ctx, o, plan(t, o)); err == nil {
		t.Fatal("apply was not interrupted")
	}
	rec.on = nil
	n := l.Nodes[0]
	conf := filepath.Join(n.Home, "repository/conf/deployment.toml")
	edit := "\n# the operator's edit between runs\n[apim.cors]\nallow_origins = \"https://ops.example.com\"\n"
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(edit)
	f.Close()
	o.Run = "run-2"
	p := plan(t, o)
	var configure *tasks.StepPlan
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			for _, np := range b.Nodes {
				for i := range np.Steps {
					if np.Steps[i].Name == "configure" {
						configure = &np.Steps[i]
					}
				}
			}
		}
	}
	if configure == nil || configure.Done || !strings.Contains(configure.Summary, "deployment.toml") {
		t.Fatalf("configure step planned as %+v, want it to run again naming deployment.toml", configure)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	got, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), edit) {
		t.Errorf("the updated release's deployment.toml lost the operator's edit:\n%s", got)
	}
	if lv := level(t, n.Home); lv != l.Level+1 {
		t.Errorf("level %d, want %d", lv, l.Level+1)
	}
}

// noChange asserts that nothing of an update happened on any node after t0:
// no server stopped, no run in any journal, nothing staged.
func noChange(t *testing.T, l *lab.Lab, t0 time.Time) {
	t.Helper()
	for _, n := range l.Nodes {
		if spans := downSpans(t, l, n.Profile, t0); len(spans) > 0 {
			t.Errorf("%s: servers went down although the run was refused: %+v", n.Name, spans)
		}
		b, _ := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
		if len(tasks.ParseJournal(string(b))) > 0 {
			t.Errorf("%s: the journal records a run although it was refused:\n%s", n.Name, b)
		}
		if _, err := os.Stat(filepath.Join(stateDir(n), "staged")); err == nil {
			t.Errorf("%s: a release was staged although the run was refused", n.Name)
		}
	}
}

// TestWrongReleasePackIsRefusedBeforeAnyChange: a pack of another release
// is found on every node while planning, and the run is refused before the
// first wave, naming every node.
func TestWrongReleasePackIsRefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "cp=1,gw=2")})
	t0 := time.Now()
	o, _ := setup(t, l, &recorder{})
	wrong := filepath.Join(t.TempDir(), "wso2am-3.2.0.zip")
	if err := apimsim.BuildPack(wrong, apimsim.Spec{Version: "3.2.0", Level: 99, SimBin: l.SimBin}); err != nil {
		t.Fatal(err)
	}
	pack, err := tasks.OpenPack(wrong, "")
	if err != nil {
		t.Fatal(err)
	}
	o.Pack = pack
	p := plan(t, o)
	if p.Summary.Blocked != 3 || p.Summary.Update != 0 {
		t.Fatalf("plan summary %+v, want all three nodes blocked", p.Summary)
	}
	_, err = apply(t, o, p)
	var re *rollout.RefusedError
	if !errors.As(err, &re) || len(re.Reasons) != 3 {
		t.Fatalf("apply = %v, want a refusal naming three nodes", err)
	}
	for _, r := range re.Reasons {
		if !strings.Contains(r, "wso2am-3.2.0") {
			t.Errorf("reason %q does not name the pack's release", r)
		}
	}
	noChange(t, l, t0)
}

// TestFullDiskIsRefusedBeforeAnyChange: a gateway (last wave) without the
// space for the update refuses the run before the control plane (first
// wave) is touched.
func TestFullDiskIsRefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "cp=1,gw=2")})
	t0 := time.Now()
	gw2 := l.Nodes[2]
	// A df that reports 100 KiB free, on gw-2 only.
	if err := os.MkdirAll(gw2.ShimDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	shim := "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\necho '/dev/fake 1000000 999900 100 100% /'\n"
	if err := os.WriteFile(filepath.Join(gw2.ShimDir(), "df"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	o, _ := setup(t, l, &recorder{})
	p := plan(t, o)
	_, err := apply(t, o, p)
	var re *rollout.RefusedError
	if !errors.As(err, &re) || len(re.Reasons) != 1 || !strings.Contains(re.Reasons[0], "gw-2") || !strings.Contains(re.Reasons[0], "disk space") {
		t.Fatalf("apply = %v, want a refusal naming gw-2's disk space", err)
	}
	noChange(t, l, t0)
}

// flakyConn is a connection whose next command fails as if the network
// dropped, once armed.
type flakyConn struct {
	tasks.Conn
	armed *atomic.Bool
}

func (c flakyConn) Run(ctx context.Context, cmd string, opts transport.RunOptions) (*transport.Result, error) {
	if c.armed.CompareAndSwap(true, false) {
		if cl, ok := c.Conn.(io.Closer); ok {
			cl.Close() // the connection is gone for good
		}
		return nil, &transport.ConnError{Node: "test", Addr: "127.0.0.1", Op: "run", Err: io.ErrUnexpectedEOF}
	}
	return c.Conn.Run(ctx, cmd, opts)
}

func (c flakyConn) Close() error {
	if cl, ok := c.Conn.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// TestLostConnectionAfterStopReconnects: the connection to a node drops
// right after its server was stopped; drover dials again and finishes the
// node. When it cannot dial again, the node's failure says it may be down
// and which command recovers it.
func TestLostConnectionAfterStopReconnects(t *testing.T) {
	t.Parallel()
	for _, redialFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("redial fails %v", redialFails), func(t *testing.T) {
			l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1"), Rollout: shortHealth})
			rec := &recorder{}
			o, _ := setup(t, l, rec)
			armed := &atomic.Bool{}
			var dials atomic.Int32
			real := rollout.TransportDialer(nil)
			o.Conns = rollout.NewConns(func(ctx context.Context, n *inventory.Node) (tasks.Conn, error) {
				if dials.Add(1) > 1 && redialFails {
					return nil, &transport.ConnError{Node: n.Name, Addr: "127.0.0.1", Op: "connect", Err: errors.New("connection refused")}
				}
				c, err := real(ctx, n)
				if err != nil {
					return nil, err
				}
				return flakyConn{c, armed}, nil
			})
			t.Cleanup(o.Conns.Close)
			rec.on = func(e tasks.Event) {
				if e.Type == tasks.EventStepDone && e.Step == "stop" {
					armed.Store(true)
				}
			}
			rep, err := apply(t, o, plan(t, o))
			n := l.Nodes[0]
			if !redialFails {
				if err != nil {
					t.Fatalf("apply: %v", err)
				}
				if got := level(t, n.Home); got != l.Level+1 {
					t.Errorf("level %d, want %d", got, l.Level+1)
				}
				if !slices.ContainsFunc(rec.messages(tasks.EventWarning), func(m string) bool { return strings.Contains(m, "reconnecting") }) {
					t.Error("no warning said the connection was lost and drover reconnected")
				}
				checkHooksPaired(t, l)
				return
			}
			if err == nil || rep.Nodes[0].Outcome != rollout.OutcomeFailed {
				t.Fatalf("apply = %v, %+v; want gw-1 failed", err, rep.Nodes)
			}
			for _, want := range []string{"may be down", "drover recover gw-1 --resume"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func (r *recorder) messages(typ string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e.Message)
		}
	}
	return out
}

// TestRecoverRespectsCapacity: recover takes a serving node out only when
// its profile can spare it; a node out of service already costs nothing.
func TestRecoverRespectsCapacity(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
	stopByHand(t, l.Nodes[1])
	o, inv := setup(t, l, &recorder{})
	ctx := context.Background()
	err := rollout.CheckCapacity(ctx, o, inv.Node("gw-1"))
	var re *rollout.RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "gw-2 (not running)") {
		t.Errorf("recovering serving gw-1 with gw-2 down: %v, want a refusal naming gw-2", err)
	}
	if err := rollout.CheckCapacity(ctx, o, inv.Node("gw-2")); err != nil {
		t.Errorf("recovering gw-2, which is down already: %v, want no objection", err)
	}
}

// TestInterruptedBetweenTheSwitchRenamesIsFinished: a run cut off between
// the switch's two renames (home renamed to previous, the staged release
// not yet home) leaves a node that plan resumes and apply finishes, rather
// than one refused for a missing home (found by the chaos test, seed 2
// under load).
func TestInterruptedBetweenTheSwitchRenamesIsFinished(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "tm=1")})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.on = func(e tasks.Event) {
		if e.Type == tasks.EventStepDone && e.Step == "persist" {
			cancel()
		}
	}
	if _, err := rollout.Apply(ctx, ctx, o, plan(t, o)); err == nil {
		t.Fatal("apply was not interrupted")
	}
	rec.on = nil
	n := l.Nodes[0]
	// The switch's first rename, as if the run died right after it.
	if err := os.Rename(n.Home, filepath.Join(stateDir(n), "previous")); err != nil {
		t.Fatal(err)
	}
	o.Run = "run-2"
	p := plan(t, o)
	if p.Summary.Update != 1 || p.Summary.Blocked != 0 {
		t.Fatalf("plan %+v, warnings %v: want the node resumed", p.Summary, p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := level(t, n.Home); got != l.Level+1 {
		t.Errorf("level %d, want %d", got, l.Level+1)
	}
	running(t, n.Home)
	// The kept release is the one the stopped server left, whole.
	if err := apimsim.VerifyData(filepath.Join(stateDir(n), "previous")); err != nil {
		t.Errorf("the kept previous release: %v", err)
	}
}
