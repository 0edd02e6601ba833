package tasks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/drover-sh/drover/tasks/apim"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// rolloutBody is an inventory rollout block with short timings. No order:
// the release's default order fits 3.2.0 labs too.
func rolloutBody(healthTimeout string) string {
	return `  max_unavailable  = 1
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = "` + healthTimeout + `"
  min_healthy_time = "1s"
  stop_timeout     = "3s"`
}

// testLab is a lab with its inventory, its pack and one SSH connection per
// node.
type testLab struct {
	*lab.Lab
	inv   *inventory.Inventory
	pack  *tasks.Pack
	mu    sync.Mutex
	conns map[string]tasks.Conn
}

func newLab(t *testing.T, version, healthTimeout string, nodes ...lab.NodeSpec) *testLab {
	t.Helper()
	l := labtest.New(t, lab.Spec{Version: version, Nodes: nodes, Rollout: rolloutBody(healthTimeout)})
	inv := labtest.Inventory(t, l)
	pack, err := tasks.OpenPack(inv.Update.Pack, inv.Update.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &testLab{Lab: l, inv: inv, pack: pack, conns: map[string]tasks.Conn{}}
}

func (tl *testLab) node(t *testing.T, name string) *lab.Node {
	t.Helper()
	for _, n := range tl.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s in the lab", name)
	return nil
}

// conn returns the node's SSH connection, dialled once and closed when the
// test that dialled it ends.
func (tl *testLab) conn(t *testing.T, name string) tasks.Conn {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if c, ok := tl.conns[name]; ok {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := rollout.TransportDialer(nil)(ctx, tl.inv.Node(name))
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	tl.conns[name] = c
	t.Cleanup(func() {
		tl.mu.Lock()
		delete(tl.conns, name)
		tl.mu.Unlock()
		if cl, ok := c.(io.Closer); ok {
			cl.Close()
		}
	})
	return c
}

// job returns a side-by-side job for one node that reports to rec.
func (tl *testLab) job(t *testing.T, name, run string, rec *recorder) *tasks.Job {
	t.Helper()
	n := tl.inv.Node(name)
	return &tasks.Job{
		Inv: tl.inv, Node: n, Conn: tl.conn(t, name), Paths: tasks.NewPaths(n.Home), Pack: tl.pack, Product: apim.Product{},
		Run: run, Owner: "test", Sink: rec.sink(), Poll: 200 * time.Millisecond,
	}
}

// probe reads the node's facts, running its health checks.
func (tl *testLab) probe(t *testing.T, name string) *tasks.Facts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := tl.inv.Node(name)
	f := tasks.Probe(ctx, tl.conn(t, name), tl.inv, n, tasks.ProbeOptions{Health: true, Product: apim.Product{}})
	if !f.Reachable {
		t.Fatalf("probe %s: %s", name, f.Error)
	}
	return f
}

// apply runs the procedure with auto-rollback under a deadlock guard.
func apply(j *tasks.Job) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return j.Apply(ctx, true)
}

func rollback(j *tasks.Job) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return j.Rollback(ctx)
}

// recorder keeps every event of a job; on, when set, sees each event as
// it is emitted, before the job goes on.
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

// steps returns the steps of the events of one type, in order.
func (r *recorder) steps(typ string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e.Step)
		}
	}
	return out
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

func stepNames(inv *inventory.Inventory) []string {
	var out []string
	for _, s := range tasks.Steps(inv) {
		out = append(out, s.Name)
	}
	return out
}

func level(t *testing.T, home string) int {
	t.Helper()
	n, err := apimsim.ReadLevel(home)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func stateDir(n *lab.Node) string { return tasks.NewPaths(n.Home).State }

func previousDir(n *lab.Node) string { return tasks.NewPaths(n.Home).Previous() }

// simEvents returns the simulator's lifecycle events of the node.
func simEvents(t *testing.T, n *lab.Node) []apimsim.Event {
	t.Helper()
	evs, err := apimsim.ReadEvents(filepath.Dir(n.Home))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func countEvents(evs []apimsim.Event, name string) int {
	c := 0
	for _, e := range evs {
		if e.Event == name {
			c++
		}
	}
	return c
}

func journal(t *testing.T, n *lab.Node) []tasks.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return tasks.ParseJournal(string(b))
}

// persistSums returns the checksums the last persist step recorded.
func persistSums(recs []tasks.Record) map[string]string {
	var sums map[string]string
	for _, r := range recs {
		if r.Step == "persist" && r.Phase == tasks.PhaseNote {
			sums = r.Sums
		}
	}
	return sums
}

// treeSum computes a directory's checksum the way the persist step does on
// the node, with the same tools.
func treeSum(t *testing.T, root, rel string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `cd "$1" && find "$2" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1`, "sh", root, rel)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("treesum %s/%s: %v", root, rel, err)
	}
	return strings.TrimSpace(string(out))
}

// fileSums maps every file under root/rel to its sha256, independently of
// the node's tools.
func fileSums(t *testing.T, root, rel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(root, p)
		s := sha256.Sum256(b)
		out[r] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatalf("read %s/%s: %v", root, rel, err)
	}
	return out
}

// sameFiles reports every file whose content differs between two trees, or
// that only one of them has.
func sameFiles(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Errorf("%s: no files to compare", what)
	}
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s is missing", what, p)
		} else if g != w {
			t.Errorf("%s: %s differs (sha256 %.12s, want %.12s)", what, p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s should not be there", what, p)
		}
	}
}

// persisted are the paths the procedure carries from the stopped release.
func persisted(inv *inventory.Inventory) []string { return inv.Persist }

// dataInodes maps each persisted file of a release to its inode: a release
// renamed back keeps them, a copy or a restore does not.
func dataInodes(t *testing.T, inv *inventory.Inventory, home string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, rel := range persisted(inv) {
		filepath.WalkDir(filepath.Join(home, rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				r, _ := filepath.Rel(home, p)
				// Index commits replace segment files; the folders and the
				// H2 files are what must be the same objects.
				if d.IsDir() || strings.HasSuffix(p, ".mv.db") {
					out[r] = fi.Sys().(*syscall.Stat_t).Ino
				}
			}
			return nil
		})
	}
	if len(out) == 0 {
		t.Fatalf("no persisted data in %s", home)
	}
	return out
}

func pathExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// running returns the PID of the server of home, failing when none runs.
func running(t *testing.T, home string) int {
	t.Helper()
	pid, alive := apimsim.PIDAlive(home)
	if !alive {
		t.Fatalf("no server runs from %s", home)
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if !strings.Contains(string(cmdline), home) {
		t.Fatalf("PID %d does not run from %s: %q", pid, home, cmdline)
	}
	return pid
}

// fault sets the simulator's knobs on a node, keeping the lab's fast
// timings.
func fault(t *testing.T, n *lab.Node, f apimsim.Faults) {
	t.Helper()
	f.StartDelay, f.StopDelay = labtest.FastStart, labtest.FastStop
	if err := apimsim.WriteFaults(n.Home, f); err != nil {
		t.Fatal(err)
	}
}

// restartServer stops and starts the node's server by hand, so faults read
// at start (hang_stop) apply to the running release.
func restartServer(t *testing.T, tl *testLab, n *lab.Node) {
	t.Helper()
	pid := running(t, n.Home)
	script(t, tl, n, "stop")
	waitGone(t, pid)
	script(t, tl, n, "start")
	waitHealthy(t, tl, n.Name)
}

// runByHand starts the node's old release and stops it again, the way an
// operator would between an interrupted update and its resume.
func runByHand(t *testing.T, tl *testLab, n *lab.Node) {
	t.Helper()
	script(t, tl, n, "start")
	waitHealthy(t, tl, n.Name)
	pid := running(t, n.Home)
	script(t, tl, n, "stop")
	waitGone(t, pid)
}

// script runs the node's startup script on the node, as an operator does.
func script(t *testing.T, tl *testLab, n *lab.Node, arg string) {
	t.Helper()
	// As the operator would start this profile: -Dprofile only where the
	// release ships that OSGi profile (not 4.4's api-key-manager-node).
	start, args := apim.Product{}.Start(tl.inv, tl.inv.Node(n.Name), "")
	cmd := exec.Command("sh", append([]string{filepath.Join(n.Home, start), arg}, args...)...)
	cmd.Dir = n.Home
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", n.Name, arg, err, out)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("PID %d did not stop", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitHealthy(t *testing.T, tl *testLab, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		f := tl.probe(t, name)
		if f.Healthy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy: %s", name, f.UnhealthyBecause)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// customise makes the node's configuration the operator's own, the way an
// operator edits a running node, and returns what it wrote.
func customise(t *testing.T, tl *testLab, n *lab.Node) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	write := func(rel string, data []byte) {
		p := filepath.Join(n.Home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		want[rel] = data
	}
	conf := "repository/conf/deployment.toml"
	old, err := os.ReadFile(filepath.Join(n.Home, conf))
	if err != nil {
		t.Fatal(err)
	}
	write(conf, append(old, []byte("\n# "+n.Name+": the operator's own setting\n[apim.devportal]\nurl = \"https://portal.example.com/devportal\"\n")...))
	write("repository/resources/security/wso2carbon.jks", keyBytes(n.Name+"/wso2carbon.jks", 7000))
	write("repository/resources/security/operator-truststore.jks", keyBytes(n.Name+"/operator", 3000))
	write("repository/components/lib/operator-jdbc-driver.jar", keyBytes(n.Name+"/jdbc", 2000))
	write("repository/tenants/1/tenant.xml", []byte("<tenant id=\"1\" domain=\"example.com\"/>\n"))
	return want
}

// updated returns what the operator's files must hold after an update: the
// operator's content, or the inventory's managed file where it manages one
// (the lab's gateways get a managed deployment.toml).
func updated(custom map[string][]byte, n *inventory.Node) map[string][]byte {
	out := maps.Clone(custom)
	for _, f := range n.Files {
		out[f.Path] = f.Content
	}
	return out
}

func keyBytes(seed string, n int) []byte {
	var out []byte
	h := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:n]
}

// checkFiles asserts that each file of want holds its content in home.
func checkFiles(t *testing.T, what, home string, want map[string][]byte) {
	t.Helper()
	for rel, data := range want {
		got, err := os.ReadFile(filepath.Join(home, rel))
		if err != nil {
			t.Errorf("%s: %v", what, err)
		} else if string(got) != string(data) {
			t.Errorf("%s: %s is not the operator's (%d bytes, want %d)", what, rel, len(got), len(data))
		}
	}
}

// optimizedAway lists, from the release facts (not from the simulator or
// drover's catalog), the files of the pack that profileSetup deletes for a
// profile and the webapps it keeps, relative to home.
func optimizedAway(t *testing.T, version, profile string) (gone, kept []string) {
	t.Helper()
	const facts = "apim/testdata/facts"
	removed, err := os.ReadFile(filepath.Join(facts, "profile-setup", version, profile+".removed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(removed)), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, "/") {
			gone = append(gone, l) // folders may be made again by the running server
		}
	}
	data, err := os.ReadFile(filepath.Join(facts, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entries []struct {
			Release, Distribution string
			PackLayout            struct {
				Wars []string `json:"webapps_wars"`
			} `json:"pack_layout"`
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc.Entries {
		if e.Release != version || e.Distribution != "all-in-one" {
			continue
		}
		for _, w := range e.PackLayout.Wars {
			p := "repository/deployment/server/webapps/" + w
			if !slices.Contains(gone, p) {
				kept = append(kept, p)
			}
		}
	}
	if len(gone) == 0 || len(kept) == 0 {
		t.Fatalf("the facts name nothing profileSetup removes or keeps for %s %s", version, profile)
	}
	return gone, kept
}

// before is what a node was before an update.
type before struct {
	pid    int
	level  int
	inodes map[string]uint64
	files  map[string][]byte // the operator's files, as customised
	// killed is set when the update had to SIGKILL the old server.
	killed bool
}

func snapshot(t *testing.T, tl *testLab, n *lab.Node, files map[string][]byte) before {
	t.Helper()
	return before{pid: running(t, n.Home), level: level(t, n.Home), inodes: dataInodes(t, tl.inv, n.Home), files: files}
}

// checkBack asserts a node fully back on its previous release: same level,
// the same data files (renamed back, never copied), the operator's files,
// running and healthy, nothing of the update left in the product directory.
func checkBack(t *testing.T, tl *testLab, n *lab.Node, b before) {
	t.Helper()
	if got := level(t, n.Home); got != b.level {
		t.Errorf("%s: level %d, want the previous level %d", n.Name, got, b.level)
	}
	running(t, n.Home)
	if got := dataInodes(t, tl.inv, n.Home); !maps.Equal(got, b.inodes) {
		t.Errorf("%s: the data files are not the ones the previous release had: %v, want %v", n.Name, got, b.inodes)
	}
	checkFiles(t, n.Name+" back", n.Home, b.files)
	if f := tl.probe(t, n.Name); !f.Healthy {
		t.Errorf("%s: not healthy after rollback: %s", n.Name, f.UnhealthyBecause)
	}
}

// specs reads name, profile pairs.
func specs(pairs ...string) []lab.NodeSpec {
	var out []lab.NodeSpec
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, lab.NodeSpec{Name: pairs[i], Profile: pairs[i+1]})
	}
	return out
}
