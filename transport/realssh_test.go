package transport_test

// The real-OpenSSH tier: transport against Debian's sshd, one process per node on 127.0.0.x
// (transport/sshdtest). These tests skip when sshd is missing, and fail instead in CI
// (CI or DROVER_TEST_REQUIRE_SSHD=1). -short skips them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

// realCluster starts n real sshd nodes, or skips under -short.
func realCluster(t *testing.T, n int, opts ...sshdtest.Option) *sshdtest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("real-sshd tier skipped with -short")
	}
	return sshdtest.Start(t, n, opts...)
}

// realCtx is the test's context; its deadline only guards against hangs.
func realCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mustDial dials cfg and closes the client at the end of the test.
func mustDial(ctx context.Context, t *testing.T, cfg transport.Config) *transport.Client {
	t.Helper()
	c, err := transport.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", cfg.Node, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// accepted counts the logins sshd logged for node i.
func accepted(c *sshdtest.Cluster, i int) int {
	return strings.Count(c.Node(i).Log(), "Accepted publickey")
}

// lockedBuffer is an io.Writer safe for the concurrent writes of a streaming Run.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRealExecExitCodesOnSeveralNodes(t *testing.T) {
	c := realCluster(t, 3)
	ctx := realCtx(t)
	// node i prints its name on stdout, a line on stderr, and exits i.
	cmd := `echo "out $DROVER_TEST_NODE"; echo "err $DROVER_TEST_NODE" >&2; exit ${DROVER_TEST_NODE#node}`
	results := make([]*transport.Result, c.Len())
	streamed := make([]*lockedBuffer, c.Len())
	errs := transport.ForEach(ctx, c.Configs(), 64, func(ctx context.Context, i int, cfg transport.Config) error {
		cl, err := transport.Dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer cl.Close()
		streamed[i] = &lockedBuffer{}
		results[i], err = cl.Run(ctx, cmd, transport.RunOptions{Stdout: streamed[i]})
		return err
	})
	for i, n := range c.Nodes() {
		t.Run(n.Name(), func(t *testing.T) {
			res := results[i]
			if res == nil {
				t.Fatalf("no result; error %v", errs[i])
			}
			if want := "out " + n.Name() + "\n"; string(res.Stdout) != want || streamed[i].String() != want {
				t.Errorf("stdout kept %q, streamed %q, want %q", res.Stdout, streamed[i].String(), want)
			}
			if want := "err " + n.Name() + "\n"; string(res.Stderr) != want {
				t.Errorf("stderr %q, want %q", res.Stderr, want)
			}
			if res.ExitCode != i {
				t.Errorf("ExitCode %d, want %d", res.ExitCode, i)
			}
			var exit *transport.ExitError
			switch {
			case i == 0 && errs[i] != nil:
				t.Errorf("error %v for exit 0", errs[i])
			case i > 0 && !errors.As(errs[i], &exit):
				t.Errorf("error %v (%T), want an *ExitError", errs[i], errs[i])
			case i > 0 && (exit.Code != i || exit.Node != n.Name()):
				t.Errorf("ExitError{Node %q, Code %d}, want {%q, %d}", exit.Node, exit.Code, n.Name(), i)
			}
			var conn *transport.ConnError
			if errors.As(errs[i], &conn) {
				t.Errorf("a command's exit status reported as a connection error: %v", errs[i])
			}
		})
	}
}

func TestRealRunStreamsBeforeTheCommandEnds(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	// The command prints a line and then waits for stdin: the line must reach us while it runs.
	stdin, feed := io.Pipe()
	sawFirst := make(chan struct{})
	out := &notifyWriter{want: "first\n", seen: sawFirst}
	done := make(chan error, 1)
	var res *transport.Result
	go func() {
		var err error
		res, err = cl.Run(ctx, `echo first; read line; echo "got $line"`, transport.RunOptions{Stdin: stdin, Stdout: out})
		done <- err
	}()
	select {
	case <-sawFirst:
	case err := <-done:
		t.Fatalf("Run returned (%v) before its first line was streamed", err)
	case <-ctx.Done():
		t.Fatal("the first line was never streamed while the command ran")
	}
	fmt.Fprintln(feed, "second")
	feed.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "first\ngot second\n" {
		t.Errorf("stdout %q", res.Stdout)
	}
}

// notifyWriter closes seen once everything written so far starts with want.
type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.HasPrefix(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func TestRealOneConnectionForManyRuns(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	for i := range 5 {
		res, err := cl.Run(ctx, fmt.Sprintf("echo %d", i), transport.RunOptions{})
		if err != nil || string(res.Stdout) != fmt.Sprintf("%d\n", i) {
			t.Fatalf("run %d: %v, stdout %q", i, err, res.Stdout)
		}
	}
	// Concurrent sessions on the one connection, more than sshd's MaxSessions (10).
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cl.Run(ctx, fmt.Sprintf("echo %d", i), transport.RunOptions{})
			if err == nil && string(res.Stdout) != fmt.Sprintf("%d\n", i) {
				err = fmt.Errorf("stdout %q", res.Stdout)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent run %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.Log("sshd allows MaxSessions (default 10) open sessions per connection and refuses more with \"open failed\"; " +
			"transport should cap the sessions open at once on a Client (a semaphore of 10) instead of failing")
	}
	if n := accepted(c, 0); n != 1 {
		t.Errorf("sshd logged %d logins, want 1 (one connection reused)", n)
	}
}

func TestRealQuotedPathsAreData(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	names := []string{
		"with space",
		"single ' quote",
		`double " quote`,
		"dollar $HOME and $(id)",
		"back `id` tick",
		"new\nline",
		"-leading-dash",
		"semi;colon && amp | pipe",
		"glob * ? [a]",
		"ünïcödé",
	}
	for _, name := range names {
		t.Run(strings.NewReplacer("\n", `\n`, "/", "_").Replace(name), func(t *testing.T) {
			p := filepath.Join(c.Node(0).Dir(), name)
			payload := "data " + name
			cmd := "printf %s " + transport.Quote(payload) + " > " + transport.Quote(p) + " && cat -- " + transport.Quote(p)
			res, err := cl.Run(ctx, cmd, transport.RunOptions{})
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, res.Stderr)
			}
			if string(res.Stdout) != payload {
				t.Errorf("echoed %q, want %q", res.Stdout, payload)
			}
			// The node is this machine: the file must exist under exactly that name.
			b, err := os.ReadFile(p)
			if err != nil || string(b) != payload {
				t.Errorf("local view of %q: %q, %v", p, b, err)
			}
		})
	}
	// Nothing got expanded into extra files.
	entries, _ := os.ReadDir(c.Node(0).Dir())
	if got := len(entries) - 1; got != len(names) { // -1: sshd's own .sshd directory
		var list []string
		for _, e := range entries {
			list = append(list, e.Name())
		}
		t.Errorf("node dir has %d entries, want %d: %q", got, len(names), list)
	}
}

func TestRealOutputIsBounded(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	const max = 64 << 10
	res, err := cl.Run(ctx, "head -c 8000000 /dev/zero; echo done >&2", transport.RunOptions{MaxOutput: max})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) > max || !res.Truncated {
		t.Errorf("kept %d bytes of stdout (max %d), Truncated %v", len(res.Stdout), max, res.Truncated)
	}
	if string(res.Stderr) != "done\n" {
		t.Errorf("stderr %q", res.Stderr)
	}
}

func TestRealCancelStopsTheRemoteCommand(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := cl.Run(runCtx, "sleep 300", transport.RunOptions{})
		done <- err
	}()
	waitUntil(t, func() bool { return c.Node(0).HasProcess("sleep") })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v, want context.Canceled", err)
	}
	if !eventually(15*time.Second, func() bool { return !c.Node(0).HasProcess("sleep") }) {
		t.Error("the remote command still runs 15s after its context was cancelled (OpenSSH refuses \"signal\" " +
			"requests on root logins: \"session signalling requires privilege separation\"; closing the session " +
			"does not stop a command that neither reads stdin nor writes)")
	}
	// The connection is still good for the next step.
	if res, err := cl.Run(ctx, "echo after", transport.RunOptions{}); err != nil || string(res.Stdout) != "after\n" {
		t.Errorf("Run after a cancelled Run: %v", err)
	}
}

func TestRealSudo(t *testing.T) {
	sshdtest.RequireProgram(t, "sudo")
	ctx := realCtx(t)
	if os.Geteuid() != 0 && exec.Command("sudo", "-n", "true").Run() != nil {
		// Root (as in CI) can count on sudo -n; another user needs a sudoers entry.
		t.Skip("sudo -n does not work for this non-root user")
	}
	c := realCluster(t, 1)
	cfg := c.Config(0)
	cfg.Become = "sudo"
	cl := mustDial(ctx, t, cfg)
	tests := []struct {
		become bool
		want   string
	}{
		{true, "0 " + c.User() + "\n"}, // sudo sets SUDO_USER to the login user
		{false, fmt.Sprint(os.Geteuid()) + " \n"},
	}
	for _, tt := range tests {
		res, err := cl.Run(ctx, `echo "$(id -u) $SUDO_USER"`, transport.RunOptions{Become: tt.become})
		if err != nil {
			t.Fatalf("become=%v: %v (stderr %q)", tt.become, err, res.Stderr)
		}
		if string(res.Stdout) != tt.want {
			t.Errorf("become=%v: %q, want %q", tt.become, res.Stdout, tt.want)
		}
	}
}

// waitUntil polls cond; the deadline only guards against a hang.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	if !eventually(60*time.Second, cond) {
		t.Fatal("condition not met within 60s")
	}
}

// eventually polls cond until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
