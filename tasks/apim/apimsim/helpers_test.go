package apimsim

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apimsim-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	simBin, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// deadline guards against deadlocks only; nothing asserts on speed.
const deadline = 20 * time.Second

// testEnv is the environment the scripts run with: short but realistic timings.
var testEnv = []string{"APIMSIM_START_DELAY=300ms", "APIMSIM_STOP_DELAY=300ms"}

// simNode is one simulated product home used by a test.
type simNode struct {
	t       *testing.T
	home    string
	offset  int
	env     []string
	logMark int // length of the log when the last start ran
}

// newSimNode lays out a product at a free port offset and registers a cleanup that kills any
// server started on it (and waits for its supervisor to go).
func newSimNode(t *testing.T, version string, level int) *simNode {
	t.Helper()
	return newSimNodeOf(t, version, AllInOne, level)
}

// newSimNodeOf is newSimNode for any distribution of version.
func newSimNodeOf(t *testing.T, version, distribution string, level int) *simNode {
	t.Helper()
	home := filepath.Join(t.TempDir(), ProductNameOf(version, distribution))
	if err := Layout(home, Spec{Version: version, Distribution: distribution, Level: level, SimBin: simBin}); err != nil {
		t.Fatal(err)
	}
	off, err := FreeOffset()
	if err != nil {
		t.Fatal(err)
	}
	if err := SetOffset(home, off); err != nil {
		t.Fatal(err)
	}
	n := &simNode{t: t, home: home, offset: off, env: append(os.Environ(), testEnv...)}
	t.Cleanup(n.kill)
	return n
}

// script runs a bin/ script of the node from dir (home/bin when dir is "") and returns its
// combined output and exit code.
func (n *simNode) script(dir, stdin string, args ...string) (string, int) {
	n.t.Helper()
	if dir == "" {
		dir = filepath.Join(n.home, "bin")
	}
	cmd := exec.Command("sh", append([]string{filepath.Join(n.home, "bin", args[0])}, args[1:]...)...)
	cmd.Dir = dir
	cmd.Env = n.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("%s: %v", args[0], err)
	}
	return string(out), code
}

func (n *simNode) startScript() string {
	rel, err := readProduct(n.home)
	if err != nil {
		n.t.Fatal(err)
	}
	return rel.script()
}

// start runs "<script> start args..." and requires exit 0.
func (n *simNode) start(args ...string) string {
	n.t.Helper()
	n.logMark = len(n.logText())
	out, code := n.script("", "", append([]string{n.startScript(), "start"}, args...)...)
	if code != 0 {
		n.t.Fatalf("start: exit %d: %s", code, out)
	}
	return out
}

func (n *simNode) stop() string {
	n.t.Helper()
	out, code := n.script("", "", n.startScript(), "stop")
	if code != 0 {
		n.t.Fatalf("stop: exit %d: %s", code, out)
	}
	return out
}

// waitFor polls cond until it holds or the deadlock guard fires.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *simNode) logText() string {
	b, _ := os.ReadFile(LogFile(n.home))
	return string(b)
}

// runLog is the log written since the last start.
func (n *simNode) runLog() string {
	l := n.logText()
	if n.logMark > len(l) {
		return l
	}
	return l[n.logMark:]
}

// waitStarted waits for the startup log line.
func (n *simNode) waitStarted() {
	n.t.Helper()
	waitFor(n.t, "the started log line", func() bool {
		if _, alive := PIDAlive(n.home); !alive && strings.Contains(n.runLog(), "ERROR") {
			n.t.Fatalf("server failed:\n%s", n.runLog())
		}
		return strings.Contains(n.runLog(), StartedMarker)
	})
}

// pid waits for the server to write its PID file and returns the PID.
func (n *simNode) pid() int {
	n.t.Helper()
	var pid int
	waitFor(n.t, "the PID file", func() bool {
		var alive bool
		pid, alive = PIDAlive(n.home)
		return alive
	})
	return pid
}

func (n *simNode) waitGone(pid int) {
	n.t.Helper()
	waitFor(n.t, "process "+strconv.Itoa(pid)+" to exit", func() bool { return !processAlive(pid) })
}

// events returns the lifecycle events of this node.
func (n *simNode) events() []Event {
	n.t.Helper()
	all, err := ReadEvents(filepath.Dir(n.home))
	if err != nil {
		n.t.Fatal(err)
	}
	return all
}

func (n *simNode) eventNames() []string {
	var out []string
	for _, e := range n.events() {
		out = append(out, e.Event)
	}
	return out
}

func (n *simNode) waitEvent(name string) Event {
	n.t.Helper()
	var ev Event
	waitFor(n.t, "event "+name, func() bool {
		for _, e := range n.events() {
			if e.Event == name {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

// kill SIGKILLs every simulator process working on this node's home (servers and their
// supervisors) and waits until they are gone, so no process outlives the test.
func (n *simNode) kill() {
	end := time.Now().Add(deadline)
	for {
		pids := n.simProcesses()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(end) {
			n.t.Errorf("processes %v of %s would not die", pids, n.home)
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// simProcesses lists the live apimsim processes whose --home is this node's home.
func (n *simNode) simProcesses() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(b), "\x00")
		if !isSim(pid) || !processAlive(pid) {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--home" && args[i+1] == n.home {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// processAlive is true for a live, non-zombie process.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// statField returns field i (1-based, as in proc(5)) of /proc/pid/stat.
func statField(pid, i int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if i-3 >= len(f) {
		return -1
	}
	v, _ := strconv.Atoi(f[i-3])
	return v
}

func parentPID(pid int) int { return statField(pid, 4) }
func sessionID(pid int) int { return statField(pid, 6) }
func isSim(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(b, []byte("apimsim"))
}

var insecure = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
}

// get returns the status and body of url (status 0 when it cannot connect).
func get(url string) (int, string) {
	resp, err := insecure.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (n *simNode) versionURL() string {
	h, _ := Ports(n.offset)
	return fmt.Sprintf("http://127.0.0.1:%d%s", h, VersionPath)
}

func (n *simNode) healthURL() string {
	_, s := Ports(n.offset)
	return fmt.Sprintf("https://127.0.0.1:%d%s", s, GatewayHealthPath)
}

func (n *simNode) path(rel string) string { return filepath.Join(n.home, filepath.FromSlash(rel)) }

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyTree copies src to dst file by file (like a naive backup taken while a server runs).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
