package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// sudoState remembers how sudo works on the node once it has been probed.
type sudoState struct {
	mu       sync.Mutex
	probed   bool
	password []byte // nil: sudo -n works
}

// sudoWrap wraps cmd for become = "sudo". Without a SudoPassword callback it
// is "sudo -n". With one, the node is probed once: when "sudo -k -n true"
// succeeds no password is needed; otherwise the password is checked once and
// then given to "sudo -k -S -p ”" on its stdin, in front of the caller's
// stdin. -k makes sudo ask every time, so the password line is always read
// by sudo and never reaches the command.
func (c *Client) sudoWrap(ctx context.Context, cmd string, stdin io.Reader) (string, io.Reader, error) {
	inner := "/bin/sh -c " + Quote(cmd)
	if c.cfg.SudoPassword == nil {
		return "sudo -n -- " + inner, stdin, nil
	}
	pw, err := c.sudoPassword(ctx)
	if err != nil {
		return "", nil, err
	}
	if pw == nil {
		return "sudo -n -- " + inner, stdin, nil
	}
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	return "sudo -k -S -p '' -- " + inner, io.MultiReader(passwordLine(pw), stdin), nil
}

// sudoPassword probes the node once and returns the password to use, nil
// when sudo needs none.
func (c *Client) sudoPassword(ctx context.Context) ([]byte, error) {
	st := &c.sudo
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.probed {
		return st.password, nil
	}
	quiet := RunOptions{MaxOutput: 4096}
	_, err := c.run(ctx, "sudo -k -n true", nil, quiet)
	var xe *ExitError
	switch {
	case err == nil:
		st.probed = true
		return nil, nil
	case !errors.As(err, &xe):
		return nil, err
	}
	pw, err := c.cfg.SudoPassword()
	if err != nil {
		return nil, fmt.Errorf("transport: %s: sudo password: %w", c.cfg.Node, err)
	}
	_, err = c.run(ctx, "sudo -k -S -p '' true", passwordLine(pw), quiet)
	if errors.As(err, &xe) {
		return nil, fmt.Errorf("transport: %s: sudo refused the password (exit %d): %s", c.cfg.Node, xe.Code, lastLine(xe.Stderr))
	}
	if err != nil {
		return nil, err
	}
	st.probed, st.password = true, pw
	return pw, nil
}

func passwordLine(pw []byte) io.Reader {
	line := make([]byte, 0, len(pw)+1)
	return bytes.NewReader(append(append(line, pw...), '\n'))
}
