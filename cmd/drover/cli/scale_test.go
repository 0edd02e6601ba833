package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/transport/sshtest"
	"golang.org/x/crypto/ssh"
)

// A fleet is n API Manager 4.4 nodes for plan and facts at scale: one
// in-process SSH server per node on its own 127.0.0.1 port with its own
// host key, in its own directory holding a product home, and an inventory,
// client key and known_hosts that reach them the way an operator's would.
//
// The homes are minimal: the files the probe and the steps' probes read
// (the product and update level, the PID file, the product log, the
// managed deployment.toml, the persisted data), copied from one complete
// simulated home. The nodes do not run 1,000 simulated servers: a plan
// needs each node to look like a healthy running server, and that is what
// it gets. One stand-in process, whose command line names every home, is
// the PID every PID file holds (the probe checks that the PID is alive and
// runs from home); every log has the startup line; and one HTTP and one
// HTTPS server on the ports of the nodes' (shared) offset answer the
// default health checks, reached through each node's SSH connection as
// from the node. So every node is at level 11, running and healthy, and
// the pack is at level 12: the plan updates every node, with every step
// probed, the most a plan does.
type fleet struct {
	dir, inv string
	servers  []*sshtest.Server
}

// The fleet's release and the update level its nodes run (the pack's is
// one higher).
const (
	fleetVersion = "4.4.0"
	fleetLevel   = 11
)

// fleetFiles are what a minimal home holds of the complete one.
var fleetFiles = []string{"updates/product.txt", "updates/config.json", "repository/conf/deployment.toml", "solr/data", "repository/database"}

func newFleet(tb testing.TB, n int) *fleet {
	tb.Helper()
	dir := tb.TempDir()
	rel, err := catalog.Lookup(fleetVersion)
	if err != nil {
		tb.Fatal(err)
	}
	dist := rel.DefaultDistribution(catalog.ProfileGateway)
	spec := apimsim.Spec{Version: fleetVersion, Distribution: dist.Name, Level: fleetLevel, SimBin: "/bin/false"}
	full := filepath.Join(dir, "template", dist.Product)
	if err := apimsim.Layout(full, spec); err != nil {
		tb.Fatal(err)
	}
	spec.Level++
	pack := filepath.Join(dir, "packs", fmt.Sprintf("%s-u%d.zip", dist.Product, spec.Level))
	must(tb, os.MkdirAll(filepath.Dir(pack), 0o755))
	must(tb, apimsim.BuildPack(pack, spec))
	pk, err := tasks.OpenPack(pack, "")
	if err != nil {
		tb.Fatal(err)
	}

	// The health checks' answers, on the ports of the offset all nodes share.
	offset, err := apimsim.FreeOffset()
	if err != nil {
		tb.Fatal(err)
	}
	httpPort, httpsPort := apimsim.Ports(offset)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	for _, p := range []struct {
		port int
		tls  bool
	}{{httpPort, false}, {httpsPort, true}} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.port))
		if err != nil {
			tb.Fatal(err)
		}
		hs := httptest.NewUnstartedServer(ok)
		hs.Listener.Close()
		hs.Listener = ln
		if p.tls {
			// An ECDSA key: httptest's RSA one costs this process (where the
			// nodes' servers run) a signature per health check, which a
			// real node pays itself.
			hs.TLS = &tls.Config{Certificates: []tls.Certificate{ecdsaCert(tb)}}
			hs.StartTLS()
		} else {
			hs.Start()
		}
		tb.Cleanup(hs.Close)
	}

	names, profiles := fleetNodes(n)
	homes := make([]string, n)
	for i, name := range names {
		homes[i] = filepath.Join(dir, "nodes", name, dist.Product)
	}
	// The stand-in server: alive, and its command line names every home.
	srv := exec.Command("/bin/sh", append([]string{"-c", "sleep 86400", "drover-fleet-server"}, homes...)...)
	must(tb, srv.Start())
	tb.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	pid := strconv.Itoa(srv.Process.Pid)

	key := filepath.Join(dir, "id_ed25519")
	pub, err := sshtest.ClientKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fleet{dir: dir, inv: filepath.Join(dir, "drover.hcl")}
	var known, nodes strings.Builder
	for i, name := range names {
		home := homes[i]
		for _, rel := range fleetFiles {
			must(tb, copyTree(filepath.Join(full, rel), filepath.Join(home, rel)))
		}
		must(tb, os.WriteFile(filepath.Join(home, "wso2carbon.pid"), []byte(pid+"\n"), 0o644))
		must(tb, f.managedBefore(home, full))
		if profiles[i] == catalog.ProfileGateway { // as drover wrote it last time
			r := strings.NewReplacer("${node.name}", name, "${cluster.name}", "fleet", "${node.offset}", strconv.Itoa(offset), "$${", "${")
			must(tb, os.WriteFile(filepath.Join(home, "repository/conf/deployment.toml"), []byte(r.Replace(fleetGatewayTemplate)), 0o644))
		}
		must(tb, os.MkdirAll(filepath.Join(home, "repository/logs"), 0o755))
		must(tb, os.WriteFile(filepath.Join(home, "repository/logs/wso2carbon.log"),
			[]byte("INFO {org.wso2.carbon.core.internal.StartupFinalizerServiceComponent} - WSO2 Carbon started in 21 sec\n"), 0o644))
		_, hk, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		signer, err := ssh.NewSignerFromKey(hk)
		if err != nil {
			tb.Fatal(err)
		}
		s, err := sshtest.Start(sshtest.ServerConfig{Dir: filepath.Dir(home), HostKey: signer, AuthorizedKeys: []ssh.PublicKey{pub}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		f.servers = append(f.servers, s)
		known.WriteString(s.KnownHostsLine() + "\n")
		fmt.Fprintf(&nodes, "\nnode %q {\n  profile = %q\n  host    = \"127.0.0.1\"\n  port    = %d\n  offset  = %d\n  home    = %q\n}\n",
			name, profiles[i], s.Port(), offset, home)
	}
	must(tb, os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known.String()), 0o600))
	must(tb, warmSums(homes))
	must(tb, os.MkdirAll(filepath.Join(dir, "templates"), 0o755))
	must(tb, os.WriteFile(filepath.Join(dir, "templates", "gateway.toml"), []byte(fleetGatewayTemplate), 0o644))
	must(tb, os.WriteFile(filepath.Join(dir, "lb.sh"), []byte("#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/lb.log\"\n"), 0o755))
	login := "wso2"
	if u, err := user.Current(); err == nil {
		login = u.Username
	}
	inv := fmt.Sprintf(`cluster "fleet" {
  product = "wso2am"
  version = %q
  home    = %q
}

ssh {
  user            = %q
  identity_files  = ["id_ed25519"]
  known_hosts     = "known_hosts"
  host_key_policy = "strict"
  connect_timeout = "30s"
}

update {
  strategy = "side-by-side"
  pack     = %q
  sha256   = %q
}

rollout {
  order            = ["control-plane", "traffic-manager", "gateway-worker"]
  max_unavailable  = 1
  health_timeout   = "2m"
  min_healthy_time = "5s"
  stop_timeout     = "30s"
}

profile "gateway-worker" {
  max_unavailable = "10%%"
  hook "before_stop" { local = "./lb.sh drain ${node.name}" }
  hook "after_healthy" { local = "./lb.sh enable ${node.name}" }
  file "repository/conf/deployment.toml" { template = "templates/gateway.toml" }
}
`, fleetVersion, homes[0], login, "packs/"+filepath.Base(pack), pk.SHA256)
	must(tb, os.WriteFile(f.inv, []byte(inv+nodes.String()), 0o644))
	return f
}

// fleetRunning is the pack drover last installed on the fleet's nodes.
const fleetRunning = "5f0c6a0d9e1b7c3a2f4e6d8b0a1c3e5f7a9b1d3f5e7c9a0b2d4f6e8a0c2e4f6a"

// managedBefore lays out, beside home, the state drover's last update of
// the node left: the release it switched in (current.json, done), its
// pristine copies of the carried configuration files, the release before
// it kept for rollback, and the journal of that run.
func (f *fleet) managedBefore(home, full string) error {
	p := tasks.NewPaths(home)
	pristine := p.Pristine(fleetRunning)
	for _, rel := range []string{"repository/conf/deployment.toml", "repository/conf/log4j2.properties"} {
		if err := copyTree(filepath.Join(full, rel), filepath.Join(pristine, rel)); err != nil {
			return err
		}
	}
	prev := filepath.Join(p.Previous(), "updates")
	if err := os.MkdirAll(prev, 0o755); err != nil {
		return err
	}
	product, err := os.ReadFile(filepath.Join(home, "updates/product.txt"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(prev, "product.txt"), product, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(prev, "config.json"), []byte(fmt.Sprintf(`{"update-level": %d}`+"\n", fleetLevel-1)), 0o644); err != nil {
		return err
	}
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	if err := os.WriteFile(p.Current(), []byte(fmt.Sprintf(`{"pack":%q,"level":%d,"at":%q,"run":"20261102T093000-a1b2c3","done":true}`+"\n", fleetRunning, fleetLevel, at.Format(time.RFC3339))), 0o644); err != nil {
		return err
	}
	var j strings.Builder
	steps := []string{"run", "restore", "preflight", "stage", "configure", "optimize", "before_stop", "stop", "persist", "switch", "start", "after_start", "health", "after_healthy"}
	for i, st := range steps {
		for _, ph := range []string{tasks.PhaseBegin, tasks.PhaseEnd} {
			if st == "run" && ph == tasks.PhaseEnd {
				continue
			}
			rec := fmt.Sprintf(`{"at":%q,"run":"20261102T093000-a1b2c3","owner":"ops@admin pid 4242","step":%q,"phase":%q,"target":%q}`,
				at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), st, ph, fleetRunning)
			j.WriteString(rec + "\n")
		}
	}
	fmt.Fprintf(&j, `{"at":%q,"run":"20261102T093000-a1b2c3","step":"managed","phase":"note","sums":{}}`+"\n", at.Add(time.Minute).Format(time.RFC3339Nano))
	fmt.Fprintf(&j, `{"at":%q,"run":"20261102T093000-a1b2c3","step":"run","phase":"done","target":%q}`+"\n", at.Add(time.Minute).Format(time.RFC3339Nano), fleetRunning)
	return os.WriteFile(p.Journal(), []byte(j.String()), 0o644)
}

// fleetNodes names n nodes: a fiftieth control planes, as many traffic
// managers (at least one of each), the rest gateways.
func fleetNodes(n int) (names, profiles []string) {
	cp, tm := max(1, n/50), max(1, n/50)
	for i := range n {
		switch {
		case i < cp:
			names, profiles = append(names, fmt.Sprintf("cp-%d", i+1)), append(profiles, catalog.ProfileControlPlane)
		case i < cp+tm:
			names, profiles = append(names, fmt.Sprintf("tm-%d", i-cp+1)), append(profiles, catalog.ProfileTrafficManager)
		default:
			names, profiles = append(names, fmt.Sprintf("gw-%d", i-cp-tm+1)), append(profiles, catalog.ProfileGateway)
		}
	}
	return names, profiles
}

const fleetGatewayTemplate = `# Managed by drover: rendered for ${node.name} (${cluster.name}).
[server]
hostname = "localhost"
offset = ${node.offset}
server_role = "gateway-worker"

[apim.key_manager]
service_url = "https://localhost:$${mgt.transport.https.port}/services/"
`

// copyTree copies a file, or a folder and everything in it, keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
}

// ecdsaCert is a self-signed P-256 certificate for 127.0.0.1.
func ecdsaCert(tb testing.TB) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// counts sums the round trips every node's server answered.
func (f *fleet) counts() sshtest.Counts {
	var c sshtest.Counts
	for _, s := range f.servers {
		k := s.Counts()
		c.Exec, c.SFTP, c.Forward = c.Exec+k.Exec, c.SFTP+k.SFTP, c.Forward+k.Forward
	}
	return c
}

// runDrover runs drover in-process with args (without the program name).
func runDrover(args ...string) result {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"drover"}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// usage is what one measured command cost.
type usage struct {
	wall            time.Duration
	cpu, childCPU   time.Duration
	peakHeap        uint64 // peak live heap growth over the start
	roundTrips      sshtest.Counts
	roundTripsTotal int
}

// measure runs drover with args on the fleet and measures it.
func (f *fleet) measure(tb testing.TB, args ...string) (result, usage) {
	tb.Helper()
	runtime.GC()
	before := f.counts()
	base := heapLive()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // peak heap, sampled
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if h := heapLive(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	self0, child0 := cpuTimes()
	start := time.Now()
	r := runDrover(args...)
	var u usage
	u.wall = time.Since(start)
	self1, child1 := cpuTimes()
	close(stop)
	<-sampled
	u.cpu, u.childCPU = self1-self0, child1-child0
	if p := peak.Load(); p > base {
		u.peakHeap = p - base
	}
	after := f.counts()
	u.roundTrips = sshtest.Counts{Exec: after.Exec - before.Exec, SFTP: after.SFTP - before.SFTP, Forward: after.Forward - before.Forward}
	u.roundTripsTotal = u.roundTrips.Total()
	return r, u
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// cpuTimes are this process's user+sys CPU, and its reaped children's.
func cpuTimes() (self, children time.Duration) {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return tv(s), tv(c)
}

func (u usage) report(b *testing.B, n int, wallMetric string) {
	per := float64(n)
	b.ReportMetric(u.wall.Seconds(), wallMetric)
	b.ReportMetric(float64(u.roundTripsTotal)/per, "rtt/node")
	b.ReportMetric(float64(u.peakHeap)/1024/per, "heap-KiB/node")
	b.ReportMetric(float64(u.cpu.Milliseconds())/per, "cpu-ms/node")
	b.ReportMetric(float64(u.childCPU.Milliseconds())/per, "child-cpu-ms/node")
}

// BenchmarkPlanScale is `drover plan` on 100 and 1,000 nodes (see fleet).
// Metrics: s/plan is the wall time of the whole command; rtt/node the SSH
// round trips (exec requests, sftp sessions, TCP forwards) the nodes
// answered, per node; heap-KiB/node the peak growth of the live heap
// during the plan (sampled every 5 ms), per node; cpu-ms/node this
// process's user+sys CPU, per node; child-cpu-ms/node that of the shells
// the nodes ran. The SSH servers live in this process: their share is in
// cpu-ms/node and heap-KiB/node, and their /bin/sh children (with
// drover's) share the machine's cores.
func BenchmarkPlanScale(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			f := newFleet(b, n)
			b.ResetTimer()
			var u usage
			for range b.N {
				var r result
				r, u = f.measure(b, "plan", "-i", f.inv)
				if r.code != ExitOK || !strings.Contains(r.stdout, fmt.Sprintf("Summary: %d to update, 0 up to date, 0 unreachable, 0 blocked", n)) {
					b.Fatalf("plan: %s", trimResult(r))
				}
			}
			u.report(b, n, "s/plan")
		})
	}
}

// BenchmarkFactsScale is `drover facts` on 100 and 1,000 nodes; metrics as
// BenchmarkPlanScale's, the wall time as s/facts.
func BenchmarkFactsScale(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			f := newFleet(b, n)
			b.ResetTimer()
			var u usage
			for range b.N {
				var r result
				r, u = f.measure(b, "facts", "-i", f.inv)
				if r.code != ExitOK || healthyRows(r.stdout) != n {
					b.Fatalf("facts: %s", trimResult(r))
				}
			}
			u.report(b, n, "s/facts")
		})
	}
}

// trimResult is a result short enough for a failure message.
func trimResult(r result) string {
	s := r.String()
	if len(s) > 4000 {
		s = s[:2000] + "\n...\n" + s[len(s)-2000:]
	}
	return s
}

// healthyRows counts the rows of facts' table that say reachable, running
// and healthy.
func healthyRows(out string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 7 && f[3] == "yes" && f[6] == "yes" && f[7] == "yes" {
			n++
		}
	}
	return n
}

// TestPlanRoundTrips holds the SSH round trips a plan (and facts) takes
// per node to what they are now: one command, the probe, which gathers
// what every step's probe reads of the node; plus one TCP connection from
// the node per HTTP health check (the control planes and traffic managers
// have one, the gateways two; the log check runs in the probe). A plan
// that stages by delta adds the listing of the running release (with its
// sha256 cache, which these nodes have, as drover left them after their
// last update; a node without it takes one sha256sum more). A change that
// adds a round trip fails here.
func TestPlanRoundTrips(t *testing.T) {
	const n = 4 // a control plane, a traffic manager, two gateways
	f := newFleet(t, n)
	names, profiles := fleetNodes(n)
	for _, cmd := range []string{"plan", "facts"} {
		before := make([]sshtest.Counts, n)
		for i, s := range f.servers {
			before[i] = s.Counts()
		}
		r, u := f.measure(t, cmd, "-i", f.inv)
		if r.code != ExitOK || (cmd == "plan" && !strings.Contains(r.stdout, fmt.Sprintf("Summary: %d to update, 0 up to date, 0 unreachable, 0 blocked", n))) ||
			(cmd == "facts" && healthyRows(r.stdout) != n) {
			t.Fatalf("%s: %s", cmd, trimResult(r))
		}
		for i, s := range f.servers {
			c := s.Counts()
			got := sshtest.Counts{Exec: c.Exec - before[i].Exec, SFTP: c.SFTP - before[i].SFTP, Forward: c.Forward - before[i].Forward}
			want := sshtest.Counts{Exec: 1, Forward: 1}
			if cmd == "plan" {
				want.Exec = 2
			}
			if profiles[i] == catalog.ProfileGateway {
				want.Forward = 2
			}
			if got.Exec < 1 {
				t.Errorf("%s on %s: the server counted no command (%+v)", cmd, names[i], got)
			}
			if got.Exec > want.Exec || got.SFTP > want.SFTP || got.Forward > want.Forward {
				t.Errorf("%s on %s (%s) took %+v round trips, want at most %+v", cmd, names[i], profiles[i], got, want)
			}
		}
		t.Logf("%s: %.2f round trips per node (%+v)", cmd, float64(u.roundTripsTotal)/n, u.roundTrips)
	}
}

// warmSums writes each home's sha256 cache (release.sums) as drover leaves
// it after staging a release: these nodes were updated by drover before,
// so a plan's delta listing finds every file's sum without hashing. One
// find for the whole fleet gives the mtimes as the node's find prints them.
func warmSums(homes []string) error {
	if len(homes) == 0 {
		return nil
	}
	root := filepath.Dir(filepath.Dir(homes[0]))
	out, err := exec.Command("find", root, "-type", "f", "-printf", `%s\t%T@\t%p\0`).Output()
	if err != nil {
		return fmt.Errorf("list the fleet: %w", err)
	}
	byHome := map[string]*bytes.Buffer{}
	for _, h := range homes {
		byHome[h] = &bytes.Buffer{}
	}
	sums := map[string]string{} // by content: the homes are copies
	for _, rec := range strings.Split(string(out), "\x00") {
		f := strings.SplitN(rec, "\t", 3)
		if len(f) != 3 {
			continue
		}
		home := filepath.Dir(f[2])
		for ; len(home) > len(root); home = filepath.Dir(home) {
			if byHome[home] != nil {
				break
			}
		}
		b := byHome[home]
		if b == nil {
			continue // the state folders
		}
		data, err := os.ReadFile(f[2])
		if err != nil {
			return err
		}
		sum := sums[string(data)]
		if sum == "" {
			h := sha256.Sum256(data)
			sum = hex.EncodeToString(h[:])
			sums[string(data)] = sum
		}
		rel, _ := filepath.Rel(home, f[2])
		fmt.Fprintf(b, "%s\t%s\t%s\t%s\x00", sum, f[0], f[1], rel)
	}
	for home, b := range byHome {
		p := tasks.NewPaths(home).Sums()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
