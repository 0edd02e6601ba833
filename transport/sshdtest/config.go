package sshdtest

import (
	"time"

	"github.com/drover-sh/drover/transport"
)

// Config is a transport.Config that reaches node i with the cluster's client key and
// known_hosts under the strict policy, without reading ~/.ssh/config or the ssh-agent.
func (c *Cluster) Config(i int) transport.Config {
	n := c.nodes[i]
	return transport.Config{
		Node:           n.name,
		Host:           n.host,
		Port:           n.port,
		User:           c.user,
		IdentityFiles:  []string{c.clientKey.Path},
		KnownHosts:     c.knownHosts,
		HostKeyPolicy:  "strict",
		ConnectTimeout: 10 * time.Second,
		SSHConfigPath:  "none",
		NoAgent:        true,
	}
}

// Configs are Config(i) for every node, in order.
func (c *Cluster) Configs() []transport.Config {
	out := make([]transport.Config, len(c.nodes))
	for i := range c.nodes {
		out[i] = c.Config(i)
	}
	return out
}
