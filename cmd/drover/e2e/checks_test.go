package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

// events reads the simulator's lifecycle records of a node.
func events(t *testing.T, n *lab.Node) []apimsim.Event {
	t.Helper()
	evs, err := apimsim.ReadEvents(filepath.Dir(n.Home))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// countEvents counts a node's lifecycle records of one kind.
func countEvents(t *testing.T, n *lab.Node, kind string) int {
	c := 0
	for _, e := range events(t, n) {
		if e.Event == kind {
			c++
		}
	}
	return c
}

// span is a time a node was out of service: from its server's "stopping"
// record to the next "started" one.
type span struct {
	node, profile string
	down, up      time.Time
}

func spans(t *testing.T, f *fixture) []span {
	t.Helper()
	var out []span
	for _, n := range f.lab.Nodes {
		var down time.Time
		for _, e := range events(t, n) {
			switch e.Event {
			case apimsim.EventStopping:
				if down.IsZero() {
					down = e.At
				}
			case apimsim.EventStarted:
				if !down.IsZero() {
					out = append(out, span{n.Name, n.Profile, down, e.At})
					down = time.Time{}
				}
			}
		}
		if !down.IsZero() {
			t.Errorf("%s: stopped at %s and never started again", n.Name, down.Format(time.StampMicro))
		}
	}
	return out
}

// checkOrderAndCapacity checks, from the simulator's own records, that
// every node of a wave was back before any node of a later wave went down
// (waves in the fixture's rollout order) and that no two nodes of one
// profile were down at once (max_unavailable 1 for every profile).
func checkOrderAndCapacity(t *testing.T, f *fixture, ss []span) {
	t.Helper()
	rank := map[string]int{}
	for i, p := range f.order {
		rank[p] = i
	}
	for _, a := range ss {
		for _, b := range ss {
			if a == b {
				continue
			}
			if a.profile == b.profile && a.down.Before(b.up) && b.down.Before(a.up) {
				t.Errorf("%s and %s (%s) were down at the same time: %s-%s and %s-%s", a.node, b.node, a.profile,
					clock(a.down), clock(a.up), clock(b.down), clock(b.up))
			}
			if rank[a.profile] < rank[b.profile] && !a.up.Before(b.down) {
				t.Errorf("%s (%s) went down at %s, before %s (%s) was back at %s", b.node, b.profile, clock(b.down), a.node, a.profile, clock(a.up))
			}
		}
	}
}

func clock(t time.Time) string { return t.Format("15:04:05.000") }

// journal reads a node's journal.
func journal(t *testing.T, n *lab.Node) []tasks.Record {
	t.Helper()
	b, err := os.ReadFile(tasks.NewPaths(n.Home).Journal())
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return tasks.ParseJournal(string(b))
}

// statePath is a path in the node's drover state directory.
func statePath(n *lab.Node, elem ...string) string {
	return filepath.Join(append([]string{tasks.NewPaths(n.Home).State}, elem...)...)
}

// persistDirs are the data drover persists for 4.4.0 (wso2-facts.md).
var persistDirs = []string{"solr/data", "repository/database"}

// checkPersisted checks that the data the persist step copied is exactly
// the data of the stopped release: the sums in the journal's last "persist"
// note equal the sums of the kept previous release (which nothing touched
// since), and that data is whole.
func checkPersisted(t *testing.T, n *lab.Node) {
	t.Helper()
	var sums map[string]string
	for _, r := range journal(t, n) {
		if r.Step == "persist" && r.Phase == tasks.PhaseNote {
			sums = r.Sums
		}
	}
	if sums == nil {
		t.Errorf("%s: no persist note with sums in the journal", n.Name)
		return
	}
	prev := statePath(n, "previous")
	for _, p := range persistDirs {
		if want := treeSum(t, prev, p); sums[p] != want {
			t.Errorf("%s: %s persisted with sum %q, the stopped release has %q", n.Name, p, sums[p], want)
		}
	}
	if err := apimsim.VerifyData(prev); err != nil {
		t.Errorf("%s: the stopped release's data is not whole: %v", n.Name, err)
	}
}

// treeSum is a directory's checksum computed the way the persist step
// computes it on the node, with the same tools.
func treeSum(t *testing.T, root, rel string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `cd "$1" && find "$2" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1`, "sh", root, rel)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("treesum %s/%s: %v", root, rel, err)
	}
	return strings.TrimSpace(string(out))
}

func level(t *testing.T, home string) int {
	t.Helper()
	l, err := apimsim.ReadLevel(home)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func running(home string) bool {
	_, alive := apimsim.PIDAlive(home)
	return alive
}

// dbInodes maps each H2 file of a release to its inode: a release moved
// back into service keeps its files' inodes, a copy does not.
func dbInodes(t *testing.T, release string) map[string]uint64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(release, "repository", "database", "*.mv.db"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no H2 files in %s (%v)", release, err)
	}
	out := map[string]uint64{}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = st.Sys().(*syscall.Stat_t).Ino
	}
	return out
}

// listInodes lists the H2 files of every release of a node with their
// inodes, to explain a failed dbInodes comparison.
func listInodes(n *lab.Node) string {
	out, _ := exec.Command("sh", "-c", `cd "$1" && ls -li */repository/database/*.mv.db .drover/*/*/repository/database/*.mv.db .drover/*/failed/*/repository/database/*.mv.db 2>&1`,
		"sh", filepath.Dir(n.Home)).CombinedOutput()
	return string(out)
}

// stopServer stops a node's server with its startup script (the one of the
// product its home holds), as an operator on the node would, and waits
// until it is gone.
func stopServer(t *testing.T, n *lab.Node) {
	t.Helper()
	product, err := os.ReadFile(filepath.Join(n.Home, "updates", "product.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d := catalog.ByProduct(strings.TrimSpace(strings.SplitN(string(product), "\n", 2)[0]))
	if d == nil {
		t.Fatalf("%s: %s holds no product the catalog knows (%q)", n.Name, n.Home, product)
	}
	cmd := exec.Command("sh", filepath.Join(n.Home, d.StartScript(n.Profile)), "stop")
	cmd.Dir = n.Home
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: stop: %v: %s", n.Name, err, out)
	}
	deadline := time.Now().Add(30 * time.Second) // a deadlock guard
	for running(n.Home) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the server did not stop", n.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDataAfterCleanStop stops the node's server and checks the data it
// leaves: whole, and opened without recovery (no unclean close happened
// before the last start).
func checkDataAfterCleanStop(t *testing.T, n *lab.Node) {
	t.Helper()
	stopServer(t, n)
	if err := apimsim.VerifyData(n.Home); err != nil {
		t.Errorf("%s: data after a clean stop: %v", n.Name, err)
	}
	if w := recoveryWarnings(n.Home); w != "" {
		t.Errorf("%s: the server had to recover its data:\n%s", n.Name, w)
	}
}

// recoveryWarnings are the lines of a release's server log saying that the
// data it opened had not been closed cleanly ("" when none).
func recoveryWarnings(home string) string {
	log, _ := os.ReadFile(apimsim.LogFile(home))
	var out []string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "not closed properly") || strings.Contains(l, "not committed cleanly") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// statusNode is one element of `status --json` / `facts --json`, with the
// contract's fields.
type statusNode struct {
	Node          string      `json:"node"`
	Profile       string      `json:"profile"`
	Host          string      `json:"host"`
	Reachable     bool        `json:"reachable"`
	Error         string      `json:"error"`
	Version       string      `json:"version"`
	UpdateLevel   int         `json:"update_level"`
	Running       bool        `json:"running"`
	Healthy       bool        `json:"healthy"`
	DiskFreeBytes int64       `json:"disk_free_bytes"`
	Lock          *statusLock `json:"lock"`
	LastRun       *statusRun  `json:"last_run"`
	Previous      bool        `json:"previous_kept"`
	PreviousLevel int         `json:"previous_level"`
	Product       string      `json:"product"`
	Distribution  string      `json:"distribution"`
	raw           map[string]any
}

type statusLock struct {
	ID    string    `json:"id"`
	Owner string    `json:"owner"`
	Since time.Time `json:"since"`
}

type statusRun struct {
	ID      string    `json:"id"`
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
	Step    string    `json:"step"`
}

// contractFields are the fields `facts --json` and `status --json` have
// from the start, with their JSON kinds.
var contractFields = map[string]string{
	"node": "string", "profile": "string", "host": "string", "reachable": "bool", "error": "string",
	"version": "string", "update_level": "number", "running": "bool", "healthy": "bool",
	"disk_free_bytes": "number", "lock": "object|null", "last_run": "object|null",
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// parseStatus parses `status --json` or `facts --json` output, checking
// every contract field is there with its kind; it returns the nodes by name.
func parseStatus(t *testing.T, stdout string) map[string]*statusNode {
	t.Helper()
	var typed []*statusNode
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &typed); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, stdout)
	}
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]*statusNode{}
	for i, n := range typed {
		n.raw = raw[i]
		for field, kinds := range contractFields {
			v, ok := raw[i][field]
			if !ok {
				t.Errorf("%s: status JSON lacks %q", n.Node, field)
				continue
			}
			if k := jsonKind(v); !strings.Contains("|"+kinds+"|", "|"+k+"|") {
				t.Errorf("%s: status JSON %q is %s (%v), want %s", n.Node, field, k, v, kinds)
			}
		}
		out[n.Node] = n
	}
	return out
}

// status runs `drover status --json` (extra args first) and parses it.
func (f *fixture) status(args ...string) (map[string]*statusNode, result) {
	f.t.Helper()
	r := f.drover(append(append([]string{}, args...), "status", "--json")...)
	return parseStatus(f.t, r.stdout), r
}
