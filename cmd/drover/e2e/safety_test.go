package e2e

// The rollout-safety cases of issue 10, each walked the way an operator
// walks it with the real binary against real sshd nodes: a peer stopped by
// hand (with and without --limit), a kill during the health gate then
// apply, a rollback after the pack was rebuilt, a configuration edit between
// two runs, a secret in a managed template, and a pack of another release
// or a full disk refused before any change.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// outage is a time a node was out of service, from the simulator's own
// records: from its server stopping (or dying) to its next "started". up is
// zero while the node is still out of service.
type outage struct {
	node, profile string
	down, up      time.Time
}

func (o outage) String() string {
	up := "still down"
	if !o.up.IsZero() {
		up = clock(o.up)
	}
	return fmt.Sprintf("%s %s-%s", o.node, clock(o.down), up)
}

// overlaps reports whether two outages share an instant.
func (o outage) overlaps(p outage) bool {
	far := time.Now().Add(24 * time.Hour)
	oUp, pUp := o.up, p.up
	if oUp.IsZero() {
		oUp = far
	}
	if pUp.IsZero() {
		pUp = far
	}
	return o.down.Before(pUp) && p.down.Before(oUp)
}

// outages lists every node's outages of one profile ("" for all).
func outages(t *testing.T, f *fixture, profile string) []outage {
	t.Helper()
	var out []outage
	for _, n := range f.lab.Nodes {
		if profile != "" && n.Profile != profile {
			continue
		}
		var cur *outage
		for _, e := range events(t, n) {
			switch e.Event {
			case apimsim.EventStopping, apimsim.EventKilled, apimsim.EventCrashed, apimsim.EventFailed:
				if cur == nil {
					cur = &outage{node: n.Name, profile: n.Profile, down: e.At}
				}
			case apimsim.EventStarted:
				if cur != nil {
					cur.up = e.At
					out = append(out, *cur)
					cur = nil
				}
			}
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	return out
}

// checkAtMostOneDown fails when two outages of the list overlap: with
// max_unavailable = 1, no two nodes of a profile may be out of service at
// the same instant, whoever took them down.
func checkAtMostOneDown(t *testing.T, outs []outage) {
	t.Helper()
	for i, a := range outs {
		for _, b := range outs[i+1:] {
			if a.node != b.node && a.profile == b.profile && a.overlaps(b) {
				t.Errorf("capacity: %s and %s (%s, max_unavailable 1) were out of service at the same time: %s and %s",
					a.node, b.node, a.profile, a, b)
			}
		}
	}
}

func outagesOf(outs []outage, node string) []outage {
	var out []outage
	for _, o := range outs {
		if o.node == node {
			out = append(out, o)
		}
	}
	return out
}

// lbLog is what the load balancer script recorded.
func (f *fixture) lbLog() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "lb.log"))
	return string(b)
}

// checkHooksPaired fails when a node the load balancer log drained is not
// enabled again after its last drain.
func checkHooksPaired(t *testing.T, lb string) {
	t.Helper()
	drained := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(lb), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			drained[f[1]] = f[0] == "drain"
		}
	}
	for n, d := range drained {
		if d {
			t.Errorf("%s is left drained in the load balancer: lb.log = %q", n, lb)
		}
	}
}

// planJSON runs plan --json (extra args first) and returns every node of
// the plan with its action and reason, and its steps.
type planNode struct {
	Node   string `json:"node"`
	Action string `json:"action"`
	Reason string `json:"reason"`
	Steps  []struct {
		Name    string   `json:"name"`
		Done    bool     `json:"done"`
		Summary string   `json:"summary"`
		Details []string `json:"details"`
	} `json:"steps"`
}

func (f *fixture) planJSON(args ...string) (map[string]planNode, result) {
	f.t.Helper()
	r := f.drover(append(append([]string{}, args...), "plan", "--json")...)
	var p struct {
		Waves []struct {
			Batches []struct {
				Nodes []planNode `json:"nodes"`
			} `json:"batches"`
			Skipped []planNode `json:"skipped"`
		} `json:"waves"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		f.t.Fatalf("plan --json (exit %d): %v\n%s", r.code, err, r.output())
	}
	out := map[string]planNode{}
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			for _, n := range b.Nodes {
				out[n.Node] = n
			}
		}
		for _, n := range w.Skipped {
			out[n.Node] = n
		}
	}
	return out, r
}

// runIDOfJSON finds the run id in apply --json's run_started event.
func runIDOfJSON(t *testing.T, stdout string) string {
	t.Helper()
	for _, l := range strings.Split(stdout, "\n") {
		var ev struct{ Type, Run string }
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == "run_started" && ev.Run != "" {
			return ev.Run
		}
	}
	t.Fatalf("no run_started event in:\n%s", stdout)
	return ""
}

// nodeLines are the lines of s that name node as a word.
func nodeLines(s, node string) []string {
	re := regexp.MustCompile(`(^|[^\w-])` + regexp.QuoteMeta(node) + `($|[^\w-])`)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// lineWith reports whether one of lines contains sub.
func lineWith(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// checkNothingStarted fails when any node has a journal, a staged release,
// a pushed pack or a lock: no run began on it.
func checkNothingStarted(t *testing.T, f *fixture) {
	t.Helper()
	for _, n := range f.lab.Nodes {
		if recs := journal(t, n); len(recs) != 0 {
			t.Errorf("%s: %d journal record(s) written (first: %+v); nothing should have begun", n.Name, len(recs), recs[0])
		}
		for _, p := range []string{"staged", "unpack", "lock"} {
			if _, err := os.Stat(statePath(n, p)); err == nil {
				t.Errorf("%s: %s exists in drover's state directory; nothing should have begun", n.Name, p)
			}
		}
		if packs, _ := filepath.Glob(statePath(n, "packs", "*")); len(packs) != 0 {
			t.Errorf("%s: a pack was pushed (%v); nothing should have begun", n.Name, packs)
		}
		if !running(n.Home) || level(t, n.Home) != fromLevel {
			t.Errorf("%s: running %v at level %d; want running at level %d, untouched", n.Name, running(n.Home), level(t, n.Home), fromLevel)
		}
	}
}

// 1. A gateway stopped by hand, no --limit, max_unavailable 1: it costs no
// extra capacity, so it goes first; no other gateway goes down while it is
// down.
func TestPeerStoppedByHandGoesFirstAndCapacityHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// gw-3, not gw-1: inventory order alone would put gw-1 first.
	gw3 := f.node("gw-3")
	stopServer(t, gw3)

	r := f.drover("apply", "--yes")
	gws := outages(t, f, "gateway-worker")
	checkAtMostOneDown(t, gws)

	if r.code != 0 {
		// Refusing or halting is allowed, taking a second gateway down is
		// not (checked above).
		if r.code != 1 && r.code != 3 {
			t.Errorf("apply exited %d; want 0 (gw-3 updated first), or 3/1 (refused or halted)", r.code)
		}
		t.Logf("apply did not update the cluster (exit %d): %s", r.code, lastLine(r.stderr, "drover: "))
		return
	}
	// Updated: every node at the new level, gw-3 first among the gateways.
	for _, n := range f.lab.Nodes {
		if got := level(t, n.Home); got != toLevel || !running(n.Home) {
			t.Errorf("%s: level %d, running %v after apply exited 0; want level %d running", n.Name, got, running(n.Home), toLevel)
		}
	}
	own := outagesOf(gws, "gw-3")
	if len(own) != 1 || own[0].up.IsZero() {
		t.Fatalf("gw-3 outages %v: want one, from the stop by hand to drover starting it", own)
	}
	for _, o := range gws {
		if o.node == "gw-3" {
			continue
		}
		if !o.down.After(own[0].up) {
			t.Errorf("%s was taken down at %s, before gw-3 (stopped by hand, needing the update) was back at %s: the stopped gateway must go first",
				o.node, clock(o.down), clock(own[0].up))
		}
	}
	for _, name := range []string{"gw-1", "gw-2", "gw-4"} {
		if c := len(outagesOf(gws, name)); c != 1 {
			t.Errorf("%s went out of service %d time(s), want once", name, c)
		}
	}
	t.Run("hooks paired", func(t *testing.T) { checkHooksPaired(t, f.lbLog()) })
}

// 2. The same with --limit naming other gateways: capacity is judged on the
// whole profile, so with gw-1 down and max_unavailable 1 neither gw-3 nor
// gw-4 may be taken down. plan says so; apply changes nothing.
func TestPeerStoppedByHandBlocksLimitedGateways(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	gw1 := f.node("gw-1")
	stopServer(t, gw1)

	p := f.drover("--limit", "gw-3,gw-4", "plan")
	for _, name := range []string{"gw-3", "gw-4"} {
		ok := false
		for _, l := range nodeLines(p.stdout, name) {
			if strings.Contains(l, "blocked") && strings.Contains(l, "no capacity") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("plan --limit gw-3,gw-4 does not show %s as blocked (no capacity) while gw-1 is down:\n%s", name, p.stdout)
		}
	}
	pj, _ := f.planJSON("--limit", "gw-3,gw-4")
	for _, name := range []string{"gw-3", "gw-4"} {
		if n := pj[name]; n.Action != "blocked" || !strings.Contains(n.Reason, "capacity") {
			t.Errorf("plan --json: %s action %q reason %q; want blocked for lack of capacity", name, n.Action, n.Reason)
		}
	}

	before := f.snapshot()
	r := f.drover("--limit", "gw-3,gw-4", "apply", "--yes")
	if r.code != 3 {
		t.Errorf("apply --limit gw-3,gw-4 with gw-1 down exited %d, want 3 (refused before changing anything)", r.code)
	}
	f.unchanged(t, before, "by an apply that had no capacity")
	checkAtMostOneDown(t, outages(t, f, "gateway-worker"))
	for _, name := range []string{"gw-3", "gw-4"} {
		n := f.node(name)
		if !running(n.Home) || level(t, n.Home) != fromLevel || len(journal(t, n)) != 0 {
			t.Errorf("%s: running %v, level %d, %d journal record(s); want untouched", name, running(n.Home), level(t, n.Home), len(journal(t, n)))
		}
		if _, err := os.Stat(statePath(n, "lock")); err == nil {
			t.Errorf("%s: a lock is left", name)
		}
	}
	if running(gw1.Home) {
		t.Error("gw-1, stopped by hand and outside --limit, was started")
	}
	if lb := f.lbLog(); lb != "" {
		t.Errorf("the load balancer hooks ran: lb.log = %q", lb)
	}
}

// 3. drover killed while a gateway is in its health gate: status shows the
// node interrupted, unlock, plan shows it as resume, and apply finishes it
// (health gate, after_healthy) before any other gateway goes down.
func TestKillInHealthGateThenApplyFinishesTheNodeFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// Killed half a second into gw-2's health gate: the gate has begun, in
	// the journal too (step_started is sent just before the journal records
	// the step's begin), and lasts at least start delay + min_healthy_time.
	inHealth := func(ev map[string]any) bool {
		return ev["type"] == "step_started" && ev["node"] == "gw-2" && ev["step"] == "health"
	}
	p := f.startKillOnEvent(inHealth, 500*time.Millisecond, syscall.SIGKILL, "apply", "--yes", "--json")
	killed := p.wait()
	if p.killedAt() == "" {
		t.Fatalf("drover ended (exit %d) before gw-2 entered its health gate", killed.code)
	}
	if killed.code != -1 {
		t.Fatalf("drover exited %d; it should have died from SIGKILL", killed.code)
	}
	run := runIDOfJSON(t, killed.stdout)
	// The kill must have landed inside the gate for the case to mean
	// anything: health begun and not ended in gw-2's journal.
	var began, ended bool
	for _, r := range journal(t, f.node("gw-2")) {
		if r.Run == run && r.Step == "health" {
			began = began || r.Phase == "begin"
			ended = ended || r.Phase == "end"
		}
	}
	if !began || ended {
		t.Fatalf("the kill missed gw-2's health gate (health begun %v, ended %v in its journal)", began, ended)
	}

	st, _ := f.status()
	if lr := st["gw-2"].LastRun; lr == nil || lr.ID != run || lr.Outcome != "interrupted" || lr.Step != "health" {
		t.Errorf("status: gw-2 last_run %+v; want run %s interrupted at health", lr, run)
	}
	plain := f.drover("status")
	if !regexp.MustCompile(`(?m)^gw-2 .*` + regexp.QuoteMeta(run) + ` interrupted at health`).MatchString(plain.stdout) {
		t.Errorf("status does not show gw-2's run %s as interrupted at health:\n%s", run, plain.stdout)
	}
	if r := f.drover("unlock", run, "--force"); r.code != 0 {
		t.Fatalf("unlock exited %d", r.code)
	}

	plan := f.drover("plan")
	resumes := false
	for _, l := range nodeLines(plan.stdout, "gw-2") {
		if strings.Contains(l, "resume") && strings.Contains(l, "health") {
			resumes = true
		}
	}
	if !resumes {
		t.Errorf("plan does not show gw-2 as resuming at health:\n%s", plan.stdout)
	}
	if pj, _ := f.planJSON(); pj["gw-2"].Action != "resume" || !strings.Contains(pj["gw-2"].Reason, "health") {
		t.Errorf("plan --json: gw-2 action %q reason %q; want resume at health", pj["gw-2"].Action, pj["gw-2"].Reason)
	}

	r := f.drover("apply", "--yes")
	if r.code != 0 {
		t.Errorf("apply after unlock exited %d, want 0", r.code)
	}
	if !regexp.MustCompile(`(?m)^\S+ gw-2\s+health\s`).MatchString(r.stderr) {
		t.Errorf("the resumed apply did not run gw-2's health gate:\n%s", r.stderr)
	}
	// The load balancer saw gw-2 enabled (its after_healthy hook) before
	// gw-3 was drained and stopped, and every gateway enabled at the end.
	want := "drain gw-1\nenable gw-1\ndrain gw-2\nenable gw-2\ndrain gw-3\nenable gw-3\ndrain gw-4\nenable gw-4\n"
	if lb := f.lbLog(); lb != want {
		t.Errorf("lb.log = %q, want %q (gw-2 finished, after_healthy included, before gw-3 was touched)", lb, want)
	}
	gws := outages(t, f, "gateway-worker")
	checkAtMostOneDown(t, gws)
	for _, n := range f.lab.Nodes {
		if got := level(t, n.Home); got != toLevel || !running(n.Home) {
			t.Errorf("%s: level %d, running %v; want level %d running", n.Name, got, running(n.Home), toLevel)
		}
	}
	st, _ = f.status()
	for _, n := range f.lab.Nodes {
		if s := st[n.Name]; s == nil || !s.Healthy || s.Lock != nil || s.LastRun == nil || s.LastRun.Outcome != "done" {
			t.Errorf("%s after the resumed apply: %+v; want healthy, unlocked, last run done", n.Name, s)
		}
	}
}

// 4. Rollback after the pack was rebuilt at the same path: recover
// --rollback works from what the node has switched in and kept, and the
// node really runs the previous release afterwards.
func TestRollbackAfterThePackWasRebuilt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	gw1 := f.node("gw-1")
	if r := f.drover("apply", "--yes", "--limit", "gw-1"); r.code != 0 || level(t, gw1.Home) != toLevel {
		t.Fatalf("apply on gw-1 exited %d, level %d", r.code, level(t, gw1.Home))
	}
	// The operator rebuilds the pack (a newer level, same file name) and
	// records its new checksum in the inventory.
	if err := apimsim.BuildPack(f.lab.Pack, apimsim.Spec{Version: version, Level: toLevel + 1, SimBin: simBin}); err != nil {
		t.Fatal(err)
	}
	f.usePack(f.lab.Pack)

	r := f.drover("recover", "gw-1", "--rollback", "--yes")
	if r.code != 0 {
		t.Errorf("recover --rollback exited %d, want 0", r.code)
	}
	got := level(t, gw1.Home)
	pid, alive := apimsim.PIDAlive(gw1.Home)
	if r.code == 0 && got == toLevel && alive {
		t.Errorf("recover --rollback exited 0 while the new release (level %d) still runs at %s", got, gw1.Home)
	}
	if got != fromLevel {
		t.Errorf("gw-1: level %d in home after the rollback, want %d (the previous release)", got, fromLevel)
	}
	if !alive {
		t.Fatalf("gw-1: no server running after the rollback")
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), gw1.Home) {
		t.Errorf("gw-1: PID %d does not name home %s: %q", pid, gw1.Home, cmdline)
	}
	// The server running now started after the rollback, on the previous
	// level, as the simulator itself recorded.
	evs := events(t, gw1)
	var last apimsim.Event
	for _, e := range evs {
		if e.Event == apimsim.EventStarted {
			last = e
		}
	}
	if last.PID != pid || last.Level != fromLevel {
		t.Errorf("gw-1: the running server (PID %d) is not one started at level %d by the rollback; last start: %+v", pid, fromLevel, last)
	}
	failed, _ := filepath.Glob(statePath(gw1, "failed", "*"))
	if len(failed) != 1 || level(t, failed[0]) != toLevel {
		t.Errorf("the release rolled back from (level %d) is not kept in failed/: %v", toLevel, failed)
	}
	st, _ := f.status("--limit", "gw-1")
	if s := st["gw-1"]; s == nil || s.UpdateLevel != fromLevel || !s.Running || !s.Healthy || s.Lock != nil {
		t.Errorf("status of gw-1 after recover --rollback: %+v; want level %d, running, healthy, unlocked", s, fromLevel)
	}
}

// 5. An operator edit of deployment.toml on the running release between a
// run that configured the staged copy and the next run: configure runs
// again (the plan says why) and the edit is in the updated node.
func TestOperatorEditBetweenRunsIsCarried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// A traffic manager: the gateways' deployment.toml is a managed file,
	// which wins over the operator's copy by design.
	tm1 := f.node("tm-1")
	p := f.startKillOn(stepLine("tm-1", "configure"), syscall.SIGKILL, "apply", "--yes", "--limit", "tm-1")
	killed := p.wait()
	if p.killedAt() == "" {
		t.Fatalf("drover ended (exit %d) before tm-1's configure step was done", killed.code)
	}
	if c := countEvents(t, tm1, apimsim.EventStopping); c != 0 || !running(tm1.Home) {
		t.Fatalf("the kill came too late: tm-1 was already stopped (the case needs drover killed between configure and stop)")
	}
	run := runIDOf(t, killed.stderr)
	if r := f.drover("unlock", run, "--force"); r.code != 0 {
		t.Fatalf("unlock exited %d", r.code)
	}

	// The operator edits the running release's deployment.toml by hand.
	const edit = "\n[operator_edit]\nmarker = \"edited-between-runs\"\n"
	conf := filepath.Join(tm1.Home, "repository", "conf", "deployment.toml")
	fh, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(edit); err != nil {
		t.Fatal(err)
	}
	fh.Close()

	pj, _ := f.planJSON("--limit", "tm-1")
	configureAgain := false
	for _, s := range pj["tm-1"].Steps {
		if s.Name == "configure" && !s.Done {
			configureAgain = true
		}
	}
	if !configureAgain {
		t.Errorf("plan --json: tm-1's configure step is done although deployment.toml changed on the running release: %+v", pj["tm-1"])
	}
	plan := f.drover("--limit", "tm-1", "plan")
	why := regexp.MustCompile(`(?i)deployment\.toml.*(chang|edit|modif|differ)|(chang|edit|modif|differ).*deployment\.toml`)
	if !why.MatchString(plan.stdout) {
		t.Errorf("plan does not say configure runs again because deployment.toml changed on the running release:\n%s", plan.stdout)
	}

	r := f.drover("apply", "--yes", "--limit", "tm-1")
	if r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	if got := level(t, tm1.Home); got != toLevel || !running(tm1.Home) {
		t.Errorf("tm-1: level %d, running %v; want level %d running", got, running(tm1.Home), toLevel)
	}
	b, _ := os.ReadFile(conf)
	if !strings.Contains(string(b), `marker = "edited-between-runs"`) {
		prev, _ := os.ReadFile(filepath.Join(statePath(tm1, "previous"), "repository", "conf", "deployment.toml"))
		t.Errorf("the updated tm-1's deployment.toml lacks the operator's edit (the kept previous release has it: %v)",
			strings.Contains(string(prev), "edited-between-runs"))
	}
}

// 6. A secret from env() in a managed template is written on the node and
// appears nowhere else: not in plan output, plan JSON, the plan file,
// apply's JSON events, the run record or the nodes' journals.
func TestSecretInManagedTemplateIsNeverShown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	const secret = "s3cr3t-value-xyz"
	tmpl, err := os.ReadFile(filepath.Join("testdata", "templates", "gateway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl = append(tmpl, []byte("\n[database.apim_db]\npassword = \"${env(\"DB_PASS\")}\"\n")...)
	if err := os.WriteFile(filepath.Join(f.dir, "templates", "gateway-secret.toml"), tmpl, 0o644); err != nil {
		t.Fatal(err)
	}
	f.editInventory(`template = "templates/gateway.toml"`, `template = "templates/gateway-secret.toml"`)
	f.env = []string{"DB_PASS=" + secret}

	var outs []result
	var names []string
	run := func(args ...string) result {
		r := f.drover(args...)
		outs, names = append(outs, r), append(names, strings.Join(args, " "))
		return r
	}
	plan := run("plan")
	run("plan", "--json")
	if r := run("plan", "-o", "plan.json"); r.code != 0 {
		t.Errorf("plan -o exited %d", r.code)
	}
	apply := run("apply", "--yes", "--json", "--limit", "profile:gateway-worker")
	if apply.code != 0 {
		t.Errorf("apply exited %d, want 0", apply.code)
	}
	for i, r := range outs {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("drover %s printed the secret on stdout", names[i])
		}
		if strings.Contains(r.stderr, secret) {
			t.Errorf("drover %s printed the secret on stderr", names[i])
		}
	}
	// Every file drover wrote on the controller: the plan file, run records.
	if recs, _ := filepath.Glob(filepath.Join(f.dir, ".drover", "runs", "*.json")); len(recs) == 0 {
		t.Error("no run record was written")
	}
	filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
			t.Errorf("the secret is stored on the controller in %s", p)
		}
		return nil
	})
	// On the nodes: drover's own files (journal, state) never hold it; the
	// managed file in the release does.
	for _, n := range f.lab.Nodes {
		if n.Profile != "gateway-worker" {
			continue
		}
		ents, _ := os.ReadDir(statePath(n))
		for _, e := range ents {
			if e.IsDir() {
				continue // releases (staged, previous, failed) and packs
			}
			if b, _ := os.ReadFile(statePath(n, e.Name())); strings.Contains(string(b), secret) {
				t.Errorf("%s: the secret is stored in drover's %s", n.Name, statePath(n, e.Name()))
			}
		}
		if len(journal(t, n)) == 0 {
			t.Errorf("%s: no journal written", n.Name)
		}
		b, _ := os.ReadFile(filepath.Join(n.Home, "repository", "conf", "deployment.toml"))
		if !strings.Contains(string(b), `password = "`+secret+`"`) {
			t.Errorf("%s: the managed deployment.toml does not hold the secret's value:\n%s", n.Name, b)
		}
		if got := level(t, n.Home); got != toLevel {
			t.Errorf("%s: level %d, want %d", n.Name, got, toLevel)
		}
	}
	t.Run("diff names the variable", func(t *testing.T) {
		if !strings.Contains(plan.stdout, "(env DB_PASS)") {
			t.Errorf("the plan's managed-file diff does not show the variable as (env DB_PASS):\n%s", tail(plan.stdout, 40))
		}
	})
}

// 7. A pack of another release is refused before any node changes: exit
// 3, every node named with its reason.
func TestWrongReleasePackRefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	wrong := filepath.Join(f.dir, "packs", "wso2am-3.2.0-u12.zip")
	if err := apimsim.BuildPack(wrong, apimsim.Spec{Version: "3.2.0", Level: toLevel, SimBin: simBin}); err != nil {
		t.Fatal(err)
	}
	f.usePack(wrong)
	before := f.snapshot()
	t.Run("plan shows the blocker", func(t *testing.T) {
		// Invariant 6: plan shows what apply would refuse.
		p := f.drover("plan")
		for _, n := range f.lab.Nodes {
			if !lineWith(nodeLines(p.output(), n.Name), "3.2.0") {
				t.Errorf("plan does not show %s blocked by the pack of another release (wso2am-3.2.0)", n.Name)
			}
		}
	})

	r := f.drover("apply", "--yes")
	if r.code != 3 {
		t.Errorf("apply with a 3.2.0 pack on a 4.4.0 cluster exited %d, want 3 (refused before changing anything)", r.code)
	}
	for _, n := range f.lab.Nodes {
		if !lineWith(nodeLines(r.output(), n.Name), "3.2.0") {
			t.Errorf("the refusal does not name %s with its reason (the pack is wso2am-3.2.0)", n.Name)
		}
	}
	f.unchanged(t, before, "although the pack was of another release")
	checkNothingStarted(t, f)
}

// 8. A node without the disk space the update needs is refused before any
// node changes, including the control planes of the waves before it.
func TestFullDiskRefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{tmpfs: map[string]string{"gw-4": "8m"}})
	gw4 := f.node("gw-4")
	// Fill gw-4's filesystem, leaving less than the pack alone needs.
	dir := filepath.Dir(gw4.Home)
	var fsst syscall.Statfs_t
	if err := syscall.Statfs(dir, &fsst); err != nil {
		t.Fatal(err)
	}
	const leave = 96 << 10
	free := int64(fsst.Bavail) * int64(fsst.Bsize)
	if free <= leave {
		t.Fatalf("gw-4's tmpfs has only %d bytes free", free)
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, free-leave), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := f.status("--limit", "gw-4")
	if s := st["gw-4"]; s == nil || s.DiskFreeBytes <= 0 || s.DiskFreeBytes > 2*leave {
		t.Fatalf("gw-4 reports %+v free; the test wants about %d bytes", s, leave)
	}
	before := f.snapshot()
	// A line naming gw-4, the disk and two sizes (free, needed).
	size := regexp.MustCompile(`\d+(\.\d+)? ?[KMGT]?i?B\b`)
	namesSizes := func(out string) bool {
		for _, l := range nodeLines(out, "gw-4") {
			if strings.Contains(l, "disk") && len(size.FindAllString(l, -1)) >= 2 {
				return true
			}
		}
		return false
	}
	t.Run("plan shows the blocker", func(t *testing.T) {
		// Invariant 6: plan shows what apply would refuse.
		if p := f.drover("plan"); !namesSizes(p.output()) {
			t.Errorf("plan does not show gw-4 blocked for lack of disk space, with the sizes")
		}
	})

	r := f.drover("apply", "--yes")
	if r.code != 3 {
		t.Errorf("apply with gw-4's disk full exited %d, want 3 (refused before changing anything)", r.code)
	}
	if !namesSizes(r.output()) {
		t.Errorf("the refusal does not name gw-4 with the free and needed disk sizes:\n%s", tail(r.stderr, 20))
	}
	f.unchanged(t, before, "although gw-4 lacked disk space")
	checkNothingStarted(t, f)
}
