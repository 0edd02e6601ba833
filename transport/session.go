package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshd allows MaxSessions sessions per connection (10 by default) and
// refuses more with "open failed". A Client keeps at most that many open:
// Run waits for a free slot, and an SFTP client holds one while open.

// acquire takes a session slot, waiting for one while ctx allows.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-c.done:
		return c.connErr("session", errors.New("connection closed"))
	case <-ctx.Done():
		return fmt.Errorf("transport: %s: waiting for a free session: %w", c.cfg.Node, ctx.Err())
	}
}

func (c *Client) release() { <-c.slots }

// newSession opens a session. sshd frees a session slot a moment after the
// session closes, so a refusal right after a close is retried a few times.
func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	delay := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		sess, err := c.conn.NewSession()
		var oce *ssh.OpenChannelError
		if err == nil || !errors.As(err, &oce) || oce.Reason != ssh.ConnectionFailed || attempt == 8 {
			if err != nil && oce != nil {
				return nil, c.connErr("session", err)
			}
			if err != nil {
				return nil, c.lostErr("session", err)
			}
			return sess, nil
		}
		select {
		case <-time.After(delay):
			delay *= 2
		case <-ctx.Done():
			return nil, fmt.Errorf("transport: %s: %w", c.cfg.Node, ctx.Err())
		}
	}
}
