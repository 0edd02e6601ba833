package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newSigner(t *testing.T, kind string) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch kind {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	sg, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInprocHostKeys(t *testing.T) {
	s := sshtest.NewServer(t, sshtest.WithExtraHostKey(newSigner(t, "ecdsa")))
	addr := knownhosts.Normalize(s.Addr()) // [127.0.0.1]:port
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey())))
	other := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newSigner(t, "ed25519").PublicKey())))
	tests := []struct {
		name       string
		knownHosts string // "" : a file that does not exist
		policy     string
		kind       transport.HostKeyKind // 0: the dial succeeds
	}{
		{"bracketed host:port entry", addr + " " + pub + "\n", "", 0},
		{"hashed entry", knownhosts.HashHostname(addr) + " " + pub + "\n", "", 0},
		{"only the ed25519 key is recorded while the server prefers ecdsa", "# comment\n" + addr + " " + pub + "\n", "", 0},
		{"unknown host, strict", "[10.9.9.9]:22 " + pub + "\n", transport.PolicyStrict, transport.HostKeyUnknown},
		{"missing file, strict", "", "", transport.HostKeyUnknown},
		{"changed key", addr + " " + other + "\n", "", transport.HostKeyChanged},
		{"changed key, hashed", knownhosts.HashHostname(addr) + " " + other + "\n", "", transport.HostKeyChanged},
		{"changed key under accept-new", addr + " " + other + "\n", transport.PolicyAcceptNew, transport.HostKeyChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.ClientConfig(t)
			cfg.Node = "gw-2"
			cfg.KnownHosts = filepath.Join(t.TempDir(), "absent")
			if tt.knownHosts != "" {
				cfg.KnownHosts = writeFile(t, tt.knownHosts)
			}
			cfg.HostKeyPolicy = tt.policy
			before, _ := os.ReadFile(cfg.KnownHosts)
			c, err := transport.Dial(ipCtx(t), cfg)
			if tt.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			var he *transport.HostKeyError
			if !errors.As(err, &he) || he.Kind != tt.kind || !he.Refused() {
				t.Fatalf("err = %v (%T), want a HostKeyError of kind %d", err, err, tt.kind)
			}
			hostPort := fmt.Sprintf("gw-2 (%s)", s.Addr())
			if tt.kind == transport.HostKeyChanged {
				oneLine(t, err, "host key for "+hostPort+" has changed", ssh.FingerprintSHA256(s.HostKey()), cfg.KnownHosts+":1")
				if h := he.Hint(); !strings.Contains(h, "ssh-keygen -R '"+addr+"'") {
					t.Errorf("hint %q does not say how to remove the old key", h)
				}
			} else {
				oneLine(t, err, "host key for "+hostPort+" is unknown", cfg.KnownHosts)
				if h, want := he.Hint(), fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", s.Port(), cfg.KnownHosts); !strings.Contains(h, want) {
					t.Errorf("hint %q does not contain %q", h, want)
				}
			}
			after, _ := os.ReadFile(cfg.KnownHosts)
			if string(before) != string(after) {
				t.Errorf("known_hosts changed on a refusal: %q", after)
			}
		})
	}
}

// TestInprocAcceptNewConcurrent dials many servers several times at once
// under accept-new with one known_hosts file: every host is recorded once,
// the file stays well formed, and strict dials work afterwards.
func TestInprocAcceptNewConcurrent(t *testing.T) {
	const servers, dialsEach = 8, 4
	kh := filepath.Join(t.TempDir(), "ssh", "known_hosts") // the directory does not exist yet
	var cfgs []transport.Config
	var all []*sshtest.Server
	for i := range servers {
		s := sshtest.NewServer(t)
		all = append(all, s)
		cfg := s.ClientConfig(t)
		cfg.Node = fmt.Sprintf("gw-%d", i)
		cfg.KnownHosts, cfg.HostKeyPolicy = kh, transport.PolicyAcceptNew
		for range dialsEach {
			cfgs = append(cfgs, cfg)
		}
	}
	errs := transport.ForEach(ipCtx(t), cfgs, 0, func(ctx context.Context, _ int, cfg transport.Config) error {
		c, err := transport.Dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Run(ctx, "true", transport.RunOptions{})
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != servers {
		t.Fatalf("known_hosts has %d lines, want %d:\n%s", len(lines), servers, data)
	}
	for _, s := range all {
		want := s.KnownHostsLine()
		if !strings.Contains(string(data), want+"\n") {
			t.Errorf("known_hosts lacks %q", want)
		}
		cfg := s.ClientConfig(t)
		cfg.KnownHosts, cfg.HostKeyPolicy = kh, transport.PolicyStrict
		c, err := transport.Dial(ipCtx(t), cfg)
		if err != nil {
			t.Fatalf("strict dial after accept-new: %v", err)
		}
		c.Close()
	}
}

// TestInprocAcceptNewKeepsForeignLines appends after a file that does not
// end with a newline, without touching what is there.
func TestInprocAcceptNewKeepsForeignLines(t *testing.T) {
	s := sshtest.NewServer(t)
	kh := writeFile(t, "# mine\nexample.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
	cfg := s.ClientConfig(t)
	cfg.KnownHosts, cfg.HostKeyPolicy = kh, transport.PolicyAcceptNew
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := transport.Dial(ipCtx(t), cfg)
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(kh)
	want := "# mine\nexample.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n" + s.KnownHostsLine() + "\n"
	if string(data) != want {
		t.Errorf("known_hosts:\n%s\nwant:\n%s", data, want)
	}
}

// TestInprocKnownHostsReadEachDial: dials share the parsed known_hosts
// while its bytes are the same; a key replaced in the file (a line of the
// same length, written in place) is what the next dial checks against.
func TestInprocKnownHostsReadEachDial(t *testing.T) {
	s := sshtest.NewServer(t)
	addr := knownhosts.Normalize(s.Addr())
	good := addr + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey()))) + "\n"
	bad := addr + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newSigner(t, "ed25519").PublicKey()))) + "\n"
	if len(good) != len(bad) {
		t.Fatalf("lines of %d and %d bytes", len(good), len(bad))
	}
	cfg := s.ClientConfig(t)
	dial := func(content string) error {
		t.Helper()
		if err := os.WriteFile(cfg.KnownHosts, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := transport.Dial(context.Background(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	for i, step := range []struct {
		content string
		changed bool
	}{{good, false}, {good, false}, {bad, true}, {good, false}, {bad, true}} {
		err := dial(step.content)
		var he *transport.HostKeyError
		switch {
		case step.changed && (!errors.As(err, &he) || he.Kind != transport.HostKeyChanged):
			t.Errorf("dial %d: got %v, want the host key refused as changed", i+1, err)
		case !step.changed && err != nil:
			t.Errorf("dial %d: %v", i+1, err)
		}
	}
}
