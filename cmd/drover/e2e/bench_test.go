package e2e

// BenchmarkRolloutVsScript (make bench): drover against a hand-written ssh/scp script on the
// 8-node lab of real sshd nodes, with and without a 512 MiB Solr index on every node. Nothing
// here asserts a time; the figures are reported as metrics (see reportRollout).
//
//	go test -run '^$' -bench RolloutVsScript -benchtime 1x ./cmd/drover/e2e/

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

// The simulated server's own stop and start (the lab: about half a second each).
const (
	benchStartDelay = "500ms"
	benchStopDelay  = "500ms"
)

// benchLab is one cluster for one side of one iteration: the default 8 nodes (cp=2 tm=2 gw=4)
// of API Manager 4.4.0 at fromLevel behind real sshd, a pack at toLevel, and an inventory with
// min_healthy_time = "0s" and no hooks or templates (the script has none either).
type benchLab struct {
	b        *testing.B
	ssh      *sshdtest.Cluster
	dir, inv string
	lab      *lab.Lab
	rel      *catalog.Release
	order    []string // the profiles in rollout order
	top      string   // the pack's top folder
}

func newBenchLab(b *testing.B, indexBytes int64) *benchLab {
	b.Helper()
	rel, err := catalog.Lookup(version)
	if err != nil {
		b.Fatal(err)
	}
	l := &benchLab{b: b, dir: b.TempDir(), rel: rel}
	for _, p := range rel.Profiles {
		if slices.ContainsFunc(clusterNodes, func(ns lab.NodeSpec) bool { return ns.Profile == p }) {
			l.order = append(l.order, p)
		}
	}
	l.ssh = sshdtest.Start(b, len(clusterNodes))
	l.inv = filepath.Join(l.dir, "drover.hcl")
	l.lab = &lab.Lab{Dir: l.dir, Version: version, Level: fromLevel, Inventory: l.inv, SimBin: simBin, Packs: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(l.dir, "packs"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i, ns := range clusterNodes {
		d := rel.DefaultDistribution(ns.Profile)
		sn := l.ssh.Node(i)
		n := &lab.Node{Name: ns.Name, Profile: ns.Profile, Distribution: d.Name, Dir: sn.Dir(), SSHPort: sn.Port()}
		n.Home = filepath.Join(n.Dir, "wso2", d.Product)
		if err := apimsim.Layout(n.Home, apimsim.Spec{Version: version, Distribution: d.Name, Level: fromLevel, SimBin: simBin}); err != nil {
			b.Fatal(err)
		}
		if n.Offset, err = apimsim.FreeOffset(); err != nil {
			b.Fatal(err)
		}
		if err := apimsim.SetOffset(n.Home, n.Offset); err != nil {
			b.Fatal(err)
		}
		if err := apimsim.WriteFaults(n.Home, apimsim.Faults{StartDelay: benchStartDelay, StopDelay: benchStopDelay}); err != nil {
			b.Fatal(err)
		}
		if indexBytes > 0 {
			if err := writeBenchIndex(n.Home, indexBytes); err != nil {
				b.Fatal(err)
			}
		}
		l.lab.Nodes = append(l.lab.Nodes, n)
		if l.lab.Packs[d.Name] == "" {
			pack := filepath.Join(l.dir, "packs", fmt.Sprintf("%s-u%d.zip", d.Product, toLevel))
			if err := apimsim.BuildPack(pack, apimsim.Spec{Version: version, Distribution: d.Name, Level: toLevel, SimBin: simBin}); err != nil {
				b.Fatal(err)
			}
			l.lab.Packs[d.Name] = pack
		}
		if l.lab.Pack == "" {
			l.lab.Pack = l.lab.Packs[d.Name]
		}
	}
	if len(l.lab.Packs) != 1 {
		b.Fatalf("the benchmark's cluster runs one pack, not %d", len(l.lab.Packs))
	}
	l.top = packTop(b, l.lab.Pack)
	l.writeInventory()
	b.Cleanup(func() { l.lab.StopProducts() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.lab.StartProducts(ctx); err != nil {
		b.Fatal(err)
	}
	return l
}

// writeBenchIndex puts size bytes of Solr index segments (random, so nothing compresses or
// deduplicates them) into home/solr/data/bench-index, unless that folder holds them already.
// The simulated server does not read them (its own index is solr/data/index); drover and the
// script copy them with the rest of solr/data.
func writeBenchIndex(home string, size int64) error {
	dir := filepath.Join(home, "solr", "data", "bench-index")
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const seg = 32 << 20
	buf := make([]byte, seg)
	rng := rand.NewChaCha8(sha256.Sum256([]byte(home)))
	for i := 0; int64(i)*seg < size; i++ {
		n := min(seg, size-int64(i)*seg)
		rng.Read(buf[:n])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("_b%d.cfs", i)), buf[:n], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// packTop is the pack's top folder.
func packTop(b *testing.B, pack string) string {
	zr, err := zip.OpenReader(pack)
	if err != nil {
		b.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if top, _, ok := strings.Cut(f.Name, "/"); ok {
			return top
		}
	}
	b.Fatalf("%s has no top folder", pack)
	return ""
}

func (l *benchLab) writeInventory() {
	b := l.b
	copyTB(b, l.ssh.ClientKey(), filepath.Join(l.dir, "id_ed25519"), 0o600)
	copyTB(b, l.ssh.KnownHosts(), filepath.Join(l.dir, "known_hosts"), 0o600)
	quoted := make([]string, len(l.order))
	for i, p := range l.order {
		quoted[i] = strconv.Quote(p)
	}
	var s strings.Builder
	fmt.Fprintf(&s, `cluster "bench" {
  product = "wso2am"
  version = %q
  home    = "/opt/wso2/%s"
}

ssh {
  user            = %q
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
  order            = [%s]
  max_unavailable  = 1
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = "60s"
  min_healthy_time = "0s"
  stop_timeout     = "30s"
}
`, version, apimsim.ProductName(version), l.ssh.User(), filepath.Base(l.lab.Pack), sha256Of(b, l.lab.Pack), strings.Join(quoted, ", "))
	for i, n := range l.lab.Nodes {
		sn := l.ssh.Node(i)
		fmt.Fprintf(&s, "\nnode %q {\n  profile = %q\n  host    = %q\n  port    = %d\n  offset  = %d\n  home    = %q\n}\n",
			n.Name, n.Profile, sn.Host(), sn.Port(), n.Offset, n.Home)
	}
	if err := os.WriteFile(l.inv, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

func copyTB(b testing.TB, from, to string, mode os.FileMode) {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		b.Fatal(err)
	}
}

func sha256Of(b testing.TB, p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// sideResult is what one rollout cost.
type sideResult struct {
	wall time.Duration
	// down is the mean per node of the old server's "stopping" (it stops serving) to the new
	// server's "started", from the simulator's own event log: the same ruler for both sides.
	down time.Duration
	// own is the mean per node of the server's own stop (stopping -> stopped) plus its own
	// start (starting -> started): what no tool can save.
	own time.Duration
	// said is the side's own account of its mean downtime: drover's run record (start of the
	// stop step to the end of the health gate); the script's printed timestamps (stop issued
	// to the startup line seen).
	said time.Duration
	// steps is drover's time per step, summed over the nodes (from its run record).
	steps map[string]time.Duration
}

// runDrover runs `drover apply --yes` and reads its run record.
func (l *benchLab) runDrover() sideResult {
	b := l.b
	cmd := exec.Command(droverBin, "-i", l.inv, "apply", "--yes")
	cmd.Dir = l.dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") && !strings.HasPrefix(kv, "DROVER_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "DROVER_SSH_CONFIG=none", "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	res := sideResult{wall: time.Since(start)}
	if err != nil {
		b.Fatalf("drover apply: %v\n%s", err, stderr.String())
	}
	record := ""
	for _, line := range strings.Split(stderr.String(), "\n") {
		if r, ok := strings.CutPrefix(line, "run record: "); ok {
			record = strings.TrimSpace(r)
		}
	}
	if record == "" {
		b.Fatalf("drover apply printed no run record:\n%s", stderr.String())
	}
	show := exec.Command(droverBin, "-i", l.inv, "runs", "show", "--json", record)
	show.Dir, show.Env = l.dir, cmd.Env
	out, err := show.Output()
	if err != nil {
		b.Fatalf("drover runs show --json %s: %v", record, err)
	}
	var tl struct {
		Downtime struct {
			Nodes  int   `json:"nodes"`
			MeanMS int64 `json:"mean_ms"`
		} `json:"downtime"`
		Nodes []struct {
			Steps []struct {
				Step       string
				Start, End time.Time
			} `json:"steps"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(out, &tl); err != nil {
		b.Fatalf("drover runs show --json: %v\n%s", err, out)
	}
	if tl.Downtime.Nodes != len(l.lab.Nodes) {
		b.Fatalf("the run record has downtime for %d nodes, want %d", tl.Downtime.Nodes, len(l.lab.Nodes))
	}
	res.said = time.Duration(tl.Downtime.MeanMS) * time.Millisecond
	res.steps = map[string]time.Duration{}
	for _, n := range tl.Nodes {
		for _, st := range n.Steps {
			if !st.End.IsZero() {
				res.steps[st.Step] += st.End.Sub(st.Start)
			}
		}
	}
	l.events(&res)
	return res
}

// scriptNode is what the operator's script runs on a node (POSIX sh, over ssh): unzip the
// pushed pack beside home, carry the configuration as drover does, profileSetup.sh where the
// release runs it for the profile, stop the server and wait for its PID to go, cp -a the index
// and databases, swap the folders, start and wait for the startup line. It prints when it
// issued the stop, when the PID went and when the startup line appeared.
const scriptNode = `set -eu
H=$1 START=$2 DPROF=$3 SETUP=$4 TOP=$5
B=$(dirname "$H"); N="$B/$TOP.new"; Z="$B/update.zip"
ts() { date +%s.%N; }
rm -rf "$B/unpack" "$N"; mkdir "$B/unpack"
unzip -q "$Z" -d "$B/unpack"
mv "$B/unpack/$TOP" "$N"; rmdir "$B/unpack"
for p in repository/conf/deployment.toml repository/conf/log4j2.properties repository/conf/security \
  password-persist password-tmp repository/resources/security repository/tenants; do
  if [ -e "$H/$p" ]; then rm -rf "$N/$p"; mkdir -p "$(dirname "$N/$p")"; cp -a "$H/$p" "$N/$p"; fi
done
for p in repository/components/lib repository/components/dropins repository/deployment/server; do
  [ -d "$H/$p" ] || continue
  (cd "$H/$p" && find . -path ./webapps -prune -o -type f -print) | while IFS= read -r f; do
    [ -e "$N/$p/$f" ] || { mkdir -p "$(dirname "$N/$p/$f")"; cp -a "$H/$p/$f" "$N/$p/$f"; }
  done
done
if [ -n "$SETUP" ]; then (cd "$N/bin" && sh ./profileSetup.sh -Dprofile="$SETUP" --skipConfigOptimization >/dev/null); fi
pid=$(cat "$H/wso2carbon.pid")
echo "stop $(ts)"
sh "$H/$START" stop >/dev/null
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
echo "gone $(ts)"
for d in solr/data repository/database; do
  rm -rf "$N/$d"; mkdir -p "$(dirname "$N/$d")"; cp -a "$H/$d" "$N/$d"
done
mv "$H" "$B/$TOP.old.$$"
mv "$N" "$H"
if [ -n "$DPROF" ]; then sh "$H/$START" start -Dprofile="$DPROF" >/dev/null; else sh "$H/$START" start >/dev/null; fi
until grep -q 'WSO2 Carbon started' "$H/repository/logs/wso2carbon.log" 2>/dev/null; do sleep 0.05; done
echo "started $(ts)"
`

// script writes the operator's controller script: node after node in profile order, scp the
// pack with OpenSSH, then run scriptNode there over ssh.
func (l *benchLab) script() string {
	q := transport.Quote
	var s strings.Builder
	s.WriteString("#!/bin/sh\nset -eu\n")
	for _, prof := range l.order {
		for i, n := range l.lab.Nodes {
			if n.Profile != prof {
				continue
			}
			d := l.rel.DefaultDistribution(n.Profile)
			if d.HasSetup(n.Profile) && !d.SkipConfigOptimization {
				l.b.Fatalf("the script knows profileSetup.sh only with --skipConfigOptimization")
			}
			setup := ""
			if d.HasSetup(n.Profile) {
				setup = n.Profile
			}
			remote := "sh -s -- " + transport.QuoteAll(n.Home, d.StartScript(n.Profile), d.StartProfile(n.Profile), setup, l.top)
			fmt.Fprintf(&s, "echo node %s\n", q(n.Name))
			fmt.Fprintf(&s, "scp -q %s %s %s\n", transport.QuoteAll(l.ssh.SCPArgs(i)...), q(l.lab.Pack),
				q(l.ssh.SCPTarget(i, filepath.Join(filepath.Dir(n.Home), "update.zip"))))
			fmt.Fprintf(&s, "ssh %s %s < %s\n", transport.QuoteAll(l.ssh.SSHArgs(i)...), q(remote), q(filepath.Join(l.dir, "node.sh")))
		}
	}
	return s.String()
}

// runScript runs the operator's script and reads its timestamps.
func (l *benchLab) runScript() sideResult {
	b := l.b
	if err := os.WriteFile(filepath.Join(l.dir, "node.sh"), []byte(scriptNode), 0o644); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(l.dir, "update.sh")
	if err := os.WriteFile(p, []byte(l.script()), 0o755); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("sh", p)
	cmd.Dir = l.dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res := sideResult{wall: time.Since(start)}
	if err != nil {
		b.Fatalf("the operator's script: %v\n%s", err, out)
	}
	var stop, started float64
	var total time.Duration
	nodes := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		t, err := strconv.ParseFloat(f[1], 64)
		switch {
		case err != nil:
		case f[0] == "stop":
			stop = t
		case f[0] == "started":
			started = t
			total += time.Duration((started - stop) * float64(time.Second))
			nodes++
		}
	}
	if nodes != len(l.lab.Nodes) {
		b.Fatalf("the script's output has %d nodes' timestamps, want %d:\n%s", nodes, len(l.lab.Nodes), out)
	}
	res.said = total / time.Duration(nodes)
	l.events(&res)
	return res
}

// events checks that every node runs toLevel and reads the downtime and the server's own
// stop + start from the simulator's event logs.
func (l *benchLab) events(res *sideResult) {
	b := l.b
	var down, own time.Duration
	for _, n := range l.lab.Nodes {
		if lvl, err := apimsim.ReadLevel(n.Home); err != nil || lvl != toLevel {
			b.Fatalf("node %s: level %d (%v) after the rollout, want %d", n.Name, lvl, err, toLevel)
		}
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			b.Fatalf("node %s: no server runs after the rollout", n.Name)
		}
		evs, err := apimsim.ReadEvents(filepath.Dir(n.Home))
		if err != nil {
			b.Fatal(err)
		}
		var stopping, stopped, starting, started time.Time
		for _, e := range evs {
			switch {
			case e.Level == fromLevel && e.Event == apimsim.EventStopping:
				stopping = e.At
			case e.Level == fromLevel && e.Event == apimsim.EventStopped:
				stopped = e.At
			case e.Level == toLevel && e.Event == apimsim.EventStarting && starting.IsZero():
				starting = e.At
			case e.Level == toLevel && e.Event == apimsim.EventStarted && started.IsZero():
				started = e.At
			}
		}
		if stopping.IsZero() || stopped.IsZero() || starting.IsZero() || started.IsZero() || started.Before(stopping) {
			b.Fatalf("node %s: events stopping %v, stopped %v, starting %v, started %v", n.Name, stopping, stopped, starting, started)
		}
		down += started.Sub(stopping)
		own += stopped.Sub(stopping) + started.Sub(starting)
	}
	res.down = down / time.Duration(len(l.lab.Nodes))
	res.own = own / time.Duration(len(l.lab.Nodes))
}

// release stops the servers and removes the nodes' products (the index copies take disk).
func (l *benchLab) release() {
	l.lab.StopProducts()
	for _, n := range l.lab.Nodes {
		ents, _ := os.ReadDir(n.Dir)
		for _, e := range ents {
			if e.Name() != ".sshd" {
				os.RemoveAll(filepath.Join(n.Dir, e.Name()))
			}
		}
	}
}

// BenchmarkRolloutVsScript: per iteration, drover and the script each update a fresh lab from
// fromLevel to toLevel, in alternating order. Metrics (seconds, means over iterations; downtime
// is per node): drover-wall-s, script-wall-s, wall-ratio (drover/script; target <= 1.1);
// drover-down-s, script-down-s, down-ratio (target: drover <= script with the index);
// server-own-s (the server's own stop + start) and drover-over-own-s (drover's downtime above
// it; target <= 0.3); drover-record-down-s and script-said-down-s (each side's own account);
// step-NAME-s, drover's mean time per node in each step of its procedure.
func BenchmarkRolloutVsScript(b *testing.B) {
	if testing.Short() {
		b.Skip("real-sshd end-to-end tier skipped with -short")
	}
	if raceEnabled {
		b.Skip("timing a drover built with the race detector says nothing")
	}
	sshdtest.RequireProgram(b, "ssh")
	sshdtest.RequireProgram(b, "scp")
	sshdtest.RequireProgram(b, "unzip")
	for _, index := range []int64{0, 512 << 20} {
		b.Run(fmt.Sprintf("index-%dMiB", index>>20), func(b *testing.B) {
			d, s := sideResult{steps: map[string]time.Duration{}}, sideResult{}
			add := func(into *sideResult, r sideResult) {
				into.wall += r.wall
				into.down += r.down
				into.own += r.own
				into.said += r.said
				for k, v := range r.steps {
					into.steps[k] += v
				}
			}
			for i := 0; i < b.N; i++ {
				sides := []func(){
					func() { l := newBenchLab(b, index); add(&d, l.runDrover()); l.release() },
					func() { l := newBenchLab(b, index); add(&s, l.runScript()); l.release() },
				}
				if i%2 == 1 {
					sides[0], sides[1] = sides[1], sides[0]
				}
				b.StopTimer()
				for _, side := range sides {
					side()
				}
				b.StartTimer()
			}
			n := float64(b.N)
			sec := func(x time.Duration) float64 { return x.Seconds() / n }
			own := (d.own + s.own) / 2
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(sec(d.wall), "drover-wall-s")
			b.ReportMetric(sec(s.wall), "script-wall-s")
			b.ReportMetric(d.wall.Seconds()/s.wall.Seconds(), "wall-ratio")
			b.ReportMetric(sec(d.down), "drover-down-s")
			b.ReportMetric(sec(s.down), "script-down-s")
			b.ReportMetric(d.down.Seconds()/s.down.Seconds(), "down-ratio")
			b.ReportMetric(sec(own), "server-own-s")
			b.ReportMetric(sec(d.down-d.own), "drover-over-own-s")
			b.ReportMetric(sec(s.down-s.own), "script-over-own-s")
			b.ReportMetric(sec(d.said), "drover-record-down-s")
			b.ReportMetric(sec(s.said), "script-said-down-s")
			// Where drover's time went: each step's mean per node (run record).
			for step, took := range d.steps {
				b.ReportMetric(sec(took)/float64(len(clusterNodes)), "step-"+step+"-s")
			}
		})
	}
}
