package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/tasks"
)

// liveView renders a run on a terminal: finished things (nodes done or
// failed, waves, warnings) scroll above a block with one line per node in
// flight (its step, elapsed time and transfer progress), redrawn in place.
type liveView struct {
	w     io.Writer
	color bool

	mu     sync.Mutex
	nodes  map[string]*liveNode
	drawn  int // lines of the live block on screen
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

type liveNode struct {
	name, step, note string
	started, stepAt  time.Time
	done, total      int64
}

func newLiveView(w io.Writer, color bool) *liveView {
	v := &liveView{w: w, color: color, nodes: map[string]*liveNode{}, stop: make(chan struct{}), done: make(chan struct{})}
	go v.tick()
	return v
}

func (v *liveView) tick() {
	defer close(v.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			v.redraw()
			v.mu.Unlock()
		}
	}
}

// Close stops redrawing and clears the live block.
func (v *liveView) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	v.mu.Unlock()
	close(v.stop)
	<-v.done
	v.mu.Lock()
	v.clear()
	v.mu.Unlock()
}

func (v *liveView) sink() tasks.Sink {
	return func(ev tasks.Event) {
		v.mu.Lock()
		defer v.mu.Unlock()
		n := v.nodes[ev.Node]
		switch ev.Type {
		case tasks.EventNodeStarted:
			v.nodes[ev.Node] = &liveNode{name: ev.Node, started: ev.At, stepAt: ev.At}
			return
		case tasks.EventStepStarted:
			if n != nil {
				n.step, n.note, n.stepAt, n.done, n.total = ev.Step, ev.Message, ev.At, 0, 0
			}
			return
		case tasks.EventProgress:
			if n != nil {
				n.done, n.total = ev.Done, ev.Total
				if ev.Message != "" {
					n.note = ev.Message
				}
			}
			return
		case tasks.EventStepDone, tasks.EventStepSkipped, tasks.EventBatchDone:
			return
		case tasks.EventRollback:
			if n != nil {
				n.step, n.note, n.stepAt = "rollback", "back to the previous release", ev.At
				if ev.Message == tasks.RollbackConfiguration {
					n.note = "back to the previous configuration"
				}
			}
		case tasks.EventNodeDone, tasks.EventNodeFailed:
			delete(v.nodes, ev.Node)
		}
		line := formatEvent(ev)
		if line == "" {
			return
		}
		if v.color {
			line = colorize(ev, line)
		}
		v.clear()
		fmt.Fprintf(v.w, "%s %s\n", ev.At.Local().Format("15:04:05"), line)
		v.redraw()
	}
}

// clear erases the live block.
func (v *liveView) clear() {
	for ; v.drawn > 0; v.drawn-- {
		fmt.Fprint(v.w, "\x1b[1A\x1b[2K")
	}
}

func (v *liveView) redraw() {
	if v.closed {
		return
	}
	v.clear()
	names := make([]string, 0, len(v.nodes))
	for name := range v.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := v.nodes[name]
		line := fmt.Sprintf("  %-10s %-13s %6s  %s", n.name, n.step, time.Since(n.stepAt).Round(time.Second), n.note)
		if n.total > 0 && n.done < n.total {
			line = fmt.Sprintf("  %-10s %-13s %6s  %s %s", n.name, n.step, time.Since(n.stepAt).Round(time.Second), bar(n.done, n.total), tasks.HumanBytes(n.total))
		}
		if len(line) > 120 {
			line = line[:117] + "..."
		}
		fmt.Fprintln(v.w, strings.TrimRight(line, " "))
		v.drawn++
	}
}

func bar(done, total int64) string {
	const width = 20
	k := int(done * width / max(total, 1))
	return "[" + strings.Repeat("=", k) + strings.Repeat(" ", width-k) + fmt.Sprintf("] %3d%%", done*100/max(total, 1))
}
