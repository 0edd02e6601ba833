package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// runRecord is the part of a run record (.drover/runs/RUN.json beside the
// inventory) the tests read.
type runRecord struct {
	Run    string `json:"run"`
	Halted bool   `json:"halted"`
	Nodes  []struct {
		Node    string `json:"node"`
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
	} `json:"nodes"`
}

func (f *fixture) runRecord(run string) (*runRecord, map[string]string) {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, ".drover", "runs", run+".json"))
	if err != nil {
		f.t.Fatalf("run record of %s: %v", run, err)
	}
	var rec runRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		f.t.Fatalf("run record of %s: %v\n%s", run, err, b)
	}
	outcome := map[string]string{}
	for _, n := range rec.Nodes {
		outcome[n.Node] = n.Outcome
	}
	return &rec, outcome
}

func TestApplyRollsTheWholeClusterInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	r := f.drover("apply", "--yes")
	if r.code != 0 {
		t.Fatalf("apply exited %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "8 to update, 0 up to date, 0 unreachable, 0 blocked; 3 wave(s), 8 batch(es)") {
		t.Errorf("apply did not show the plan's summary on stdout:\n%s", r.stdout)
	}
	run := runIDOf(t, r.stderr)

	for _, n := range f.lab.Nodes {
		if got := level(t, n.Home); got != toLevel {
			t.Errorf("%s: level %d after apply, want %d", n.Name, got, toLevel)
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

	// The load balancer hooks ran around each gateway, in order.
	lb, _ := os.ReadFile(filepath.Join(f.dir, "lb.log"))
	want := "drain gw-1\nenable gw-1\ndrain gw-2\nenable gw-2\ndrain gw-3\nenable gw-3\ndrain gw-4\nenable gw-4\n"
	if string(lb) != want {
		t.Errorf("lb.log = %q, want %q", lb, want)
	}
	// The run record says every node is done.
	_, outcome := f.runRecord(run)
	for _, n := range f.lab.Nodes {
		if outcome[n.Name] != "done" {
			t.Errorf("run record: %s %q, want done", n.Name, outcome[n.Name])
		}
	}

	// status --json: the contract's fields, with what the run left.
	st, sr := f.status()
	if sr.code != 0 || len(st) != len(f.lab.Nodes) {
		t.Fatalf("status exited %d with %d node(s)", sr.code, len(st))
	}
	for _, n := range f.lab.Nodes {
		s := st[n.Name]
		switch {
		case s == nil:
			t.Errorf("status lacks %s", n.Name)
			continue
		case !s.Reachable || s.Error != "":
			t.Errorf("%s: reachable %v, error %q", n.Name, s.Reachable, s.Error)
		case s.Profile != n.Profile || s.Host != f.hosts[n.Name].Host() || s.Version != version:
			t.Errorf("%s: profile %q host %q version %q", n.Name, s.Profile, s.Host, s.Version)
		case s.UpdateLevel != toLevel || !s.Running || !s.Healthy:
			t.Errorf("%s: level %d running %v healthy %v, want %d, running and healthy", n.Name, s.UpdateLevel, s.Running, s.Healthy, toLevel)
		case s.DiskFreeBytes <= 0:
			t.Errorf("%s: disk_free_bytes %d", n.Name, s.DiskFreeBytes)
		case s.Lock != nil:
			t.Errorf("%s: still locked by %+v after the run", n.Name, s.Lock)
		case s.LastRun == nil || s.LastRun.ID != run || s.LastRun.Outcome != "done" || s.LastRun.At.IsZero():
			t.Errorf("%s: last_run %+v, want run %s done", n.Name, s.LastRun, run)
		case !s.Previous || s.PreviousLevel != fromLevel:
			t.Errorf("%s: previous_kept %v at level %d, want level %d kept", n.Name, s.Previous, s.PreviousLevel, fromLevel)
		}
	}

	// A second apply has nothing to do and changes nothing.
	journals, stops := map[string]int{}, map[string]int{}
	for _, n := range f.lab.Nodes {
		journals[n.Name] = len(journal(t, n))
		stops[n.Name] = countEvents(t, n, apimsim.EventStopping)
	}
	r2 := f.drover("apply", "--yes")
	if r2.code != 0 || !strings.Contains(r2.stderr, "nothing to do") {
		t.Errorf("second apply exited %d without saying there is nothing to do", r2.code)
	}
	if !strings.Contains(r2.stdout, "0 to update, 8 up to date") {
		t.Errorf("second apply's plan does not count 8 nodes up to date:\n%s", r2.stdout)
	}
	for _, n := range f.lab.Nodes {
		if got := len(journal(t, n)); got != journals[n.Name] {
			t.Errorf("%s: the second apply wrote %d journal record(s)", n.Name, got-journals[n.Name])
		}
		if got := countEvents(t, n, apimsim.EventStopping); got != stops[n.Name] {
			t.Errorf("%s: the second apply stopped the server", n.Name)
		}
		if !running(n.Home) || level(t, n.Home) != toLevel {
			t.Errorf("%s: changed by the second apply", n.Name)
		}
	}
}

func TestUnhealthyGatewayIsRolledBackAndLaterGatewaysUntouched(t *testing.T) {
	t.Parallel()
	// A short health_timeout: gw-2 never becomes healthy, and waiting 20s
	// for it would prove nothing more.
	f := newFixture(t, fixtureOptions{healthTimeout: "10s"})
	gw2 := f.node("gw-2")
	f.setFaults(gw2, apimsim.Faults{OnlyLevel: toLevel, Unhealthy: true})
	inodes := dbInodes(t, gw2.Home)

	r := f.drover("apply", "--yes", "--limit", "profile:gateway-worker")
	if r.code != 1 {
		t.Fatalf("apply exited %d, want 1", r.code)
	}
	if m := regexp.MustCompile(`drover: .*gw-2: .*health`).FindString(r.stderr); m == "" {
		t.Errorf("apply's error does not name gw-2 and its failed health gate:\n%s", r.stderr)
	}
	for _, other := range []string{"gw-1:", "gw-3:", "gw-4:"} {
		if line := lastLine(r.stderr, "drover: "); strings.Contains(line, other) {
			t.Errorf("apply's error names %s, which did not fail: %s", strings.TrimSuffix(other, ":"), line)
		}
	}
	t.Run("error names the node once", func(t *testing.T) {
		// FailedError joins "NODE: " with the node's error, which already
		// starts with "NODE: " (a StepError).
		if strings.Contains(r.stderr, "gw-2: gw-2:") {
			t.Errorf("the failure names gw-2 twice in a row: %s", lastLine(r.stderr, "drover: "))
		}
	})
	run := runIDOf(t, r.stderr)

	gw1 := f.node("gw-1")
	if level(t, gw1.Home) != toLevel || !running(gw1.Home) {
		t.Errorf("gw-1, updated before gw-2, is at level %d (running %v)", level(t, gw1.Home), running(gw1.Home))
	}
	if got := level(t, gw2.Home); got != fromLevel {
		t.Errorf("gw-2 at level %d after the rollback, want %d", got, fromLevel)
	}
	if !running(gw2.Home) {
		t.Error("gw-2 is not running after the rollback")
	}
	// The release back in service is the stopped one, with its own data
	// files (not copies).
	for name, ino := range dbInodes(t, gw2.Home) {
		if inodes[name] != ino {
			t.Errorf("gw-2: %s is not the file the stopped release had (inode %d, was %d)\n%s", name, ino, inodes[name], listInodes(gw2))
		}
	}
	if _, err := os.Stat(statePath(gw2, "failed", run)); err != nil {
		t.Errorf("gw-2: the failed release is not kept for inspection: %v", err)
	}
	for _, name := range []string{"gw-3", "gw-4"} {
		n := f.node(name)
		if c := countEvents(t, n, apimsim.EventStopping); c != 0 {
			t.Errorf("%s was stopped %d time(s) although the run halted before it", name, c)
		}
		if level(t, n.Home) != fromLevel || !running(n.Home) {
			t.Errorf("%s changed: level %d, running %v", name, level(t, n.Home), running(n.Home))
		}
		// gw-3 was prepared ahead of its turn while gw-2 was out of
		// service (staged, configured, data pre-copied): its journal says
		// so, and nothing else. gw-4 was never reached.
		recs := journal(t, n)
		switch {
		case name == "gw-4" && len(recs) != 0:
			t.Errorf("%s: the halted run wrote to its journal", name)
		case name == "gw-3" && len(recs) > 0 && recs[len(recs)-1].Phase != "prepared":
			t.Errorf("%s: the halted run left its journal ending in %+v; want the run prepared, or nothing", name, recs[len(recs)-1])
		}
		for _, r := range recs {
			if r.Step == "before_stop" || r.Step == "stop" || r.Step == "switch" {
				t.Errorf("%s: the halted run ran its %s step", name, r.Step)
			}
		}
	}
	// gw-2 was out of service only after gw-1 was back.
	ss := spans(t, f)
	checkOrderAndCapacity(t, f, ss)

	rec, outcome := f.runRecord(run)
	if outcome["gw-1"] != "done" || outcome["gw-2"] != "rolled_back" || outcome["gw-3"] != "not_started" || outcome["gw-4"] != "not_started" || !rec.Halted {
		t.Errorf("run record: outcomes %v, halted %v; want gw-1 done, gw-2 rolled_back, gw-3 and gw-4 not_started, halted", outcome, rec.Halted)
	}
	st, _ := f.status()
	if s := st["gw-2"]; s == nil || !s.Healthy || s.LastRun == nil || s.LastRun.Outcome != "rolled_back" || s.Lock != nil {
		t.Errorf("status of gw-2 after the rollback: %+v", s)
	}
	// The restored data is whole: stopped cleanly, it verifies, and the
	// server that ran on it after the rollback found it closed cleanly.
	checkDataAfterCleanStop(t, gw2)
}

// lastLine is the last line of s that starts with prefix.
func lastLine(s, prefix string) string {
	out := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = l
		}
	}
	return out
}
