package rollout_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// The release families end to end: a lab of each family's profiles is
// updated one level and rolled back, and what the nodes end up with is
// checked against the release facts (tasks/apim/testdata/facts), not
// against the simulator's table or drover's catalog, so a mistake shared by
// both is still caught.

// factsDir is the copy of the release facts kept in the repository.
const factsDir = "../apim/testdata/facts"

// factsEntry is what these tests read of one release x distribution entry
// of releases.json.
type factsEntry struct {
	Release      string `json:"release"`
	Distribution string `json:"distribution"`
	Product      struct {
		ProductTxt  string `json:"product_txt"`
		ProductName string `json:"product_name"`
	} `json:"product"`
	Startup struct {
		Scripts []string `json:"scripts"`
	} `json:"startup"`
	PackLayout struct {
		OSGi []string `json:"osgi_profiles_materialized"`
	} `json:"pack_layout"`
}

func factsOf(t *testing.T, release, distribution string) factsEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(factsDir, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Entries []factsEntry `json:"entries"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	for _, e := range all.Entries {
		if e.Release == release && e.Distribution == distribution {
			if e.Product.ProductTxt == "" || len(e.Startup.Scripts) == 0 || len(e.PackLayout.OSGi) == 0 {
				t.Fatalf("facts %s %s: missing product, scripts or OSGi profiles: %+v", release, distribution, e)
			}
			return e
		}
	}
	t.Fatalf("the facts have no entry for %s %s", release, distribution)
	return factsEntry{}
}

// script is the startup script the facts give a node of the profile: the
// pack's first, or key-manager.sh for a 4.5+ key manager.
func (e factsEntry) script(profile string) string {
	if profile == "key-manager" {
		for _, s := range e.Startup.Scripts {
			if strings.HasSuffix(s, "/key-manager.sh") {
				return s
			}
		}
	}
	return e.Startup.Scripts[0]
}

// startProfile is the -Dprofile a node of the profile is started with: the
// profile where the pack materialises an OSGi profile of that name, else
// none.
func (e factsEntry) startProfile(profile string) string {
	if slices.Contains(e.PackLayout.OSGi, profile) {
		return profile
	}
	return ""
}

func (e factsEntry) versionBody() string { return e.Product.ProductName + "-" + e.Release }

func readLines(t *testing.T, path string) ([]string, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false
	} else if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, true
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

var swapLine = regexp.MustCompile(`^(\S+) -> (\S+) \[([^\]]*)\]$`)

// checkProfileResult compares an updated node's home with what the facts
// say profileSetup.sh leaves for the node's profile: every removed path is
// gone (but the folder a running server unpacks from a war it kept) and
// every swap target is there. A profile the release has no profileSetup
// for keeps every webapp of its pack.
func checkProfileResult(t *testing.T, release string, n *lab.Node, pack *tasks.Pack) {
	t.Helper()
	base := filepath.Join(factsDir, "profile-setup", release, n.Profile)
	removed, ok := readLines(t, base+".removed.txt")
	if !ok {
		webapps := packWebapps(t, pack.Path)
		if len(webapps) == 0 {
			t.Fatalf("%s: the pack %s has no webapps", n.Name, pack.Path)
		}
		for _, w := range webapps {
			if !exists(filepath.Join(n.Home, "repository/deployment/server/webapps", w)) {
				t.Errorf("%s (%s, no profileSetup): the pack's webapp %s is missing from the updated release", n.Name, n.Profile, w)
			}
		}
		return
	}
	if len(removed) == 0 {
		t.Fatalf("%s: the facts list nothing removed for %s %s", n.Name, release, n.Profile)
	}
	for _, r := range removed {
		p := filepath.Join(n.Home, strings.TrimSuffix(r, "/"))
		if strings.HasSuffix(r, "/") && exists(p+".war") {
			continue // the running server unpacked a war profileSetup kept
		}
		if exists(p) {
			t.Errorf("%s (%s): %s is there, but profileSetup.sh removes it", n.Name, n.Profile, r)
		}
	}
	swaps, ok := readLines(t, base+".swapped.txt")
	if !ok {
		t.Fatalf("%s: facts list removals but no swaps file for %s %s", n.Name, release, n.Profile)
	}
	targets := map[string]bool{}
	type swap struct{ from, to, how string }
	var all []swap
	for _, l := range swaps {
		m := swapLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("facts %s: unreadable swap line %q", base+".swapped.txt", l)
		}
		s := swap{m[1], m[2], m[3]}
		if strings.Contains(s.how, "only without --skipConfigOptimization") {
			continue // drover passes the flag where the release has it
		}
		if strings.Contains(s.from, "repository/conf/deployment.toml") || strings.Contains(s.to, "repository/conf/deployment.toml") {
			// 3.0.0 has no flag: drover keeps the operator's file and drops
			// the .backup the script leaves; the file must be there.
			if !exists(filepath.Join(n.Home, "repository/conf/deployment.toml")) {
				t.Errorf("%s (%s): repository/conf/deployment.toml is missing", n.Name, n.Profile)
			}
			continue
		}
		all = append(all, s)
		targets[s.to] = true
	}
	for _, s := range all {
		if !exists(filepath.Join(n.Home, s.to)) {
			t.Errorf("%s (%s): %s is missing; profileSetup.sh puts %s there (%s)", n.Name, n.Profile, s.to, s.from, s.how)
		}
		if strings.HasPrefix(s.how, "mv") && !targets[s.from] && exists(filepath.Join(n.Home, s.from)) {
			t.Errorf("%s (%s): %s is still there, but profileSetup.sh moves it to %s", n.Name, n.Profile, s.from, s.to)
		}
	}
}

// packWebapps lists the webapps (wars, folders, files) a pack ships.
func packWebapps(t *testing.T, pack string) []string {
	t.Helper()
	zr, err := zip.OpenReader(pack)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []string
	for _, f := range zr.File {
		_, rest, ok := strings.Cut(f.Name, "/")
		if !ok {
			continue
		}
		w, ok := strings.CutPrefix(rest, "repository/deployment/server/webapps/")
		if !ok || w == "" {
			continue
		}
		w, _, _ = strings.Cut(w, "/")
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// startsAfter returns the simulator's "starting" events of the node's
// server after t0 (the Detail of each is the arguments the server got).
func startsAfter(t *testing.T, n *lab.Node, t0 time.Time) []apimsim.Event {
	t.Helper()
	evs, err := apimsim.ReadEvents(filepath.Dir(n.Home))
	if err != nil {
		t.Fatal(err)
	}
	var out []apimsim.Event
	for _, e := range evs {
		if e.Event == apimsim.EventStarting && e.At.After(t0) {
			out = append(out, e)
		}
	}
	return out
}

// checkStartArgs checks the arguments the node's server was last started
// with since t0, as the simulator recorded them and as the running
// process's command line shows them: -Dprofile=<profile> exactly where the
// facts say the pack has that OSGi profile.
func checkStartArgs(t *testing.T, n *lab.Node, f factsEntry, t0 time.Time) {
	t.Helper()
	starts := startsAfter(t, n, t0)
	if len(starts) == 0 {
		t.Errorf("%s: no server start recorded since %s", n.Name, t0.Format(time.TimeOnly))
		return
	}
	want := f.startProfile(n.Profile)
	got := starts[len(starts)-1]
	var args []string
	if got.Detail != "" {
		args = strings.Fields(got.Detail)
	}
	wantArgs := []string(nil)
	if want != "" {
		wantArgs = []string{"-Dprofile=" + want}
	}
	if !slices.Equal(args, wantArgs) {
		t.Errorf("%s (%s, %s): the server was started with %q, want %q (OSGi profiles of the pack: %v)", n.Name, n.Profile, f.Product.ProductTxt, args, wantArgs, f.PackLayout.OSGi)
	}
	pid, alive := apimsim.PIDAlive(n.Home)
	if !alive {
		t.Errorf("%s: no server runs", n.Name)
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return // no /proc: the event log above is the record
	}
	cmd := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	has := slices.ContainsFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "-Dprofile=") })
	if has != (want != "") || (want != "" && !slices.Contains(cmd, "-Dprofile="+want)) {
		t.Errorf("%s (%s): the server process runs as %q, want -Dprofile=%q", n.Name, n.Profile, cmd, want)
	}
}

// startCommands are the start commands the engine ran, by node (the start
// step's summary is the script and its arguments).
func startCommands(rec *recorder) map[string]string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[string]string{}
	for _, e := range rec.events {
		if e.Type == tasks.EventStepStarted && e.Step == "start" {
			out[e.Node] = e.Message
		}
	}
	return out
}

// serving checks a node runs from its home and answers /services/Version
// with want.
func serving(t *testing.T, n *lab.Node, want string) {
	t.Helper()
	if _, alive := apimsim.PIDAlive(n.Home); !alive {
		t.Errorf("%s: no server runs from %s", n.Name, n.Home)
		return
	}
	port, _ := apimsim.Ports(n.Offset)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, apimsim.VersionPath))
	if err != nil {
		t.Errorf("%s: version service: %v", n.Name, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<return>"+want+"</return>") {
		t.Errorf("%s: version service answered %d %q, want 200 naming %q", n.Name, resp.StatusCode, body, want)
	}
}

func productOf(t *testing.T, home string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "updates", "product.txt"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first)
}

func labNodes(t *testing.T, spec, version string) []lab.NodeSpec {
	t.Helper()
	ns, err := lab.ParseNodesFor(spec, version)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestReleaseFamilies updates a lab of every release family one level,
// checks each node against the facts, and rolls one node of every profile
// back.
func TestReleaseFamilies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ version, nodes string }{
		// 3.x: key manager, traffic manager, publisher, developer portal, gateways (wso2server.sh).
		{"3.0.0", "km=1,tm=1,pub=1,dev=1,gw=2"},
		{"3.2.0", "km=1,tm=1,pub=1,dev=1,gw=2"},
		// 4.0-4.4: control planes, traffic managers, gateways (api-manager.sh); the 4.0
		// deprecated key manager starts with -Dprofile, the 4.4 api-key-manager-node without.
		{"4.0.0", "cp=2,tm=2,gw=3,km=1"},
		{"4.2.0", "cp=2,tm=2,gw=3"},
		{"4.4.0", "cp=2,tm=2,gw=3,km=1"},
		// 4.7 split packs: api-cp.sh, key-manager.sh, traffic-manager.sh, gateway.sh, no -Dprofile.
		{"4.7.0", "cp=2,tm=2,gw=3,km=1"},
		// 4.6 mixed: traffic managers on the all-in-one pack (api-manager.sh -Dprofile=traffic-manager)
		// beside the split control plane and gateways, and a node running the all-in-one pack whole.
		{"4.6.0", "cp=1,km=1,tm/all-in-one=2,gw=2,aio=1"},
	} {
		t.Run(c.version, func(t *testing.T) {
			t.Parallel()
			releaseRoundTrip(t, c.version, c.nodes)
		})
	}
}

// fastRollout is labtest.FastRollout with two nodes of a profile at once
// and a shorter healthy window: these tests check where the nodes end up,
// not capacity (the safety tests do).
const fastRollout = `  max_unavailable  = 2
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = "20s"
  min_healthy_time = "300ms"
  stop_timeout     = "5s"`

func releaseRoundTrip(t *testing.T, version, spec string) {
	l := labtest.New(t, lab.Spec{Version: version, Nodes: labNodes(t, spec, version), Rollout: fastRollout})
	rec := &recorder{}
	o, inv := setup(t, l, rec)
	o.Run = "run-" + version
	facts := map[string]factsEntry{}
	for _, n := range l.Nodes {
		if _, ok := facts[n.Name]; !ok {
			facts[n.Name] = factsOf(t, version, n.Distribution)
		}
		if got, want := productOf(t, n.Home), facts[n.Name].Product.ProductTxt; got != want {
			t.Fatalf("%s: the lab laid out %s, the facts say %s runs %s", n.Name, got, n.Profile, want)
		}
	}

	t0 := time.Now()
	p := plan(t, o)
	if p.Summary.Update != len(l.Nodes) || p.Summary.Blocked != 0 {
		t.Fatalf("plan summary = %+v, want all %d nodes to update; warnings %v", p.Summary, len(l.Nodes), p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}

	cmds := startCommands(rec)
	for _, n := range l.Nodes {
		f := facts[n.Name]
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s: level %d after the update, want %d", n.Name, got, l.Level+1)
		}
		if got := productOf(t, n.Home); got != f.Product.ProductTxt {
			t.Errorf("%s: updated release is %s, want %s", n.Name, got, f.Product.ProductTxt)
		}
		serving(t, n, f.versionBody())
		prev := filepath.Join(stateDir(n), "previous")
		if got := level(t, prev); got != l.Level {
			t.Errorf("%s: previous release at level %d, want %d", n.Name, got, l.Level)
		}
		if err := apimsim.VerifyData(prev); err != nil {
			t.Errorf("%s: the data the stopped server left: %v", n.Name, err)
		}
		if w := recoveryWarnings(n.Home); w != "" {
			t.Errorf("%s: the updated server started on data no server left cleanly: %s", n.Name, w)
		}
		checkProfileResult(t, version, n, o.PackFor(n.Profile))
		checkStartArgs(t, n, f, t0)
		want := f.script(n.Profile) + " start"
		if sp := f.startProfile(n.Profile); sp != "" {
			want += " -Dprofile=" + sp
		}
		if cmds[n.Name] != want {
			t.Errorf("%s (%s): the engine started the updated release with %q, want %q", n.Name, n.Profile, cmds[n.Name], want)
		}
		if !exists(filepath.Join(n.Home, f.script(n.Profile))) {
			t.Errorf("%s: the updated release has no %s", n.Name, f.script(n.Profile))
		}
	}
	checkPersistSums(t, l)
	if t.Failed() {
		t.FailNow()
	}

	// Roll back the first node of every profile.
	var back []*lab.Node
	for _, n := range l.Nodes {
		if !slices.ContainsFunc(back, func(b *lab.Node) bool { return b.Profile == n.Profile }) {
			back = append(back, n)
		}
	}
	t1 := time.Now()
	for _, n := range back {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		j := recoverJob(t, o, inv.Node(n.Name), o.PackFor(n.Profile))
		j.Run = "recover-" + version // the subtest's name has a slash; a run id is a file name on the node
		err := j.Rollback(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: rollback: %v", n.Name, err)
		}
	}
	for _, n := range l.Nodes {
		f := facts[n.Name]
		want := l.Level + 1
		if slices.Contains(back, n) {
			want = l.Level
			checkStartArgs(t, n, f, t1)
			if w := recoveryWarnings(n.Home); w != "" {
				t.Errorf("%s: the rolled back server started on data no server left cleanly: %s", n.Name, w)
			}
		}
		if got := level(t, n.Home); got != want {
			t.Errorf("%s: level %d after rolling back %v, want %d", n.Name, got, nodeNames(back), want)
		}
		if got := productOf(t, n.Home); got != f.Product.ProductTxt {
			t.Errorf("%s: runs %s after the rollback, want %s", n.Name, got, f.Product.ProductTxt)
		}
		serving(t, n, f.versionBody())
	}
}

func nodeNames(ns []*lab.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

// editInventory rewrites the lab's inventory: re replaced by repl, which
// must match.
func editInventory(t *testing.T, l *lab.Lab, re, repl string) {
	t.Helper()
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	rx := regexp.MustCompile(re)
	if !rx.Match(b) {
		t.Fatalf("the lab inventory has no %s:\n%s", re, b)
	}
	if err := os.WriteFile(l.Inventory, rx.ReplaceAll(b, []byte(repl)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// upgradeTo points the lab's inventory at a pack of release version (the
// releases here ship one pack): cluster.version and update.pack/sha256.
func upgradeTo(t *testing.T, l *lab.Lab, version string, lvl int) *tasks.Pack {
	t.Helper()
	path := filepath.Join(l.Dir, "packs", fmt.Sprintf("wso2am-%s-u%d.zip", version, lvl))
	if err := apimsim.BuildPack(path, apimsim.Spec{Version: version, Level: lvl, SimBin: l.SimBin}); err != nil {
		t.Fatal(err)
	}
	pack, err := tasks.OpenPack(path, "")
	if err != nil {
		t.Fatal(err)
	}
	editInventory(t, l, `(?m)^(  version = )"[0-9.]+"$`, `${1}"`+version+`"`)
	editInventory(t, l, `(?m)^(  pack     = )".*"\n(  sha256   = )".*"$`, `${1}"packs/`+filepath.Base(path)+`"`+"\n"+`${2}"`+pack.SHA256+`"`)
	return pack
}

// checkUpgraded checks every node runs release version at lvl, serving,
// with H2 files of the release's format.
func checkUpgraded(t *testing.T, l *lab.Lab, version string, lvl int) {
	t.Helper()
	f := factsOf(t, version, "all-in-one")
	format := apimsim.H2FormatOf(version)
	for _, n := range l.Nodes {
		if got := productOf(t, n.Home); got != f.Product.ProductTxt {
			t.Errorf("%s: runs %s, want %s", n.Name, got, f.Product.ProductTxt)
		}
		if got := level(t, n.Home); got != lvl {
			t.Errorf("%s: level %d, want %d", n.Name, got, lvl)
		}
		serving(t, n, f.versionBody())
		checkStartArgs(t, n, f, time.Time{})
		dbs, _ := filepath.Glob(filepath.Join(n.Home, "repository/database/*.mv.db"))
		if len(dbs) != 5 {
			t.Errorf("%s: %d H2 files in repository/database, want the five of the pack: %v", n.Name, len(dbs), dbs)
		}
		for _, db := range dbs {
			if got, err := apimsim.H2Format(db); err != nil || got != format {
				t.Errorf("%s: %s has H2 format %d (%v), want %d", n.Name, filepath.Base(db), got, err, format)
			}
		}
		if w := recoveryWarnings(n.Home); w != "" {
			t.Errorf("%s: the upgraded server started on data no server left cleanly: %s", n.Name, w)
		}
	}
}

// persistedPaths are the paths the node's last persist step copied.
func persistedPaths(t *testing.T, n *lab.Node) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range tasks.ParseJournal(string(b)) {
		if r.Step == "persist" && r.Phase == tasks.PhaseNote {
			out = out[:0]
			for p := range r.Sums {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestH2FormatBreakNeedsResetLocalData: 4.2.0 -> 4.3.0 changes the H2 file
// format (2 -> 3). Carrying repository/database is refused on every node
// while planning and by apply, before anything changes; with
// update { reset_local_data = true } every node runs 4.3.0 on the pack's
// own (format 3) H2 files.
func TestH2FormatBreakNeedsResetLocalData(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Version: "4.2.0", Nodes: labNodes(t, "cp=1,tm=1,gw=1", "4.2.0")})
	const lvl = 3 // a new release starts its own update levels: lower than the lab's is fine
	upgradeTo(t, l, "4.3.0", lvl)
	t0 := time.Now()
	o, inv := setup(t, l, &recorder{})
	p := plan(t, o)
	if p.Summary.Blocked != len(l.Nodes) || p.Summary.Update != 0 {
		t.Fatalf("plan summary %+v, want all %d nodes blocked", p.Summary, len(l.Nodes))
	}
	h2Refusal := func(r string) bool {
		return strings.Contains(r, "4.2.0 -> 4.3.0 changes the H2 file format") && strings.Contains(r, "reset_local_data = true")
	}
	for _, w := range p.Waves {
		for _, np := range w.Skipped {
			if np.Action != rollout.ActionBlocked || !h2Refusal(np.Reason) {
				t.Errorf("plan: %s is %s (%q), want blocked by the H2 format break", np.Node, np.Action, np.Reason)
			}
		}
	}
	// The node procedure's own error is the typed preflight refusal.
	for _, n := range l.Nodes {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := recoverJob(t, o, inv.Node(n.Name), o.PackFor(n.Profile)).PlanNode(ctx)
		cancel()
		var h2 *apim.H2BreakError
		var pre *tasks.PreflightError
		if !errors.As(err, &h2) || !errors.As(err, &pre) || h2.From.Version != "4.2.0" || h2.To.Version != "4.3.0" {
			t.Errorf("%s: planning the node = %v, want a preflight refusal wrapping *apim.H2BreakError 4.2.0 -> 4.3.0", n.Name, err)
		}
	}
	_, err := apply(t, o, p)
	var re *rollout.RefusedError
	if !errors.As(err, &re) || !re.Refused() || len(re.Reasons) != len(l.Nodes) {
		t.Fatalf("apply = %v, want a refusal (exit 3) naming all %d nodes", err, len(l.Nodes))
	}
	for _, r := range re.Reasons {
		if !h2Refusal(r) {
			t.Errorf("refusal %q is not the H2 format break (and does not say reset_local_data = true)", r)
		}
	}
	noChange(t, l, t0)
	for _, n := range l.Nodes {
		if got := productOf(t, n.Home); got != "wso2am-4.2.0" || level(t, n.Home) != l.Level {
			t.Errorf("%s: %s at level %d after the refusal, want wso2am-4.2.0 at %d", n.Name, got, level(t, n.Home), l.Level)
		}
		serving(t, n, "WSO2 API Manager-4.2.0")
	}

	editInventory(t, l, `(?m)^(  strategy = "side-by-side"\n)`, "${1}  reset_local_data = true\n")
	o, _ = setup(t, l, &recorder{})
	o.Run = "run-reset"
	p = plan(t, o)
	if p.Summary.Update != len(l.Nodes) || p.Summary.Blocked != 0 {
		t.Fatalf("plan with reset_local_data: %+v, want every node to update; warnings %v", p.Summary, p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply with reset_local_data: %v", err)
	}
	checkUpgraded(t, l, "4.3.0", lvl)
	for _, n := range l.Nodes {
		if got := persistedPaths(t, n); slices.Contains(got, "repository/database") || slices.Contains(got, "solr/data") {
			t.Errorf("%s: reset_local_data carried %v", n.Name, got)
		}
		// The 4.2.0 data stays whole in the kept release.
		prev := filepath.Join(stateDir(n), "previous")
		if err := apimsim.VerifyData(prev); err != nil {
			t.Errorf("%s: the kept 4.2.0 data: %v", n.Name, err)
		}
		if got := productOf(t, prev); got != "wso2am-4.2.0" {
			t.Errorf("%s: the kept release is %s, want wso2am-4.2.0", n.Name, got)
		}
	}
}

// TestH2SameFormatUpgradeCarriesTheDatabases: 4.3.0 -> 4.4.0 keeps H2
// format 3, so repository/database (and the index) is carried without
// reset_local_data.
func TestH2SameFormatUpgradeCarriesTheDatabases(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Spec{Version: "4.3.0", Nodes: labNodes(t, "cp=1,tm=1,gw=1", "4.3.0")})
	const lvl = 2
	upgradeTo(t, l, "4.4.0", lvl)
	o, inv := setup(t, l, &recorder{})
	if inv.Update.ResetLocalData {
		t.Fatal("the inventory resets local data")
	}
	p := plan(t, o)
	if p.Summary.Update != len(l.Nodes) || p.Summary.Blocked != 0 {
		t.Fatalf("plan summary %+v, want every node to update; warnings %v", p.Summary, p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	checkUpgraded(t, l, "4.4.0", lvl)
	for _, n := range l.Nodes {
		if got := persistedPaths(t, n); !slices.Contains(got, "repository/database") || !slices.Contains(got, "solr/data") {
			t.Errorf("%s: persisted %v, want repository/database and solr/data carried", n.Name, got)
		}
		if got := productOf(t, filepath.Join(stateDir(n), "previous")); got != "wso2am-4.3.0" {
			t.Errorf("%s: the kept release is %s, want wso2am-4.3.0", n.Name, got)
		}
	}
	// What was copied is the data the stopped 4.3.0 servers left.
	checkPersistSums(t, l)
}
