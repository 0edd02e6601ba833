package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/drover-sh/drover/transport"
)

// cluster is a loaded inventory with its selected nodes and one connection
// per node, shared by every command that talks to nodes.
type cluster struct {
	inv   *inventory.Inventory
	nodes []*inventory.Node
	conns *rollout.Conns
	dials *dialFailures
}

// openCluster loads the inventory and prepares (lazy) connections.
func (e *env) openCluster(g globals) (*cluster, error) {
	inv, nodes, err := e.selectNodes(g)
	if err != nil {
		return nil, err
	}
	dials := &dialFailures{}
	dial := func(ctx context.Context, n *inventory.Node) (tasks.Conn, error) {
		c, err := transport.Dial(ctx, e.nodeConfig(n))
		if err != nil {
			dials.record(n.Name, err)
			return nil, err
		}
		return c, nil
	}
	return &cluster{inv: inv, nodes: nodes, conns: rollout.NewConns(dial), dials: dials}, nil
}

// openClusterFor is openCluster for a command that rolls an update (cmd:
// "plan", "apply", "recover --resume"): the inventory needs an update block
// and a pack that exists, else exit 2 with a diagnostic naming cmd. Every
// other command works without them.
func (e *env) openClusterFor(g globals, cmd string) (*cluster, error) {
	e.needsUpdate = cmd
	return e.openCluster(g)
}

func (c *cluster) close() { c.conns.Close() }

// options returns the rollout options for a run.
func (c *cluster) options(g globals, run string, pack *tasks.Pack, sink tasks.Sink) *rollout.Options {
	return &rollout.Options{
		Inv: c.inv, Nodes: c.nodes, Pack: pack, Conns: c.conns, Parallel: g.parallel,
		Run: run, Owner: owner(), Sink: redactSink(c.inv, sink),
	}
}

// openPack inspects the inventory's pack (side-by-side only).
func openPack(inv *inventory.Inventory) (*tasks.Pack, error) {
	if inv.Update.Strategy != inventory.SideBySide {
		return nil, nil
	}
	return tasks.OpenPack(inv.Update.Pack, inv.Update.SHA256)
}

// newRunID returns a sortable, unique run id.
func newRunID() string {
	var b [3]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// owner says who runs drover, for locks and journals.
func owner() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
}
