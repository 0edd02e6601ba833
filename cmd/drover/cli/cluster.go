package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
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
func (c *cluster) options(g globals, run string, pk packs, sink tasks.Sink) *rollout.Options {
	return &rollout.Options{
		Inv: c.inv, Nodes: c.nodes, Pack: pk.def, ProfilePacks: pk.byProfile, Product: apim.Product{}, Conns: c.conns, Parallel: g.parallel,
		Run: run, Owner: owner(), Sink: redactSink(c.inv, sink),
	}
}

// packs are the packs of a side-by-side update: the update block's, and
// those of profiles that name their own (4.5+ split distributions).
type packs struct {
	def       *tasks.Pack
	byProfile map[string]*tasks.Pack
}

// of returns the pack of a profile's nodes.
func (pk packs) of(profile string) *tasks.Pack {
	if p := pk.byProfile[profile]; p != nil {
		return p
	}
	return pk.def
}

// openPacks inspects the packs the selected nodes need (side-by-side only),
// each once.
func openPacks(inv *inventory.Inventory, nodes []*inventory.Node) (packs, error) {
	var pk packs
	if inv.Update.Strategy != inventory.SideBySide {
		return pk, nil
	}
	opened := map[string]*tasks.Pack{}
	open := func(path, sha string) (*tasks.Pack, error) {
		if p := opened[path]; p != nil {
			return p, nil
		}
		p, err := tasks.OpenPack(path, sha)
		if err == nil {
			opened[path] = p
		}
		return p, err
	}
	for _, n := range nodes {
		prof := inv.Profiles[n.Profile]
		if prof == nil || prof.Pack == "" {
			if pk.def == nil {
				p, err := open(inv.Update.Pack, inv.Update.SHA256)
				if err != nil {
					return pk, err
				}
				pk.def = p
			}
			continue
		}
		if pk.byProfile[n.Profile] != nil {
			continue
		}
		p, err := open(prof.Pack, prof.SHA256)
		if err != nil {
			return pk, err
		}
		if pk.byProfile == nil {
			pk.byProfile = map[string]*tasks.Pack{}
		}
		pk.byProfile[n.Profile] = p
	}
	return pk, nil
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
