// Package sshdtest starts real OpenSSH sshd processes for tests: the real-program tier of
// drover's transport tests, and the fleet its benchmarks run against.
//
// Start(t, n) starts n sshd processes, one per node, each on its own loopback address
// (127.0.0.2, 127.0.0.3, ... on Linux, which routes all of 127/8 to lo) and a free port, with its
// own ed25519 host key (and optionally an RSA one), its own node directory and its own log. A
// generated client key is authorized on every node for the current user (root in CI), and a
// known_hosts file lists every node's keys in "[host]:port" form. Kill, Restart, Freeze and Thaw
// inject faults; t.Cleanup kills every sshd (and everything it started) and waits.
//
// When sshd is missing the tests skip, unless the environment says skipping is not allowed: CI
// set, or DROVER_TEST_REQUIRE_SSHD=1. Then they fail, so a CI run never passes by skipping.
package sshdtest

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sync/errgroup"
)

// Cluster is a set of running sshd nodes that share a client key and a known_hosts file.
type Cluster struct {
	t          testing.TB
	dir        string
	user       string
	nodes      []*Node
	knownHosts string
	clientKey  keyPair
	sshd       string
	opts       options
}

type options struct {
	rsa       bool
	extra     []string
	nodeExtra map[int][]string
	logLevel  string
	userRC    bool
}

// Option changes how Start sets up the nodes.
type Option func(*options)

// WithRSAHostKey gives every node an RSA host key besides its ed25519 one.
func WithRSAHostKey() Option { return func(o *options) { o.rsa = true } }

// WithConfig adds lines to every node's sshd_config (e.g. "AllowTcpForwarding no"). They win
// over sshdtest's own settings; lines from a "Match" line on go at the end of the file.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.extra = append(o.extra, lines...) }
}

// WithNodeConfig adds lines to node i's sshd_config only, like WithConfig (after its lines).
func WithNodeConfig(i int, lines ...string) Option {
	return func(o *options) {
		if o.nodeExtra == nil {
			o.nodeExtra = map[int][]string{}
		}
		o.nodeExtra[i] = append(o.nodeExtra[i], lines...)
	}
}

// WithLogLevel sets sshd's LogLevel (default VERBOSE; DEBUG1 logs every channel a client opens).
func WithLogLevel(level string) Option { return func(o *options) { o.logLevel = level } }

// WithUserShellRC lets bash read the login user's ~/.bashrc before each command, as it does on
// a stock node. By default sshdtest sets SHLVL=1 in the sessions, which makes bash skip it: the
// tier then does not depend on the tester's ~/.bashrc (one that prints breaks output checks; one
// that runs "pyenv init" costs ~100 ms of CPU per command and dominates every benchmark).
func WithUserShellRC() Option { return func(o *options) { o.userRC = true } }

// Start starts n sshd nodes and registers their teardown with t.Cleanup. It skips or fails the
// test (see Require) when sshd is missing, and fails it when a node cannot start.
func Start(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	sshd := Require(t)
	o := options{logLevel: "VERBOSE"}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := newCluster(t, sshd, n, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCluster(t testing.TB, sshd string, n int, o options) (*Cluster, error) {
	u, err := currentUser()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd running as root insists on its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshdtest: privilege separation directory: %w", err)
		}
	}
	c := &Cluster{t: t, dir: t.TempDir(), user: u, sshd: sshd, opts: o}
	c.clientKey, err = generateKey("ed25519", filepath.Join(c.dir, "id_ed25519"), "drover-sshdtest-client")
	if err != nil {
		return nil, err
	}
	c.knownHosts = filepath.Join(c.dir, "known_hosts")

	// Teardown: kill every node (registered after t.TempDir, so it runs before the directory is
	// removed), then show the logs when the test failed.
	t.Cleanup(func() {
		if t.Failed() {
			c.logAll()
		}
	})
	t.Cleanup(c.killAll)

	c.nodes = make([]*Node, n)
	for i := range c.nodes {
		c.nodes[i] = &Node{index: i, name: fmt.Sprintf("node%d", i), host: loopbackHost(i), c: c}
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, node := range c.nodes {
		g.Go(func() error { return c.setup(node) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var kh strings.Builder
	for _, node := range c.nodes {
		kh.WriteString(node.KnownHostsLines())
	}
	if err := os.WriteFile(c.knownHosts, []byte(kh.String()), 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: write known_hosts: %w", err)
	}
	return c, nil
}

// setup creates a node's directory and keys and starts its sshd on a free port.
func (c *Cluster) setup(n *Node) error {
	n.dir = filepath.Join(c.dir, n.name)
	if err := os.MkdirAll(n.sshdDir(), 0o700); err != nil {
		return fmt.Errorf("sshdtest: %w", err)
	}
	kinds := []string{"ed25519"}
	if c.opts.rsa {
		kinds = append(kinds, "rsa")
	}
	for i, kind := range kinds {
		kp, err := generateKey(kind, filepath.Join(n.sshdDir(), hostKeyFile(i)), n.name)
		if err != nil {
			return err
		}
		n.keys = append(n.keys, kp.Signer)
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if n.port, err = freeport(n.host); err != nil {
			return err
		}
		if err = n.startConfigured(); err != errAddrInUse {
			return err
		}
	}
	return err
}

// startConfigured writes the node's config for its current port and starts sshd.
func (n *Node) startConfigured() error {
	cfg, err := n.writeConfig(&n.c.opts, n.c.clientKey.Signer.PublicKey(), n.c.opts.extra, n.c.opts.nodeExtra[n.index])
	if err != nil {
		return err
	}
	return n.start(n.c.sshd, cfg)
}

// loopbackHost is node i's address: 127.0.0.2 up on Linux, 127.0.0.1 elsewhere (other systems
// only answer on 127.0.0.1 unless aliases are configured; nodes then differ by port only).
func loopbackHost(i int) string {
	if runtime.GOOS != "linux" {
		return "127.0.0.1"
	}
	// 127.0.0.2 ... 127.0.0.254, then 127.0.1.2 ... 127.0.1.254, ...
	return net.IPv4(127, byte(i/253/256), byte(i/253), byte(2+i%253)).String()
}

func currentUser() (string, error) {
	if os.Geteuid() == 0 {
		return "root", nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("sshdtest: current user: %w", err)
	}
	return u.Username, nil
}

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Node is node i (0-based).
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Nodes are all nodes, in order.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// KnownHosts is the path of a known_hosts file that lists every node's host keys.
func (c *Cluster) KnownHosts() string { return c.knownHosts }

// ClientKey is the path of the client's private key (ed25519, unencrypted, mode 0600),
// authorized on every node; its public key is ClientKey()+".pub".
func (c *Cluster) ClientKey() string { return c.clientKey.Path }

// User is the user the client logs in as: the current user (root in CI).
func (c *Cluster) User() string { return c.user }

// Dir is the cluster's directory (node directories, client key and known_hosts are in it).
func (c *Cluster) Dir() string { return c.dir }

// SSHArgs are the OpenSSH ssh client arguments that log in to node i with the cluster's key and
// known_hosts (strict), ignoring the user's ~/.ssh/config; append the remote command.
func (c *Cluster) SSHArgs(i int) []string {
	n := c.nodes[i]
	return append(c.clientOptions(), "-p", fmt.Sprint(n.port), c.user+"@"+n.host)
}

// SCPArgs are the OpenSSH scp arguments for node i (options and port); append the source file
// and SCPTarget(i, path).
func (c *Cluster) SCPArgs(i int) []string {
	return append(c.clientOptions(), "-P", fmt.Sprint(c.nodes[i].port))
}

// SCPTarget is scp's "user@host:path" for node i.
func (c *Cluster) SCPTarget(i int, path string) string {
	return c.user + "@" + c.nodes[i].host + ":" + path
}

func (c *Cluster) clientOptions() []string {
	return []string{
		"-F", os.DevNull,
		"-i", c.clientKey.Path,
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + c.knownHosts,
		"-o", "GlobalKnownHostsFile=" + os.DevNull,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
	}
}

// Kill kills node i's sshd: the listener, every connection it serves and the commands they run,
// as when the machine's sshd dies. Restart brings it back on the same address and keys.
func (c *Cluster) Kill(i int) { c.nodes[i].kill() }

// Restart kills node i's sshd when it runs and starts it again on the same address and keys.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	n := c.nodes[i]
	n.kill()
	if err := n.startConfigured(); err != nil {
		c.t.Fatalf("sshdtest: restart %s: %v", n.name, err)
	}
}

// Freeze stops (SIGSTOP) node i's sshd and everything it runs: connections stay open and nothing
// answers, like a node that hangs. Thaw resumes it.
func (c *Cluster) Freeze(i int) { c.nodes[i].signalTree(syscall.SIGSTOP) }

// Thaw resumes a node stopped by Freeze.
func (c *Cluster) Thaw(i int) { c.nodes[i].signalTree(syscall.SIGCONT) }

func (n *Node) signalTree(sig syscall.Signal) {
	pid := n.PID()
	if pid == 0 {
		return
	}
	pids := freezeTree(pid) // stops the tree; SIGSTOP is what Freeze wants anyway
	if sig != syscall.SIGSTOP {
		signalAll(pids, sig)
	}
}

// killAll kills every node's sshd tree and waits for the listeners.
func (c *Cluster) killAll() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.kill()
		}()
	}
	wg.Wait()
}

// logAll puts the tail of every node's sshd log into the test log.
func (c *Cluster) logAll() {
	const max = 8 << 10
	for _, n := range c.nodes {
		if n == nil || n.dir == "" {
			continue
		}
		l := n.Log()
		if len(l) > max {
			l = "...\n" + l[len(l)-max:]
		}
		c.t.Logf("sshd log of %s (%s):\n%s", n.name, n.Addr(), l)
	}
}
