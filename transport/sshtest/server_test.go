package sshtest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestStartCloseLeavesNoGoroutines uses the server the way `drover lab`
// does (Start/Close, no testing.TB), through exec, sftp and direct-tcpip,
// and checks every goroutine is gone afterwards.
func TestStartCloseLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	before := runtime.NumGoroutine()
	s, err := sshtest.Start(sshtest.ServerConfig{Dir: dir, ClientKeyFile: filepath.Join(dir, "id_ed25519"), User: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600)
	cfg, err := s.TransportConfig("lab-1", kh)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "lab" {
		t.Errorf("user %q, want lab", cfg.User)
	}
	c, err := transport.Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(testCtx(t), "echo x > f", transport.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(testCtx(t), filepath.Join(dir, "f"), filepath.Join(dir, "g"), transport.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hello")
			c.Close()
		}
	}()
	conn, err := c.DialTCP(testCtx(t), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	ln.Close()
	if string(got) != "hello" {
		t.Errorf("forwarded %q", got)
	}
	if n := s.Counts(); n.Exec < 1 || n.SFTP < 1 || n.Forward != 1 || n.Total() != n.Exec+n.SFTP+n.Forward {
		t.Errorf("counted %+v: want the command, the upload's sftp session and one forward", n)
	}
	// A command left running is killed by Close.
	out := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "sleep 60", transport.RunOptions{})
		out <- err
	}()
	time.Sleep(50 * time.Millisecond) // not an assertion: lets the command start, or not
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-out; err == nil {
		t.Error("a command survived Close")
	}
	c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWrongUserRefused(t *testing.T) {
	s := sshtest.NewServer(t, sshtest.WithUser("wso2"))
	cfg := s.ClientConfig(t)
	if cfg.User != "wso2" {
		t.Fatalf("user %q", cfg.User)
	}
	if _, err := transport.Dial(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.User = "root"
	_, err := transport.Dial(testCtx(t), cfg)
	var ce *transport.ConnError
	if !errors.As(err, &ce) || ce.Op != "auth" {
		t.Fatalf("err = %v, want an auth ConnError", err)
	}
}

// TestBackgroundProcessDoesNotHoldTheSession starts a daemon the way
// api-manager.sh start does, and one that forgets to redirect its output:
// both sessions end.
func TestBackgroundProcessDoesNotHoldTheSession(t *testing.T) {
	s := sshtest.NewServer(t)
	c, err := transport.Dial(testCtx(t), s.ClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cmd := range []string{
		"nohup sleep 30 > /dev/null 2>&1 < /dev/null & echo $! > pid1; echo started",
		"sleep 30 & echo $! > pid2; echo started",
	} {
		res, err := c.Run(testCtx(t), cmd, transport.RunOptions{})
		if err != nil || strings.TrimSpace(string(res.Stdout)) != "started" {
			t.Errorf("%s: %v", cmd, err)
		}
	}
	c.Run(testCtx(t), "kill $(cat pid1) $(cat pid2)", transport.RunOptions{})
}

func TestConcurrentConnectionsAndSessions(t *testing.T) {
	s := sshtest.NewServer(t)
	cfg := s.ClientConfig(t)
	errs := transport.ForEach(testCtx(t), make([]int, 8), 8, func(ctx context.Context, i int, _ int) error {
		c, err := transport.Dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		inner := transport.ForEach(ctx, make([]int, 10), 10, func(ctx context.Context, j int, _ int) error {
			_, err := c.Run(ctx, "cat > /dev/null; echo ok", transport.RunOptions{Stdin: strings.NewReader(strings.Repeat("x", 100000))})
			return err
		})
		return errors.Join(inner...)
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if s.Accepted() != 8 {
		t.Errorf("accepted %d connections, want 8", s.Accepted())
	}
}

// TestStartOnAListener: a server serves on a listener its caller opened
// (the lab binds every node's port first and keeps it, so no other process
// can take it between choosing and serving), and Close closes it.
func TestStartOnAListener(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sshtest.Start(sshtest.ServerConfig{Listener: ln, Addr: "192.0.2.1:1", Dir: dir, ClientKeyFile: filepath.Join(dir, "id_ed25519")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != ln.Addr().String() {
		t.Fatalf("serves on %s, want the listener's %s", s.Addr(), ln.Addr())
	}
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600)
	cfg, err := s.TransportConfig("n", kh)
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after Close the listener accepts: %v", err)
	}
}
