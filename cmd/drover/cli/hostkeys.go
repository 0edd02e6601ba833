package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/drover-sh/drover/transport"
)

// dialFailures remembers, per node, why a connection could not be made, so
// every command that connects reports refused host keys the same way.
type dialFailures struct {
	mu     sync.Mutex
	byNode map[string]error
}

func (d *dialFailures) record(node string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byNode == nil {
		d.byNode = map[string]error{}
	}
	d.byNode[node] = err
}

// hostKey returns the host key refusal of a node, or nil.
func (d *dialFailures) hostKey(node string) *transport.HostKeyError {
	d.mu.Lock()
	defer d.mu.Unlock()
	var hk *transport.HostKeyError
	if errors.As(d.byNode[node], &hk) {
		return hk
	}
	return nil
}

// hint returns the fix of a node's dial failure (refused, unresolvable,
// silent, keys refused), or "".
func (d *dialFailures) hint(node string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.byNode[node]; err != nil {
		return hintOf(err)
	}
	return ""
}

// writeHints prints, on w, the hint of every node whose connection failed
// for a reason other than its host key (those are told with their fix).
func (d *dialFailures) writeHints(w io.Writer) {
	d.mu.Lock()
	var nodes []string
	for n := range d.byNode {
		nodes = append(nodes, n)
	}
	d.mu.Unlock()
	sort.Strings(nodes)
	for _, n := range nodes {
		if d.hostKey(n) == nil {
			if h := d.hint(n); h != "" {
				fmt.Fprintf(w, "hint: %s: %s\n", n, h)
			}
		}
	}
}

// refusal is nil, or the error (exit 3) naming every node whose host key
// was refused, each with the command that fixes it. Commands that connect
// return it once their output is written, before any other failure.
func (d *dialFailures) refusal() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []*transport.HostKeyError
	for _, err := range d.byNode {
		var hk *transport.HostKeyError
		if errors.As(err, &hk) {
			errs = append(errs, hk)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Node < errs[j].Node })
	return &hostKeyRefusal{errs: errs}
}

// hostKeyRefusal reports nodes whose host key was unknown or changed.
type hostKeyRefusal struct{ errs []*transport.HostKeyError }

func (e *hostKeyRefusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refused the host key of %s; nothing ran there", plural(len(e.errs), "node"))
	for _, hk := range e.errs {
		fmt.Fprintf(&b, "\n  %v\n    hint: %s", hk, hk.Hint())
	}
	return b.String()
}

// Refused: a refused host key is "refused before changing anything".
func (e *hostKeyRefusal) Refused() bool { return true }

// hintOf returns the fix an error knows for itself, if any; errors that
// print their hints themselves have none here.
func hintOf(err error) string {
	var hkr *hostKeyRefusal
	if errors.As(err, &hkr) {
		return ""
	}
	var hinted interface{ Hint() string }
	if errors.As(err, &hinted) {
		return hinted.Hint()
	}
	return ""
}
