package transport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

// writeKnownHosts writes a known_hosts file made of lines into a new temporary directory.
func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// lineFor is a known_hosts line for node's address with key.
func lineFor(n *sshdtest.Node, key ssh.PublicKey) string {
	return "[" + n.Host() + "]:" + itoa(n.Port()) + " " + string(ssh.MarshalAuthorizedKey(key))
}

func itoa(i int) string { return strconv.Itoa(i) }

// dialRefused dials cfg, expects a *HostKeyError of kind, and proves nothing ran on node i: if
// the dial wrongly succeeds the test touches a marker, and sshd never logged a login.
func dialRefused(ctx context.Context, t *testing.T, c *sshdtest.Cluster, i int, cfg transport.Config, kind transport.HostKeyKind) *transport.HostKeyError {
	t.Helper()
	marker := filepath.Join(c.Node(i).Dir(), "ran")
	cl, err := transport.Dial(ctx, cfg)
	if err == nil {
		_, _ = cl.Run(ctx, "touch "+transport.Quote(marker), transport.RunOptions{})
		cl.Close()
		t.Fatalf("dial %s succeeded, want a host key refusal", cfg.Node)
	}
	var hk *transport.HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("dial %s: %v (%T), want a *HostKeyError", cfg.Node, err, err)
	}
	if hk.Kind != kind || hk.Node != cfg.Node || !hk.Refused() {
		t.Errorf("HostKeyError{Kind %v, Node %q}, want {%v, %q}", hk.Kind, hk.Node, kind, cfg.Node)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a command ran on the refused node")
	}
	if n := accepted(c, i); n != 0 {
		t.Errorf("sshd of %s logged %d logins; the refusal must come before authentication", cfg.Node, n)
	}
	return hk
}

func TestRealUnknownHostRefusedUnderStrict(t *testing.T) {
	c := realCluster(t, 2)
	ctx := realCtx(t)
	cfg := c.Config(0)
	// known_hosts knows node1 only.
	cfg.KnownHosts = writeKnownHosts(t, c.Node(1).KnownHostsLines())
	hk := dialRefused(ctx, t, c, 0, cfg, transport.HostKeyUnknown)
	if !strings.Contains(hk.Hint(), "ssh-keyscan -p "+itoa(c.Node(0).Port())+" "+c.Node(0).Host()) ||
		!strings.Contains(hk.Hint(), cfg.KnownHosts) {
		t.Errorf("hint %q does not name ssh-keyscan for the node and %s", hk.Hint(), cfg.KnownHosts)
	}
	if b, _ := os.ReadFile(cfg.KnownHosts); string(b) != c.Node(1).KnownHostsLines() {
		t.Errorf("strict changed known_hosts to %q", b)
	}
}

func TestRealChangedKeyRefused(t *testing.T) {
	c := realCluster(t, 2)
	ctx := realCtx(t)
	// node0's address recorded with node1's key: node0 "was reinstalled".
	for _, policy := range []string{transport.PolicyStrict, transport.PolicyAcceptNew} {
		t.Run(policy, func(t *testing.T) {
			cfg := c.Config(0)
			cfg.HostKeyPolicy = policy
			cfg.KnownHosts = writeKnownHosts(t, lineFor(c.Node(0), c.Node(1).HostKey()))
			before, _ := os.ReadFile(cfg.KnownHosts)
			hk := dialRefused(ctx, t, c, 0, cfg, transport.HostKeyChanged)
			if !strings.Contains(hk.Error(), "host key for node0") || !strings.Contains(hk.Error(), "has changed") {
				t.Errorf("error %q is not loud about the changed key", hk.Error())
			}
			if after, _ := os.ReadFile(cfg.KnownHosts); string(after) != string(before) {
				t.Errorf("known_hosts changed from %q to %q", before, after)
			}
		})
	}
}

func TestRealAcceptNewRecordsThenStrictWorks(t *testing.T) {
	c := realCluster(t, 8)
	ctx := realCtx(t)
	kh := writeKnownHosts(t) // empty
	cfgs := c.Configs()
	for i := range cfgs {
		cfgs[i].KnownHosts, cfgs[i].HostKeyPolicy = kh, transport.PolicyAcceptNew
	}
	// Every node at once: the appends must not corrupt the file.
	errs := transport.ForEach(ctx, cfgs, 64, func(ctx context.Context, i int, cfg transport.Config) error {
		cl, err := transport.Dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer cl.Close()
		_, err = cl.Run(ctx, "true", transport.RunOptions{})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("accept-new %s: %v", cfgs[i].Node, err)
		}
	}
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if want := lineFor(n, n.HostKey()); strings.Count(string(b), want) != 1 {
			t.Errorf("known_hosts does not hold %q exactly once:\n%s", want, b)
		}
	}
	if lines := strings.Count(string(b), "\n"); lines != c.Len() {
		t.Errorf("known_hosts has %d lines, want %d:\n%s", lines, c.Len(), b)
	}
	// The recorded keys now satisfy strict.
	for i := range cfgs {
		cfg := cfgs[i]
		cfg.HostKeyPolicy = transport.PolicyStrict
		cl := mustDial(ctx, t, cfg)
		if _, err := cl.Run(ctx, "true", transport.RunOptions{}); err != nil {
			t.Errorf("strict after accept-new, %s: %v", cfg.Node, err)
		}
	}
}

func TestRealHostKeyAlgorithmFollowsKnownHosts(t *testing.T) {
	c := realCluster(t, 1, sshdtest.WithRSAHostKey())
	ctx := realCtx(t)
	n := c.Node(0)
	keys := n.HostKeys() // ed25519, rsa
	tests := []struct {
		name string
		key  ssh.PublicKey
	}{
		{"only ed25519 recorded", keys[0]},
		{"only rsa recorded", keys[1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.Config(0)
			cfg.KnownHosts = writeKnownHosts(t, lineFor(n, tt.key))
			cl := mustDial(ctx, t, cfg)
			if _, err := cl.Run(ctx, "true", transport.RunOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRealJumpChain(t *testing.T) {
	// node0 and node1 are bastions; DEBUG1 makes sshd log the direct-tcpip channels it opens.
	c := realCluster(t, 3, sshdtest.WithLogLevel("DEBUG1"))
	ctx := realCtx(t)
	target := c.Node(2)
	tests := []struct {
		name string
		hops []int
	}{
		{"one hop", []int{1}},
		{"two hops", []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.Config(2)
			for _, h := range tt.hops {
				cfg.Jump = append(cfg.Jump, c.Node(h).JumpSpec())
			}
			before := strings.Count(c.Node(tt.hops[len(tt.hops)-1]).Log(), "port "+itoa(target.Port()))
			cl := mustDial(ctx, t, cfg)
			res, err := cl.Run(ctx, `echo "$DROVER_TEST_NODE"`, transport.RunOptions{})
			if err != nil || string(res.Stdout) != "node2\n" {
				t.Fatalf("run through %v: %v, stdout %q", cfg.Jump, err, res.Stdout)
			}
			// The last bastion opened the channel to the target.
			if after := strings.Count(c.Node(tt.hops[len(tt.hops)-1]).Log(), "port "+itoa(target.Port())); after <= before {
				t.Errorf("the last bastion's sshd log shows no forwarding to %s", target.Addr())
			}
		})
	}
	// Every hop's key is checked: drop one hop's lines from known_hosts at a time.
	for _, missing := range []int{0, 1, 2} {
		t.Run("unknown key of node"+itoa(missing), func(t *testing.T) {
			var lines []string
			for _, n := range c.Nodes() {
				if n.Index() != missing {
					lines = append(lines, n.KnownHostsLines())
				}
			}
			cfg := c.Config(2)
			cfg.Jump = []string{c.Node(0).JumpSpec(), c.Node(1).JumpSpec()}
			cfg.KnownHosts = writeKnownHosts(t, lines...)
			_, err := transport.Dial(ctx, cfg)
			var hk *transport.HostKeyError
			if !errors.As(err, &hk) {
				t.Fatalf("dial: %v (%T), want a *HostKeyError", err, err)
			}
			if hk.Kind != transport.HostKeyUnknown || hk.Host != c.Node(missing).Addr() {
				t.Errorf("HostKeyError{Kind %v, Host %s}, want unknown %s", hk.Kind, hk.Host, c.Node(missing).Addr())
			}
		})
	}
}

func TestRealJumpRefusedByBastion(t *testing.T) {
	c := realCluster(t, 2, sshdtest.WithNodeConfig(0, "AllowTcpForwarding no"))
	ctx := realCtx(t)
	cfg := c.Config(1)
	cfg.Jump = []string{c.Node(0).JumpSpec()}
	_, err := transport.Dial(ctx, cfg)
	var conn *transport.ConnError
	if !errors.As(err, &conn) {
		t.Fatalf("dial through a bastion that forbids forwarding: %v (%T), want a *ConnError", err, err)
	}
	if conn.Node != "node1" {
		t.Errorf("ConnError names %q, want node1", conn.Node)
	}
}
