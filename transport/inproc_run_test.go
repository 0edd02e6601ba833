package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

func TestInprocRunResults(t *testing.T) {
	_, c := ipNode(t, sshtest.WithEnv("DROVER_T=from-env"))
	tests := []struct {
		name           string
		cmd            string
		stdin          string
		stdout, stderr string
		code           int
		signal         string
	}{
		{name: "ok", cmd: "echo hi", stdout: "hi\n"},
		{name: "exit code and stderr", cmd: "echo out; echo bad >&2; exit 3", stdout: "out\n", stderr: "bad\n", code: 3},
		{name: "stdin", cmd: "cat; echo done", stdin: "line 1\nline 2\n", stdout: "line 1\nline 2\ndone\n"},
		{name: "env", cmd: `printf %s "$DROVER_T"`, stdout: "from-env"},
		{name: "signal", cmd: "kill -KILL $$", code: 137, signal: "KILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := transport.RunOptions{}
			if tt.stdin != "" {
				opts.Stdin = strings.NewReader(tt.stdin)
			}
			res, err := c.Run(ipCtx(t), tt.cmd, opts)
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if string(res.Stdout) != tt.stdout || string(res.Stderr) != tt.stderr || res.ExitCode != tt.code {
				t.Errorf("got stdout %q stderr %q code %d, want %q %q %d", res.Stdout, res.Stderr, res.ExitCode, tt.stdout, tt.stderr, tt.code)
			}
			var xe *transport.ExitError
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.As(err, &xe) || xe.Code != tt.code || xe.Signal != tt.signal || xe.Node != "sshtest" {
				t.Fatalf("err = %#v, want ExitError code %d signal %q", err, tt.code, tt.signal)
			}
			oneLine(t, err, "sshtest")
		})
	}
}

func TestInprocRunInServerDir(t *testing.T) {
	s, c := ipNode(t)
	res, err := c.Run(ipCtx(t), "pwd -P", transport.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(s.Dir())
	if got := strings.TrimSpace(string(res.Stdout)); got != want {
		t.Errorf("pwd = %q, want %q", got, want)
	}
}

func TestInprocRunStreamsAndBoundsOutput(t *testing.T) {
	_, c := ipNode(t)
	var out, errw bytes.Buffer
	const n = 300000
	res, err := c.Run(ipCtx(t), fmt.Sprintf("head -c %d /dev/zero; head -c %d /dev/zero >&2", n, n), transport.RunOptions{Stdout: &out, Stderr: &errw, MaxOutput: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != n || errw.Len() != n {
		t.Errorf("streamed %d and %d bytes, want %d each", out.Len(), errw.Len(), n)
	}
	if len(res.Stdout) != 1000 || len(res.Stderr) != 1000 || !res.Truncated {
		t.Errorf("kept %d and %d bytes (truncated %v), want 1000 each, truncated", len(res.Stdout), len(res.Stderr), res.Truncated)
	}
}

func TestInprocManySessionsOneConnection(t *testing.T) {
	s, c := ipNode(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(ipCtx(t), "echo "+strconv.Itoa(i), transport.RunOptions{})
			if err == nil && string(res.Stdout) != strconv.Itoa(i)+"\n" {
				err = fmt.Errorf("run %d printed %q", i, res.Stdout)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if s.Accepted() != 1 {
		t.Errorf("server accepted %d connections, want 1", s.Accepted())
	}
}

func TestInprocCancelStopsTheRemoteCommand(t *testing.T) {
	s, c := ipNode(t)
	ctx, cancel := context.WithCancel(ipCtx(t))
	out := newSyncBuf("started")
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "echo $$ > pid; echo started; exec sleep 60", transport.RunOptions{Stdout: out})
		done <- err
	}()
	out.waitFor(t)
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(), "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	waitGone(t, pid)
	// The connection is still usable.
	if _, err := c.Run(ipCtx(t), "true", transport.RunOptions{}); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

// waitGone waits until process pid no longer exists.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInprocQuotedArgumentsAreData runs commands on names holding shell
// syntax through /bin/sh and checks they are taken literally.
func TestInprocQuotedArgumentsAreData(t *testing.T) {
	s, c := ipNode(t)
	names := []string{
		"plain", "with space", "it's", `double "quoted"`, "$HOME", "${PATH}", "`id`", "$(id)",
		"line\nbreak", "tab\there", "semi;colon", "amp&er", "pipe|x", "star*", "q?", "back\\slash",
		"-n", "~", "a=b", "unicode-é", "'", "''", "!bang", "#hash", "<in>",
	}
	for _, name := range names {
		t.Run(strconv.Quote(name), func(t *testing.T) {
			res, err := c.Run(ipCtx(t), "printf %s "+transport.Quote(name), transport.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != name {
				t.Errorf("printf printed %q, want %q", res.Stdout, name)
			}
			dir := filepath.Join(s.Dir(), "d "+strconv.Itoa(len(name)))
			path := filepath.Join(dir, "f-"+name)
			if strings.HasPrefix(name, "'") {
				path = filepath.Join(dir, name)
			}
			cmd := "mkdir -p -- " + transport.Quote(dir) + " && echo data > " + transport.Quote(path) + " && cat -- " + transport.Quote(path)
			res, err = c.Run(ipCtx(t), cmd, transport.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "data\n" || string(res.Stdout) != "data\n" {
				t.Errorf("file %q: %q, %v (printed %q)", path, got, err, res.Stdout)
			}
			os.RemoveAll(dir)
		})
	}
	res, err := c.Run(ipCtx(t), "printf '[%s]' "+transport.QuoteAll(names...), transport.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[" + strings.Join(names, "][") + "]"; string(res.Stdout) != want {
		t.Errorf("QuoteAll gave %q, want %q", res.Stdout, want)
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"abc", "abc"},
		{"/opt/wso2/wso2am-4.4.0", "/opt/wso2/wso2am-4.4.0"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$x", "'$x'"},
		{"a=b", "'a=b'"},
		{"~", "'~'"},
	}
	for _, tt := range tests {
		if got := transport.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestInprocSessionsCappedAtMaxSessions runs more commands at once than the
// server allows sessions per connection, with an SFTP session open: they
// wait for a slot instead of failing.
func TestInprocSessionsCappedAtMaxSessions(t *testing.T) {
	s := sshtest.NewServer(t, sshtest.WithMaxSessions(3))
	cfg := s.ClientConfig(t)
	cfg.MaxSessions = 3
	c := ipDial(t, cfg)
	if _, err := c.SFTP(); err != nil {
		t.Fatal(err)
	}
	errs := transport.ForEach(ipCtx(t), make([]int, 24), 24, func(ctx context.Context, i int, _ int) error {
		res, err := c.Run(ctx, "echo "+strconv.Itoa(i), transport.RunOptions{})
		if err == nil && string(res.Stdout) != strconv.Itoa(i)+"\n" {
			err = fmt.Errorf("run %d printed %q", i, res.Stdout)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
