package transport_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/drover-sh/drover/transport"
)

// TestInprocTrace: Config.Trace hears of each hop and the node (address,
// user, the key that was accepted, the host key, the jump hops) and of each
// command (duration, exit status, output); never of stdin.
func TestInprocTrace(t *testing.T) {
	target, hops, cfg := jumpLab(t, 1)
	var mu sync.Mutex
	var evs []transport.TraceEvent
	cfg.Trace = func(ev transport.TraceEvent) {
		mu.Lock()
		defer mu.Unlock()
		evs = append(evs, ev)
	}
	c := ipDial(t, cfg)
	if _, err := c.Run(ipCtx(t), "cat; echo out; echo err >&2", transport.RunOptions{Stdin: strings.NewReader("stdin-secret")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Run(ipCtx(t), "exit 3", transport.RunOptions{})
	var xe *transport.ExitError
	if !errors.As(err, &xe) {
		t.Fatalf("exit 3: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 4 {
		t.Fatalf("want 2 dials and 2 runs, got %+v", evs)
	}
	hop, node, ok, failed := evs[0], evs[1], evs[2], evs[3]
	if hop.Kind != transport.TraceDial || hop.Hop != "jump 1" || hop.Addr != hops[0].Addr() || hop.User != cfg.User {
		t.Errorf("hop: %+v", hop)
	}
	if node.Kind != transport.TraceDial || node.Hop != "" || node.Addr != target.Addr() || node.Node != "gw-1" ||
		len(node.Jump) != 1 || node.Jump[0] != cfg.Jump[0] {
		t.Errorf("node: %+v", node)
	}
	for _, d := range []transport.TraceEvent{hop, node} {
		if d.Auth != "publickey "+cfg.IdentityFiles[0]+" (from identity_files)" || !strings.Contains(d.HostKey, "SHA256:") || d.Took <= 0 {
			t.Errorf("dial of %s: auth %q, host key %q, took %s", d.Addr, d.Auth, d.HostKey, d.Took)
		}
	}
	if ok.Kind != transport.TraceRun || ok.ExitCode != 0 || ok.Err != nil || ok.Command != "cat; echo out; echo err >&2" ||
		string(ok.Stdout) != "stdin-secretout\n" || string(ok.Stderr) != "err\n" || ok.Took <= 0 {
		t.Errorf("run: %+v", ok)
	}
	if strings.Contains(ok.Command, "stdin-secret") {
		t.Errorf("stdin in the traced command: %q", ok.Command)
	}
	if failed.ExitCode != 3 || !errors.As(failed.Err, &xe) {
		t.Errorf("failed run: %+v", failed)
	}
}

// TestInprocTraceSudo: the sudo password goes to sudo's stdin, so no trace
// of the probe, the check or the command shows it.
func TestInprocTraceSudo(t *testing.T) {
	const pw = "tr4ce-sudo-pw"
	_, cfg, _ := sudoNode(t, pw)
	cfg.SudoPassword = func() ([]byte, error) { return []byte(pw), nil }
	var mu sync.Mutex
	var evs []transport.TraceEvent
	cfg.Trace = func(ev transport.TraceEvent) {
		mu.Lock()
		defer mu.Unlock()
		evs = append(evs, ev)
	}
	c := ipDial(t, cfg)
	res, err := c.Run(ipCtx(t), "echo become=$SUDO_FAKE", transport.RunOptions{Become: true})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "become=1" {
		t.Fatalf("run: %v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	var runs int
	for _, ev := range evs {
		if ev.Kind == transport.TraceRun {
			runs++
		}
		for _, s := range []string{ev.Command, string(ev.Stdout), string(ev.Stderr), ev.Auth} {
			if strings.Contains(s, pw) {
				t.Errorf("a trace shows the sudo password: %+v", ev)
			}
		}
	}
	if runs < 2 { // the sudo probe(s) and the command
		t.Errorf("traced %d runs: %+v", runs, evs)
	}
}
