package rollout

import (
	"context"
	"io"
	"sync"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/transport"
)

// Dialer opens a connection to a node.
type Dialer func(ctx context.Context, n *inventory.Node) (tasks.Conn, error)

// Conns keeps one connection per node for the whole run: probe, plan and
// every step reuse it.
type Conns struct {
	dial Dialer
	mu   sync.Mutex
	m    map[string]*connEntry
}

type connEntry struct {
	once sync.Once
	conn tasks.Conn
	err  error
}

// NewConns returns an empty connection set.
func NewConns(d Dialer) *Conns { return &Conns{dial: d, m: map[string]*connEntry{}} }

// Get returns the node's connection, dialling it the first time. A failed
// dial is remembered for the run: the node is unreachable.
func (c *Conns) Get(ctx context.Context, n *inventory.Node) (tasks.Conn, error) {
	c.mu.Lock()
	e, ok := c.m[n.Name]
	if !ok {
		e = &connEntry{}
		c.m[n.Name] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.conn, e.err = c.dial(ctx, n) })
	return e.conn, e.err
}

// Forget drops a node's connection so the next Get dials again.
func (c *Conns) Forget(n *inventory.Node) {
	c.mu.Lock()
	e := c.m[n.Name]
	delete(c.m, n.Name)
	c.mu.Unlock()
	if e != nil {
		if cl, ok := e.conn.(io.Closer); ok {
			cl.Close()
		}
	}
}

// Close closes every connection.
func (c *Conns) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		if cl, ok := e.conn.(io.Closer); ok && e.err == nil {
			cl.Close()
		}
	}
	c.m = map[string]*connEntry{}
}

// NodeConfig maps a node's inventory SSH settings to the transport's.
// Inventory values win over ~/.ssh/config, which wins over built-in
// defaults; the transport applies the last two.
func NodeConfig(n *inventory.Node) transport.Config {
	s := n.SSH
	return transport.Config{
		Node: n.Name, Host: n.Host, Port: s.Port, User: s.User, IdentityFiles: s.IdentityFiles,
		KnownHosts: s.KnownHosts, HostKeyPolicy: s.HostKeyPolicy, Jump: s.Jump, Become: s.Become,
		ConnectTimeout: s.ConnectTimeout,
	}
}

// TransportDialer dials nodes with NodeConfig, letting adjust change the
// config first (nil: unchanged).
func TransportDialer(adjust func(*transport.Config)) Dialer {
	return func(ctx context.Context, n *inventory.Node) (tasks.Conn, error) {
		cfg := NodeConfig(n)
		if adjust != nil {
			adjust(&cfg)
		}
		c, err := transport.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
