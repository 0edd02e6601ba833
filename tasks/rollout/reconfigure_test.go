package rollout_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// Configuration as desired state: a lab at the target level whose gateway
// template changes, or whose files someone edits on a node, is converged by
// the reconfiguration procedure, in the same waves, batches, capacity and
// health gates as an update.

const gatewayConf = "repository/conf/deployment.toml"

// updated lays out a lab, updates it to the pack's level and returns it
// ready for configuration changes, with the options reloaded from the
// inventory (reload after every edit of it).
func updated(t *testing.T, spec string) (*lab.Lab, *recorder, func() *rollout.Options) {
	t.Helper()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, spec)})
	rec := &recorder{}
	reload := func() *rollout.Options {
		o, _ := setup(t, l, rec)
		o.Run = "run-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000")
		return o
	}
	o := reload()
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("the update: %v", err)
	}
	return l, rec, reload
}

// editTemplate rewrites the lab's gateway template.
func editTemplate(t *testing.T, l *lab.Lab, old, new string) {
	t.Helper()
	p := filepath.Join(l.Dir, "templates", "gateway.toml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("the gateway template has no %q", old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func actions(p *rollout.Plan) map[string]string {
	out := map[string]string{}
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			for _, np := range b.Nodes {
				out[np.Node] = np.Action
			}
		}
		for _, np := range w.Skipped {
			out[np.Node] = np.Action
		}
	}
	return out
}

func fileOf(t *testing.T, n *lab.Node, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Home, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// starts counts the node's server starts after t0, from the simulator.
func starts(t *testing.T, n *lab.Node, t0 time.Time) int {
	t.Helper()
	evs, err := apimsim.ReadEvents(filepath.Dir(n.Home))
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, e := range evs {
		if e.Event == apimsim.EventStarted && e.At.After(t0) {
			c++
		}
	}
	return c
}

// TestTemplateChangeConvergesEveryGatewayInOrder: a changed gateway
// template after an update plans every gateway as reconfigure with the diff,
// rolls it out one gateway at a time behind the health gate and the hooks,
// leaves the control plane alone, and a second plan is empty.
func TestTemplateChangeConvergesEveryGatewayInOrder(t *testing.T) {
	t.Parallel()
	l, rec, reload := updated(t, "cp=1,gw=3")
	editTemplate(t, l, "enable_data_publishing = true", "enable_data_publishing = false")
	o := reload()
	p := plan(t, o)
	acts := actions(p)
	for _, n := range l.Nodes {
		want := rollout.ActionReconfigure
		if n.Profile != inventory.GatewayWorker {
			want = rollout.ActionSkip
		}
		if acts[n.Name] != want {
			t.Errorf("%s planned as %q, want %q", n.Name, acts[n.Name], want)
		}
	}
	w := waveOf(p, inventory.GatewayWorker)
	if w == nil || len(w.Batches) != 3 {
		t.Fatalf("gateway wave %+v, want 3 batches of one (max_unavailable 1)", w)
	}
	np := w.Batches[0].Nodes[0]
	if !strings.Contains(np.Reason, "changed in the inventory") || np.NoRestart {
		t.Errorf("reason %q (no restart %t), want the inventory named and a restart", np.Reason, np.NoRestart)
	}
	var diff string
	for _, s := range np.Steps {
		if s.Name == "write" {
			diff = strings.Join(s.Details, "\n")
		}
	}
	if !strings.Contains(diff, "-enable_data_publishing = true\n+enable_data_publishing = false") {
		t.Errorf("the write step does not show the diff:\n%s", diff)
	}
	if p.Summary.Reconfigure != 3 || p.Summary.Update != 3 {
		t.Errorf("summary %+v, want 3 to reconfigure", p.Summary)
	}

	t0 := time.Now()
	rec.mu.Lock()
	rec.events = nil
	rec.mu.Unlock()
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, n := range l.Nodes {
		got := starts(t, n, t0)
		if n.Profile == inventory.GatewayWorker {
			if got != 1 {
				t.Errorf("%s started %d times, want once", n.Name, got)
			}
			if !strings.Contains(fileOf(t, n, gatewayConf), "enable_data_publishing = false") {
				t.Errorf("%s: the new deployment.toml was not written", n.Name)
			}
			if lvl := level(t, n.Home); lvl != l.Level+1 {
				t.Errorf("%s: level %d, want %d (a reconfiguration changes no release)", n.Name, lvl, l.Level+1)
			}
			running(t, n.Home)
		} else if got != 0 {
			t.Errorf("%s (not a gateway) was restarted %d times", n.Name, got)
		}
	}
	if most, which := maxDown(downSpans(t, l, inventory.GatewayWorker, t0)); most > 1 {
		t.Errorf("%d gateways down at once (%v); max_unavailable is 1", most, which)
	}
	checkHooksPaired(t, l)
	if got := rec.steps(tasks.EventStepStarted); !slices.Contains(got, "backup") || slices.Contains(got, "stage") || slices.Contains(got, "optimize") {
		t.Errorf("steps run %v: want the reconfiguration (backup, write, ...), never staging or profileSetup", got)
	}
	p = plan(t, reload())
	if p.Summary.Update != 0 || p.Summary.UpToDate != len(l.Nodes) {
		t.Errorf("second plan %+v, want every node up to date", p.Summary)
	}
}

// TestHandEditIsDriftAndIsConverged: a managed file edited on one node is
// reported as changed by hand and written back; the other gateways are not
// touched.
func TestHandEditIsDriftAndIsConverged(t *testing.T) {
	t.Parallel()
	l, _, reload := updated(t, "gw=2")
	gw := l.Nodes[0]
	want := fileOf(t, gw, gatewayConf)
	if err := os.WriteFile(filepath.Join(gw.Home, gatewayConf), []byte(want+"\n# edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := reload()
	p := plan(t, o)
	acts := actions(p)
	if acts[gw.Name] != rollout.ActionReconfigure || acts[l.Nodes[1].Name] != rollout.ActionSkip {
		t.Fatalf("actions %v, want %s reconfigured and %s up to date", acts, gw.Name, l.Nodes[1].Name)
	}
	np := waveOf(p, inventory.GatewayWorker).Batches[0].Nodes[0]
	if !strings.Contains(np.Reason, "changed on the node by hand") {
		t.Errorf("reason %q, want the hand edit named", np.Reason)
	}
	t0 := time.Now()
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := fileOf(t, gw, gatewayConf); got != want {
		t.Errorf("%s: the hand edit was not converged:\n%s", gw.Name, got)
	}
	if starts(t, l.Nodes[1], t0) != 0 {
		t.Errorf("%s was restarted although nothing of it drifted", l.Nodes[1].Name)
	}
}

// TestBadConfigIsRolledBackAndHaltsTheRun: a template whose file makes the
// server fail is rolled back to the previous file on the first gateway,
// which serves again, and the run halts before the second.
func TestBadConfigIsRolledBackAndHaltsTheRun(t *testing.T) {
	t.Parallel()
	l, _, reload := updated(t, "gw=2")
	before := [2]string{fileOf(t, l.Nodes[0], gatewayConf), fileOf(t, l.Nodes[1], gatewayConf)}
	editTemplate(t, l, "offset = ${node.offset}", "offset = 99999")
	o := reload()
	p := plan(t, o)
	t0 := time.Now()
	_, err := apply(t, o, p)
	var serr *tasks.StepError
	if err == nil || !errorsAs(err, &serr) || !serr.RolledBack {
		t.Fatalf("apply = %v, want the first gateway failed and rolled back", err)
	}
	first, second := l.Nodes[0], l.Nodes[1]
	if serr.Node != first.Name {
		t.Fatalf("failed node %s, want %s first", serr.Node, first.Name)
	}
	if got := fileOf(t, first, gatewayConf); got != before[0] {
		t.Errorf("%s: the previous deployment.toml was not put back:\n%s", first.Name, got)
	}
	running(t, first.Home)
	if got := fileOf(t, second, gatewayConf); got != before[1] || starts(t, second, t0) != 0 {
		t.Errorf("%s was reconfigured although the run should have halted", second.Name)
	}
	checkHooksPaired(t, l)
	// The desired file is still the bad one: the next plan says so again.
	if acts := actions(plan(t, reload())); acts[first.Name] != rollout.ActionReconfigure {
		t.Errorf("after the rollback %s plans as %q, want reconfigure (its configuration still differs)", first.Name, acts[first.Name])
	}
}

// TestNoRestartFileIsWrittenWithoutARestart: a file marked restart = false
// is written into the running release and the server keeps running.
func TestNoRestartFileIsWrittenWithoutARestart(t *testing.T) {
	t.Parallel()
	l, _, reload := updated(t, "gw=2")
	inc := filepath.Join(l.Dir, "templates", "lb.inc")
	if err := os.WriteFile(inc, []byte("upstream ${node.name} { weight = 1 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	block := `profile "gateway-worker" {
  file "repository/conf/lb.inc" {
    template = "templates/lb.inc"
    restart  = false
  }
`
	if err := os.WriteFile(l.Inventory, []byte(strings.Replace(string(b), `profile "gateway-worker" {`+"\n", block, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	o := reload()
	p := plan(t, o)
	w := waveOf(p, inventory.GatewayWorker)
	if w == nil || len(w.Batches) != 1 || len(w.Batches[0].Nodes) != 2 {
		t.Fatalf("gateway wave %+v: changes without a restart cost no capacity, both go in one batch", w)
	}
	for _, np := range w.Batches[0].Nodes {
		if np.Action != rollout.ActionReconfigure || !np.NoRestart {
			t.Errorf("%s: %s (no restart %t)", np.Node, np.Action, np.NoRestart)
		}
	}
	t0 := time.Now()
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, n := range l.Nodes {
		if got := fileOf(t, n, "repository/conf/lb.inc"); got != "upstream "+n.Name+" { weight = 1 }\n" {
			t.Errorf("%s: lb.inc = %q", n.Name, got)
		}
		if c := starts(t, n, t0); c != 0 {
			t.Errorf("%s restarted %d times for a restart = false file", n.Name, c)
		}
	}
	if len(lbLog(t, l)) != 4 { // the update's drain and enable of each gateway, nothing more
		t.Errorf("lb.log %v: the hooks ran for a change without a restart", lbLog(t, l))
	}
}

// TestUpdateWithAConfigChangeRestartsOnce: a node that needs both a new
// release and a changed file gets one update that carries the new file.
func TestUpdateWithAConfigChangeRestartsOnce(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	editTemplate(t, l, "enable_data_publishing = true", "enable_data_publishing = false")
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	t0 := time.Now()
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatal(err)
	}
	gw := l.Nodes[0]
	if c := starts(t, gw, t0); c != 1 {
		t.Errorf("started %d times, want once", c)
	}
	if !strings.Contains(fileOf(t, gw, gatewayConf), "enable_data_publishing = false") {
		t.Error("the updated release does not have the changed file")
	}
	o2, _ := setup(t, l, rec)
	o2.Run = "second"
	if p := plan(t, o2); p.Summary.Update != 0 {
		t.Errorf("after the update the plan still changes %d node(s)", p.Summary.Update)
	}
}

// TestInterruptedReconfigurationIsResumed: Ctrl-C during the health gate
// of a reconfiguration; the plan resumes it, and apply finishes it without
// writing or restarting again.
func TestInterruptedReconfigurationIsResumed(t *testing.T) {
	t.Parallel()
	l, rec, reload := updated(t, "gw=1")
	editTemplate(t, l, "enable_data_publishing = true", "enable_data_publishing = false")
	o := reload()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.on = func(e tasks.Event) {
		if e.Type == tasks.EventStepStarted && e.Step == "health" {
			cancel()
		}
	}
	if _, err := rollout.Apply(ctx, ctx, o, plan(t, o)); err == nil {
		t.Fatal("apply was not interrupted")
	}
	rec.on = nil
	gw := l.Nodes[0]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, alive := apimsim.PIDAlive(gw.Home); alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not come up after the interrupted start")
		}
	}
	o = reload()
	p := plan(t, o)
	np := waveOf(p, inventory.GatewayWorker).Batches[0].Nodes[0]
	if np.Action != rollout.ActionResume || !strings.Contains(np.Reason, "reconfiguration at health") {
		t.Fatalf("planned %s (%s), want the reconfiguration resumed at health", np.Action, np.Reason)
	}
	t0 := time.Now()
	rec.mu.Lock()
	rec.events = nil
	rec.mu.Unlock()
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got := rec.steps(tasks.EventStepStarted); slices.Contains(got, "write") || slices.Contains(got, "start") || !slices.Contains(got, "health") {
		t.Errorf("the resume ran %v: want the health gate and after_healthy only", got)
	}
	if evs, err := apimsim.ReadEvents(filepath.Dir(gw.Home)); err == nil {
		for _, e := range evs {
			if e.Event == apimsim.EventStarting && e.At.After(t0) {
				t.Errorf("the resume launched the server again at %s", e.At.Format(time.TimeOnly))
			}
		}
	}
	checkHooksPaired(t, l)
	if p := plan(t, reload()); p.Summary.Update != 0 {
		t.Errorf("after the resume the plan still changes %d node(s)", p.Summary.Update)
	}
}

// steps lists the steps of the recorded events of a type, in order.
func (r *recorder) steps(typ string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Type == typ && e.Step != "" {
			out = append(out, e.Step)
		}
	}
	return out
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// TestSystemdNodeIsReconfiguredThroughItsUnit: a template change on a
// cluster where one gateway runs under a (simulated) systemd unit restarts
// that gateway with systemctl, never with the startup script.
func TestSystemdNodeIsReconfiguredThroughItsUnit(t *testing.T) {
	t.Parallel()
	specs := nodes(t, "gw=2")
	specs[0].Systemd = true
	l := labtest.New(t, lab.Spec{Nodes: specs})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	if _, err := apply(t, o, plan(t, o)); err != nil {
		t.Fatalf("the update: %v", err)
	}
	gw1 := l.Nodes[0]
	before := systemctlCalls(t, gw1)
	editTemplate(t, l, "enable_data_publishing = true", "enable_data_publishing = false")
	o, _ = setup(t, l, rec)
	o.Run = "reconfigure"
	p := plan(t, o)
	if acts := actions(p); acts["gw-1"] != rollout.ActionReconfigure || acts["gw-2"] != rollout.ActionReconfigure {
		t.Fatalf("actions %v, want both gateways reconfigured", acts)
	}
	t0 := time.Now()
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	calls := systemctlCalls(t, gw1)[len(before):]
	if countPrefix(calls, "stop") != 1 || countPrefix(calls, "start") != 1 {
		t.Errorf("gw-1's systemctl saw %q during the reconfiguration, want one stop and one start", calls)
	}
	for _, s := range startsAfter(t, gw1, t0) {
		if s.Unit != lab.DefaultUnit {
			t.Errorf("gw-1 was started outside its unit: %+v", s)
		}
	}
	if len(startsAfter(t, l.Nodes[1], t0)) != 1 {
		t.Error("gw-2 (script) was not restarted once")
	}
	for _, n := range l.Nodes {
		if !strings.Contains(fileOf(t, n, gatewayConf), "enable_data_publishing = false") {
			t.Errorf("%s: the new deployment.toml was not written", n.Name)
		}
	}
	if f := probe(t, o, "gw-1"); f.Service == nil || f.Service.ActiveState != "active" {
		t.Errorf("gw-1's unit after the reconfiguration: %+v", f.Service)
	}
}
