// Package sshtest is an in-process SSH server in the style of
// net/http/httptest, for tests of drover and for the nodes of `drover lab`.
//
// A Server listens on 127.0.0.1:0 with its own host key, accepts public-key
// authentication, runs "exec" requests through /bin/sh -c in its directory
// (with exit-status, env requests and signals), serves the sftp subsystem on
// real paths and forwards direct-tcpip channels. NewServer ties a server to a
// test (t.Cleanup closes it and waits for every goroutine); Start is the same
// server for programs.
package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// ServerConfig configures a Server started with Start.
type ServerConfig struct {
	Addr           string               // listen address; "" is 127.0.0.1:0
	Listener       net.Listener         // non-nil: serve on it (already listening) instead of Addr; Close closes it
	HostKey        ssh.Signer           // nil: a new ed25519 key
	ExtraHostKeys  []ssh.Signer         // more host keys, of other types
	AuthorizedKeys []ssh.PublicKey      // keys accepted for login
	ClientKeyFile  string               // when set: this private key (created if missing) is authorized too
	User           string               // "" accepts any user name; else only this one
	Dir            string               // working directory of commands; "" is the current directory
	Env            []string             // "K=V" added to the environment of commands
	Shell          string               // "" is /bin/sh
	MaxSessions    int                  // > 0: sessions open at once per connection; more are refused with "open failed", like sshd
	FullDisk       func(string) bool    // non-nil: sftp writes to the paths it matches fail with ENOSPC, as on a full disk
	Logf           func(string, ...any) // nil: silent
}

// Server is a running in-process SSH server.
type Server struct {
	cfg     ServerConfig
	ln      net.Listener
	sshCfg  *ssh.ServerConfig
	hostKey ssh.Signer

	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	accepted atomic.Int64
	execs    atomic.Int64
	sftps    atomic.Int64
	forwards atomic.Int64
}

// Start starts a server; Close stops it.
func Start(cfg ServerConfig) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("sshtest: %w", err)
		}
		cfg.Dir = wd
	}
	if cfg.HostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sshtest: host key: %w", err)
		}
		if cfg.HostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("sshtest: host key: %w", err)
		}
	}
	cfg.AuthorizedKeys = append([]ssh.PublicKey(nil), cfg.AuthorizedKeys...)
	if cfg.ClientKeyFile != "" {
		pub, err := ClientKey(cfg.ClientKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.AuthorizedKeys = append(cfg.AuthorizedKeys, pub)
	}
	s := &Server{cfg: cfg, hostKey: cfg.HostKey, conns: map[net.Conn]struct{}{}}
	s.sshCfg = &ssh.ServerConfig{PublicKeyCallback: s.checkKey, ServerVersion: "SSH-2.0-sshtest"}
	s.sshCfg.AddHostKey(cfg.HostKey)
	for _, k := range cfg.ExtraHostKeys {
		s.sshCfg.AddHostKey(k)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("sshtest: %w", err)
		}
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the listening IP address.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// HostKey is the server's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// Dir is the working directory of commands.
func (s *Server) Dir() string { return s.cfg.Dir }

// ClientKeyFile is the authorized client key file, "" when none was configured.
func (s *Server) ClientKeyFile() string { return s.cfg.ClientKeyFile }

// Accepted counts the TCP connections accepted so far.
func (s *Server) Accepted() int { return int(s.accepted.Load()) }

// Counts is what clients asked of a server: each is one SSH round trip
// (a channel opened and answered).
type Counts struct {
	Exec    int // exec requests (commands run)
	SFTP    int // sftp subsystem sessions
	Forward int // direct-tcpip channels (TCP connections from the node)
}

// Total is every round trip counted.
func (c Counts) Total() int { return c.Exec + c.SFTP + c.Forward }

// Counts returns what clients asked of the server so far.
func (s *Server) Counts() Counts {
	return Counts{Exec: int(s.execs.Load()), SFTP: int(s.sftps.Load()), Forward: int(s.forwards.Load())}
}

// KnownHostsLine is the known_hosts line for this server ("[127.0.0.1]:port
// ssh-ed25519 AAAA...").
func (s *Server) KnownHostsLine() string {
	return knownHostsEntry(s.Host(), s.Port()) + " " + string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(s.HostKey())))
}

func knownHostsEntry(host string, port int) string {
	if port == 22 {
		return host
	}
	return "[" + host + "]:" + strconv.Itoa(port)
}

// Close stops listening, drops every connection (commands still running are
// killed) and waits for every goroutine of the server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// DropConnections closes every open connection abruptly, like a killed
// sshd; the server keeps listening. Commands still running are killed.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.cfg.User != "" && meta.User() != s.cfg.User {
		return nil, fmt.Errorf("sshtest: unknown user %q", meta.User())
	}
	for _, k := range s.cfg.AuthorizedKeys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, errors.New("sshtest: key not authorized")
}

// track registers a connection to close on Close; false when closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logf("sshtest: accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !s.track(nc) {
			nc.Close()
			return
		}
		s.accepted.Add(1)
		s.wg.Add(1)
		go s.serveConn(nc)
	}
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer s.untrack(nc)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.sshCfg)
	if err != nil {
		s.logf("sshtest: handshake from %s: %v", nc.RemoteAddr(), err)
		return
	}
	nc.SetDeadline(time.Time{})
	defer sc.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs) // keepalive@openssh.com gets a "failure" reply, which is a reply
	}()
	var open atomic.Int64 // sessions open on this connection
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			if s.cfg.MaxSessions > 0 && open.Load() >= int64(s.cfg.MaxSessions) {
				nch.Reject(ssh.ConnectionFailed, "open failed")
				continue
			}
			open.Add(1)
			s.wg.Add(1)
			go func() {
				defer open.Add(-1)
				s.session(nch)
			}()
		case "direct-tcpip":
			s.forwards.Add(1)
			s.wg.Add(1)
			go s.directTCPIP(nch)
		default:
			nch.Reject(ssh.UnknownChannelType, "sshtest: unsupported channel type "+nch.ChannelType())
		}
	}
}
