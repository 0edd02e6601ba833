package transport

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// ExitError reports a command that ran and exited with a non-zero status or
// was killed by a signal. Run returns it together with the Result.
type ExitError struct {
	Node   string
	Code   int
	Signal string // "TERM", "KILL", ... when the command was killed by a signal
	Stderr []byte // the kept stderr of the command
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transport: %s: ", e.Node)
	if e.Signal != "" {
		fmt.Fprintf(&b, "command killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, "command exited %d", e.Code)
	}
	if line := lastLine(e.Stderr); line != "" {
		b.WriteString(": ")
		b.WriteString(line)
	}
	return b.String()
}

// ConnError reports a connection that could not be made, could not be
// authenticated, or broke while in use.
type ConnError struct {
	Node string
	Addr string // host:port
	Op   string // "connect", "handshake", "auth", "jump", "session", "run", "sftp", "forward"
	Err  error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("transport: %s (%s): %s: %s", e.Node, e.Addr, e.Op, describe(e.Err))
}

func (e *ConnError) Unwrap() error { return e.Err }

// describe renders an error of the network stack as a short cause: the
// syscall or resolver message without the "dial tcp 1.2.3.4:22" prefixes
// that the ConnError already says.
func describe(err error) string {
	if err == nil {
		return "unknown error"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "lookup " + dns.Name + ": " + dns.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// lastLine returns the last non-empty line of b, shortened for one-line
// error messages.
func lastLine(b []byte) string {
	s := strings.TrimRight(string(b), "\r\n\t ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
