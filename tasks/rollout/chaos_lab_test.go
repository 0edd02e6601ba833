package rollout_test

// The world of one chaos iteration: a lab cluster with its own inventory
// (hooks that log to a stand-in load balancer on every profile, short health
// windows), the operator's hands (stop a server, start it again, edit
// deployment.toml, rebuild the pack, break a lock, recover a node) and a
// controller that can be killed like `kill -9`: its SSH connections cut
// abruptly, nothing more written to any node or to the load balancer.

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
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
	"github.com/drover-sh/drover/transport"
)

// chaosLB stands in for a load balancer: it records what drover asks of it
// with a nanosecond timestamp, so the checks can put drains and enables on
// one time line with the simulator's lifecycle events. A run the test
// killed (dead/<run> exists) can no longer reach it, like a dead controller.
const chaosLB = `#!/bin/sh
d=$(dirname "$0")
if [ -n "$DROVER_RUN" ] && [ -e "$d/dead/$DROVER_RUN" ]; then
  echo "controller of run $DROVER_RUN is dead" >&2
  exit 1
fi
echo "$(date +%s.%N) $1 $2 $DROVER_RUN" >> "$d/lb.log"
`

// chaosRolloutSettings is what a scenario picks for the inventory.
type chaosRolloutSettings struct {
	Profiles       []string       // in rollout order
	MaxUnavailable string         // HCL value: 1, 2 or "50%"
	PerProfile     map[string]int // profile max_unavailable overrides
	FailureBudget  int
}

// chaosLab is one iteration's cluster and everything the test did to it.
type chaosLab struct {
	t    *testing.T
	l    *lab.Lab
	srv  *lab.Servers
	set  chaosRolloutSettings
	pack string // the inventory's pack (path)
	sum  string // and its sha256

	mu         sync.Mutex
	handStops  []handStop
	faultsLog  map[string][]faultChange
	edits      []operatorEdit
	engine     []engineEvent // every event of every run and recovery, stamped
	log        []string      // what happened, for the failure report
	sshDown    map[string]bool
	sshLost    map[string]bool // "run node": the node's SSH server went away during the run
	deadRuns   map[string]bool
	rollbackBy map[string][]time.Time // rollbacks the operator asked for (recover --rollback)
	start      time.Time
}

type handStop struct {
	Node string
	At   time.Time
}

type faultChange struct {
	At     time.Time
	Faults apimsim.Faults
}

type operatorEdit struct {
	Node  string
	Token string
	At    time.Time
	Level int // update level of the release that was edited
}

type engineEvent struct {
	Run string
	tasks.Event
}

func (c *chaosLab) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, fmt.Sprintf("%s %s", stamp(time.Now()), fmt.Sprintf(format, args...)))
}

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

func newChaosLab(t *testing.T, spec string, set chaosRolloutSettings) *chaosLab {
	t.Helper()
	ns, err := lab.ParseNodes(spec)
	if err != nil {
		t.Fatal(err)
	}
	l, srv := serveChaosLab(t, ns)
	c := &chaosLab{t: t, l: l, srv: srv, set: set, pack: l.Pack, faultsLog: map[string][]faultChange{},
		sshDown: map[string]bool{}, sshLost: map[string]bool{}, deadRuns: map[string]bool{}, rollbackBy: map[string][]time.Time{}, start: time.Now()}
	if err := os.WriteFile(filepath.Join(l.Dir, "lb.sh"), []byte(chaosLB), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.Dir, "dead"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.setPack(l.Pack)
	return c
}

// serveChaosLab is labtest.NewServed, tried again in a fresh directory
// when a node cannot start: the simulated servers take ports below the
// ephemeral range, and other test processes on the machine (which pick
// their ports on their own) may hold one.
func serveChaosLab(t *testing.T, ns []lab.NodeSpec) (*lab.Lab, *lab.Servers) {
	t.Helper()
	var last error
	for try := 1; try <= 3; try++ {
		spec := lab.Spec{Nodes: ns, Dir: filepath.Join(t.TempDir(), "lab"), SimBin: labtest.SimBin(t),
			StartDelay: labtest.FastStart, StopDelay: labtest.FastStop, Rollout: labtest.FastRollout}
		l, err := lab.Create(spec)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := l.Serve()
		if err != nil {
			last = err
			continue
		}
		t.Cleanup(func() {
			l.StopProducts()
			srv.Close()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = l.StartProducts(ctx)
		cancel()
		if err == nil {
			return l, srv
		}
		last = err
		t.Logf("the lab did not come up (try %d; another process may hold a port): %v", try, err)
		l.StopProducts()
		srv.Close()
	}
	t.Fatalf("the lab did not come up in 3 tries: %v", last)
	return nil, nil
}

// portClash reports a simulated server of the lab that could not listen on
// its ports: another process on the machine held them, and the iteration
// says nothing about drover.
func (c *chaosLab) portClash() string {
	for _, n := range c.l.Nodes {
		for _, dir := range c.releases(n) {
			b, _ := os.ReadFile(apimsim.LogFile(dir))
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "Failed to start the servlet transports") {
					return n.Name + ": " + strings.TrimSpace(line)
				}
			}
		}
	}
	return ""
}

func (c *chaosLab) node(name string) *lab.Node {
	for _, n := range c.l.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

// setPack points the inventory at a pack (the operator edits pack and
// sha256 after rebuilding it).
func (c *chaosLab) setPack(path string) {
	c.t.Helper()
	p, err := tasks.OpenPack(path, "")
	if err != nil {
		c.t.Fatal(err)
	}
	c.pack, c.sum = path, p.SHA256
	c.writeInventory()
}

func (c *chaosLab) targetLevel() int {
	p, err := tasks.OpenPack(c.pack, c.sum)
	if err != nil {
		c.t.Fatal(err)
	}
	return p.Level
}

func (c *chaosLab) writeInventory() {
	c.t.Helper()
	l := c.l
	name := "wso2"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	rel, err := filepath.Rel(l.Dir, c.pack)
	if err != nil {
		c.t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `cluster "chaos" {
  product = "wso2am"
  version = %q
  home    = %q
}

ssh {
  user            = %q
  identity_files  = ["id_ed25519"]
  known_hosts     = "known_hosts"
  host_key_policy = "strict"
  connect_timeout = "5s"
}

update {
  strategy = "side-by-side"
  pack     = %q
  sha256   = %q
}

rollout {
  order            = [%s]
  max_unavailable  = %s
  failure_budget   = %d
  auto_rollback    = true
  health_timeout   = "6s"
  min_healthy_time = "600ms"
  stop_timeout     = "8s"
}
`, l.Version, l.Nodes[0].Home, name, rel, c.sum, quoteJoin(c.set.Profiles), c.set.MaxUnavailable, c.set.FailureBudget)
	for _, p := range c.set.Profiles {
		fmt.Fprintf(&b, "\nprofile %q {\n", p)
		if m, ok := c.set.PerProfile[p]; ok {
			fmt.Fprintf(&b, "  max_unavailable = %d\n", m)
		}
		b.WriteString(`  hook "before_stop" { local = "./lb.sh drain ${node.name}" }
  hook "after_healthy" { local = "./lb.sh enable ${node.name}" }
  hook "on_failure" { local = "./lb.sh failure ${node.name}" }
}
`)
	}
	for _, n := range l.Nodes {
		fmt.Fprintf(&b, "\nnode %q {\n  profile = %q\n  host    = \"127.0.0.1\"\n  port    = %d\n  offset  = %d\n  home    = %q\n}\n",
			n.Name, n.Profile, n.SSHPort, n.Offset, n.Home)
	}
	if err := os.WriteFile(l.Inventory, []byte(b.String()), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func quoteJoin(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

func (c *chaosLab) inventory() *inventory.Inventory {
	c.t.Helper()
	return labtest.Inventory(c.t, c.l)
}

// ---- the operator's hands ----

// stopByHand stops a node's server with its startup script, as an operator
// on the node would, and waits until it is gone. A node whose server does
// not run is left alone (and false returned).
func (c *chaosLab) stopByHand(name string) bool {
	n := c.node(name)
	if _, alive := apimsim.PIDAlive(n.Home); !alive {
		c.note("operator: %s is not running; nothing to stop", name)
		return false
	}
	c.mu.Lock()
	c.handStops = append(c.handStops, handStop{Node: name, At: time.Now()})
	c.mu.Unlock()
	c.note("operator: stop %s by hand", name)
	cmd := exec.Command("sh", filepath.Join(n.Home, apimsim.Script(c.l.Version)), "stop")
	cmd.Dir = n.Home
	if out, err := cmd.CombinedOutput(); err != nil {
		c.note("operator: stop %s: %v: %s", name, err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.note("operator: %s did not stop within 15s", name)
	return true
}

// startByHand starts a stopped node's server the way the lab does (the
// startup script with the node's profile) and waits for it to answer.
func (c *chaosLab) startByHand(name string) {
	n := c.node(name)
	if _, err := os.Stat(n.Home); err != nil {
		c.note("operator: %s has no product directory; not starting it", name)
		return
	}
	if _, alive := apimsim.PIDAlive(n.Home); alive {
		return
	}
	c.note("operator: start %s by hand", name)
	cmd := exec.Command("sh", filepath.Join(n.Home, apimsim.Script(c.l.Version)), "start", "-Dprofile="+n.Profile)
	cmd.Dir = n.Home
	if out, err := cmd.CombinedOutput(); err != nil {
		c.note("operator: start %s: %v: %s", name, err, out)
		return
	}
	httpPort, _ := apimsim.Ports(n.Offset)
	url := fmt.Sprintf("http://127.0.0.1:%d/services/Version", httpPort)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.note("operator: %s did not answer %s within 15s after a start by hand", name, url)
}

// setFaults sets a node's fault knobs (keeping the lab's fast timings).
func (c *chaosLab) setFaults(name string, f apimsim.Faults) {
	n := c.node(name)
	f.StartDelay, f.StopDelay = labtest.FastStart, labtest.FastStop
	c.mu.Lock()
	c.faultsLog[name] = append(c.faultsLog[name], faultChange{At: time.Now(), Faults: f})
	c.mu.Unlock()
	if err := apimsim.WriteFaults(n.Home, f); err != nil {
		c.t.Fatal(err)
	}
	c.note("faults on %s: %+v", name, f)
}

func (c *chaosLab) clearFaults() {
	for _, n := range c.l.Nodes {
		c.mu.Lock()
		had := len(c.faultsLog[n.Name]) > 0
		c.mu.Unlock()
		if had {
			c.setFaults(n.Name, apimsim.Faults{})
		}
	}
}

// faultsAt returns the knobs a server starting at t read.
func (c *chaosLab) faultsAt(name string, t time.Time) apimsim.Faults {
	var f apimsim.Faults
	for _, ch := range c.faultsLog[name] {
		if !ch.At.After(t) {
			f = ch.Faults
		}
	}
	return f
}

// editConfig appends a line the operator wants kept to the running
// release's deployment.toml.
func (c *chaosLab) editConfig(name, token string) {
	n := c.node(name)
	p := filepath.Join(n.Home, "repository", "conf", "deployment.toml")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		c.note("operator: cannot edit %s's deployment.toml: %v", name, err)
		return
	}
	level, _ := apimsim.ReadLevel(n.Home)
	_, err = fmt.Fprintf(f, "\n# operator edit %s\n", token)
	f.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.edits = append(c.edits, operatorEdit{Node: name, Token: token, At: time.Now(), Level: level})
	c.mu.Unlock()
	c.note("operator: edit %s's deployment.toml (release at level %d): %s", name, level, token)
}

// rebuildPack makes a new pack and points the inventory at it: newer is
// false for the same level with different bytes (a file added), true for
// the next level.
func (c *chaosLab) rebuildPack(newer bool, tag string) {
	c.t.Helper()
	cur := c.targetLevel()
	product := apimsim.ProductName(c.l.Version)
	if newer {
		p := filepath.Join(c.l.Dir, "packs", fmt.Sprintf("%s-u%d.zip", product, cur+1))
		if err := apimsim.BuildPack(p, apimsim.Spec{Version: c.l.Version, Level: cur + 1, SimBin: c.l.SimBin}); err != nil {
			c.t.Fatal(err)
		}
		c.setPack(p)
		c.note("operator: pack rebuilt at the newer level %d: %s (sha256 %s)", cur+1, filepath.Base(p), c.sum[:12])
		return
	}
	p := filepath.Join(c.l.Dir, "packs", fmt.Sprintf("%s-u%d-%s.zip", product, cur, tag))
	if err := repackWithNote(c.pack, p, product+"/CHAOS-REBUILD.txt", "rebuilt "+tag+"\n"); err != nil {
		c.t.Fatal(err)
	}
	c.setPack(p)
	c.note("operator: pack rebuilt at the same level %d with other bytes: %s (sha256 %s)", cur, filepath.Base(p), c.sum[:12])
}

// repackWithNote copies a zip and adds one file: the same release, other bytes.
func repackWithNote(src, dst, name, text string) error {
	r, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer r.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := zip.NewWriter(out)
	for _, f := range r.File {
		if f.Name == name {
			continue // a pack rebuilt before: one note only (unzip prompts on a duplicate entry)
		}
		if err := w.Copy(f); err != nil {
			out.Close()
			return err
		}
	}
	fw, err := w.Create(name)
	if err == nil {
		_, err = io.WriteString(fw, text)
	}
	if err == nil {
		err = w.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// dropSSH stops a node's SSH server (connections cut, commands killed).
func (c *chaosLab) dropSSH(name string) {
	c.mu.Lock()
	c.sshDown[name] = true
	c.mu.Unlock()
	c.note("fault: %s's SSH server goes down", name)
	if err := c.srv.Stop(name); err != nil {
		c.t.Error(err)
	}
}

func (c *chaosLab) restartSSH(name string) {
	if err := c.srv.Restart(name); err != nil {
		c.t.Errorf("restart %s's SSH server: %v", name, err)
		return
	}
	c.mu.Lock()
	c.sshDown[name] = false
	c.mu.Unlock()
	c.note("%s's SSH server is back", name)
}

func (c *chaosLab) restartAllSSH() {
	c.mu.Lock()
	var down []string
	for n, d := range c.sshDown {
		if d {
			down = append(down, n)
		}
	}
	c.mu.Unlock()
	for _, n := range down {
		c.restartSSH(n)
	}
}

// ---- the controller ----

var errControllerKilled = errors.New("chaos: the controller was killed")

// controller is one drover process: its connections, its run id, and a
// kill switch that cuts every connection at once (kill -9).
type controller struct {
	c      *chaosLab
	run    string
	conns  *rollout.Conns
	mu     sync.Mutex
	dead   bool
	opened []tasks.Conn
}

func (c *chaosLab) newController(run string) *controller {
	ctl := &controller{c: c, run: run}
	base := rollout.TransportDialer(nil)
	ctl.conns = rollout.NewConns(func(ctx context.Context, n *inventory.Node) (tasks.Conn, error) {
		ctl.mu.Lock()
		dead := ctl.dead
		ctl.mu.Unlock()
		if dead {
			return nil, errControllerKilled
		}
		cn, err := base(ctx, n)
		if err != nil {
			return nil, err
		}
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		if ctl.dead {
			closeConn(cn)
			return nil, errControllerKilled
		}
		ctl.opened = append(ctl.opened, cn)
		return &killableConn{inner: cn, ctl: ctl}, nil
	})
	return ctl
}

func closeConn(cn tasks.Conn) {
	if cl, ok := cn.(io.Closer); ok {
		go cl.Close() // Close may wait for transfers in flight; the cut is immediate
	}
}

// kill makes the controller dead: the load balancer no longer hears from
// it, every connection is cut and none is opened again.
func (ctl *controller) kill() {
	os.WriteFile(filepath.Join(ctl.c.l.Dir, "dead", ctl.run), nil, 0o644)
	ctl.mu.Lock()
	ctl.dead = true
	opened := ctl.opened
	ctl.opened = nil
	ctl.mu.Unlock()
	for _, cn := range opened {
		closeConn(cn)
	}
	ctl.c.mu.Lock()
	ctl.c.deadRuns[ctl.run] = true
	ctl.c.mu.Unlock()
}

func (ctl *controller) isDead() bool {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.dead
}

func (ctl *controller) close() {
	if !ctl.isDead() {
		ctl.conns.Close()
	}
}

// killableConn refuses everything once its controller is dead.
type killableConn struct {
	inner tasks.Conn
	ctl   *controller
}

func (k *killableConn) Run(ctx context.Context, cmd string, opts transport.RunOptions) (*transport.Result, error) {
	if k.ctl.isDead() {
		return nil, errControllerKilled
	}
	return k.inner.Run(ctx, cmd, opts)
}

func (k *killableConn) Upload(ctx context.Context, local, remote string, opts transport.UploadOptions) (transport.UploadResult, error) {
	if k.ctl.isDead() {
		return transport.UploadResult{}, errControllerKilled
	}
	return k.inner.Upload(ctx, local, remote, opts)
}

func (k *killableConn) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if k.ctl.isDead() {
		return nil, errControllerKilled
	}
	return k.inner.DialTCP(ctx, addr)
}

func (k *killableConn) HTTPClient(insecureTLS bool) *http.Client {
	return k.inner.HTTPClient(insecureTLS)
}

func (k *killableConn) Close() error {
	closeConn(k.inner)
	return nil
}

// sink records every engine event of the controller, stamped with its run.
func (c *chaosLab) sink(run string, also func(tasks.Event)) tasks.Sink {
	return func(e tasks.Event) {
		if e.At.IsZero() {
			e.At = time.Now()
		}
		c.mu.Lock()
		c.engine = append(c.engine, engineEvent{Run: run, Event: e})
		c.mu.Unlock()
		if also != nil {
			also(e)
		}
	}
}

func (c *chaosLab) options(ctl *controller, inv *inventory.Inventory, also func(tasks.Event)) *rollout.Options {
	c.t.Helper()
	pack, err := tasks.OpenPack(inv.Update.Pack, inv.Update.SHA256)
	if err != nil {
		c.t.Fatal(err)
	}
	return &rollout.Options{Inv: inv, Nodes: inv.Ordered(), Pack: pack, Product: apim.Product{}, Conns: ctl.conns, Parallel: 8,
		Run: ctl.run, Owner: "chaos", Sink: c.sink(ctl.run, also), Poll: 150 * time.Millisecond}
}

// rng helpers

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }
