package lab_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// create lays a lab out without starting it (the simulator is never run).
func create(t *testing.T, nodes string) *lab.Lab {
	t.Helper()
	ns, err := lab.ParseNodes(nodes)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Create(lab.Spec{Dir: filepath.Join(t.TempDir(), "lab"), Nodes: ns, SimBin: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.CloseListeners)
	return l
}

func load(t *testing.T, l *lab.Lab) *inventory.Inventory {
	t.Helper()
	inv, diags := inventory.NewLoader().Load(l.Inventory)
	if diags.HasErrors() {
		t.Fatalf("lab inventory: %v", diags)
	}
	return inv
}

// TestKeyManagersAreInTheRolloutOrder: a lab with key managers writes an
// inventory whose rollout order has their profile (4.4.0:
// api-key-manager-node, after the control planes), so it loads.
func TestKeyManagersAreInTheRolloutOrder(t *testing.T) {
	l := create(t, "cp=1,tm=1,km=2,gw=1")
	inv := load(t, l)
	want := []string{"control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"}
	if !slices.Equal(inv.Rollout.Order, want) {
		t.Fatalf("rollout order %q, want %q", inv.Rollout.Order, want)
	}
	// A rollout body of the caller without an order (labtest's) leaves the
	// release's default order, which has the key managers too.
	ns, _ := lab.ParseNodes("km=1,gw=1")
	l2, err := lab.Create(lab.Spec{Dir: filepath.Join(t.TempDir(), "lab"), Nodes: ns, SimBin: "/bin/false", Rollout: labtest.FastRollout})
	if err != nil {
		t.Fatal(err)
	}
	l2.CloseListeners()
	if got := load(t, l2).Rollout.Order; !slices.Contains(got, "api-key-manager-node") {
		t.Fatalf("rollout order %q", got)
	}
}

// TestCreateKeepsThePortsItChose: every SSH port stays bound from Create to
// Serve (nobody else can take one in between), and no two nodes share an
// HTTP or HTTPS port, at a size where random choices used to collide.
func TestCreateKeepsThePortsItChose(t *testing.T) {
	l := create(t, "cp=2,tm=2,km=2,gw=144")
	ports := map[int]string{}
	claim := func(p int, what string) {
		if other, ok := ports[p]; ok {
			t.Fatalf("port %d is %s and %s", p, other, what)
		}
		ports[p] = what
	}
	for _, n := range l.Nodes {
		claim(n.SSHPort, n.Name+" ssh")
		http, https := apimsim.Ports(n.Offset)
		claim(http, n.Name+" http")
		claim(https, n.Name+" https")
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n.SSHPort)); err == nil {
			ln.Close()
			t.Fatalf("node %s: SSH port %d was free after Create: another program could take it", n.Name, n.SSHPort)
		}
	}
	srv, err := l.Serve()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// TestListenersHandOver: `lab up` hands the bound ports to the lab daemon
// (another process) as files; the daemon serves on the very same ports.
func TestListenersHandOver(t *testing.T) {
	l := create(t, "gw=3")
	files, err := l.ListenerFiles()
	if err != nil {
		t.Fatal(err)
	}
	l.CloseListeners()
	other, err := lab.Load(l.Dir) // as the daemon does
	if err != nil {
		t.Fatal(err)
	}
	if err := other.InheritListeners(files); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n.SSHPort)); err == nil {
			ln.Close()
			t.Fatalf("node %s: port %d free while handed over", n.Name, n.SSHPort)
		}
	}
	srv, err := other.Serve()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// TestLevelSummaryReadsTheNodes: a lab restarted after an apply reports the
// level its nodes run, not the one it was made at.
func TestLevelSummaryReadsTheNodes(t *testing.T) {
	l := create(t, "cp=1,gw=2")
	if got := l.LevelSummary(); got != "update level 11" {
		t.Fatalf("fresh lab: %q", got)
	}
	for _, n := range l.Nodes[1:] {
		setLevel(t, n.Home, 12)
	}
	if got := l.LevelSummary(); got != "update levels 11 (1 node), 12 (2 nodes)" {
		t.Fatalf("half updated: %q", got)
	}
	setLevel(t, l.Nodes[0].Home, 12)
	if got := l.LevelSummary(); got != "update level 12" {
		t.Fatalf("updated: %q", got)
	}
}

func setLevel(t *testing.T, home string, level int) {
	t.Helper()
	p := filepath.Join(home, "updates", "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["update-level"] = level
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseNodesTakesHundreds(t *testing.T) {
	ns, err := lab.ParseNodes("cp=2,tm=2,km=2,gw=144")
	if err != nil || len(ns) != 150 {
		t.Fatalf("%d nodes, %v", len(ns), err)
	}
	if ns, err := lab.ParseNodes("gw=200,cp=100"); err != nil || len(ns) != 300 {
		t.Fatalf("%d nodes, %v", len(ns), err)
	}
	if _, err := lab.ParseNodes("gw=400,cp=200"); err == nil {
		t.Fatal("600 nodes accepted")
	}
}

// TestNodeWhosePortIsTakenMoves: a program binds a node's HTTP port after
// the lab chose it; the node's server fails to bind, and the lab starts it
// again on a new offset, written to its deployment.toml, the inventory and
// lab.json.
func TestNodeWhosePortIsTakenMoves(t *testing.T) {
	ns, _ := lab.ParseNodes("cp=1,gw=1")
	l, err := lab.Create(lab.Spec{Dir: filepath.Join(t.TempDir(), "lab"), Nodes: ns, SimBin: labtest.SimBin(t),
		StartDelay: labtest.FastStart, StopDelay: labtest.FastStop})
	if err != nil {
		t.Fatal(err)
	}
	gw := l.Nodes[1]
	taken := gw.Offset
	http, _ := apimsim.Ports(taken)
	squatter, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(http))
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	srv, err := l.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.StopProducts(); srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), lab.StartBudget(2))
	defer cancel()
	if err := l.StartProducts(ctx); err != nil {
		t.Fatal(err)
	}
	if gw.Offset == taken {
		t.Fatal("the node kept the offset whose port is taken")
	}
	if off, _ := apimsim.ReadOffset(gw.Home); off != gw.Offset {
		t.Fatalf("deployment.toml offset %d, want %d", off, gw.Offset)
	}
	for _, n := range load(t, l).Nodes {
		if n.Name == gw.Name && n.Offset != gw.Offset {
			t.Fatalf("inventory offset %d, want %d", n.Offset, gw.Offset)
		}
	}
	saved, err := lab.Load(l.Dir)
	if err != nil || saved.Nodes[1].Offset != gw.Offset {
		t.Fatalf("lab.json: %v", err)
	}
}

// TestManyNodesStart: a lab of 40 nodes (all four profiles) comes up within
// its budget, nodes started several at a time.
func TestManyNodesStart(t *testing.T) {
	if testing.Short() {
		t.Skip("40 simulated servers")
	}
	ns, _ := lab.ParseNodes("cp=2,tm=2,km=2,gw=34")
	began := time.Now()
	l := labtest.New(t, lab.Spec{Nodes: ns})
	for _, n := range l.Nodes {
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			t.Fatalf("node %s is not running", n.Name)
		}
	}
	t.Logf("40 nodes up in %v", time.Since(began).Round(time.Millisecond))
	load(t, l)
}

// TestTestsLeaveNothingInTheTempDir runs a test of this binary that builds
// the simulator (as every lab test does) in a process of its own with a
// TMPDIR of its own: once that process is done, TMPDIR is empty.
func TestTestsLeaveNothingInTheTempDir(t *testing.T) {
	if os.Getenv("LABTEST_CHILD") != "" {
		t.Skip("the child itself")
	}
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildBuildsTheSimulator$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "LABTEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	ents, _ := os.ReadDir(tmp)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if len(left) > 0 {
		t.Fatalf("the tests left %q in TMPDIR", left)
	}
}

func TestChildBuildsTheSimulator(t *testing.T) {
	if os.Getenv("LABTEST_CHILD") == "" {
		t.Skip("run by TestTestsLeaveNothingInTheTempDir")
	}
	bin := labtest.SimBin(t)
	if !strings.HasPrefix(bin, os.TempDir()) {
		t.Fatalf("simulator at %s, not under TMPDIR %s", bin, os.TempDir())
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}

// TestBindMovesATakenPort: a lab brought up again finds one node's SSH port
// taken by another program; that node moves to a free port, written to the
// inventory, known_hosts and lab.json, and the others keep theirs.
func TestBindMovesATakenPort(t *testing.T) {
	l := create(t, "cp=1,gw=2")
	l.CloseListeners() // the lab goes down
	gw := l.Nodes[1]
	squatter, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(gw.SSHPort))
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	again, err := lab.Load(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := again.Bind()
	if err != nil {
		t.Fatal(err)
	}
	defer again.CloseListeners()
	if !slices.Equal(moved, []string{gw.Name}) {
		t.Fatalf("moved %q, want [%s]", moved, gw.Name)
	}
	port := again.Nodes[1].SSHPort
	if port == gw.SSHPort || again.Nodes[0].SSHPort != l.Nodes[0].SSHPort {
		t.Fatalf("ports %d, %d", again.Nodes[0].SSHPort, port)
	}
	saved, _ := lab.Load(l.Dir)
	if saved.Nodes[1].SSHPort != port {
		t.Fatalf("lab.json port %d, want %d", saved.Nodes[1].SSHPort, port)
	}
	kh, _ := os.ReadFile(l.KnownHosts)
	if !strings.Contains(string(kh), "[127.0.0.1]:"+strconv.Itoa(port)+" ") || strings.Contains(string(kh), "[127.0.0.1]:"+strconv.Itoa(gw.SSHPort)+" ") {
		t.Fatalf("known_hosts:\n%s", kh)
	}
	for _, n := range load(t, again).Nodes {
		if n.Name == gw.Name && n.SSH.Port != port {
			t.Fatalf("inventory port %d, want %d", n.SSH.Port, port)
		}
	}
	srv, err := again.Serve()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// TestParseNodesPerRelease: the --nodes keys name each release's own
// profiles, and KEY/PACK puts nodes on another 4.5+ pack.
func TestParseNodesPerRelease(t *testing.T) {
	cases := []struct {
		version, spec string
		want          []lab.NodeSpec
		err           string
	}{
		{"3.2.0", "km=1,pub=1,dev=1", []lab.NodeSpec{{Name: "km-1", Profile: "api-key-manager"}, {Name: "pub-1", Profile: "api-publisher"}, {Name: "dev-1", Profile: "api-devportal"}}, ""},
		{"4.0.0", "km=1,pub=1", []lab.NodeSpec{{Name: "km-1", Profile: "api-key-manager-deprecated"}, {Name: "pub-1", Profile: "api-publisher-deprecated"}}, ""},
		{"4.4.0", "km=1", []lab.NodeSpec{{Name: "km-1", Profile: "api-key-manager-node"}}, ""},
		{"4.7.0", "km=1,tm/all-in-one=1", []lab.NodeSpec{{Name: "km-1", Profile: "key-manager"}, {Name: "tm-aio-1", Profile: "traffic-manager", Distribution: "all-in-one"}}, ""},
		{"3.2.0", "cp=1", nil, "API Manager 3.2.0 has km, pub, dev, tm, gw"},
		{"4.4.0", "pub=1", nil, "API Manager 4.4.0 has cp, km, tm, gw"},
		{"4.7.0", "km/universal-gateway=1", nil, `no pack "universal-gateway" that runs key-manager`},
		{"2.6.0", "gw=1", nil, "not a release drover knows"},
	}
	for _, c := range cases {
		got, err := lab.ParseNodesFor(c.spec, c.version)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %s: %v, want an error saying %q", c.version, c.spec, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %+v, %v; want %+v", c.version, c.spec, got, err, c.want)
		}
	}
}
