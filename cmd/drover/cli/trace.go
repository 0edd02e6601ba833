package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/drover-sh/drover/transport"
)

// tracer returns the transport trace of -v: every SSH connection (address,
// user, the key that was accepted, the host key fingerprint, jump hops),
// every remote command with its duration and exit status, every connection
// opened from the node (health checks) and every upload; -vv adds the
// commands' output. Lines go to stderr with the inventory's secrets
// redacted; what went to a command's stdin (the sudo password, the update
// tool's credentials) is never traced. nil without -v.
func (e *env) tracer() func(transport.TraceEvent) {
	if e.verbosity == 0 {
		return nil
	}
	return func(ev transport.TraceEvent) {
		text := e.inv.Redact(formatTrace(ev, e.verbosity))
		e.traceMu.Lock()
		defer e.traceMu.Unlock()
		fmt.Fprint(e.stderr, text)
	}
}

// maxTracedCommand is how much of a command -v shows; -vv shows all of it.
const maxTracedCommand = 300

func formatTrace(ev transport.TraceEvent, verbosity int) string {
	var b strings.Builder
	took := ev.Took.Round(time.Millisecond)
	switch ev.Kind {
	case transport.TraceDial:
		who := ev.Node
		if ev.Hop != "" {
			who += " (" + ev.Hop + ")"
		}
		fmt.Fprintf(&b, "ssh %s: connected to %s as %s, auth %s, host key %s", who, ev.Addr, ev.User, ev.Auth, ev.HostKey)
		if len(ev.Jump) > 0 {
			fmt.Fprintf(&b, ", via %s", strings.Join(ev.Jump, " -> "))
		}
		fmt.Fprintf(&b, " (%s)\n", took)
	case transport.TraceRun:
		cmd := ev.Command
		if verbosity < 2 && len(cmd) > maxTracedCommand {
			cmd = fmt.Sprintf("%s... (%d bytes; -vv shows all)", cmd[:maxTracedCommand], len(cmd))
		}
		status := fmt.Sprintf("exit %d", ev.ExitCode)
		if ev.ExitCode < 0 {
			status = "no exit status"
			if ev.Err != nil {
				status += ": " + ev.Err.Error()
			}
		}
		fmt.Fprintf(&b, "ssh %s: $ %s\nssh %s:   %s in %s\n", ev.Node, indentLines(cmd, "ssh "+ev.Node+":   "), ev.Node, status, took)
		if verbosity >= 2 {
			writeOutput(&b, ev.Node, "stdout", ev.Stdout)
			writeOutput(&b, ev.Node, "stderr", ev.Stderr)
		}
	case transport.TraceForward:
		if ev.Err != nil {
			fmt.Fprintf(&b, "ssh %s: connect from the node to %s failed: %v (%s)\n", ev.Node, ev.Addr, ev.Err, took)
		} else {
			fmt.Fprintf(&b, "ssh %s: connected from the node to %s (%s)\n", ev.Node, ev.Addr, took)
		}
	case transport.TraceUpload:
		what := fmt.Sprintf("%d bytes", ev.Bytes)
		if ev.Skipped {
			what = "skipped: the node has the same file"
		}
		if ev.Err != nil {
			what = "failed: " + ev.Err.Error()
		}
		fmt.Fprintf(&b, "ssh %s: upload %s: %s in %s\n", ev.Node, ev.Command, what, took)
	}
	return b.String()
}

// indentLines continues every line after the first with prefix.
func indentLines(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func writeOutput(b *strings.Builder, node, stream string, out []byte) {
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return
	}
	for _, line := range strings.Split(s, "\n") {
		fmt.Fprintf(b, "ssh %s:   %s| %s\n", node, stream, line)
	}
}
