package apimsim

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, n *simNode)
	}{
		{"fail_start", Faults{FailStart: true}, func(t *testing.T, n *simNode) {
			n.start()
			pid := n.pid()
			n.waitEvent(EventFailed)
			n.waitGone(pid)
			if log := n.logText(); !strings.Contains(log, "ERROR") || strings.Contains(log, StartedMarker) {
				t.Fatalf("log:\n%s", log)
			}
			if code, _ := get(n.versionURL()); code == 200 {
				t.Fatal("a failed server answered healthy")
			}
			if err := VerifyData(n.home); err != nil {
				t.Fatal(err)
			}
		}},
		{"slow_start", Faults{SlowStart: "700ms"}, func(t *testing.T, n *simNode) {
			n.start()
			n.waitStarted()
			var starting, started time.Time
			for _, e := range n.events() {
				switch e.Event {
				case EventStarting:
					starting = e.At
				case EventStarted:
					started = e.At
				}
			}
			if d := started.Sub(starting); d < 700*time.Millisecond {
				t.Fatalf("started %v after starting, want at least the slow_start 700ms", d)
			}
		}},
		{"crash_after", Faults{CrashAfter: "200ms"}, func(t *testing.T, n *simNode) {
			n.start()
			pid := n.pid()
			n.waitEvent(EventCrashed)
			n.waitGone(pid)
			if !strings.Contains(n.logText(), StartedMarker) {
				t.Fatal("crash_after crashes after becoming healthy")
			}
			if err := VerifyData(n.home); !errors.Is(err, ErrOpen) {
				t.Fatalf("a crashed server leaves open stores and write.lock: %v", err)
			}
			if !exists(n.path("solr/data/index/write.lock")) {
				t.Fatal("no leftover write.lock")
			}
		}},
		{"hang_stop", Faults{HangStop: true}, func(t *testing.T, n *simNode) {
			n.start()
			pid := n.pid()
			n.waitStarted()
			n.stop()
			ev := n.waitEvent(EventStopping)
			if !strings.Contains(ev.Detail, "hang_stop") {
				t.Fatalf("stopping event %+v", ev)
			}
			n.stop()                           // a second SIGTERM changes nothing either
			time.Sleep(600 * time.Millisecond) // twice the stop delay: a normal server would be gone
			if !processAlive(pid) || slices.Contains(n.eventNames(), EventStopped) {
				t.Fatal("a hung server stopped on SIGTERM")
			}
			syscall.Kill(pid, syscall.SIGKILL)
			n.waitEvent(EventKilled)
			n.waitGone(pid)
		}},
		{"unhealthy", Faults{Unhealthy: true}, func(t *testing.T, n *simNode) {
			n.start()
			n.waitStarted()
			n.waitEvent(EventStarted)
			if code, _ := get(n.versionURL()); code != 503 {
				t.Fatalf("Version: %d, want 503", code)
			}
			if code, _ := get(n.healthURL()); code != 503 {
				t.Fatalf("gateway health: %d, want 503", code)
			}
		}},
		{"only_level elsewhere", Faults{FailStart: true, Unhealthy: true, OnlyLevel: 9}, func(t *testing.T, n *simNode) {
			n.start()
			n.waitStarted()
			if code, _ := get(n.versionURL()); code != 200 {
				t.Fatalf("faults for level 9 applied at level 1: %d", code)
			}
		}},
		{"only_level here", Faults{FailStart: true, OnlyLevel: 1}, func(t *testing.T, n *simNode) {
			n.start()
			n.waitEvent(EventFailed)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, "4.4.0", 1)
			if err := WriteFaults(n.home, c.faults); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFaults(n.home)
			if err != nil || got.FailStart != c.faults.FailStart || got.OnlyLevel != c.faults.OnlyLevel {
				t.Fatalf("faults round trip: %+v %v", got, err)
			}
			c.check(t, n)
		})
	}
}

func TestFaultsInvalidDuration(t *testing.T) {
	if err := WriteFaults(t.TempDir()+"/x", Faults{SlowStart: "soon"}); err == nil {
		t.Fatal("an invalid duration was accepted")
	}
}

func TestParseDelay(t *testing.T) {
	cases := map[string]time.Duration{"": 0, "2": 2 * time.Second, "0.25": 250 * time.Millisecond, "1.5s": 1500 * time.Millisecond}
	for in, want := range cases {
		if got, err := parseDelay(in); err != nil || got != want {
			t.Errorf("parseDelay(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseDelay("-1s"); err == nil {
		t.Error("a negative delay was accepted")
	}
}
