package transport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

// TestRealNodeDiesMidCommand runs a command on four nodes that waits for a go-ahead file, kills
// one node's sshd while all of them wait, and checks that node fails with a ConnError naming it
// while the others finish.
func TestRealNodeDiesMidCommand(t *testing.T) {
	tests := []struct {
		name  string
		fault func(c *sshdtest.Cluster, i int)
	}{
		// sshd dies: the kernel closes the connection at once.
		{"killed", func(c *sshdtest.Cluster, i int) { c.Kill(i) }},
		// the node hangs: only the keepalives notice.
		{"frozen", func(c *sshdtest.Cluster, i int) { c.Freeze(i) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := realCluster(t, 4)
			ctx := realCtx(t)
			const victim = 2
			goAhead := filepath.Join(t.TempDir(), "go")
			cmd := "while [ ! -e " + transport.Quote(goAhead) + " ]; do sleep 0.05; done; echo finished"
			cfgs := c.Configs()
			for i := range cfgs {
				cfgs[i].KeepAlive = time.Second
			}
			clients := make([]*transport.Client, len(cfgs))
			for i, cfg := range cfgs {
				clients[i] = mustDial(ctx, t, cfg)
			}
			type outcome struct {
				res *transport.Result
				err error
				at  time.Time
			}
			outcomes := make([]outcome, len(cfgs))
			done, victimDone := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				transport.ForEach(ctx, clients, 64, func(ctx context.Context, i int, cl *transport.Client) error {
					res, err := cl.Run(ctx, cmd, transport.RunOptions{})
					outcomes[i] = outcome{res, err, time.Now()}
					if i == victim {
						close(victimDone)
					}
					return err
				})
			}()
			for _, n := range c.Nodes() {
				waitUntil(t, func() bool { return n.HasProcess("sleep") })
			}
			faultAt := time.Now()
			tt.fault(c, victim)
			// The victim's Run must end while the others still wait for the go-ahead.
			select {
			case <-victimDone:
			case <-ctx.Done():
				t.Fatal("the victim's Run never returned")
			}
			if err := os.WriteFile(goAhead, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			<-done

			v := outcomes[victim]
			t.Logf("%s: error after %v: %v", tt.name, v.at.Sub(faultAt).Round(time.Millisecond), v.err)
			var conn *transport.ConnError
			if !errors.As(v.err, &conn) {
				t.Fatalf("victim: %v (%T), want a *ConnError", v.err, v.err)
			}
			if conn.Node != "node2" || !strings.Contains(v.err.Error(), "node2") || strings.Contains(v.err.Error(), "\n") {
				t.Errorf("victim error %q should be one line naming node2", v.err)
			}
			for i, o := range outcomes {
				if i == victim {
					continue
				}
				if o.err != nil || string(o.res.Stdout) != "finished\n" {
					t.Errorf("node%d: %v, stdout %q", i, o.err, stdoutOf(o.res))
				}
			}
		})
	}
}

func stdoutOf(r *transport.Result) string {
	if r == nil {
		return ""
	}
	return string(r.Stdout)
}

func TestRealDialFailuresNameTheNode(t *testing.T) {
	c := realCluster(t, 2)
	ctx := realCtx(t)
	c.Kill(1)
	tests := []struct {
		name  string
		cfg   func() transport.Config
		cause string
	}{
		{"refused", func() transport.Config { return c.Config(1) }, "connection refused"},
		{"wrong user", func() transport.Config {
			cfg := c.Config(0)
			cfg.User = "nobody-drover-test"
			return cfg
		}, ""},
		{"rejected key", func() transport.Config {
			cfg := c.Config(0)
			// A valid key that no node authorizes: node0's host key.
			cfg.IdentityFiles = []string{filepath.Join(c.Node(0).Dir(), ".sshd", "ssh_host_ed25519_key")}
			return cfg
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg()
			_, err := transport.Dial(ctx, cfg)
			var conn *transport.ConnError
			if !errors.As(err, &conn) {
				t.Fatalf("dial: %v (%T), want a *ConnError", err, err)
			}
			msg := err.Error()
			if conn.Node != cfg.Node || !strings.Contains(msg, cfg.Node) || strings.Contains(msg, "\n") {
				t.Errorf("error %q should be one line naming %s", msg, cfg.Node)
			}
			if tt.cause != "" && !strings.Contains(msg, tt.cause) {
				t.Errorf("error %q does not say %q", msg, tt.cause)
			}
		})
	}
}
