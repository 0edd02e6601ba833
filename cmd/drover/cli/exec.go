package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
	"github.com/urfave/cli/v2"
)

func (e *env) newExecCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a shell command on the selected nodes in parallel; output prefixed by node",
		ArgsUsage: "-- CMD [ARG...]",
		Description: "CMD runs through each node's login shell, like ssh does: the words after -- are joined\n" +
			"with spaces. Output lines are prefixed by the node name; stdout goes to stdout and stderr\n" +
			"to stderr. At most --parallel nodes are connected at once; a node that fails or cannot be\n" +
			"reached never stops the others, and the failures are summed up on stderr at the end.\n" +
			"--json prints one object per node per line: node, exit_code, stdout, stderr, error,\n" +
			"duration_ms. Exit status 1 when a node failed or was unreachable, 3 when a host key was\n" +
			"unknown or changed.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "stop the command on a node (SIGTERM) after this long, connecting included; 0: no limit"},
			&cli.BoolFlag{Name: "become", Usage: "run CMD through the node's become method (ssh.become, e.g. sudo)"},
		},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			cmd := strings.TrimSpace(strings.Join(c.Args().Slice(), " "))
			if cmd == "" {
				return usageErrorf("exec needs a command: drover exec -- CMD")
			}
			if c.Duration("timeout") < 0 {
				return usageErrorf("--timeout %s: give a positive duration", c.Duration("timeout"))
			}
			return e.runExec(c.Context, g, execOptions{cmd: cmd, timeout: c.Duration("timeout"), become: c.Bool("become")})
		},
	}
}

type execOptions struct {
	cmd     string
	timeout time.Duration
	become  bool
}

// execResult is one node's outcome, as `exec --json` prints it.
type execResult struct {
	Node       string `json:"node"`
	ExitCode   *int   `json:"exit_code"` // null when the command did not run to an exit
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Error      string `json:"error,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	DurationMS int64  `json:"duration_ms"`

	err error
}

func (e *env) runExec(ctx context.Context, g globals, o execOptions) error {
	_, nodes, err := e.selectNodes(g)
	if err != nil {
		return err
	}
	out := newPrefixer(nodes, e.stdout, e.stderr, g.color && e.isTerminal(e.stdout), g.color)
	var jsonMu sync.Mutex
	enc := json.NewEncoder(e.stdout)
	results := make([]execResult, len(nodes))
	transport.ForEach(ctx, nodes, g.parallel, func(ctx context.Context, i int, n *inventory.Node) error {
		r := e.execNode(ctx, n, o, g.json, out)
		if g.json {
			jsonMu.Lock()
			enc.Encode(r)
			jsonMu.Unlock()
		}
		r.Stdout, r.Stderr = "", "" // keep only what the summary needs
		results[i] = r
		return nil
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("exec interrupted: %w", err)
	}
	return e.execSummary(results, len(nodes))
}

// execNode dials one node and runs the command there.
func (e *env) execNode(ctx context.Context, n *inventory.Node, o execOptions, keep bool, out *prefixer) execResult {
	start := time.Now()
	r := execResult{Node: n.Name}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	opts := transport.RunOptions{Become: o.become, MaxOutput: 64 << 10}
	var stdout, stderr *lineWriter
	if keep {
		opts.MaxOutput = transport.DefaultMaxOutput
	} else {
		stdout, stderr = out.writers(n.Name)
		opts.Stdout, opts.Stderr = stdout, stderr
	}
	res, err := e.dialAndRun(ctx, n, o.cmd, opts)
	if stdout != nil {
		stdout.Flush()
		stderr.Flush()
	}
	if res != nil {
		r.Stdout, r.Stderr, r.Truncated = string(res.Stdout), string(res.Stderr), res.Truncated
		var xe *transport.ExitError
		if err == nil || errors.As(err, &xe) {
			code := res.ExitCode
			r.ExitCode = &code
		}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && o.timeout > 0 {
			err = &timeoutError{node: n.Name, after: o.timeout, err: err}
		}
		r.err, r.Error = err, err.Error()
	}
	r.DurationMS = time.Since(start).Milliseconds()
	return r
}

func (e *env) dialAndRun(ctx context.Context, n *inventory.Node, cmd string, opts transport.RunOptions) (*transport.Result, error) {
	c, err := transport.Dial(ctx, e.nodeConfig(n))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Run(ctx, cmd, opts)
}

// timeoutError is a node that did not finish within --timeout.
type timeoutError struct {
	node  string
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s: timed out after %s (--timeout); the command was stopped", e.node, e.after)
}

func (e *timeoutError) Unwrap() error { return e.err }

// execSummary prints the failures on stderr and picks the exit status: 3
// when a host key was refused, else 1 when anything failed.
func (e *env) execSummary(results []execResult, total int) error {
	var failed []execResult
	code := ExitOK
	for _, r := range results {
		if r.err == nil {
			continue
		}
		failed = append(failed, r)
		var rc refusedCause
		if errors.As(r.err, &rc) && rc.Refused() {
			code = ExitRefused
		} else if code == ExitOK {
			code = ExitFailed
		}
	}
	if len(failed) == 0 {
		return nil
	}
	fmt.Fprintf(e.stderr, "drover: exec failed on %d of %d nodes:\n", len(failed), total)
	for _, r := range failed {
		fmt.Fprintf(e.stderr, "  %s\n", r.Error)
		if hint := hintOf(r.err); hint != "" {
			fmt.Fprintf(e.stderr, "    hint: %s\n", hint)
		}
	}
	return &silentError{code}
}

// prefixer writes output lines of many nodes, each prefixed by its node's
// name padded to the longest name, one whole line at a time.
type prefixer struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	width          int
	colorOut       bool
	colorErr       bool
	index          map[string]int
}

func newPrefixer(nodes []*inventory.Node, stdout, stderr io.Writer, colorOut, colorErr bool) *prefixer {
	p := &prefixer{stdout: stdout, stderr: stderr, colorOut: colorOut, colorErr: colorErr, index: map[string]int{}}
	for i, n := range nodes {
		p.width = max(p.width, len(n.Name))
		p.index[n.Name] = i
	}
	return p
}

// palette holds the ANSI colours of node prefixes.
var palette = []string{"36", "33", "35", "32", "34", "96", "93", "95", "92", "94"}

func (p *prefixer) prefix(node string, color bool) string {
	s := fmt.Sprintf("%-*s |", p.width, node)
	if color {
		return "\x1b[" + palette[p.index[node]%len(palette)] + "m" + s + "\x1b[0m"
	}
	return s
}

// writers returns the stdout and stderr writers of one node.
func (p *prefixer) writers(node string) (*lineWriter, *lineWriter) {
	return &lineWriter{p: p, w: p.stdout, prefix: p.prefix(node, p.colorOut)},
		&lineWriter{p: p, w: p.stderr, prefix: p.prefix(node, p.colorErr)}
}

// lineWriter buffers a partial line until its newline arrives.
type lineWriter struct {
	p       *prefixer
	w       io.Writer
	prefix  string
	partial []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			l.partial = append(l.partial, b...)
			if len(l.partial) > 64<<10 { // a very long line is cut rather than held
				l.emit(l.partial)
				l.partial = l.partial[:0]
			}
			break
		}
		l.partial = append(l.partial, b[:i]...)
		l.emit(l.partial)
		l.partial = l.partial[:0]
		b = b[i+1:]
	}
	return n, nil
}

// Flush writes what is left of a last line without a newline.
func (l *lineWriter) Flush() {
	if len(l.partial) > 0 {
		l.emit(l.partial)
		l.partial = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	if len(line) == 0 {
		fmt.Fprintf(l.w, "%s\n", l.prefix)
		return
	}
	fmt.Fprintf(l.w, "%s %s\n", l.prefix, strings.TrimSuffix(string(line), "\r"))
}
