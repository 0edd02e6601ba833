package transport

import (
	"context"
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

// Hint says what to check when a connection could not be made: whether
// sshd listens, whether the name resolves, why there was no answer, or
// which keys to put where. "" when there is nothing useful to add.
func (e *ConnError) Hint() string {
	host, port, err := net.SplitHostPort(e.Addr)
	if err != nil {
		host, port = e.Addr, "22"
	}
	var dns *net.DNSError
	switch {
	case errors.As(e.Err, &dns):
		return fmt.Sprintf("cannot resolve %s: check the node's host or your ssh_config (HostName)", dns.Name)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("is sshd listening on %s? (check the node's host and port, and `systemctl status sshd` there)", e.Addr)
	case errors.Is(e.Err, syscall.EHOSTUNREACH), errors.Is(e.Err, syscall.ENETUNREACH):
		return fmt.Sprintf("no route to %s: is the host up, or is a jump host needed (ssh.jump)?", host)
	case errors.Is(e.Err, context.DeadlineExceeded) && (strings.HasSuffix(e.Op, "connect") || strings.HasSuffix(e.Op, "handshake")):
		return fmt.Sprintf("no answer from %s: is the host up, does a firewall drop port %s, is a jump host needed (ssh.jump)? "+
			"A slow network needs a longer connect_timeout", host, port)
	case strings.HasSuffix(e.Op, "auth"):
		return "put the public half of one of the offered keys in ~/.ssh/authorized_keys of that user on the node, " +
			"or point identity_files at a key it accepts (keys come from identity_files, else ssh-agent, ~/.ssh/config IdentityFile, ~/.ssh/id_*)"
	}
	return ""
}

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
