package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultMaxOutput is how much of each output stream Run keeps by default.
const DefaultMaxOutput = 1 << 20

// RunOptions are the options of Run.
type RunOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer // streamed to as output arrives; may be nil
	MaxOutput      int       // bytes of each stream kept in the Result: 0 is 1 MiB, <0 keeps nothing
	Become         bool      // wrap in sudo per Config.Become (no-op when Config.Become == "")
}

// Result is what a command did.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
	Truncated      bool // some output was not kept (it was still streamed)
	Duration       time.Duration
}

// Run runs cmd through the remote login shell on a new session. The command
// string is used as is: quote arguments with Quote. A non-zero exit gives
// the Result and an *ExitError; a broken connection gives a *ConnError. When
// ctx ends, the remote command is sent SIGTERM and its session closed, and
// the error wraps ctx.Err().
func (c *Client) Run(ctx context.Context, cmd string, opts RunOptions) (*Result, error) {
	stdin := opts.Stdin
	if opts.Become && c.cfg.Become == "sudo" {
		var err error
		cmd, stdin, err = c.sudoWrap(ctx, cmd, stdin)
		if err != nil {
			return nil, err
		}
	}
	return c.run(ctx, cmd, stdin, opts)
}

// run runs cmd on a session and tells Config.Trace how it ended.
func (c *Client) run(ctx context.Context, cmd string, stdin io.Reader, opts RunOptions) (*Result, error) {
	start := time.Now()
	res, err := c.runSession(ctx, cmd, stdin, opts)
	if c.cfg.Trace != nil {
		ev := TraceEvent{Kind: TraceRun, Addr: c.s.addr(), User: c.s.user, Command: cmd, ExitCode: -1, Err: err, Took: time.Since(start)}
		if res != nil {
			ev.ExitCode, ev.Stdout, ev.Stderr = res.ExitCode, res.Stdout, res.Stderr
		}
		c.cfg.trace(ev)
	}
	return res, err
}

func (c *Client) runSession(ctx context.Context, cmd string, stdin io.Reader, opts RunOptions) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transport: %s: %w", c.cfg.Node, err)
	}
	max := opts.MaxOutput
	if max == 0 {
		max = DefaultMaxOutput
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	release := sync.OnceFunc(c.release)
	defer release()
	sess, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	stdout := &capture{w: opts.Stdout, max: max}
	stderr := &capture{w: opts.Stderr, max: max}
	sniffer := &pidSniffer{w: stderr}
	sess.Stdout, sess.Stderr = stdout, sniffer
	sess.Stdin = stdin
	start := time.Now()
	if err := sess.Start(wrapCommand(cmd)); err != nil {
		return nil, c.connErr("run", err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- sess.Wait() }()
	select {
	case err = <-waitc:
		sniffer.flush()
	case <-ctx.Done():
		sess.Signal(ssh.SIGTERM)
		sess.Close()
		release() // killGroup needs a session
		c.killGroup(sniffer.PID())
		select {
		case <-waitc:
		case <-time.After(2 * time.Second): // a dead connection: keepalives will end it
		}
		res := finish(stdout, stderr, start)
		res.ExitCode = -1
		return res, fmt.Errorf("transport: %s: command stopped: %w", c.cfg.Node, ctx.Err())
	}
	res := finish(stdout, stderr, start)
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus()
		xe := &ExitError{Node: c.cfg.Node, Code: ee.ExitStatus(), Signal: ee.Signal(), Stderr: res.Stderr}
		if xe.Signal != "" {
			xe.Code = signalCode(xe.Signal)
			res.ExitCode = xe.Code
		}
		return res, xe
	case errors.As(err, &missing):
		res.ExitCode = -1
		return res, c.lostErr("run", errors.New("the connection closed before the command finished"))
	default:
		res.ExitCode = -1
		return res, c.lostErr("run", err)
	}
}

func finish(stdout, stderr *capture, start time.Time) *Result {
	res := &Result{Duration: time.Since(start)}
	res.Stdout, res.Truncated = stdout.close()
	var t bool
	res.Stderr, t = stderr.close()
	res.Truncated = res.Truncated || t
	return res
}

// signalCode is the shell's exit code for a command killed by a signal:
// 128 + the signal number, or -1 for an unknown signal.
func signalCode(name string) int {
	nums := map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9,
		"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15}
	if n, ok := nums[name]; ok {
		return 128 + n
	}
	return -1
}

// capture streams output to w and keeps up to max bytes of it. After close,
// late writes (a session abandoned on cancel) are dropped.
type capture struct {
	mu        sync.Mutex
	w         io.Writer
	max       int
	buf       []byte
	truncated bool
	closed    bool
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return len(p), nil
	}
	if c.w != nil {
		if _, err := c.w.Write(p); err != nil {
			c.w = nil // keep reading so the remote side is not stalled
		}
	}
	room := c.max - len(c.buf)
	if room < 0 {
		room = 0
	}
	if len(p) > room {
		c.truncated = true
		c.buf = append(c.buf, p[:room]...)
	} else {
		c.buf = append(c.buf, p...)
	}
	return len(p), nil
}

func (c *capture) close() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.buf, c.truncated
}
