package transport_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// jumpLab starts bastions and a target that all accept the first
// bastion's client key, with one known_hosts file holding every host key.
func jumpLab(t *testing.T, bastions int) (target *sshtest.Server, hops []*sshtest.Server, cfg transport.Config) {
	t.Helper()
	first := sshtest.NewServer(t)
	pub, err := sshtest.ClientKey(first.ClientKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	hops = []*sshtest.Server{first}
	for len(hops) < bastions {
		hops = append(hops, sshtest.NewServer(t, sshtest.WithAuthorizedKey(pub)))
	}
	target = sshtest.NewServer(t, sshtest.WithAuthorizedKey(pub))
	var lines []string
	for _, s := range append(hops, target) {
		lines = append(lines, s.KnownHostsLine())
	}
	kh := writeFile(t, strings.Join(lines, "\n")+"\n")
	cfg, err = target.TransportConfig("gw-1", kh)
	if err != nil {
		t.Fatal(err)
	}
	cfg.IdentityFiles = []string{first.ClientKeyFile()}
	for _, h := range hops {
		cfg.Jump = append(cfg.Jump, fmt.Sprintf("%s@%s", cfg.User, h.Addr()))
	}
	return target, hops, cfg
}

func TestInprocJumpChain(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d hops", n), func(t *testing.T) {
			target, hops, cfg := jumpLab(t, n)
			c := ipDial(t, cfg)
			res, err := c.Run(ipCtx(t), "pwd", transport.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := filepath.EvalSymlinks(target.Dir()); !strings.HasSuffix(strings.TrimSpace(string(res.Stdout)), filepath.Base(want)) {
				t.Errorf("ran in %q, want the target's %q", res.Stdout, want)
			}
			for i, h := range hops {
				if h.Accepted() != 1 {
					t.Errorf("hop %d accepted %d connections, want 1", i, h.Accepted())
				}
			}
			if target.Accepted() != 1 {
				t.Errorf("target accepted %d connections", target.Accepted())
			}
		})
	}
}

func TestInprocJumpHostKeyChecked(t *testing.T) {
	target, hops, cfg := jumpLab(t, 1)
	cfg.KnownHosts = writeFile(t, target.KnownHostsLine()+"\n") // the bastion is unknown
	_, err := transport.Dial(ipCtx(t), cfg)
	var he *transport.HostKeyError
	if !errors.As(err, &he) || he.Kind != transport.HostKeyUnknown || he.Host != hops[0].Addr() {
		t.Fatalf("err = %v, want the bastion's host key refused", err)
	}
	oneLine(t, err, "jump host", "gw-1")
	if target.Accepted() != 0 {
		t.Error("the target was reached through an unverified bastion")
	}
}

func TestInprocProxyJumpFromSSHConfig(t *testing.T) {
	target, hops, cfg := jumpLab(t, 1)
	conf := filepath.Join(t.TempDir(), "config")
	inc := filepath.Join(t.TempDir(), "included.conf")
	os.WriteFile(inc, []byte(fmt.Sprintf("Host bastion\n  HostName %s\n  Port %d\n", hops[0].Host(), hops[0].Port())), 0o600)
	os.WriteFile(conf, []byte(fmt.Sprintf("Include %s\n\nHost gw-1-alias\n  HostName %s\n  Port %d\n  ProxyJump %s@bastion\n",
		inc, target.Host(), target.Port(), cfg.User)), 0o600)
	cfg.Jump, cfg.Host, cfg.Port, cfg.SSHConfigPath = nil, "gw-1-alias", 0, conf
	c := ipDial(t, cfg)
	if _, err := c.Run(ipCtx(t), "true", transport.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if hops[0].Accepted() != 1 || target.Accepted() != 1 {
		t.Errorf("bastion accepted %d, target %d; want 1 and 1", hops[0].Accepted(), target.Accepted())
	}
}

// TestInprocJumpSSHURL: a hop written as an ssh:// URL, in the Config as in
// ssh_config's ProxyJump, logs in to the bastion as the URL's user on the
// URL's port (not as the user "ssh://ops").
func TestInprocJumpSSHURL(t *testing.T) {
	bastion := sshtest.NewServer(t, sshtest.WithUser("ops"))
	pub, err := sshtest.ClientKey(bastion.ClientKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	target := sshtest.NewServer(t, sshtest.WithAuthorizedKey(pub))
	kh := writeFile(t, bastion.KnownHostsLine()+"\n"+target.KnownHostsLine()+"\n")
	url := fmt.Sprintf("ssh://ops@%s:%d", bastion.Host(), bastion.Port())
	t.Run("Config.Jump", func(t *testing.T) {
		cfg, err := target.TransportConfig("gw-1", kh)
		if err != nil {
			t.Fatal(err)
		}
		cfg.IdentityFiles, cfg.Jump = []string{bastion.ClientKeyFile()}, []string{url}
		c := ipDial(t, cfg)
		if _, err := c.Run(ipCtx(t), "true", transport.RunOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ProxyJump", func(t *testing.T) {
		cfg, err := target.TransportConfig("gw-1", kh)
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(t.TempDir(), "config")
		os.WriteFile(conf, []byte(fmt.Sprintf("Host gw-1-alias\n  HostName %s\n  Port %d\n  ProxyJump %s\n", target.Host(), target.Port(), url)), 0o600)
		cfg.IdentityFiles, cfg.Jump, cfg.Host, cfg.Port, cfg.SSHConfigPath = []string{bastion.ClientKeyFile()}, nil, "gw-1-alias", 0, conf
		c := ipDial(t, cfg)
		if _, err := c.Run(ipCtx(t), "true", transport.RunOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if bastion.Accepted() != 2 || target.Accepted() != 2 {
		t.Errorf("bastion accepted %d, target %d; want 2 and 2", bastion.Accepted(), target.Accepted())
	}
}
