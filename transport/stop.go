package transport

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"
	"time"
)

// Stopping a remote command when its context ends takes more than the
// "signal" channel request: OpenSSH refuses it for root logins ("session
// signalling requires privilege separation"), and closing the session does
// not stop a command that neither reads stdin nor writes. So every command
// first reports its PID on stderr, between two ASCII record separators,
// then execs the login shell on the command. sshd makes each session's
// command a session and process group leader, so that PID names the whole
// process group, which a second session can signal.

const pidMark = "\x1edrover-pid "

// wrapCommand returns the command string that reports its PID and then
// runs cmd through the login shell, in the same process.
func wrapCommand(cmd string) string {
	return `exec /bin/sh -c 'printf "\036drover-pid %s\036" "$$" >&2; exec "${SHELL:-/bin/sh}" -c "$1"' drover ` + Quote(cmd)
}

// pidSniffer takes the PID report off the front of stderr and passes the
// rest on. Output before the report (a noisy shell rc file) passes too.
type pidSniffer struct {
	w       io.Writer
	mu      sync.Mutex
	pid     int
	done    bool // the report was seen, or given up on
	pending []byte
}

func (s *pidSniffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return s.w.Write(p)
	}
	s.pending = append(s.pending, p...)
	out := s.scan()
	s.mu.Unlock()
	if len(out) > 0 {
		if _, err := s.w.Write(out); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// scan looks for a whole report in pending and returns what can be
// written on.
func (s *pidSniffer) scan() []byte {
	i := bytes.Index(s.pending, []byte(pidMark))
	if i < 0 {
		if len(s.pending) > 4096 {
			s.done = true
			return s.pending
		}
		// Keep only a tail that could be the start of the mark.
		for cut := max(0, len(s.pending)-len(pidMark)+1); cut < len(s.pending); cut++ {
			if bytes.HasPrefix([]byte(pidMark), s.pending[cut:]) {
				out := bytes.Clone(s.pending[:cut])
				s.pending = s.pending[cut:]
				return out
			}
		}
		out := s.pending
		s.pending = nil
		return out
	}
	rest := s.pending[i+len(pidMark):]
	end := bytes.IndexByte(rest, '\x1e')
	if end < 0 {
		if len(rest) > 20 {
			s.done = true
			return s.pending
		}
		out := bytes.Clone(s.pending[:i])
		s.pending = s.pending[i:]
		return out
	}
	s.pid, _ = strconv.Atoi(string(rest[:end]))
	s.done = true
	out := append(bytes.Clone(s.pending[:i]), rest[end+1:]...)
	s.pending = nil
	return out
}

// flush writes what is still held back, at the end of the stream.
func (s *pidSniffer) flush() {
	s.mu.Lock()
	out := s.pending
	s.pending, s.done = nil, true
	s.mu.Unlock()
	if len(out) > 0 {
		s.w.Write(out)
	}
}

func (s *pidSniffer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// killGroup sends SIGTERM to the process group pid on the node, from a new
// session, within a few seconds.
func (c *Client) killGroup(pid int) {
	if pid <= 1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := strconv.Itoa(pid)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx, "kill -TERM -- -"+p+" 2>/dev/null || kill -TERM "+p+" 2>/dev/null; true", nil, RunOptions{MaxOutput: -1})
	}()
	select {
	case <-done:
	case <-ctx.Done(): // opening a session can hang on a dead connection
	}
}
