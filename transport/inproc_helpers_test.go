package transport_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// ipCtx is a test context; its deadline only guards against hangs.
func ipCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ipDial dials cfg and closes the client at the end of the test.
func ipDial(t *testing.T, cfg transport.Config) *transport.Client {
	t.Helper()
	c, err := transport.Dial(ipCtx(t), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ipNode starts a server and dials it.
func ipNode(t *testing.T, opts ...sshtest.Option) (*sshtest.Server, *transport.Client) {
	t.Helper()
	s := sshtest.NewServer(t, opts...)
	return s, ipDial(t, s.ClientConfig(t))
}

// syncBuf is a bytes.Buffer safe for concurrent writes, which can tell
// when some text has arrived.
type syncBuf struct {
	mu    sync.Mutex
	b     bytes.Buffer
	want  string
	found chan struct{}
}

func newSyncBuf(want string) *syncBuf { return &syncBuf{want: want, found: make(chan struct{})} }

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if s.want != "" && strings.Contains(s.b.String(), s.want) {
		s.want = ""
		close(s.found)
	}
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits for text, failing the test after a generous deadline.
func (s *syncBuf) waitFor(t *testing.T) {
	t.Helper()
	select {
	case <-s.found:
	case <-time.After(30 * time.Second):
		t.Fatalf("output never showed the expected text; got %q", s.String())
	}
}

// closedPort returns a local address nothing listens on.
func closedPort(t *testing.T) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return a.IP.String(), a.Port
}

// oneLine fails when an error message spans lines or misses a part.
func oneLine(t *testing.T, err error, parts ...string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}
