package tasks_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

// diskFullUnzip stands in for unzip on a node whose disk fills up while the
// pack is unpacked: it writes part of the release, then fails the way
// Info-ZIP unzip does (exit 50).
const diskFullUnzip = `#!/bin/sh
dest=
while [ $# -gt 0 ]; do
  case "$1" in -d) dest=$2; shift ;; esac
  shift
done
if [ -n "$dest" ]; then
  mkdir -p "$dest/wso2am-partial/bin" && head -c 65536 /dev/zero > "$dest/wso2am-partial/bin/part.jar"
fi
echo "  inflating: wso2am-partial/bin/part.jar"
echo "wso2am-partial/bin/part.jar:  write error (disk full?).  Continue? (y/n/^C) n" >&2
exit 50
`

// faultCase is one fault knob on one node and the outcome it must give.
type faultCase struct {
	node, profile string
	// inject sets the fault on the node; level is the level it runs.
	inject func(t *testing.T, tl *testLab, n *lab.Node, level int)
	// step and errs: the failing step and what its error must say; ""
	// when the update must succeed.
	step string
	errs []string
	// stopped is false when the old server must never have been stopped.
	stopped bool
	// check asserts the rest.
	check func(t *testing.T, tl *testLab, n *lab.Node, rec *recorder, b before)
}

// TestFaults injects each of the simulator's fault knobs on its own node:
// every one ends with the documented error and a node that is either fully
// updated or fully back on its previous release.
func TestFaults(t *testing.T) {
	t.Parallel()
	short := []faultCase{
		{
			node: "fail-start", profile: "gateway-worker", step: "health", stopped: true,
			errs: []string{"the server exited", "ERROR", "simulated startup failure (fail_start)"},
			inject: func(t *testing.T, tl *testLab, n *lab.Node, level int) {
				fault(t, n, apimsim.Faults{OnlyLevel: level + 1, FailStart: true})
			},
			check: func(t *testing.T, tl *testLab, n *lab.Node, rec *recorder, b before) {
				if got := countLevel(simEvents(t, n), apimsim.EventFailed, b.level+1); got != 1 {
					t.Errorf("the new release failed to start %d times, want once", got)
				}
			},
		},
		{
			node: "crash-after", profile: "control-plane", step: "health", stopped: true,
			errs: []string{"the server exited", "simulated crash"},
			inject: func(t *testing.T, tl *testLab, n *lab.Node, level int) {
				// Crashes well inside min_healthy_time (1s).
				fault(t, n, apimsim.Faults{OnlyLevel: level + 1, CrashAfter: "300ms"})
			},
			check: func(t *testing.T, tl *testLab, n *lab.Node, rec *recorder, b before) {
				evs := simEvents(t, n)
				if countLevel(evs, apimsim.EventStarted, b.level+1) != 1 || countLevel(evs, apimsim.EventCrashed, b.level+1) != 1 {
					t.Errorf("want the new release started, then crashed: %+v", evs)
				}
			},
		},
		{
			node: "unhealthy", profile: "gateway-worker", step: "health", stopped: true,
			errs: []string{"not healthy: still failing after 5s", "status 503"},
			inject: func(t *testing.T, tl *testLab, n *lab.Node, level int) {
				fault(t, n, apimsim.Faults{OnlyLevel: level + 1, Unhealthy: true})
			},
		},
	}
	long := []faultCase{
		{
			node: "slow-start", profile: "traffic-manager", stopped: true,
			inject: func(t *testing.T, tl *testLab, n *lab.Node, level int) {
				fault(t, n, apimsim.Faults{OnlyLevel: level + 1, SlowStart: "3s"})
			},
			check: func(t *testing.T, tl *testLab, n *lab.Node, rec *recorder, b before) {
				// The gate waited for the slow server instead of failing it.
				waited := slices.ContainsFunc(rec.messages(tasks.EventProgress), func(m string) bool {
					return strings.HasPrefix(m, "log: no line") || strings.HasPrefix(m, "http")
				})
				if !waited {
					t.Errorf("the health gate never saw the slow server starting: %q", rec.messages(tasks.EventProgress))
				}
			},
		},
		{
			node: "hang-stop", profile: "api-key-manager-node", stopped: true,
			inject: func(t *testing.T, tl *testLab, n *lab.Node, level int) {
				// The running server reads its knobs when it starts.
				fault(t, n, apimsim.Faults{OnlyLevel: level, HangStop: true})
				restartServer(t, tl, n)
			},
			check: func(t *testing.T, tl *testLab, n *lab.Node, rec *recorder, b before) {
				if !slices.ContainsFunc(rec.messages(tasks.EventWarning), func(m string) bool {
					return strings.Contains(m, "did not stop within 3s; sending SIGKILL")
				}) {
					t.Errorf("no SIGKILL warning: %q", rec.messages(tasks.EventWarning))
				}
				if got := countLevel(simEvents(t, n), apimsim.EventKilled, b.level); got != 1 {
					t.Errorf("the old server was killed %d times, want once", got)
				}
			},
		},
		{
			node: "disk-full", profile: "gateway-worker", step: "stage",
			errs: []string{"unpack", "write error (disk full?)"},
			inject: func(t *testing.T, tl *testLab, n *lab.Node, level int) {
				if err := os.MkdirAll(n.ShimDir(), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(n.ShimDir(), "unzip"), []byte(diskFullUnzip), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, tl *testLab, n *lab.Node, rec *recorder, b before) {
				if pid := running(t, n.Home); pid != b.pid {
					t.Errorf("the old server was restarted (PID %d, was %d)", pid, b.pid)
				}
				paths := tasks.NewPaths(n.Home)
				if ents, err := os.ReadDir(paths.Unpack()); err == nil && len(ents) > 0 {
					t.Errorf("the partial unpack is left in %s: %v", paths.Unpack(), ents)
				}
				for _, p := range []string{paths.Staged(), paths.StagedState()} {
					if pathExists(p) {
						t.Errorf("%s exists after a failed stage", p)
					}
				}
				lb, _ := os.ReadFile(filepath.Join(tl.Dir, "lb.log"))
				if got := lbLines(string(lb), n.Name); got != "" {
					t.Errorf("the load balancer was asked %q about a node that never left service", got)
				}
				// Space freed: the next run goes through.
				if err := os.RemoveAll(n.ShimDir()); err != nil {
					t.Fatal(err)
				}
				if err := apply(tl.job(t, n.Name, "after-cleanup", &recorder{})); err != nil {
					t.Fatalf("update after the disk was freed: %v", err)
				}
				checkUpdated(t, tl, n, b)
			},
		},
	}
	for _, group := range []struct {
		name, healthTimeout string
		cases               []faultCase
	}{{"short", "5s", short}, {"long", "20s", long}} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			var ns []lab.NodeSpec
			for _, c := range group.cases {
				ns = append(ns, lab.NodeSpec{Name: c.node, Profile: c.profile})
			}
			tl := newLab(t, "4.4.0", group.healthTimeout, ns...)
			for _, c := range group.cases {
				t.Run(c.node, func(t *testing.T) {
					t.Parallel()
					runFault(t, tl, c)
				})
			}
		})
	}
}

func runFault(t *testing.T, tl *testLab, c faultCase) {
	n := tl.node(t, c.node)
	c.inject(t, tl, n, tl.Level)
	b := snapshot(t, tl, n, customise(t, tl, n))
	rec := &recorder{}
	err := apply(tl.job(t, n.Name, "faulty", rec))
	stops := countEvents(simEvents(t, n), apimsim.EventStopping)
	switch {
	case c.stopped && stops == 0:
		t.Errorf("the old server was never stopped")
	case !c.stopped && stops != 0:
		t.Errorf("the old server was stopped %d times although the update failed before stop", stops)
	}
	if c.step == "" {
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		b.killed = countEvents(simEvents(t, n), apimsim.EventKilled) > 0
		checkUpdated(t, tl, n, b)
	} else {
		var se *tasks.StepError
		if !errors.As(err, &se) || se.Step != c.step {
			t.Fatalf("update = %v, want a failure at %s", err, c.step)
		}
		for _, want := range c.errs {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		checkBack(t, tl, n, b)
		outcome := tasks.OutcomeFailed
		if c.stopped {
			outcome = tasks.OutcomeRolledBack
			failed := tasks.NewPaths(n.Home).Failed("faulty")
			if got := level(t, failed); got != b.level+1 {
				t.Errorf("the failed release is not kept in %s (level %d)", failed, got)
			}
			if pid, alive := apimsim.PIDAlive(failed); alive {
				t.Errorf("the failed release still runs (PID %d)", pid)
			}
			if got := rec.steps(tasks.EventRolledBack); len(got) != 1 {
				t.Errorf("%d rolled_back events, want 1", len(got))
			}
		}
		if f := tl.probe(t, n.Name); f.LastRun == nil || f.LastRun.Outcome != outcome {
			t.Errorf("last run = %+v, want %s", f.LastRun, outcome)
		}
		if !slices.ContainsFunc(journal(t, n), func(r tasks.Record) bool {
			return r.Run == "faulty" && r.Step == c.step && r.Phase == tasks.PhaseFail && strings.Contains(r.Detail, c.errs[len(c.errs)-1])
		}) {
			t.Errorf("the journal does not record the failure of %s", c.step)
		}
	}
	if c.check != nil {
		c.check(t, tl, n, rec, b)
	}
}

// countLevel counts the lifecycle events of one kind of a release level.
func countLevel(evs []apimsim.Event, name string, level int) int {
	c := 0
	for _, e := range evs {
		if e.Event == name && e.Level == level {
			c++
		}
	}
	return c
}

// slowLaunch wraps a release's startup script: start returns at once, as
// the real one does, and the server writes its PID file two seconds later,
// like a JVM slow to boot on a busy host.
const slowLaunch = `#!/bin/sh
real="$(dirname "$0")/api-manager-real.sh"
if [ "$1" = start ]; then
  (sleep 2; exec sh "$real" "$@") </dev/null >/dev/null 2>&1 &
  exit 0
fi
exec sh "$real" "$@"
`

// TestServerSlowToWriteItsPID rolls back to a release whose server takes a
// while to write its PID file: a server not yet started is not a server
// that exited.
func TestServerSlowToWriteItsPID(t *testing.T) {
	t.Parallel()
	tl := newLab(t, "4.4.0", "20s", specs("slow-pid", "control-plane")...)
	n := tl.Nodes[0]
	b := snapshot(t, tl, n, customise(t, tl, n))
	if err := apply(tl.job(t, n.Name, "update", &recorder{})); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(previousDir(n), "bin")
	if err := os.Rename(filepath.Join(bin, "api-manager.sh"), filepath.Join(bin, "api-manager-real.sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "api-manager.sh"), []byte(slowLaunch), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rollback(tl.job(t, n.Name, "undo", &recorder{})); err != nil {
		t.Fatalf("rollback to a release slow to start: %v", err)
	}
	checkBack(t, tl, n, b)
}
