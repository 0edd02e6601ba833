package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/drover-sh/drover/tasks/rollout"
)

// The timeline of `drover runs show`: one row per node on a shared time
// axis, each cell showing the step that took most of its time, downtime
// (stop to healthy) drawn as '#' or, with colour, on a red background.

const (
	cellBusy   = '.' // the node's run, between steps (probing, connecting)
	cellDown   = '#' // out of service, without colour
	cellFailed = '!' // a step that failed
	minBar     = 10
)

// canonicalSteps fixes the order letters are handed out in, so the same
// step gets the same letter in every chart.
var canonicalSteps = []string{"preflight", "stage", "configure", "optimize", "before_stop", "stop", "backup", "update",
	"persist", "switch", "start", "after_start", "health", "after_healthy", "rollback"}

// stepLetters gives every step that ran a letter: its first letter not yet
// taken, else the next one of its name, else any free one.
func stepLetters(tl *rollout.Timeline) (map[string]byte, []string) {
	seen := map[string]bool{}
	for _, n := range tl.Nodes {
		for _, s := range n.Steps {
			if s.Outcome != rollout.StepSkipped {
				seen[s.Step] = true
			}
		}
	}
	var order []string
	for _, s := range canonicalSteps {
		if seen[s] {
			order = append(order, s)
			delete(seen, s)
		}
	}
	var rest []string
	for s := range seen {
		rest = append(rest, s)
	}
	slices.Sort(rest)
	order = append(order, rest...)
	used := map[byte]bool{}
	letters := map[string]byte{}
	for _, s := range order {
		cands := strings.ToLower(s) + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		for i := 0; i < len(cands); i++ {
			c := cands[i]
			if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && !used[c] {
				letters[s], used[c] = c, true
				break
			}
		}
	}
	return letters, order
}

// renderTimeline draws tl in width columns.
func renderTimeline(w io.Writer, tl *rollout.Timeline, width int, color bool) {
	status := "done"
	switch {
	case tl.Interrupted:
		status = "interrupted"
	case tl.Halted:
		status = "halted"
	}
	fmt.Fprintf(w, "run %s (cluster %s): %s\n", tl.Run, tl.Cluster, status)
	writeWrapped(w, fmt.Sprintf("started %s, by %s", utc(tl.Start), dash(tl.Owner)), width, "  ")
	fmt.Fprintln(w)
	if !tl.Timed {
		fmt.Fprintln(w, "(this record has no step timings: it was written by an older drover)")
	}
	letters, order := stepLetters(tl)

	nameW := len("NODE")
	right := make([]string, len(tl.Nodes))
	rightW := len(fmt.Sprintf("%6s  %6s", "TOTAL", "DOWN"))
	for i, n := range tl.Nodes {
		nameW = max(nameW, len(n.Node))
		total, down := "-", "-"
		if !n.Start.IsZero() {
			total = dur(n.ElapsedMS)
		}
		if !n.DownStart.IsZero() {
			down = dur(n.DowntimeMS)
		}
		right[i] = fmt.Sprintf("%6s  %6s", total, down)
		rightW = max(rightW, len(right[i]))
	}
	bar := max(width-nameW-rightW-2, minBar)
	span := max(tl.End.Sub(tl.Start), time.Millisecond)
	labels, ruler := axis(span, bar)
	fmt.Fprintf(w, "%-*s %s %s\n", nameW, "NODE", padRight(labels, bar), fmt.Sprintf("%6s  %6s", "TOTAL", "DOWN"))
	fmt.Fprintf(w, "%-*s %s\n", nameW, "", ruler)
	for i, n := range tl.Nodes {
		fmt.Fprintf(w, "%-*s %s %s\n", nameW, n.Node, nodeBar(n, tl, bar, letters, color), right[i])
	}

	// The legend, wrapped to the width.
	fmt.Fprintln(w)
	items := make([]string, 0, len(order)+3)
	for _, s := range order {
		items = append(items, fmt.Sprintf("%c %s", letters[s], s))
	}
	items = append(items, ". between steps")
	if color {
		items = append(items, "\x1b[41m \x1b[0m down (stop to healthy)")
	} else {
		items = append(items, "# down (stop to healthy)")
	}
	items = append(items, "! failed")
	line := "legend:"
	for _, it := range items {
		if visibleLen(line)+2+visibleLen(it) > width && line != "" {
			fmt.Fprintln(w, line)
			line = "       "
		}
		line += "  " + it
	}
	fmt.Fprintln(w, line)

	// The totals.
	fmt.Fprintln(w)
	fmt.Fprintf(w, "wall time  %s\n", dur(tl.WallMS))
	if d := tl.Downtime; d.Nodes > 0 {
		fmt.Fprintf(w, "downtime   mean %s, worst %s (%s), over %s\n", dur(d.MeanMS), dur(d.WorstMS), d.WorstNode, plural(d.Nodes, "node"))
	} else {
		fmt.Fprintln(w, "downtime   none")
	}
	for _, wv := range tl.Waves {
		fmt.Fprintf(w, "wave %-5d %-*s %6s  %s\n", wv.Wave, waveW(tl), wv.Profile, dur(wv.ElapsedMS), plural(wv.Nodes, "node"))
	}
	for _, n := range tl.Nodes {
		if n.Outcome == rollout.OutcomeDone {
			continue
		}
		line := n.Node + ": " + strings.ReplaceAll(n.Outcome, "_", " ")
		if n.Error != "" {
			line += ": " + strings.TrimPrefix(n.Error, n.Node+": ")
		}
		writeWrapped(w, line, width, "    ")
	}
}

// writeWrapped writes s in lines of at most width columns, breaking at
// spaces; continuation lines start with indent.
func writeWrapped(w io.Writer, s string, width int, indent string) {
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width && strings.TrimSpace(line) != "":
			fmt.Fprintln(w, line)
			line = indent + word
		default:
			line += " " + word
		}
	}
	fmt.Fprintln(w, line)
}

func waveW(tl *rollout.Timeline) int {
	n := 0
	for _, w := range tl.Waves {
		n = max(n, len(w.Profile))
	}
	return n
}

// nodeBar draws one node's row: each cell is the step with the most time
// in it, downtime highlighted.
func nodeBar(n rollout.NodeTimeline, tl *rollout.Timeline, bar int, letters map[string]byte, color bool) string {
	cells := []byte(strings.Repeat(" ", bar))
	down := make([]bool, bar)
	if n.Start.IsZero() {
		return string(cells)
	}
	span := max(tl.End.Sub(tl.Start), time.Millisecond)
	cellDur := float64(span) / float64(bar)
	at := func(i int) time.Time { return tl.Start.Add(time.Duration(float64(i) * cellDur)) }
	end := n.End
	if end.IsZero() {
		end = tl.End
	}
	for i := range bar {
		from, to := at(i), at(i+1)
		mid := from.Add(to.Sub(from) / 2)
		if to.After(n.Start) && from.Before(end) {
			cells[i] = cellBusy
		}
		var best time.Duration
		for _, s := range n.Steps {
			if s.Outcome == rollout.StepSkipped {
				continue
			}
			se := s.End
			if se.IsZero() {
				se = end
			}
			ov := minTime(se, to).Sub(maxTime(s.Start, from))
			if se.Equal(s.Start) || ov <= best {
				continue
			}
			best = ov
			cells[i] = letters[s.Step]
			if s.Outcome == rollout.StepFailed {
				cells[i] = cellFailed
			}
		}
		if !n.DownStart.IsZero() {
			de := n.DownEnd
			if de.IsZero() {
				de = end
			}
			down[i] = !mid.Before(n.DownStart) && mid.Before(de)
		}
	}
	var b strings.Builder
	inDown := false
	for i, c := range cells {
		switch {
		case !color:
			if down[i] && c != cellFailed { // a failure shows through
				c = cellDown
			}
		case down[i] && !inDown:
			b.WriteString("\x1b[41m")
			inDown = true
		case !down[i] && inDown:
			b.WriteString("\x1b[0m")
			inDown = false
		}
		b.WriteByte(c)
	}
	if inDown {
		b.WriteString("\x1b[0m")
	}
	return b.String()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// tickSteps are the axis intervals, in order.
var tickSteps = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// axis returns the time labels and the ruler of a bar of width cells
// spanning span: ticks at the smallest round interval that leaves room
// for the labels.
func axis(span time.Duration, width int) (string, string) {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if float64(s)/float64(span)*float64(width) >= 8 {
			step = s
			break
		}
	}
	labels := []byte(strings.Repeat(" ", width))
	ruler := []byte(strings.Repeat("-", width))
	next := 0
	for t := time.Duration(0); t <= span; t += step {
		c := int(float64(t) / float64(span) * float64(width))
		if c >= width {
			break
		}
		ruler[c] = '|'
		l := tickLabel(t)
		if c >= next && c+len(l) <= width {
			copy(labels[c:], l)
			next = c + len(l) + 1
		}
	}
	return strings.TrimRight(string(labels), " "), string(ruler)
}

func tickLabel(t time.Duration) string {
	switch {
	case t == 0:
		return "0"
	case t%time.Hour == 0:
		return fmt.Sprintf("%dh", int(t.Hours()))
	case t%time.Minute == 0:
		return fmt.Sprintf("%dm", int(t.Minutes()))
	case t >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(t.Minutes()), int(t.Seconds())%60)
	default:
		return fmt.Sprintf("%ds", int(t.Seconds()))
	}
}

func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// visibleLen is the length of s without its colour sequences.
func visibleLen(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case r == '\x1b':
			esc = true
		case esc && r == 'm':
			esc = false
		case !esc:
			n++
		}
	}
	return n
}

func utc(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
