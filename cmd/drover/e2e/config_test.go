package e2e

// Configuration as desired state (issue 13), walked with the real binary
// against real sshd nodes: a changed gateway template rolled out as a
// reconfiguration after an update, a file edited by hand on one node
// reported and converged, a template that breaks the server rolled back on
// the first gateway with the run halted, the operator's carried files kept
// across an update, and jvm/env settings reaching the server and changed
// later by a reconfiguration.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

const (
	gatewayConf    = "repository/conf/deployment.toml"
	gatewayProfile = "gateway-worker"
)

// smallCluster is a control plane and two gateways: enough for the cases
// that need one gateway changed and one left alone.
var smallCluster = []lab.NodeSpec{
	{Name: "cp-1", Profile: "control-plane"},
	{Name: "gw-1", Profile: gatewayProfile}, {Name: "gw-2", Profile: gatewayProfile},
}

// updateAll runs `drover apply --yes` on a fresh fixture and checks every
// node reached the target level: the starting point of a configuration
// change.
func (f *fixture) updateAll() {
	f.t.Helper()
	if r := f.drover("apply", "--yes"); r.code != 0 {
		f.t.Fatalf("the update: apply exited %d, want 0", r.code)
	}
	for _, n := range f.lab.Nodes {
		if got := level(f.t, n.Home); got != toLevel || !running(n.Home) {
			f.t.Fatalf("%s after the update: level %d, running %v; want level %d running", n.Name, got, running(n.Home), toLevel)
		}
	}
}

// templatePath is the controller's gateway template.
func (f *fixture) templatePath() string { return filepath.Join(f.dir, "templates", "gateway.toml") }

// editTemplate replaces old with new in the controller's gateway template,
// as an operator would; old must be there.
func (f *fixture) editTemplate(old, new string) {
	f.t.Helper()
	b, err := os.ReadFile(f.templatePath())
	if err != nil {
		f.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		f.t.Fatalf("the gateway template has no %q:\n%s", old, b)
	}
	if err := os.WriteFile(f.templatePath(), []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// rendering is the gateway template as it should be written on n, rendered
// here independently of drover: the template only uses ${node.name},
// ${node.offset}, ${cluster.name} and WSO2's own $${...} placeholders.
func (f *fixture) rendering(n *lab.Node) string {
	f.t.Helper()
	b, err := os.ReadFile(f.templatePath())
	if err != nil {
		f.t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "$${", "\x00{")
	s = strings.NewReplacer("${node.name}", n.Name, "${node.offset}", strconv.Itoa(n.Offset), "${cluster.name}", "e2e").Replace(s)
	if strings.Contains(s, "${") {
		f.t.Fatalf("the test's rendering does not know a placeholder of the template:\n%s", s)
	}
	return strings.ReplaceAll(s, "\x00{", "${")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventsAfter are a node's lifecycle records of one kind after t0.
func eventsAfter(t *testing.T, n *lab.Node, kind string, t0 time.Time) []apimsim.Event {
	t.Helper()
	var out []apimsim.Event
	for _, e := range events(t, n) {
		if e.Event == kind && e.At.After(t0) {
			out = append(out, e)
		}
	}
	return out
}

// lbSince is what the load balancer script recorded after the first n
// bytes of its log.
func (f *fixture) lbSince(n int) string { return f.lbLog()[n:] }

// checkDrainedOnce checks the part of lb.log a run wrote: exactly the
// nodes of want, each drained then enabled once, back to back, in order.
func checkDrainedOnce(t *testing.T, lb string, want ...string) {
	t.Helper()
	var exp strings.Builder
	for _, n := range want {
		fmt.Fprintf(&exp, "drain %s\nenable %s\n", n, n)
	}
	if lb != exp.String() {
		t.Errorf("the run's lb.log = %q, want %q", lb, exp.String())
	}
}

// reconfHeadRE is a reconfigured node's head line in `drover plan`.
var reconfHeadRE = regexp.MustCompile(`^    (\S+) \(\S+\): reconfigure at level (\d+); (.*)$`)

// reconfigured splits `drover plan`'s text into the blocks of the nodes it
// reconfigures: the head line's reason and the step lines under it.
func reconfigured(plan string) map[string][]string {
	out := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(plan, "\n") {
		if m := reconfHeadRE.FindStringSubmatch(l); m != nil {
			cur = m[1]
			out[cur] = []string{fmt.Sprintf("level %s; %s", m[2], m[3])}
			continue
		}
		if cur != "" && strings.HasPrefix(l, "      ") {
			out[cur] = append(out[cur], strings.TrimSpace(l))
			continue
		}
		cur = ""
	}
	return out
}

// upToDate lists the nodes of the plan's "Up to date:" lines.
func upToDate(plan string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  Up to date: (.*)$`).FindAllStringSubmatch(plan, -1) {
		out = append(out, strings.Split(m[1], ", ")...)
	}
	return out
}

// hasLine reports whether lines holds a line equal to want once trimmed.
func hasLine(lines []string, want string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.TrimSpace(l) == want })
}

// detailedExit runs `plan --detailed-exitcode` and returns its exit status.
func (f *fixture) detailedExit() int {
	f.t.Helper()
	return f.drover("plan", "--detailed-exitcode").code
}

// 1. A changed gateway template after an update: every gateway planned as a
// reconfiguration with the diff, the other profiles up to date; apply
// restarts each gateway once, one at a time behind the hooks, and writes the
// new rendering; then nothing is left to change.
func TestTemplateChangeRollsOutOverSSH(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.updateAll()
	lbMark := len(f.lbLog())

	f.editTemplate("enable_data_publishing = true", "enable_data_publishing = false")
	plan := f.drover("plan")
	if plan.code != 0 {
		t.Fatalf("plan exited %d, want 0", plan.code)
	}
	blocks := reconfigured(plan.stdout)
	fresh := upToDate(plan.stdout)
	for _, n := range f.lab.Nodes {
		b, reconf := blocks[n.Name]
		if n.Profile != gatewayProfile {
			if reconf || !slices.Contains(fresh, n.Name) {
				t.Errorf("%s (%s): reconfigured %v, in an Up to date line %v; want up to date:\n%s", n.Name, n.Profile, reconf, slices.Contains(fresh, n.Name), plan.stdout)
			}
			continue
		}
		if !reconf {
			t.Errorf("%s: not planned as \"reconfigure at level\":\n%s", n.Name, plan.stdout)
			continue
		}
		if want := fmt.Sprintf("level %d; ", toLevel); !strings.HasPrefix(b[0], want) || !strings.Contains(b[0], "changed in the inventory") || strings.Contains(b[0], "by hand") {
			t.Errorf("%s: head %q, want reconfigure at level %d, changed in the inventory (not by hand)", n.Name, b[0], toLevel)
		}
		if !lineWith(b, gatewayConf) || !hasLine(b, "-enable_data_publishing = true") || !hasLine(b, "+enable_data_publishing = false") {
			t.Errorf("%s: the plan does not show deployment.toml's diff:\n%s", n.Name, strings.Join(b, "\n"))
		}
		// The plan names the directory apply backs the replaced files up in.
		if want := "backup back up the files to replace in " + statePath(n, "config-backups") + ", checksummed"; !slices.ContainsFunc(b, func(l string) bool { return strings.Join(strings.Fields(l), " ") == want }) {
			t.Errorf("%s: the plan does not say %q:\n%s", n.Name, want, strings.Join(b, "\n"))
		}
		if lineWith(b, "stage") || lineWith(b, "optimize") {
			t.Errorf("%s: a reconfiguration stages or optimizes:\n%s", n.Name, strings.Join(b, "\n"))
		}
	}
	if !strings.Contains(plan.stdout, "0 to update, 4 to reconfigure, 4 up to date") {
		t.Errorf("plan's summary does not count 4 gateways to reconfigure and 4 nodes up to date:\n%s", plan.stdout)
	}
	if c := f.detailedExit(); c != 4 {
		t.Errorf("plan --detailed-exitcode exited %d with 4 gateways to reconfigure, want 4", c)
	}

	t0 := time.Now()
	if r := f.drover("apply", "--yes"); r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	var gateways []string
	for _, n := range f.lab.Nodes {
		stops, starts := len(eventsAfter(t, n, apimsim.EventStopping, t0)), len(eventsAfter(t, n, apimsim.EventStarted, t0))
		if n.Profile != gatewayProfile {
			if stops+starts != 0 {
				t.Errorf("%s (%s) was restarted (%d stop(s), %d start(s)) although nothing of it changed", n.Name, n.Profile, stops, starts)
			}
			continue
		}
		gateways = append(gateways, n.Name)
		if stops != 1 || starts != 1 {
			t.Errorf("%s: %d stop(s) and %d start(s) in the reconfiguration, want exactly one of each", n.Name, stops, starts)
		}
		if got, want := readFile(t, filepath.Join(n.Home, gatewayConf)), f.rendering(n); got != want {
			t.Errorf("%s: deployment.toml is not the new rendering:\n%s\nwant:\n%s", n.Name, got, want)
		}
		if got := level(t, n.Home); got != toLevel || !running(n.Home) {
			t.Errorf("%s: level %d, running %v; want level %d (a reconfiguration changes no release), running", n.Name, got, running(n.Home), toLevel)
		}
	}
	// Capacity and order over the whole history (the update, then the
	// reconfiguration), and the reconfiguration's gateway outages on their own.
	checkOrderAndCapacity(t, f, spans(t, f))
	var reconf []outage
	for _, o := range outages(t, f, gatewayProfile) {
		if o.down.After(t0) {
			reconf = append(reconf, o)
		}
	}
	if len(reconf) != 4 {
		t.Errorf("%d gateway outage(s) in the reconfiguration, want 4: %v", len(reconf), reconf)
	}
	checkAtMostOneDown(t, reconf)
	checkHooksPaired(t, f.lbLog())
	checkDrainedOnce(t, f.lbSince(lbMark), gateways...)

	if c := f.detailedExit(); c != 0 {
		t.Errorf("plan --detailed-exitcode after the reconfiguration exited %d, want 0 (nothing to change)", c)
	}
}

// 2. deployment.toml edited by hand on one gateway: facts report the drift
// for that node only, the plan names only that node, changed by hand, and
// apply writes the rendering back without touching any other node.
func TestHandEditDriftOverSSH(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{nodes: smallCluster})
	f.updateAll()
	lbMark := len(f.lbLog())
	gw := f.node("gw-2")
	conf := filepath.Join(gw.Home, gatewayConf)
	want := readFile(t, conf)
	if want != f.rendering(gw) {
		t.Fatalf("%s: deployment.toml after the update is not the rendering:\n%s", gw.Name, want)
	}
	const edit = "\n[operator]\nmarker = \"edited by hand\"\n"
	if err := os.WriteFile(conf, []byte(want+edit), 0o644); err != nil {
		t.Fatal(err)
	}

	facts := f.drover("facts", "--json")
	if facts.code != 0 {
		t.Errorf("facts exited %d, want 0", facts.code)
	}
	for name, s := range parseStatus(t, facts.stdout) {
		drift, has := s.raw["drift"]
		if name != gw.Name {
			if has && jsonKind(drift) != "null" && !(jsonKind(drift) == "array" && len(drift.([]any)) == 0) {
				t.Errorf("facts --json: %s has drift %v, want none", name, drift)
			}
			continue
		}
		list, _ := drift.([]any)
		if len(list) != 1 {
			t.Errorf("facts --json: %s drift = %v, want one file", name, drift)
			continue
		}
		d, _ := list[0].(map[string]any)
		if d["path"] != gatewayConf || d["by_hand"] != true || d["inventory"] == true {
			t.Errorf("facts --json: %s drift %v, want %s changed by hand", name, d, gatewayConf)
		}
	}

	plan := f.drover("plan")
	if plan.code != 0 {
		t.Fatalf("plan exited %d, want 0", plan.code)
	}
	blocks := reconfigured(plan.stdout)
	if len(blocks) != 1 || blocks[gw.Name] == nil {
		t.Fatalf("plan reconfigures %d node(s), want %s only:\n%s", len(blocks), gw.Name, plan.stdout)
	}
	b := blocks[gw.Name]
	if !strings.Contains(b[0], "changed on the node by hand") || strings.Contains(b[0], "in the inventory") {
		t.Errorf("%s: head %q, want changed on the node by hand (only)", gw.Name, b[0])
	}
	if !hasLine(b, `-marker = "edited by hand"`) || !hasLine(b, "-[operator]") {
		t.Errorf("%s: the plan does not show the hand edit being removed:\n%s", gw.Name, strings.Join(b, "\n"))
	}
	for _, n := range f.lab.Nodes {
		if n != gw && lineWith(nodeLines(plan.stdout, n.Name), "by hand") {
			t.Errorf("the plan says %s was changed by hand:\n%s", n.Name, plan.stdout)
		}
	}
	if c := f.detailedExit(); c != 4 {
		t.Errorf("plan --detailed-exitcode exited %d with a hand edit to converge, want 4", c)
	}

	t0 := time.Now()
	if r := f.drover("apply", "--yes"); r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	if got := readFile(t, conf); got != want {
		t.Errorf("%s: the hand edit was not converged:\n%s", gw.Name, got)
	}
	for _, n := range f.lab.Nodes {
		stops, starts := len(eventsAfter(t, n, apimsim.EventStopping, t0)), len(eventsAfter(t, n, apimsim.EventStarted, t0))
		switch {
		case n == gw && (stops != 1 || starts != 1):
			t.Errorf("%s: %d stop(s) and %d start(s), want one of each", n.Name, stops, starts)
		case n != gw && stops+starts != 0:
			t.Errorf("%s was restarted although nothing of it drifted", n.Name)
		}
		if n != gw && n.Profile == gatewayProfile {
			if got := readFile(t, filepath.Join(n.Home, gatewayConf)); got != f.rendering(n) {
				t.Errorf("%s: deployment.toml changed:\n%s", n.Name, got)
			}
		}
	}
	checkDrainedOnce(t, f.lbSince(lbMark), gw.Name)
	for name, s := range parseStatus(t, f.drover("facts", "--json").stdout) {
		if d, has := s.raw["drift"]; has && jsonKind(d) == "array" && len(d.([]any)) > 0 {
			t.Errorf("facts --json after the apply: %s still drifts: %v", name, d)
		}
	}
	if c := f.detailedExit(); c != 0 {
		t.Errorf("plan --detailed-exitcode after the apply exited %d, want 0", c)
	}
}

// 3. A template that makes the server fail: the first gateway is rolled
// back to its previous deployment.toml and serves again, the run halts
// before the next gateway, and the load balancer is left enabled.
func TestBadConfigRolledBackOverSSH(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{nodes: smallCluster, healthTimeout: "15s"})
	f.updateAll()
	lbMark := len(f.lbLog())
	first, next := f.node("gw-1"), f.node("gw-2")
	before := map[string]string{}
	for _, n := range []*lab.Node{first, next} {
		before[n.Name] = readFile(t, filepath.Join(n.Home, gatewayConf))
	}
	nextPID, alive := apimsim.PIDAlive(next.Home)
	if !alive {
		t.Fatalf("%s is not running before the apply", next.Name)
	}

	// The simulated server refuses an offset whose ports do not exist.
	f.editTemplate("offset = ${node.offset}", "offset = 99999")
	t0 := time.Now()
	r := f.drover("apply", "--yes")
	if r.code != 1 {
		t.Fatalf("apply of a configuration the server refuses exited %d, want 1", r.code)
	}

	if got := readFile(t, filepath.Join(first.Home, gatewayConf)); got != before[first.Name] {
		t.Errorf("%s: the previous deployment.toml was not put back:\n%s", first.Name, got)
	}
	if len(eventsAfter(t, first, apimsim.EventFailed, t0)) == 0 {
		t.Errorf("%s: the simulator recorded no failed start with offset 99999: the case did not happen", first.Name)
	}
	if !running(first.Home) {
		t.Errorf("%s is not running after the rollback", first.Name)
	}
	st, _ := f.status()
	if s := st[first.Name]; s == nil || !s.Running || !s.Healthy || s.UpdateLevel != toLevel || s.Lock != nil {
		t.Errorf("status of %s after the rollback: %+v; want level %d, running, healthy, unlocked", first.Name, s, toLevel)
	}
	if got := readFile(t, filepath.Join(next.Home, gatewayConf)); got != before[next.Name] {
		t.Errorf("%s: deployment.toml changed although the run should have halted before it:\n%s", next.Name, got)
	}
	if pid, alive := apimsim.PIDAlive(next.Home); pid != nextPID || !alive {
		t.Errorf("%s: PID %d (alive %v), was %d: the run did not halt before it", next.Name, pid, alive, nextPID)
	}
	if c := len(eventsAfter(t, next, apimsim.EventStopping, t0)); c != 0 {
		t.Errorf("%s was stopped %d time(s) although the run should have halted before it", next.Name, c)
	}
	// What apply says: the configuration was rolled back, not the release.
	if !regexp.MustCompile(`(?m)`+first.Name+` +rolled back in \S+: the previous configuration serves again$`).MatchString(r.stderr) || strings.Contains(r.stderr, "previous release") {
		t.Errorf("apply's output does not say %s's configuration (not its release) was rolled back:\n%s", first.Name, r.stderr)
	}
	lb := f.lbSince(lbMark)
	checkHooksPaired(t, f.lbLog())
	if strings.Contains(lb, next.Name) || !strings.Contains(lb, "drain "+first.Name) {
		t.Errorf("the run's lb.log = %q: want %s drained and enabled again, %s untouched", lb, first.Name, next.Name)
	}
	rec, outcome := f.runRecord(runIDOf(t, r.stderr))
	if !rec.Halted || outcome[first.Name] != "rolled_back" || outcome[next.Name] == "done" {
		t.Errorf("run record: halted %v, %s %q, %s %q; want halted, %s rolled back, %s not done",
			rec.Halted, first.Name, outcome[first.Name], next.Name, outcome[next.Name], first.Name, next.Name)
	}
}

// 4. The operator's log4j2.properties, secure vault files, password-tmp
// and a file of the inventory's carry list survive an update into the new
// release.
func TestCarriedFilesSurviveAnUpdateOverSSH(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{nodes: smallCluster})
	gw := f.node("gw-1")
	log4j := readFile(t, filepath.Join(gw.Home, "repository/conf/log4j2.properties"))
	carried := map[string]string{
		"repository/conf/log4j2.properties":               log4j + "logger.operator.name = org.example.operator\nlogger.operator.level = DEBUG\n",
		"repository/conf/security/secret-conf.properties": "carbon.secretProvider=org.wso2.securevault.secret.handler.SecretManagerSecretCallbackHandler\nsecVault.enabled=true\n",
		"repository/conf/security/cipher-text.properties": "[apim.db.password]=ZmFrZSBjaXBoZXIgdGV4dA==\n",
		"password-tmp":      "operator-keystore-password\n",
		"bin/custom-env.sh": "#!/bin/sh\nexport OPERATOR_SETTING=kept\n",
	}
	for p, content := range carried {
		dst := filepath.Join(gw.Home, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.editInventory("\nupdate {", "\ncarry = [\"bin/custom-env.sh\"]\n\nupdate {")

	if r := f.drover("apply", "--yes"); r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	if got := level(t, gw.Home); got != toLevel || !running(gw.Home) {
		t.Fatalf("%s: level %d, running %v; want the updated release (%d) running", gw.Name, got, running(gw.Home), toLevel)
	}
	if got := level(t, statePath(gw, "previous")); got != fromLevel {
		t.Errorf("%s: previous release at level %d, want %d: home is not a new release", gw.Name, got, fromLevel)
	}
	for p, want := range carried {
		b, err := os.ReadFile(filepath.Join(gw.Home, p))
		if err != nil {
			t.Errorf("%s: %s is not in the updated release: %v", gw.Name, p, err)
			continue
		}
		if string(b) != want {
			t.Errorf("%s: %s in the updated release is not the operator's:\n%s\nwant:\n%s", gw.Name, p, b, want)
		}
	}
	// The carry list adds nothing a node did not have.
	other := f.node("gw-2")
	if _, err := os.Stat(filepath.Join(other.Home, "bin/custom-env.sh")); err == nil {
		t.Errorf("%s: bin/custom-env.sh appeared in the updated release; the node never had one", other.Name)
	}
}

// 5. jvm and env in the gateway profile reach each gateway's server through
// bin/drover.env; a later heap change is planned as a reconfiguration with
// the env file's diff and restarts the gateways with the new heap.
func TestJVMSettingsReachTheServerOverSSH(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{nodes: smallCluster})
	// The simulator records the APIMSIM_ENV_* variables its server saw.
	f.editInventory(`  hook "before_stop"`, `  jvm {
    heap_max = "2g"
    options  = ["-Dfoo=bar"]
  }
  env = { APIMSIM_ENV_SOME_VAR = "x" }
  hook "before_stop"`)

	t0 := time.Now()
	f.updateAll()
	checkStart := func(t0 time.Time, heap string) {
		t.Helper()
		for _, n := range f.lab.Nodes {
			starts := eventsAfter(t, n, apimsim.EventStarting, t0)
			if len(starts) != 1 {
				t.Errorf("%s: %d start(s) since %s, want 1", n.Name, len(starts), clock(t0))
				continue
			}
			s := starts[0]
			wantJVM, wantVar := []string{"-Xms256m", "-Xmx1024m"}, ""
			if n.Profile == gatewayProfile {
				wantJVM, wantVar = []string{"-Xms256m", "-Xmx" + heap, "-Dfoo=bar"}, "x"
			}
			if !slices.Equal(s.JVM, wantJVM) || s.Env["APIMSIM_ENV_SOME_VAR"] != wantVar {
				t.Errorf("%s (%s) started with JVM options %q and env %v; want %q and APIMSIM_ENV_SOME_VAR=%q", n.Name, n.Profile, s.JVM, s.Env, wantJVM, wantVar)
			}
		}
	}
	checkStart(t0, "2g")

	f.editInventory(`heap_max = "2g"`, `heap_max = "3g"`)
	plan := f.drover("plan")
	if plan.code != 0 {
		t.Fatalf("plan exited %d, want 0", plan.code)
	}
	blocks := reconfigured(plan.stdout)
	for _, n := range f.lab.Nodes {
		b, reconf := blocks[n.Name]
		if n.Profile != gatewayProfile {
			if reconf || !slices.Contains(upToDate(plan.stdout), n.Name) {
				t.Errorf("%s (%s) is not up to date in the plan:\n%s", n.Name, n.Profile, plan.stdout)
			}
			continue
		}
		if !reconf {
			t.Errorf("%s: not planned as \"reconfigure at level\":\n%s", n.Name, plan.stdout)
			continue
		}
		if !strings.Contains(b[0], "changed in the inventory") ||
			!lineWith(b, "bin/drover.env (generated from the node's jvm/env settings)") ||
			!hasLine(b, `-JVM_MEM_OPTS="-Xms256m -Xmx2g"`) || !hasLine(b, `+JVM_MEM_OPTS="-Xms256m -Xmx3g"`) {
			t.Errorf("%s: the plan does not show bin/drover.env's diff for the new heap:\n%s", n.Name, strings.Join(b, "\n"))
		}
		if lineWith(b, gatewayConf) {
			t.Errorf("%s: deployment.toml is in the plan although it did not change:\n%s", n.Name, strings.Join(b, "\n"))
		}
	}

	t1 := time.Now()
	if r := f.drover("apply", "--yes"); r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	for _, n := range f.lab.Nodes {
		if n.Profile != gatewayProfile {
			if c := len(eventsAfter(t, n, apimsim.EventStarting, t1)); c != 0 {
				t.Errorf("%s was restarted %d time(s) for the gateways' heap", n.Name, c)
			}
			continue
		}
		if env := readFile(t, filepath.Join(n.Home, "bin/drover.env")); !strings.Contains(env, "JVM_MEM_OPTS=\"-Xms256m -Xmx3g\"\n") {
			t.Errorf("%s: bin/drover.env does not have the new heap:\n%s", n.Name, env)
		}
	}
	for _, n := range f.lab.Nodes {
		if n.Profile == gatewayProfile {
			starts := eventsAfter(t, n, apimsim.EventStarting, t1)
			if len(starts) != 1 || !slices.Equal(starts[0].JVM, []string{"-Xms256m", "-Xmx3g", "-Dfoo=bar"}) || starts[0].Env["APIMSIM_ENV_SOME_VAR"] != "x" {
				t.Errorf("%s: starts since the heap change %+v; want one, with -Xms256m -Xmx3g -Dfoo=bar and APIMSIM_ENV_SOME_VAR=x", n.Name, starts)
			}
		}
	}
	checkHooksPaired(t, f.lbLog())
	if c := f.detailedExit(); c != 0 {
		t.Errorf("plan --detailed-exitcode after the heap change exited %d, want 0", c)
	}
}
