package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/drover-sh/drover/transport"
	"golang.org/x/crypto/ssh"
)

// TB is the part of testing.TB the helpers use. sshtest does not import the
// testing package, so the lab (which hosts its nodes on sshtest servers) keeps
// it out of the drover binary; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	TempDir() string
	Fatal(args ...any)
	Cleanup(func())
}

// Option configures a server made by NewServer.
type Option func(*ServerConfig)

// WithEnv adds "K=V" entries to the environment of commands.
func WithEnv(kv ...string) Option { return func(c *ServerConfig) { c.Env = append(c.Env, kv...) } }

// WithAuthorizedKey authorizes another client key.
func WithAuthorizedKey(pub ssh.PublicKey) Option {
	return func(c *ServerConfig) { c.AuthorizedKeys = append(c.AuthorizedKeys, pub) }
}

// WithExtraHostKey adds a host key of another type.
func WithExtraHostKey(signer ssh.Signer) Option {
	return func(c *ServerConfig) { c.ExtraHostKeys = append(c.ExtraHostKeys, signer) }
}

// WithUser accepts only this user name (default: any).
func WithUser(name string) Option { return func(c *ServerConfig) { c.User = name } }

// WithMaxSessions refuses more than n sessions open at once on a
// connection, like sshd's MaxSessions.
func WithMaxSessions(n int) Option { return func(c *ServerConfig) { c.MaxSessions = n } }

// WithFullDisk makes sftp writes to the paths full matches fail with
// ENOSPC ("no space left on device"), as on a full disk.
func WithFullDisk(full func(path string) bool) Option {
	return func(c *ServerConfig) { c.FullDisk = full }
}

// NewServer starts a server for a test. A client key is created in a
// t.TempDir() and authorized; t.Cleanup closes the server and waits for its
// goroutines.
func NewServer(t TB, opts ...Option) *Server {
	t.Helper()
	cfg := ServerConfig{Dir: t.TempDir(), ClientKeyFile: filepath.Join(t.TempDir(), "id_ed25519")}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ClientConfig returns a transport.Config that reaches this server: its
// client key, a known_hosts file (in a t.TempDir()) holding its host key,
// no ssh_config and no agent.
func (s *Server) ClientConfig(t TB) transport.Config {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.TransportConfig("sshtest", kh)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TransportConfig returns a transport.Config for node that reaches this
// server with its client key, checking host keys against knownHosts (the
// caller writes KnownHostsLine there, or uses accept-new).
func (s *Server) TransportConfig(node, knownHosts string) (transport.Config, error) {
	if s.cfg.ClientKeyFile == "" {
		return transport.Config{}, errors.New("sshtest: the server has no client key file")
	}
	name := s.cfg.User
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	return transport.Config{
		Node:           node,
		Host:           s.Host(),
		Port:           s.Port(),
		User:           name,
		IdentityFiles:  []string{s.cfg.ClientKeyFile},
		KnownHosts:     knownHosts,
		SSHConfigPath:  "none",
		NoAgent:        true,
		ConnectTimeout: 20 * time.Second,
	}, nil
}

// ClientKey loads the ed25519 private key at file, creating it (0600, with
// file+".pub") when it does not exist, and returns its public key.
func ClientKey(file string) (ssh.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err == nil {
		sg, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("sshtest: client key %s: %w", file, err)
		}
		return sg.PublicKey(), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshtest")
	if err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	if err := os.WriteFile(file+".pub", ssh.MarshalAuthorizedKey(spub), 0o644); err != nil {
		return nil, fmt.Errorf("sshtest: client key: %w", err)
	}
	return spub, nil
}
