package tasks

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/drover-sh/drover/transport"
)

// Conn is what the node procedure needs of a connection to a node.
// *transport.Client has it; so does anything that can run a shell command
// on the node and reach its loopback ports.
type Conn interface {
	Run(ctx context.Context, cmd string, opts transport.RunOptions) (*transport.Result, error)
	Upload(ctx context.Context, local, remote string, opts transport.UploadOptions) (transport.UploadResult, error)
	DialTCP(ctx context.Context, addr string) (net.Conn, error)
	HTTPClient(insecureTLS bool) *http.Client
}

// q quotes one remote path or argument for the POSIX shell.
func q(s string) string { return transport.Quote(s) }

// sh runs a script on the node through `sh -c` and returns its stdout.
// A non-zero exit is an error carrying the script's last stderr line.
func sh(ctx context.Context, c Conn, script string) (string, error) {
	return shIn(ctx, c, script, nil)
}

// shIn is sh with bytes on the script's standard input. The bytes never
// appear on a command line or in an error.
func shIn(ctx context.Context, c Conn, script string, stdin []byte) (string, error) {
	opts := transport.RunOptions{MaxOutput: 4 << 20}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	res, err := c.Run(ctx, "sh -c "+q(script), opts)
	if res == nil {
		return "", err
	}
	return string(res.Stdout), err
}

// lastLines returns the last n non-empty lines of s, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append([]string{l}, out...)
		}
	}
	return strings.Join(out, " | ")
}

// StepError is a failed step of the node procedure.
type StepError struct {
	Node string
	Step string
	Err  error
	// RolledBack is set when the node was rolled back after the failure;
	// Down when it failed out of service and was not.
	RolledBack, Down bool
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Node, e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }
