package tasks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/drover-sh/drover/transport"
)

// Step outcomes in a RunHistory.
const (
	StepDone        = "done"
	StepFailed      = "failed"
	StepInterrupted = "interrupted" // began and never ended: the run stopped in it
	StepNote        = "note"        // a note with no step around it
)

// RunHistory is one run as a node's journal tells it: who ran it, when,
// how it ended and every step it went through, with durations.
type RunHistory struct {
	ID     string    `json:"id"`
	Owner  string    `json:"owner,omitempty"`
	Target string    `json:"target,omitempty"`
	Start  time.Time `json:"start"`
	// End is the time of the run's last record; for an interrupted run,
	// the last thing it wrote before it stopped.
	End        time.Time `json:"end"`
	DurationMS int64     `json:"duration_ms"`
	// Outcome is done, failed, rolled_back or interrupted.
	Outcome string `json:"outcome"`
	// Detail is what the run's last record says (the error of a failed run).
	Detail string `json:"detail,omitempty"`
	// StoppedAt is the step an interrupted run was in (or last failed).
	StoppedAt string        `json:"stopped_at,omitempty"`
	Steps     []StepHistory `json:"steps"`
}

// StepHistory is one step of a run: from its begin record to its end or
// fail record. Rollbacks and hooks run outside the step sequence are steps
// too, in the order they began.
type StepHistory struct {
	Step  string    `json:"step"`
	Start time.Time `json:"start"`
	// End is zero when the step never ended (the run stopped in it).
	End        time.Time `json:"end,omitzero"`
	DurationMS int64     `json:"duration_ms"`
	// Outcome is done, failed, interrupted, or note.
	Outcome string `json:"outcome"`
	// Summary is what the step was to do, as probed when it began.
	Summary string   `json:"summary,omitempty"`
	Error   string   `json:"error,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// Runs groups journal records into runs, oldest first. Records of one run
// need not be contiguous; a torn or foreign line is simply absent.
func Runs(recs []Record) []RunHistory {
	var h historyBuilder
	for _, r := range recs {
		h.add(r)
	}
	return h.runs()
}

// historyBuilder folds records into runs one at a time, so a journal can be
// streamed. With keep > 0 only the newest keep runs are held.
type historyBuilder struct {
	keep    int
	order   []*runState
	byID    map[string]*runState
	dropped map[string]bool // runs left out for being older than keep
}

type runState struct {
	RunHistory
	open     map[string]int // step name -> index of its open entry
	finished bool
}

func (h *historyBuilder) add(r Record) {
	if h.byID == nil {
		h.byID = map[string]*runState{}
	}
	rs := h.byID[r.Run]
	if rs == nil && h.dropped[r.Run] {
		return
	}
	if rs == nil {
		rs = &runState{RunHistory: RunHistory{ID: r.Run, Start: r.At}, open: map[string]int{}}
		h.byID[r.Run] = rs
		h.order = append(h.order, rs)
		if h.keep > 0 && len(h.order) > h.keep {
			if h.dropped == nil {
				h.dropped = map[string]bool{}
			}
			h.dropped[h.order[0].ID] = true
			delete(h.byID, h.order[0].ID)
			h.order = h.order[1:]
		}
	}
	rs.add(r)
}

func (rs *runState) add(r Record) {
	if rs.Owner == "" {
		rs.Owner = r.Owner
	}
	if rs.Target == "" {
		rs.Target = r.Target
	}
	if r.At.Before(rs.Start) {
		rs.Start = r.At
	}
	if r.At.After(rs.End) {
		rs.End = r.At
	}
	if r.Step == "run" {
		if r.Phase != PhaseBegin {
			rs.Outcome, rs.Detail, rs.finished = r.Phase, r.Detail, true
		} else {
			// A run that reconnected writes its begin again: not finished.
			rs.finished = false
		}
		return
	}
	switch r.Phase {
	case PhaseBegin:
		rs.Steps = append(rs.Steps, StepHistory{Step: r.Step, Start: r.At, Outcome: StepInterrupted, Summary: r.Detail})
		rs.open[r.Step] = len(rs.Steps) - 1
	case PhaseEnd, PhaseFail:
		i, ok := rs.open[r.Step]
		if !ok {
			// An end or failure without its begin (a hook that failed
			// outside the step sequence): a step of no length.
			rs.Steps = append(rs.Steps, StepHistory{Step: r.Step, Start: r.At})
			i = len(rs.Steps) - 1
		}
		delete(rs.open, r.Step)
		s := &rs.Steps[i]
		s.End, s.DurationMS = r.At, r.At.Sub(s.Start).Milliseconds()
		s.Outcome = StepDone
		if r.Phase == PhaseFail {
			s.Outcome, s.Error = StepFailed, r.Detail
		}
		if r.Step == "rollback" && !rs.finished {
			// recover --rollback writes no run record of its own.
			rs.Outcome, rs.Detail = OutcomeRolledBack, ""
			if r.Phase == PhaseFail {
				rs.Outcome, rs.Detail = OutcomeFailed, r.Detail
			}
		}
	case PhaseNote:
		for i := len(rs.Steps) - 1; i >= 0; i-- {
			if rs.Steps[i].Step == r.Step {
				rs.Steps[i].Notes = append(rs.Steps[i].Notes, r.Detail)
				return
			}
		}
		rs.Steps = append(rs.Steps, StepHistory{Step: r.Step, Start: r.At, End: r.At, Outcome: StepNote, Notes: []string{r.Detail}})
	}
}

// runs returns the runs held, oldest first, with their outcomes settled.
func (h *historyBuilder) runs() []RunHistory {
	out := make([]RunHistory, 0, len(h.order))
	for _, rs := range h.order {
		r := rs.RunHistory
		r.Steps = slices.Clone(r.Steps)
		if len(rs.open) > 0 || r.Outcome == "" {
			// Never finished: the journal is the truth, the run stopped.
			r.Outcome = OutcomeInterrupted
		}
		if r.Outcome == OutcomeInterrupted || r.Outcome == OutcomeFailed || r.Outcome == OutcomeRolledBack {
			for i := len(r.Steps) - 1; i >= 0; i-- {
				if s := r.Steps[i]; s.Outcome == StepInterrupted || s.Outcome == StepFailed {
					r.StoppedAt = s.Step
					break
				}
			}
			if r.StoppedAt == "" && r.Outcome == OutcomeInterrupted && len(r.Steps) > 0 {
				r.StoppedAt = r.Steps[len(r.Steps)-1].Step
			}
		}
		r.DurationMS = r.End.Sub(r.Start).Milliseconds()
		out = append(out, r)
	}
	return out
}

// History is what ReadHistory found in one node's journal.
type History struct {
	// Runs are the newest runs, newest first.
	Runs []RunHistory `json:"runs"`
	// Total is how many runs the journal holds; more than len(Runs) when
	// older ones were left out.
	Total int `json:"total"`
	// Records is how many journal lines were read.
	Records int `json:"records"`
}

// ReadHistory reads the node's whole journal, read-only, streaming it so a
// long journal costs memory only for the runs kept: the newest max runs
// (all of them when max <= 0).
func ReadHistory(ctx context.Context, c Conn, p Paths, max int) (*History, error) {
	h := &historyBuilder{keep: max}
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		n := 0
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r Record
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Step != "" {
				h.add(r)
				n++
			}
		}
		// A line too long to be drover's: skip the rest rather than block.
		io.Copy(io.Discard, pr)
		done <- n
	}()
	script := fmt.Sprintf("if [ -f %[1]s ]; then cat %[1]s; fi", q(p.Journal()))
	_, err := c.Run(ctx, "sh -c "+q(script), transport.RunOptions{Stdout: pw, MaxOutput: -1})
	pw.Close()
	n := <-done
	if err != nil {
		return nil, fmt.Errorf("tasks: read journal %s: %w", p.Journal(), err)
	}
	runs := h.runs()
	slices.Reverse(runs)
	return &History{Runs: runs, Total: len(runs) + len(h.dropped), Records: n}, nil
}
