package apimsim

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestServerLifecycle(t *testing.T) {
	for _, version := range Versions() {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, version, 2)
			// a long graceful stop, so "stop returns before the server exits" is observable
			n.env = append(n.env, "APIMSIM_STOP_DELAY=2s")
			if out := n.start(); strings.Contains(out, "already running") {
				t.Fatalf("fresh start said %q", out)
			}
			pid := n.pid()
			if !isSim(pid) || parentPID(pid) == os.Getpid() {
				t.Fatalf("PID file names %d, not the detached server process", pid)
			}
			if out := n.start(); !strings.Contains(out, "Process is already running") {
				t.Fatalf("second start printed %q, want Process is already running", out)
			}
			n.waitStarted()
			if code, body := get(n.versionURL()); code != 200 || !strings.Contains(body, "WSO2 API Manager-"+version) {
				t.Fatalf("Version at offset %d: %d %q", n.offset, code, body)
			}
			if code, body := get(n.healthURL()); (code == 200) != HasGatewayHealth(version, "") {
				t.Fatalf("gateway health check over TLS: %d %q (want it served: %v)", code, body, HasGatewayHealth(version, ""))
			}
			if code, _ := get(strings.Replace(n.versionURL(), ":9763", ":9763", 1)); code != 200 {
				t.Fatal("version endpoint went away")
			}
			if !exists(n.path("solr/data/index/write.lock")) {
				t.Fatal("no write.lock while running")
			}
			db := n.path("repository/database/WSO2AM_DB.mv.db")
			before, _ := os.ReadFile(db)
			waitFor(t, "the H2 file to change", func() bool {
				now, _ := os.ReadFile(db)
				return !bytes.Equal(before, now)
			})

			n.stop()
			if !processAlive(pid) {
				t.Fatal("server already gone when stop returned; stop must not wait")
			}
			n.waitGone(pid)
			if exists(n.path("solr/data/index/write.lock")) {
				t.Fatal("write.lock left after a clean stop")
			}
			if err := VerifyData(n.home); err != nil {
				t.Fatalf("data after a clean stop: %v", err)
			}
			if _, alive := PIDAlive(n.home); alive || !exists(PIDFile(n.home)) {
				t.Fatal("the PID file must stay (stale) after stop")
			}
			log := n.logText()
			for _, want := range []string{"Shutting down", "Halting JVM", "WSO2 Carbon started in"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q", want)
				}
			}
			want := []string{EventStarting, EventStarted, EventStopping, EventStopped}
			if got := n.eventNames(); !slices.Equal(got, want) {
				t.Fatalf("events %v, want %v", got, want)
			}
			if ev := n.events()[0]; ev.PID != pid || ev.Level != 2 || ev.Home != n.home {
				t.Fatalf("event fields %+v", ev)
			}
			// start again with a stale PID file: it must not say "already running". Like the
			// real script, start takes a zombie for a running server (kill -0 succeeds), so
			// wait until the exited server has been reaped: on a loaded machine whose PID 1 is
			// slow to reap orphans, its /proc entry stays a while.
			waitFor(t, "process "+strconv.Itoa(pid)+" to be reaped", func() bool {
				_, err := os.Stat("/proc/" + strconv.Itoa(pid))
				return err != nil
			})
			if out := n.start(); strings.Contains(out, "already running") {
				t.Fatalf("start with a stale PID file printed %q", out)
			}
			n.waitStarted()
		})
	}
}

// TestStartDetaches runs start with pipes for stdout and stderr, as an SSH session does: the
// command must finish (pipes closed) while the server keeps running in its own session.
func TestStartDetaches(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	var out bytes.Buffer
	cmd := exec.Command("sh", filepath.Join(n.home, "bin", "api-manager.sh"), "start", "-Dprofile=gateway-worker", "-Dfoo=bar baz")
	cmd.Env, cmd.Stdout, cmd.Stderr = n.env, &out, &out
	stdin, err := cmd.StdinPipe() // an open stdin the server must not hold either
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	if err := <-waitErr; err != nil {
		t.Fatalf("start: %v: %s", err, out.String())
	}
	stdin.Close()
	pid := n.pid()
	if !processAlive(pid) {
		t.Fatal("server died with the session")
	}
	if sid := sessionID(pid); sid == sessionID(os.Getpid()) || sid <= 0 {
		t.Fatalf("server in session %d, same as the caller: not detached", sid)
	}
	n.waitStarted()
	ev := n.waitEvent(EventStarting)
	if ev.Profile != "gateway-worker" || !strings.Contains(ev.Detail, "-Dfoo=bar baz") {
		t.Fatalf("JVM arguments not passed through intact: %+v", ev)
	}
}

func TestStopWithoutPIDFile(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	out, code := n.script("", "", "api-manager.sh", "stop")
	if code != 0 || !strings.Contains(out, "No such file") {
		t.Fatalf("stop without a PID file: exit %d %q", code, out)
	}
	os.WriteFile(PIDFile(n.home), []byte("999999999"), 0o644)
	if out, code := n.script("", "", "api-manager.sh", "stop"); code != 0 {
		t.Fatalf("stop with a stale PID file: exit %d %q", code, out)
	}
	if out, code := n.script("", "", "api-manager.sh", "version"); code != 0 || !strings.Contains(out, "4.4.0") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestProfilesServeTheirHealth(t *testing.T) {
	cases := []struct {
		version, profile string
		gateway          bool
	}{
		{"4.4.0", "gateway-worker", true},
		{"4.4.0", "control-plane", false},
		{"4.4.0", "traffic-manager", false},
		{"3.2.0", "api-key-manager", false},
	}
	for _, c := range cases {
		t.Run(c.version+"/"+c.profile, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, c.version, 0)
			if out, _ := n.script("", "", "profileSetup.sh", "-Dprofile="+c.profile, "--skipConfigOptimization"); !strings.Contains(out, ProfileDoneMarker) {
				t.Fatalf("profileSetup: %s", out)
			}
			n.start("-Dprofile=" + c.profile)
			n.waitStarted()
			if code, _ := get(n.versionURL()); code != 200 {
				t.Fatalf("Version: %d", code)
			}
			code, _ := get(n.healthURL())
			if (code == 200) != c.gateway {
				t.Fatalf("gateway health check on %s: %d", c.profile, code)
			}
		})
	}
}

// TestUnoptimizedProfileFailsToStart: a non-gateway profile on a pack that still has the
// WebSocket inbound endpoints (fresh, or re-introduced by an update) fails to start.
func TestUnoptimizedProfileFailsToStart(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	n.start("-Dprofile=traffic-manager")
	n.waitEvent(EventFailed)
	waitFor(t, "the failed server to exit", func() bool { _, alive := PIDAlive(n.home); return !alive })
	if log := n.logText(); !strings.Contains(log, "ERROR") || !strings.Contains(log, "profileSetup.sh") || strings.Contains(log, StartedMarker) {
		t.Fatalf("log:\n%s", log)
	}
	if err := VerifyData(n.home); err != nil {
		t.Fatalf("a failed start must close its stores: %v", err)
	}
	// --optimize runs profileSetup first, like the real script
	out := n.start("--optimize", "-Dprofile=traffic-manager", "--skipConfigOptimization")
	if !strings.Contains(out, ProfileDoneMarker) {
		t.Fatalf("--optimize output: %s", out)
	}
	n.waitStarted()
}

func TestWrongH2FormatRefusesToStart(t *testing.T) {
	t.Parallel()
	old := filepath.Join(t.TempDir(), "old")
	if err := Layout(old, Spec{Version: "3.2.0", SimBin: simBin}); err != nil {
		t.Fatal(err)
	}
	n := newSimNode(t, "4.4.0", 0)
	b, _ := os.ReadFile(filepath.Join(old, "repository", "database", "WSO2AM_DB.mv.db"))
	os.WriteFile(n.path("repository/database/WSO2AM_DB.mv.db"), b, 0o644)
	if f, err := H2Format(n.path("repository/database/WSO2AM_DB.mv.db")); err != nil || f != 1 {
		t.Fatalf("format of a 3.2 file: %d %v", f, err)
	}
	n.start()
	n.waitEvent(EventFailed)
	if log := n.logText(); !strings.Contains(log, "The write format 1 is smaller than the supported format 3") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestKilledServerIsRecorded(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 1)
	n.start()
	pid := n.pid()
	n.waitStarted()
	syscall.Kill(pid, syscall.SIGKILL)
	ev := n.waitEvent(EventKilled)
	if ev.PID != pid || !strings.Contains(ev.Detail, "killed") {
		t.Fatalf("killed event %+v", ev)
	}
	err := VerifyData(n.home)
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("data of a killed server: %v, want ErrOpen", err)
	}
	// a restart recovers (like H2 and Lucene do) and a clean stop leaves consistent data
	n.start()
	pid2 := n.pid()
	n.waitStarted()
	if !strings.Contains(n.logText(), "not closed properly") {
		t.Fatal("no recovery warning")
	}
	n.stop()
	n.waitGone(pid2)
	if err := VerifyData(n.home); err != nil {
		t.Fatal(err)
	}
}

// TestSecondServerFindsStoresLocked: a second server process on a running home (two starts
// racing the PID file) fails on the H2 lock like the real one, and the first keeps serving.
func TestSecondServerFindsStoresLocked(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	n.start()
	first := n.pid()
	n.waitStarted()
	cmd := exec.Command(simBin, "run", "--home", n.home)
	cmd.Env = n.env
	if err := cmd.Run(); err == nil {
		t.Fatal("a second server on the same home started")
	}
	if !strings.Contains(n.logText(), "Database may be already in use") {
		t.Fatalf("log:\n%s", n.logText())
	}
	if code, _ := get(n.versionURL()); code != 200 || !processAlive(first) {
		t.Fatal("the first server was disturbed")
	}
	// restart (like the real script) waits for the old process, then starts a new one
	os.WriteFile(PIDFile(n.home), []byte(strconv.Itoa(first)), 0o644)
	if out, code := n.script("", "", "api-manager.sh", "restart"); code != 0 || processAlive(first) {
		t.Fatalf("restart: exit %d %q", code, out)
	}
	if second := n.pid(); second == first {
		t.Fatal("restart did not start a new server")
	}
}
