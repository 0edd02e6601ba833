package tasks_test

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// TestStalePIDFileNamingAnotherProcess: an updated node's server was
// stopped and its PID has since been taken by another program. The startup
// script would say "Process is already running" and start nothing; drover
// sets the PID file aside, says so, and the next apply starts the server.
func TestStalePIDFileNamingAnotherProcess(t *testing.T) {
	t.Parallel()
	tl := newLab(t, "4.4.0", "20s", specs("gw", "gateway-worker")...)
	n := tl.Nodes[0]
	if err := apply(tl.job(t, n.Name, "update", &recorder{})); err != nil {
		t.Fatalf("update: %v", err)
	}
	pid := running(t, n.Home)
	script(t, tl, n, "stop")
	waitGone(t, pid)
	other := exec.Command("sleep", "120")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	if err := os.WriteFile(apimsim.PIDFile(n.Home), []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := apply(tl.job(t, n.Name, "start-again", rec)); err != nil {
		t.Fatalf("apply of the stopped node: %v", err)
	}
	if !slices.ContainsFunc(rec.messages(tasks.EventWarning), func(m string) bool { return strings.Contains(m, "set it aside as wso2carbon.pid.stale") }) {
		t.Errorf("no warning about the stale PID file: %q", rec.messages(tasks.EventWarning))
	}
	if got := running(t, n.Home); got == other.Process.Pid {
		t.Error("the PID file still names the other program")
	}
	if other.ProcessState != nil {
		t.Error("drover touched the other program")
	}
}
