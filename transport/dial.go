package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Client is an authenticated SSH connection to one node, shared by every
// step that touches the node: each Run opens its own session on it.
type Client struct {
	cfg  Config
	s    *settings
	conn *ssh.Client
	hops []*ssh.Client // jump host connections, first hop first
	done chan struct{} // closed when the connection has ended

	mu   sync.Mutex
	dead error // why the connection ended, when it was not Close

	closeOnce sync.Once
	sftpMu    sync.Mutex
	sftp      *sftp.Client
	sftpSmall *sftp.Client // for reads from servers without limits@openssh.com
	sudo      sudoState
	slots     chan struct{} // one per open session: sshd's MaxSessions
}

// Dial connects to the node described by cfg, through its jump hosts,
// verifies each host key against known_hosts and authenticates. ctx and the
// connect timeout bound the TCP connect and the handshake of every hop.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	s, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, s: s, done: make(chan struct{}), slots: make(chan struct{}, s.maxSessions)}
	var via *ssh.Client
	for i, hop := range s.jump {
		hs, err := hopSettings(cfg, hop)
		if err != nil {
			c.closeHops()
			return nil, err
		}
		hc, err := dialOne(ctx, hs, cfg, via, fmt.Sprintf("jump host %s of %s", hop, cfg.Node), fmt.Sprintf("jump %d ", i+1))
		if err != nil {
			c.closeHops()
			return nil, err
		}
		c.hops = append(c.hops, hc)
		via = hc
	}
	conn, err := dialOne(ctx, s, cfg, via, cfg.Node, "")
	if err != nil {
		c.closeHops()
		return nil, err
	}
	c.conn = conn
	go func() {
		err := conn.Wait()
		c.mu.Lock()
		if c.dead == nil {
			c.dead = err
		}
		c.mu.Unlock()
		close(c.done)
	}()
	if s.keepAlive > 0 {
		go c.keepAlive(s.keepAlive, s.keepAliveMax)
	}
	return c, nil
}

// Config returns the Config the client was dialled with.
func (c *Client) Config() Config { return c.cfg }

// Addr returns the host:port the client is connected to (after ssh_config).
func (c *Client) Addr() string { return c.s.addr() }

// Close closes the SFTP client, the connection and the jump connections.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.dead == nil {
			c.dead = errors.New("client closed")
		}
		c.mu.Unlock()
		err = c.conn.Close()
		c.closeHops()
		<-c.done // an SFTP() waiting for a session slot gives up, unlocking sftpMu
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
		}
		if c.sftpSmall != nil {
			c.sftpSmall.Close()
		}
		c.sftpMu.Unlock()
	})
	return err
}

func (c *Client) closeHops() {
	for i := len(c.hops) - 1; i >= 0; i-- {
		c.hops[i].Close()
	}
}

// connErr wraps err as a ConnError of this client, saying why the
// connection ended when it has.
func (c *Client) connErr(op string, err error) error {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead != nil && !errors.Is(err, dead) {
		err = fmt.Errorf("connection lost: %w", dead)
	}
	return &ConnError{Node: c.cfg.Node, Addr: c.s.addr(), Op: op, Err: err}
}

// lostErr is connErr for a session that ended without an exit status: the
// connection is most likely going down, so give it a moment to say why.
func (c *Client) lostErr(op string, err error) error {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	return c.connErr(op, err)
}

// keepAlive sends keepalive@openssh.com every interval and closes the
// connection after max intervals without a reply.
func (c *Client) keepAlive(interval time.Duration, max int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	replies := make(chan struct{}, 1)
	pending, missed := false, 0
	for {
		select {
		case <-c.done:
			return
		case <-replies:
			pending, missed = false, 0
		case <-t.C:
			if pending {
				missed++
				if missed >= max {
					c.mu.Lock()
					if c.dead == nil {
						c.dead = fmt.Errorf("no reply to %d keepalives sent %s apart", max, interval)
					}
					c.mu.Unlock()
					c.conn.Close()
					return
				}
				continue
			}
			pending = true
			go func() {
				// Any reply, even a refusal, shows the server is alive.
				c.conn.SendRequest("keepalive@openssh.com", true, nil)
				select {
				case replies <- struct{}{}:
				case <-c.done:
				}
			}()
		}
	}
}

// dialOne connects and authenticates one hop, through via when not nil.
// name is the node name for host key errors, op prefixes error ops.
func dialOne(ctx context.Context, s *settings, cfg Config, via *ssh.Client, name, op string) (*ssh.Client, error) {
	parent, start := ctx, time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	addr := s.addr()
	fail := func(what string, err error) error {
		var ne net.Error
		timedOut := errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
		if ctx.Err() != nil || timedOut {
			if parent.Err() != nil {
				err = parent.Err()
			} else {
				err = fmt.Errorf("no answer within %s (connect_timeout): %w", s.timeout, context.DeadlineExceeded)
			}
		}
		return &ConnError{Node: cfg.Node, Addr: addr, Op: op + what, Err: err}
	}
	var nc net.Conn
	var err error
	if via == nil {
		d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = via.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fail("connect", err)
	}
	keys, err := loadKeys(s, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	defer keys.close()
	hk, err := newHostKeys(name, s.knownHosts, s.policy)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var hkErr error
	var hostKey, usedAuth string
	signers := keys.signers
	if cfg.Trace != nil {
		signers = usedKey(signers, keys.offered, &usedAuth)
	}
	check := hk.callback()
	ccfg := &ssh.ClientConfig{
		User: s.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
			hostKey = k.Type() + " " + ssh.FingerprintSHA256(k)
			hkErr = check(h, r, k)
			return hkErr
		},
		HostKeyAlgorithms: hk.algorithms(addr),
		ClientVersion:     "SSH-2.0-drover",
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl) // not supported through a jump channel: the AfterFunc covers it
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, ccfg)
	stop()
	if err != nil {
		nc.Close()
		var he *HostKeyError
		if errors.As(hkErr, &he) {
			return nil, he
		}
		if hkErr != nil {
			return nil, hkErr
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fail("auth", fmt.Errorf("user %s was refused: %s", s.user, keys.describeOffered()))
		}
		return nil, fail("handshake", err)
	}
	nc.SetDeadline(time.Time{})
	if cfg.Trace != nil {
		ev := TraceEvent{Kind: TraceDial, Hop: strings.TrimSpace(op), Addr: addr, User: s.user, Auth: "publickey " + usedAuth,
			HostKey: hostKey, Took: time.Since(start)}
		if usedAuth == "" {
			ev.Auth = "none (the server asked for no key)"
		}
		if op == "" {
			ev.Jump = s.jump
		}
		cfg.trace(ev)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// hopSettings resolves a jump host (see ParseJump) through ssh_config, with
// the node's identity files, known_hosts and policy. A hop's own ProxyJump
// is not followed.
func hopSettings(cfg Config, hop string) (*settings, error) {
	user, host, port, err := ParseJump(hop)
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", cfg.Node, err)
	}
	hc := cfg
	hc.Host, hc.User, hc.Port, hc.Jump = host, user, port, nil
	return resolve(hc)
}
