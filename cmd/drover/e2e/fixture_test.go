package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/transport/sshdtest"
)

const (
	version   = "4.4.0" // the default cluster's release
	fromLevel = 11      // the level every node runs after layout
	toLevel   = 12      // the pack's level
	// Fast simulator timings.
	startDelay = "300ms"
	stopDelay  = "200ms"
)

// clusterNodes is the default cluster, in inventory order.
var clusterNodes = []lab.NodeSpec{
	{Name: "cp-1", Profile: "control-plane"}, {Name: "cp-2", Profile: "control-plane"},
	{Name: "tm-1", Profile: "traffic-manager"}, {Name: "tm-2", Profile: "traffic-manager"},
	{Name: "gw-1", Profile: "gateway-worker"}, {Name: "gw-2", Profile: "gateway-worker"},
	{Name: "gw-3", Profile: "gateway-worker"}, {Name: "gw-4", Profile: "gateway-worker"},
}

// fixture is one test's cluster: a real sshd per node on its own 127.0.0.x
// address, a simulated API Manager at fromLevel in each node's directory,
// and a controller directory holding what an operator keeps beside an
// inventory (drover.hcl, the client key, known_hosts, the pack, lb.sh).
type fixture struct {
	t   *testing.T
	ssh *sshdtest.Cluster
	// dir is the controller's directory; inv the inventory in it.
	dir, inv string
	// lab describes the nodes (Dir is the sshd node's directory, Home the
	// product in it); its StartProducts and StopProducts start and stop the
	// simulated servers.
	lab   *lab.Lab
	hosts map[string]*sshdtest.Node
	// version is the release the cluster runs; order its profiles in
	// rollout order (the inventory's, or the release's default one where
	// the inventory names none).
	version string
	order   []string
	// env is added to every drover command's environment ("NAME=value").
	env []string
}

// fixtureOptions choose the cluster and change the inventory's rollout block.
type fixtureOptions struct {
	// release is the API Manager release every node runs ("" for the
	// default 4.4.0 cluster); nodes the cluster, in inventory order (nil
	// for clusterNodes). Each node runs its release's default distribution
	// for its profile, in a home named after that distribution's product;
	// one pack per distribution is built at toLevel. The inventory's update
	// block names the first node's pack and, from 4.5, a profile whose
	// nodes run another distribution names its own pack in its profile
	// block. An inventory for a release other than the default leaves the
	// rollout order out: drover follows the release's default order.
	release       string
	nodes         []lab.NodeSpec
	healthTimeout string // default "20s"
	// tmpfs gives the named nodes their own small filesystem: a tmpfs of
	// this size (e.g. "4m") mounted on the directory that holds the node's
	// home and drover's state beside it, before the product is laid out.
	// Needs root (mount); unmounted at cleanup.
	tmpfs map[string]string
}

// newFixture lays the cluster out and starts every node's API Manager.
// Cleanup stops every simulated server, then (sshdtest's own cleanup)
// every sshd, and checks that no process of the test is left.
func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("real-sshd end-to-end tier skipped with -short")
	}
	if o.healthTimeout == "" {
		o.healthTimeout = "20s"
	}
	if o.release == "" {
		o.release = version
	}
	if o.nodes == nil {
		o.nodes = clusterNodes
	}
	rel, err := catalog.Lookup(o.release)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), hosts: map[string]*sshdtest.Node{}, version: rel.Version}
	for _, p := range rel.Profiles {
		if slices.ContainsFunc(o.nodes, func(ns lab.NodeSpec) bool { return ns.Profile == p }) {
			f.order = append(f.order, p)
		}
	}
	// Registered first, so it runs last: after the simulated servers were
	// stopped and sshd killed its sessions.
	t.Cleanup(f.checkNoProcessLeft)
	f.ssh = sshdtest.Start(t, len(o.nodes))
	f.inv = filepath.Join(f.dir, "drover.hcl")
	f.lab = &lab.Lab{Dir: f.dir, Version: f.version, Level: fromLevel, Inventory: f.inv, SimBin: simBin, Packs: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(f.dir, "packs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, ns := range o.nodes {
		if !rel.ValidProfile(ns.Profile) {
			t.Fatalf("node %s: API Manager %s has no profile %q", ns.Name, rel.Version, ns.Profile)
		}
		d := rel.DefaultDistribution(ns.Profile)
		sn := f.ssh.Node(i)
		n := &lab.Node{Name: ns.Name, Profile: ns.Profile, Distribution: d.Name, Dir: sn.Dir(), SSHPort: sn.Port()}
		n.Home = filepath.Join(n.Dir, "wso2", d.Product)
		if size, ok := o.tmpfs[ns.Name]; ok {
			mountTmpfs(t, filepath.Dir(n.Home), size)
		}
		if err := apimsim.Layout(n.Home, apimsim.Spec{Version: f.version, Distribution: d.Name, Level: fromLevel, SimBin: simBin}); err != nil {
			t.Fatal(err)
		}
		off, err := apimsim.FreeOffset()
		if err != nil {
			t.Fatal(err)
		}
		n.Offset = off
		if err := apimsim.SetOffset(n.Home, off); err != nil {
			t.Fatal(err)
		}
		f.setFaults(n, apimsim.Faults{})
		f.lab.Nodes = append(f.lab.Nodes, n)
		f.hosts[n.Name] = sn
		// One pack per distribution, at the next level; the first node's
		// is the update block's.
		if f.lab.Packs[d.Name] == "" {
			pack := filepath.Join(f.dir, "packs", fmt.Sprintf("%s-u%d.zip", d.Product, toLevel))
			if err := apimsim.BuildPack(pack, apimsim.Spec{Version: f.version, Distribution: d.Name, Level: toLevel, SimBin: simBin}); err != nil {
				t.Fatal(err)
			}
			f.lab.Packs[d.Name] = pack
		}
		if f.lab.Pack == "" {
			f.lab.Pack = f.lab.Packs[d.Name]
		}
	}
	f.writeControllerFiles(o)
	t.Cleanup(func() {
		if err := f.lab.StopProducts(); err != nil {
			t.Errorf("stop the simulated servers: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.lab.StartProducts(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// node returns the named node.
func (f *fixture) node(name string) *lab.Node {
	for _, n := range f.lab.Nodes {
		if n.Name == name {
			return n
		}
	}
	f.t.Fatalf("no node %s", name)
	return nil
}

// profileNode returns the first node of a profile.
func (f *fixture) profileNode(profile string) *lab.Node {
	for _, n := range f.lab.Nodes {
		if n.Profile == profile {
			return n
		}
	}
	f.t.Fatalf("no node of profile %s", profile)
	return nil
}

// setFaults stores a node's fault knobs, always with the fast timings.
func (f *fixture) setFaults(n *lab.Node, fl apimsim.Faults) {
	f.t.Helper()
	fl.StartDelay, fl.StopDelay = startDelay, stopDelay
	if err := apimsim.WriteFaults(n.Home, fl); err != nil {
		f.t.Fatal(err)
	}
}

// lbScript stands in for a load balancer: it records drain and enable.
const lbScript = `#!/bin/sh
echo "$1 $2" >> "$(dirname "$0")/lb.log"
`

// writeControllerFiles writes the inventory the way an operator would, with
// the key, known_hosts, template and hook script it names beside it.
func (f *fixture) writeControllerFiles(o fixtureOptions) {
	t := f.t
	t.Helper()
	copyFile(t, f.ssh.ClientKey(), filepath.Join(f.dir, "id_ed25519"), 0o600)
	copyFile(t, f.ssh.KnownHosts(), filepath.Join(f.dir, "known_hosts"), 0o600)
	copyFile(t, filepath.Join("testdata", "templates", "gateway.toml"), filepath.Join(f.dir, "templates", "gateway.toml"), 0o644)
	if err := os.WriteFile(filepath.Join(f.dir, "lb.sh"), []byte(lbScript), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := fileSHA256(t, f.lab.Pack)
	// The default cluster names its order; another release's inventory
	// leaves it to drover (the release's default order).
	order := ""
	if f.version == version {
		quoted := make([]string, len(f.order))
		for i, p := range f.order {
			quoted[i] = strconv.Quote(p)
		}
		order = fmt.Sprintf("  order            = [%s]\n", strings.Join(quoted, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# drover end-to-end test cluster: %d simulated API Manager nodes behind real sshd.

cluster "e2e" {
  product = "wso2am"
  version = %q
  home    = "/opt/wso2/%s"   # every node overrides it: the nodes share one machine
}

ssh {
  user            = %q
  port            = 22
  identity_files  = ["id_ed25519"]
  known_hosts     = "known_hosts"
  host_key_policy = "strict"
  connect_timeout = "10s"
}

update {
  strategy = "side-by-side"
  pack     = "packs/%s"
  sha256   = %q
}

rollout {
%s  max_unavailable  = 1
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = %q
  min_healthy_time = "1s"
  stop_timeout     = "5s"
}
`, len(f.lab.Nodes), f.version, apimsim.ProductName(f.version), f.ssh.User(), filepath.Base(f.lab.Pack), sum, order, o.healthTimeout)
	// A profile whose nodes run another distribution than the update
	// block's pack (4.5+ split packs) names its own pack.
	for _, prof := range f.order {
		var body []string
		if pk := f.lab.Packs[f.profileNode(prof).Distribution]; pk != f.lab.Pack {
			body = append(body, fmt.Sprintf("  pack   = %q\n  sha256 = %q", "packs/"+filepath.Base(pk), fileSHA256(t, pk)))
		}
		if prof == "gateway-worker" {
			body = append(body, `  hook "before_stop"   { local = "./lb.sh drain ${node.name}" }
  hook "after_healthy" { local = "./lb.sh enable ${node.name}" }
  file "repository/conf/deployment.toml" { template = "templates/gateway.toml" }`)
		}
		if len(body) > 0 {
			fmt.Fprintf(&b, "\nprofile %q {\n%s\n}\n", prof, strings.Join(body, "\n"))
		}
	}
	for _, n := range f.lab.Nodes {
		sn := f.hosts[n.Name]
		fmt.Fprintf(&b, "\nnode %q {\n  profile = %q\n  host    = %q\n  port    = %d\n  offset  = %d\n  home    = %q\n}\n",
			n.Name, n.Profile, sn.Host(), sn.Port(), n.Offset, n.Home)
	}
	if err := os.WriteFile(f.inv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkNoProcessLeft fails the test when a process whose command line names
// one of the test's directories (a simulated server, a drover, a command a
// session started) outlives the test's cleanup, and kills it.
func (f *fixture) checkNoProcessLeft() {
	dirs := []string{f.dir}
	if f.ssh != nil {
		dirs = append(dirs, f.ssh.Dir())
	}
	var left []string
	deadline := time.Now().Add(15 * time.Second) // processes killed a moment ago may still be exiting
	for {
		left = processesIn(dirs)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		f.t.Errorf("%d process(es) left behind after cleanup:\n%s", len(left), strings.Join(left, "\n"))
		for _, p := range left {
			var pid int
			fmt.Sscan(p, &pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// processesIn lists live processes ("PID cmdline") whose command line
// mentions one of dirs.
func processesIn(dirs []string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 { // gone, or a zombie (empty cmdline)
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		for _, d := range dirs {
			if strings.Contains(cmd, d) {
				out = append(out, fmt.Sprintf("%d %s", pid, cmd))
				break
			}
		}
	}
	return out
}

// mountTmpfs mounts a tmpfs of size on dir (created) and unmounts it at
// cleanup. Registered after sshdtest.Start and before the simulated servers'
// cleanup, it runs after the servers were stopped and before the node
// directories are removed. Mounting needs root: the test skips without it
// (fails where skipping is not allowed, as for a missing sshd).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		// The tier's pattern for a missing prerequisite: skip locally, fail
		// where skipping is not allowed (CI runs as root).
		if sshdtest.SkipDisallowed() {
			t.Fatal("mounting a small tmpfs for a node needs root")
		}
		t.Skip("mounting a small tmpfs for a node needs root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs on %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it lazily", dir, err, out)
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount -l %s: %v: %s", dir, err, out)
			}
		}
	})
}

// editInventory replaces old with new in the inventory, as an operator
// editing drover.hcl would; old must be there.
func (f *fixture) editInventory(old, new string) {
	f.t.Helper()
	b, err := os.ReadFile(f.inv)
	if err != nil {
		f.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		f.t.Fatalf("the inventory has no %q:\n%s", old, b)
	}
	if err := os.WriteFile(f.inv, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// usePack points the inventory's update block at pack (a path under the
// controller directory) with its sha256, as an operator switching packs
// would.
func (f *fixture) usePack(pack string) {
	f.t.Helper()
	rel, err := filepath.Rel(f.dir, pack)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := os.ReadFile(f.inv)
	if err != nil {
		f.t.Fatal(err)
	}
	s := packLineRE.ReplaceAllString(string(b), fmt.Sprintf("pack     = %q", rel))
	s = sumLineRE.ReplaceAllString(s, fmt.Sprintf("sha256   = %q", fileSHA256(f.t, pack)))
	if err := os.WriteFile(f.inv, []byte(s), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

var (
	packLineRE = regexp.MustCompile(`(?m)^  pack     = ".*"$`)
	sumLineRE  = regexp.MustCompile(`(?m)^  sha256   = ".*"$`)
)
