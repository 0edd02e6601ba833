package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

// The 3.x way: one all-in-one pack run as five profiles.
var nodes32 = []lab.NodeSpec{
	{Name: "km-1", Profile: "api-key-manager"}, {Name: "tm-1", Profile: "traffic-manager"},
	{Name: "pub-1", Profile: "api-publisher"}, {Name: "dev-1", Profile: "api-devportal"},
	{Name: "gw-1", Profile: "gateway-worker"}, {Name: "gw-2", Profile: "gateway-worker"},
}

// 4.5+ split distributions: API control planes, traffic managers and
// universal gateways, each its own product.
var nodesSplit = []lab.NodeSpec{
	{Name: "cp-1", Profile: "control-plane"}, {Name: "cp-2", Profile: "control-plane"},
	{Name: "tm-1", Profile: "traffic-manager"}, {Name: "tm-2", Profile: "traffic-manager"},
	{Name: "gw-1", Profile: "gateway-worker"}, {Name: "gw-2", Profile: "gateway-worker"},
	{Name: "gw-3", Profile: "gateway-worker"},
}

// planNodes splits the text of `drover plan` into each node's block: its
// head line ("    NODE (HOST): level A -> B") and the step lines under it.
func planNodes(t *testing.T, plan string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(plan, "\n") {
		if m := planHeadRE.FindStringSubmatch(l); m != nil {
			cur = m[1]
			out[cur] = nil
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

var planHeadRE = regexp.MustCompile(`^    (\S+) \(\S+\): level \d+ -> \d+`)

// planStep is the node's plan line of a step ("" when the plan has none).
func planStep(lines []string, step string) string {
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == step {
			return strings.TrimSpace(strings.TrimPrefix(l, step))
		}
	}
	return ""
}

// packLine reports whether the plan has the line "HEAD: PATH, PRODUCT
// level toLevel, ..." for the fixture's pack of that product
// (packs/PRODUCT-uLEVEL.zip, shown as the path drover resolved).
func packLine(plan, head, product string) bool {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(head) + `: \S*/` + regexp.QuoteMeta(fmt.Sprintf("packs/%s-u%d.zip, %s level %d, ", product, toLevel, product, toLevel)))
	return re.MatchString(plan)
}

// planWaves are the profiles of the plan's waves, in order.
func planWaves(plan string) []string {
	var out []string
	for _, m := range planWaveRE.FindAllStringSubmatch(plan, -1) {
		out = append(out, m[1])
	}
	return out
}

var planWaveRE = regexp.MustCompile(`(?m)^Wave \d+: (\S+) \(`)

// besideHome lists what the directory holding a node's home holds, two
// levels deep (the product, drover's state, a staged release), without the
// simulator's own records and the server's files that change as it runs.
func besideHome(t *testing.T, n *lab.Node) string {
	t.Helper()
	root := filepath.Dir(n.Home)
	var out []string
	for _, pat := range []string{"*", "*/*", ".*", ".*/*"} {
		m, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(root, p)
			if !strings.HasPrefix(rel, ".apimsim") {
				out = append(out, rel)
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// distOf is the catalog's distribution a fixture node runs.
func (f *fixture) distOf(n *lab.Node) *catalog.Distribution {
	f.t.Helper()
	r, err := catalog.Lookup(f.version)
	if err != nil {
		f.t.Fatal(err)
	}
	d := r.Distribution(n.Distribution)
	if d == nil {
		f.t.Fatalf("%s: API Manager %s has no distribution %q", n.Name, f.version, n.Distribution)
	}
	return d
}

// productOf is the first line of the release's updates/product.txt.
func productOf(t *testing.T, home string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "updates", "product.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
}

// checkUpdated checks every node after a successful apply of run: at the
// new level with its own distribution's product, running and healthy (on
// the node and in `status --json`), the stopped release kept at the old
// level, the data persisted whole and opened cleanly, each node stopped
// once and cleanly, the waves in the fixture's order with at most one node
// of a profile down, and the gateways drained and enabled around their
// update.
func checkUpdated(t *testing.T, f *fixture, run string) {
	t.Helper()
	for _, n := range f.lab.Nodes {
		d := f.distOf(n)
		if got := level(t, n.Home); got != toLevel {
			t.Errorf("%s: level %d after apply, want %d", n.Name, got, toLevel)
		}
		if got := productOf(t, n.Home); got != d.Product {
			t.Errorf("%s: product.txt says %q after apply, want %q", n.Name, got, d.Product)
		}
		if filepath.Base(n.Home) != d.Product {
			t.Errorf("%s: home %s is not named after its product %s", n.Name, n.Home, d.Product)
		}
		if !running(n.Home) {
			t.Errorf("%s: not running after apply", n.Name)
		}
		if got := level(t, statePath(n, "previous")); got != fromLevel {
			t.Errorf("%s: previous release kept at level %d, want %d", n.Name, got, fromLevel)
		}
		checkPersisted(t, n)
		if w := recoveryWarnings(n.Home); w != "" {
			t.Errorf("%s: the updated server found its persisted data unclean:\n%s", n.Name, w)
		}
		if c := countEvents(t, n, apimsim.EventKilled); c != 0 {
			t.Errorf("%s: a server was killed %d time(s); stop should have been clean", n.Name, c)
		}
	}
	ss := spans(t, f)
	if len(ss) != len(f.lab.Nodes) {
		t.Errorf("%d stop/start spans, want one per node: %+v", len(ss), ss)
	}
	checkOrderAndCapacity(t, f, ss)

	var want strings.Builder
	for _, n := range f.lab.Nodes {
		if n.Profile == "gateway-worker" {
			fmt.Fprintf(&want, "drain %s\nenable %s\n", n.Name, n.Name)
		}
	}
	if lb, _ := os.ReadFile(filepath.Join(f.dir, "lb.log")); string(lb) != want.String() {
		t.Errorf("lb.log = %q, want %q", lb, want.String())
	}

	st, sr := f.status()
	if sr.code != 0 || len(st) != len(f.lab.Nodes) {
		t.Fatalf("status exited %d with %d node(s)", sr.code, len(st))
	}
	for _, n := range f.lab.Nodes {
		d := f.distOf(n)
		s := st[n.Name]
		switch {
		case s == nil:
			t.Errorf("status lacks %s", n.Name)
		case !s.Reachable || s.Error != "":
			t.Errorf("%s: reachable %v, error %q", n.Name, s.Reachable, s.Error)
		case s.Profile != n.Profile || s.Version != f.version || s.Product != d.Product || s.Distribution != d.Name:
			t.Errorf("%s: profile %q version %q product %q distribution %q; want %s, %s, %s (%s)",
				n.Name, s.Profile, s.Version, s.Product, s.Distribution, n.Profile, f.version, d.Product, d.Name)
		case s.UpdateLevel != toLevel || !s.Running || !s.Healthy:
			t.Errorf("%s: level %d running %v healthy %v, want %d, running and healthy", n.Name, s.UpdateLevel, s.Running, s.Healthy, toLevel)
		case s.Lock != nil:
			t.Errorf("%s: still locked by %+v after the run", n.Name, s.Lock)
		case s.LastRun == nil || s.LastRun.ID != run || s.LastRun.Outcome != "done":
			t.Errorf("%s: last_run %+v, want run %s done", n.Name, s.LastRun, run)
		case !s.Previous || s.PreviousLevel != fromLevel:
			t.Errorf("%s: previous_kept %v at level %d, want level %d kept", n.Name, s.Previous, s.PreviousLevel, fromLevel)
		}
	}
	// The last-run times in status agree with the rollout order: no node
	// of a later wave finished before a node of an earlier one.
	rank := map[string]int{}
	for i, p := range f.order {
		rank[p] = i
	}
	for _, a := range f.lab.Nodes {
		for _, b := range f.lab.Nodes {
			sa, sb := st[a.Name], st[b.Name]
			if sa == nil || sb == nil || sa.LastRun == nil || sb.LastRun == nil {
				continue
			}
			if rank[a.Profile] < rank[b.Profile] && sb.LastRun.At.Before(sa.LastRun.At) {
				t.Errorf("status: %s (%s) finished at %s, before %s (%s) at %s", b.Name, b.Profile, clock(sb.LastRun.At), a.Name, a.Profile, clock(sa.LastRun.At))
			}
		}
	}
}

func TestRelease32EndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{release: "3.2.0", nodes: nodes32})
	// The inventory names no order: drover takes 3.2's own.
	wantOrder := []string{"api-key-manager", "traffic-manager", "api-publisher", "api-devportal", "gateway-worker"}
	if !slices.Equal(f.order, wantOrder) {
		t.Fatalf("the fixture's rollout order is %v, want %v", f.order, wantOrder)
	}
	for _, n := range f.lab.Nodes {
		if want := filepath.Join("wso2", "wso2am-3.2.0"); !strings.HasSuffix(n.Home, want) {
			t.Fatalf("%s: home %s, want it to end in %s", n.Name, n.Home, want)
		}
	}

	if r := f.drover("validate"); r.code != 0 {
		t.Fatalf("validate exited %d, want 0", r.code)
	}
	p := f.drover("plan")
	if p.code != 0 {
		t.Fatalf("plan exited %d, want 0", p.code)
	}
	if got := planWaves(p.stdout); !slices.Equal(got, wantOrder) {
		t.Errorf("plan waves %v, want %v", got, wantOrder)
	}
	if !packLine(p.stdout, "Pack", "wso2am-3.2.0") || strings.Contains(p.stdout, "Pack for ") {
		t.Errorf("plan does not show the one 3.2.0 pack for every node:\n%s", p.stdout)
	}
	blocks := planNodes(t, p.stdout)
	for _, n := range f.lab.Nodes {
		lines, ok := blocks[n.Name]
		if !ok {
			t.Errorf("plan has no block for %s:\n%s", n.Name, p.stdout)
			continue
		}
		if got, want := planStep(lines, "start"), "bin/wso2server.sh start -Dprofile="+n.Profile; got != want {
			t.Errorf("%s: plan starts it with %q, want %q", n.Name, got, want)
		}
		if got, want := planStep(lines, "stop"), "bin/wso2server.sh stop"; !strings.HasPrefix(got, want) {
			t.Errorf("%s: plan stops it with %q, want %q...", n.Name, got, want)
		}
		if got := planStep(lines, "stage"); !strings.Contains(got, " wso2am-3.2.0 ") {
			t.Errorf("%s: plan stages %q, want the wso2am-3.2.0 pack (whole or its delta)", n.Name, got)
		}
		if want := "profileSetup.sh -Dprofile=" + n.Profile + " on the staged release"; !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("%s: plan does not run %q:\n%s", n.Name, want, strings.Join(lines, "\n"))
		}
	}

	r := f.drover("apply", "--yes")
	if r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	run := runIDOf(t, r.stderr)
	checkUpdated(t, f, run)
	_, outcome := f.runRecord(run)
	for _, n := range f.lab.Nodes {
		if outcome[n.Name] != "done" {
			t.Errorf("run record: %s %q, want done", n.Name, outcome[n.Name])
		}
	}
	// Each server was started with its own profile: the simulator's
	// records say which OSGi profile it runs.
	for _, n := range f.lab.Nodes {
		checkStartedAs(t, n, n.Profile)
	}
	checkDataAfterCleanStop(t, f.node("km-1"))
}

// checkStartedAs checks that the last server start of the node was given
// -Dprofile=prof ("" for none).
func checkStartedAs(t *testing.T, n *lab.Node, prof string) {
	t.Helper()
	var last *apimsim.Event
	evs := events(t, n)
	for i := range evs {
		if evs[i].Event == apimsim.EventStarted {
			last = &evs[i]
		}
	}
	if last == nil {
		t.Errorf("%s: no start recorded", n.Name)
		return
	}
	if last.Profile != prof {
		t.Errorf("%s: the last start was given -Dprofile=%q, want %q (%+v)", n.Name, last.Profile, prof, *last)
	}
}

func TestSplitEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{release: "4.7.0", nodes: nodesSplit})
	products := map[string]string{
		"control-plane": "wso2am-acp-4.7.0", "traffic-manager": "wso2am-tm-4.7.0", "gateway-worker": "wso2am-universal-gw-4.7.0",
	}
	scripts := map[string]string{
		"control-plane": "bin/api-cp.sh", "traffic-manager": "bin/traffic-manager.sh", "gateway-worker": "bin/gateway.sh",
	}
	for _, n := range f.lab.Nodes {
		if filepath.Base(n.Home) != products[n.Profile] {
			t.Fatalf("%s: home %s, want it named %s", n.Name, n.Home, products[n.Profile])
		}
	}

	if r := f.drover("validate"); r.code != 0 {
		t.Fatalf("validate exited %d, want 0", r.code)
	}
	p := f.drover("plan")
	if p.code != 0 {
		t.Fatalf("plan exited %d, want 0", p.code)
	}
	if got, want := planWaves(p.stdout), []string{"control-plane", "traffic-manager", "gateway-worker"}; !slices.Equal(got, want) {
		t.Errorf("plan waves %v, want %v", got, want)
	}
	// The update block's pack is the control plane's; the other two
	// profiles name their own.
	for _, want := range [][2]string{
		{"Pack for the other profiles", products["control-plane"]},
		{"Pack for gateway-worker", products["gateway-worker"]},
		{"Pack for traffic-manager", products["traffic-manager"]},
	} {
		if !packLine(p.stdout, want[0], want[1]) {
			t.Errorf("plan lacks a %q line naming the %s pack at level %d:\n%s", want[0]+":", want[1], toLevel, p.stdout)
		}
	}
	if strings.Contains(p.stdout, "Pack for control-plane") {
		t.Errorf("plan shows a profile pack for control-plane, whose nodes take the update block's:\n%s", p.stdout)
	}
	blocks := planNodes(t, p.stdout)
	for _, n := range f.lab.Nodes {
		lines, ok := blocks[n.Name]
		if !ok {
			t.Errorf("plan has no block for %s:\n%s", n.Name, p.stdout)
			continue
		}
		if got := planStep(lines, "stage"); !strings.Contains(got, " "+products[n.Profile]+" ") {
			t.Errorf("%s: plan stages %q, want %s (whole or its delta)", n.Name, got, products[n.Profile])
		}
		// No -Dprofile: the split packs ship no OSGi profile of these names.
		if got, want := planStep(lines, "start"), scripts[n.Profile]+" start"; got != want {
			t.Errorf("%s: plan starts it with %q, want %q", n.Name, got, want)
		}
		if got := planStep(lines, "stop"); !strings.HasPrefix(got, scripts[n.Profile]+" stop") {
			t.Errorf("%s: plan stops it with %q, want %s stop", n.Name, got, scripts[n.Profile])
		}
		if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "profileSetup.sh -Dprofile") }) {
			t.Errorf("%s: plan runs profileSetup.sh, which the split packs do not have:\n%s", n.Name, strings.Join(lines, "\n"))
		}
	}

	r := f.drover("apply", "--yes")
	if r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	run := runIDOf(t, r.stderr)
	checkUpdated(t, f, run)
	for _, n := range f.lab.Nodes {
		checkStartedAs(t, n, "")
	}

	// One gateway back to the release it ran before.
	gw2 := f.node("gw-2")
	prevInodes := dbInodes(t, statePath(gw2, "previous"))
	rb := f.drover("recover", "gw-2", "--rollback", "--yes")
	if rb.code != 0 {
		t.Fatalf("recover --rollback exited %d, want 0", rb.code)
	}
	if got := level(t, gw2.Home); got != fromLevel || !running(gw2.Home) {
		t.Errorf("gw-2: level %d, running %v after the rollback; want level %d running", got, running(gw2.Home), fromLevel)
	}
	if got := productOf(t, gw2.Home); got != products["gateway-worker"] {
		t.Errorf("gw-2: product.txt says %q after the rollback, want %q", got, products["gateway-worker"])
	}
	for name, ino := range dbInodes(t, gw2.Home) {
		if prevInodes[name] != ino {
			t.Errorf("gw-2: %s is not the kept release's file (inode %d, was %d)\n%s", name, ino, prevInodes[name], listInodes(gw2))
		}
	}
	checkStartedAs(t, gw2, "")
	st, _ := f.status()
	for _, n := range f.lab.Nodes {
		want := toLevel
		if n == gw2 {
			want = fromLevel
		}
		if s := st[n.Name]; s == nil || s.UpdateLevel != want || !s.Running || !s.Healthy || s.Lock != nil || s.Product != products[n.Profile] {
			t.Errorf("status of %s after recover gw-2 --rollback: %+v; want level %d, running, healthy, unlocked, %s", n.Name, s, want, products[n.Profile])
		}
	}
	checkDataAfterCleanStop(t, gw2)
}

func TestSplitWrongPackRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{release: "4.7.0", nodes: nodesSplit})
	// The gateways' pack pointed at the traffic manager's, as an operator
	// copying a profile block might.
	gwPack, tmPack := "packs/wso2am-universal-gw-4.7.0-u12.zip", "packs/wso2am-tm-4.7.0-u12.zip"
	f.editInventory(fmt.Sprintf("  pack   = %q\n  sha256 = %q", gwPack, fileSHA256(t, filepath.Join(f.dir, gwPack))),
		fmt.Sprintf("  pack   = %q\n  sha256 = %q", tmPack, fileSHA256(t, filepath.Join(f.dir, tmPack))))
	before := f.snapshot()
	pids, trees := map[string]int{}, map[string]string{}
	for _, n := range f.lab.Nodes {
		pid, alive := apimsim.PIDAlive(n.Home)
		if !alive {
			t.Fatalf("%s: not running before apply", n.Name)
		}
		pids[n.Name] = pid
		trees[n.Name] = besideHome(t, n)
	}

	r := f.drover("apply", "--yes")
	if r.code != 3 {
		t.Errorf("apply with the traffic manager's pack for the gateways exited %d, want 3 (refused)", r.code)
	}
	for _, want := range []string{"refusing to start", tmPack, `profile "gateway-worker"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %s:\n%s", want, r.stderr)
		}
	}
	f.unchanged(t, before, "by an apply refused for a wrong pack")
	for _, n := range f.lab.Nodes {
		if pid, alive := apimsim.PIDAlive(n.Home); pid != pids[n.Name] || !alive {
			t.Errorf("%s: server PID %d (alive %v) after the refused apply, was %d", n.Name, pid, alive, pids[n.Name])
		}
		if level(t, n.Home) != fromLevel || productOf(t, n.Home) != f.distOf(n).Product {
			t.Errorf("%s: level %d, product %s after the refused apply", n.Name, level(t, n.Home), productOf(t, n.Home))
		}
		if got := besideHome(t, n); got != trees[n.Name] {
			t.Errorf("%s: the refused apply left something beside home:\nbefore:\n%s\nafter:\n%s", n.Name, trees[n.Name], got)
		}
	}
	if lb, err := os.ReadFile(filepath.Join(f.dir, "lb.log")); err == nil {
		t.Errorf("a refused apply ran the load balancer hooks: %q", lb)
	}
}
