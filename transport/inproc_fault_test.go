package transport_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// TestInprocDialFaults checks that each way a dial can fail gives a
// one-line ConnError naming the node and the cause.
func TestInprocDialFaults(t *testing.T) {
	s := sshtest.NewServer(t, sshtest.WithUser("wso2"))
	other := sshtest.NewServer(t)
	silent := silentListener(t)
	host, port := closedPort(t)
	tests := []struct {
		name  string
		edit  func(*transport.Config)
		op    string
		parts []string
	}{
		{"connection refused", func(c *transport.Config) { c.Host, c.Port = host, port }, "connect", []string{"connection refused", strconv.Itoa(port)}},
		{"dns failure", func(c *transport.Config) { c.Host = "no-such-node.invalid" }, "connect", []string{"lookup no-such-node.invalid"}},
		{"wrong user", func(c *transport.Config) { c.User = "root-of-all-evil" }, "auth", []string{"user root-of-all-evil was refused"}},
		{"rejected key", func(c *transport.Config) { c.IdentityFiles = []string{other.ClientKeyFile()} }, "auth", []string{"was refused", other.ClientKeyFile()}},
		{"no identity file", func(c *transport.Config) { c.IdentityFiles = []string{"/nonexistent/id_x"} }, "", []string{"/nonexistent/id_x"}},
		{"silent server", func(c *transport.Config) {
			c.Host, c.Port = "127.0.0.1", silent
			c.ConnectTimeout = 300 * time.Millisecond
		}, "handshake", []string{"no answer within 300ms (connect_timeout)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.ClientConfig(t)
			cfg.Node, cfg.User = "gw-2", "wso2"
			tt.edit(&cfg)
			c, err := transport.Dial(ipCtx(t), cfg)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			oneLine(t, err, append(tt.parts, "gw-2")...)
			if tt.op == "" {
				return
			}
			var ce *transport.ConnError
			if !errors.As(err, &ce) || ce.Op != tt.op || ce.Node != "gw-2" {
				t.Fatalf("err = %v (%T), want ConnError op %s", err, err, tt.op)
			}
			if tt.op == "handshake" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a silent server should give DeadlineExceeded: %v", err)
			}
		})
	}
}

// silentListener accepts connections and never says anything.
func silentListener(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

func TestInprocCancelledDial(t *testing.T) {
	port := silentListener(t)
	s := sshtest.NewServer(t)
	cfg := s.ClientConfig(t)
	cfg.Port = port
	ctx, cancel := context.WithCancel(ipCtx(t))
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := transport.Dial(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestInprocServerGoneMidCommand(t *testing.T) {
	s, c := ipNode(t)
	out := newSyncBuf("started")
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ipCtx(t), "echo started; sleep 60", transport.RunOptions{Stdout: out})
		done <- err
	}()
	out.waitFor(t)
	s.DropConnections()
	err := <-done
	var ce *transport.ConnError
	var xe *transport.ExitError
	if !errors.As(err, &ce) || errors.As(err, &xe) {
		t.Fatalf("err = %v (%T), want a ConnError", err, err)
	}
	oneLine(t, err, "sshtest", "run")
	// Later runs fail fast with a ConnError too.
	_, err = c.Run(ipCtx(t), "true", transport.RunOptions{})
	if !errors.As(err, &ce) {
		t.Fatalf("second run: %v, want a ConnError", err)
	}
}

// TestInprocKeepAliveNoticesADeadNode freezes the network between client
// and server: the keepalives go unanswered and the client gives up.
func TestInprocKeepAliveNoticesADeadNode(t *testing.T) {
	s := sshtest.NewServer(t)
	p := newFreezeProxy(t, s.Addr())
	cfg := s.ClientConfig(t)
	cfg.Port, cfg.HostKeyPolicy = p.port, transport.PolicyAcceptNew
	cfg.KeepAlive = 50 * time.Millisecond
	c := ipDial(t, cfg)
	out := newSyncBuf("started")
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ipCtx(t), "echo started; sleep 60", transport.RunOptions{Stdout: out})
		done <- err
	}()
	out.waitFor(t)
	p.freeze()
	err := <-done
	var ce *transport.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ConnError", err)
	}
	oneLine(t, err, "keepalive")
}

// freezeProxy forwards TCP to a server until frozen; then it holds every
// byte, like a node that died without closing its connections.
type freezeProxy struct {
	port   int
	frozen chan struct{}
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{port: ln.Addr().(*net.TCPAddr).Port, frozen: make(chan struct{})}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-p.frozen:
				<-stop
				return
			default:
			}
			if n > 0 {
				dst.Write(buf[:n])
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, a, b)
			mu.Unlock()
			wg.Add(2)
			go pipe(a, b)
			go pipe(b, a)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *freezeProxy) freeze() { close(p.frozen) }
