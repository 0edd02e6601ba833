package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// planFile is the part of a plan file the tests read.
type planFile struct {
	FormatVersion   int    `json:"format_version"`
	InventoryDigest string `json:"inventory_digest"`
	Pack            struct {
		SHA256 string `json:"sha256"`
		Level  int    `json:"level"`
	} `json:"pack"`
	Waves []struct {
		Profile string `json:"profile"`
		Batches []struct {
			Nodes []struct {
				Node        string            `json:"node"`
				Fingerprint map[string]string `json:"fingerprint"`
			} `json:"nodes"`
		} `json:"batches"`
	} `json:"waves"`
}

// snapshot is what the tests compare to prove a command changed nothing.
type snapshot map[string]struct{ stops, journal, level int }

func (f *fixture) snapshot() snapshot {
	s := snapshot{}
	for _, n := range f.lab.Nodes {
		s[n.Name] = struct{ stops, journal, level int }{
			countEvents(f.t, n, apimsim.EventStopping), len(journal(f.t, n)), level(f.t, n.Home)}
	}
	return s
}

// settledSnapshot is a snapshot taken once the nodes stop changing: a
// controller killed with SIGKILL may leave a remote command in flight (a
// journal append) that lands a moment after it died.
func (f *fixture) settledSnapshot() snapshot {
	s := f.snapshot()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		next := f.snapshot()
		if maps.Equal(s, next) {
			return next
		}
		s = next
	}
	return s
}

// unchanged reports the nodes whose snapshot differs from before.
func (f *fixture) unchanged(t *testing.T, before snapshot, what string) {
	t.Helper()
	for name, now := range f.snapshot() {
		if now != before[name] {
			t.Errorf("%s changed %s: was %+v, now %+v (stops, journal records, level)", name, what, before[name], now)
		}
	}
}

func TestStalePlanIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	r := f.drover("plan", "-o", "plan.json")
	if r.code != 0 {
		t.Fatalf("plan exited %d", r.code)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p planFile
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	planned := 0
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			for _, n := range b.Nodes {
				planned++
				if n.Fingerprint["running"] != "true" || n.Fingerprint["update_level"] != "11" {
					t.Errorf("plan file: %s fingerprint %v", n.Node, n.Fingerprint)
				}
			}
		}
	}
	if p.FormatVersion < 1 || p.InventoryDigest == "" || p.Pack.SHA256 != fileSHA256(t, f.lab.Pack) || p.Pack.Level != toLevel || planned != 8 {
		t.Errorf("plan file: format_version %d, inventory_digest %q, pack %+v, %d node(s) planned", p.FormatVersion, p.InventoryDigest, p.Pack, planned)
	}

	// Someone stops tm-1's server by hand after the plan was made.
	tm1 := f.node("tm-1")
	stopServer(t, tm1)
	before := f.snapshot()

	r = f.drover("apply", "plan.json")
	if r.code != 3 {
		t.Errorf("apply of the stale plan exited %d, want 3 (refused)", r.code)
	}
	msg := lastLine(r.stderr, "drover: ")
	if !strings.Contains(msg, `tm-1: running was "true", now "false"`) {
		t.Errorf("the refusal does not say tm-1 stopped running: %q", msg)
	}
	for _, n := range f.lab.Nodes {
		if n.Name != "tm-1" && strings.Contains(msg, n.Name) {
			t.Errorf("the refusal names %s, which did not change: %q", n.Name, msg)
		}
	}
	f.unchanged(t, before, "although the stale plan was refused")
	for _, n := range f.lab.Nodes {
		if _, err := os.Stat(statePath(n, "lock")); !os.IsNotExist(err) {
			t.Errorf("%s: a lock is left after the refusal (%v)", n.Name, err)
		}
	}
}

func TestSecondApplyWhileOneRunsIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	first := f.start("apply", "--yes", "--limit", "gw-*")
	// Every gateway is locked before the first one starts its update.
	first.waitLine(regexp.MustCompile(`gw-1\s+update started`))
	run1 := runIDOf(t, first.stderrText())
	unlockCmd := "drover unlock " + run1 + " --force"
	cpTM := func() map[string]int {
		out := map[string]int{}
		for _, n := range f.lab.Nodes[:4] {
			out[n.Name] = countEvents(t, n, apimsim.EventStopping) + len(journal(t, n))
		}
		return out
	}
	before := cpTM()

	t.Run("same nodes", func(t *testing.T) {
		r := f.drover("apply", "--yes", "--limit", "gw-*")
		if r.code != 3 {
			t.Errorf("a second apply of the locked gateways exited %d, want 3 (refused: lock held)", r.code)
		}
		if !strings.Contains(r.output(), unlockCmd) {
			t.Errorf("the refusal does not name %q", unlockCmd)
		}
	})
	t.Run("whole cluster", func(t *testing.T) {
		// The gateways are locked by the first run: the whole-cluster apply
		// must be refused before it changes anything, not update the control
		// planes and traffic managers around the locked gateways. Should it
		// start a node anyway, it is interrupted (Ctrl-C once) so the test
		// stays short.
		second := f.startKillOn(regexp.MustCompile(`update started`), syscall.SIGINT, "apply", "--yes")
		r := second.wait()
		if r.code != 3 {
			t.Errorf("a whole-cluster apply while the gateways are locked exited %d, want 3 (refused: lock held)", r.code)
		}
		if !strings.Contains(r.output(), unlockCmd) {
			t.Errorf("the refusal does not name %q", unlockCmd)
		}
		if l := second.killedAt(); l != "" {
			t.Errorf("the whole-cluster apply started updating a node while another run held locks: %s", l)
		}
		after := cpTM()
		for name, n := range before {
			if after[name] != n {
				t.Errorf("%s was changed by the refused apply (stops + journal records %d -> %d)", name, n, after[name])
			}
		}
	})

	// The first run was not disturbed.
	r := first.wait()
	if r.code != 0 {
		t.Fatalf("the first apply exited %d, want 0", r.code)
	}
	for _, n := range f.lab.Nodes[4:] {
		if level(t, n.Home) != toLevel || !running(n.Home) {
			t.Errorf("%s: level %d running %v after the first apply", n.Name, level(t, n.Home), running(n.Home))
		}
	}
	var gws []span
	for _, s := range spans(t, f) {
		if s.profile == "gateway-worker" {
			gws = append(gws, s)
		}
	}
	if len(gws) != 4 {
		t.Errorf("%d gateway stop/start spans, want 4", len(gws))
	}
	checkOrderAndCapacity(t, f, gws)
}
