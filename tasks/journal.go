package tasks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Journal phases.
const (
	PhaseBegin = "begin"
	PhaseEnd   = "end"
	PhaseFail  = "fail"
	PhaseNote  = "note"
)

// Run outcomes, recorded as the phase of the "run" pseudo-step's last
// record.
const (
	OutcomeDone        = "done"
	OutcomeFailed      = "failed"
	OutcomeRolledBack  = "rolled_back"
	OutcomeInterrupted = "interrupted"
	OutcomeSkipped     = "up_to_date"
)

// Record is one line of a node's journal. Secrets never go in a record:
// details are written by drover, never copied from a command's output
// that could hold them.
type Record struct {
	At     time.Time         `json:"at"`
	Run    string            `json:"run"`
	Owner  string            `json:"owner,omitempty"`
	Step   string            `json:"step"`
	Phase  string            `json:"phase"`
	Target string            `json:"target,omitempty"`
	Detail string            `json:"detail,omitempty"`
	Sums   map[string]string `json:"sums,omitempty"`
	// Files are paths relative to home the record is about: the files
	// the update tool stopped on as conflicts.
	Files []string `json:"files,omitempty"`
}

// appendScript returns a shell fragment that appends rec to the journal.
func appendScript(p Paths, rec Record) string {
	if rec.At.IsZero() {
		rec.At = time.Now().UTC()
	}
	b, _ := json.Marshal(rec)
	return fmt.Sprintf("mkdir -p %s && printf '%%s\\n' %s >> %s", q(p.State), q(string(b)), q(p.Journal()))
}

// Append writes one record to the node's journal.
func Append(ctx context.Context, c Conn, p Paths, rec Record) error {
	if _, err := sh(ctx, c, appendScript(p, rec)); err != nil {
		return fmt.Errorf("tasks: write journal %s: %w", p.Journal(), err)
	}
	return nil
}

// ParseJournal reads journal lines; lines that do not parse (a torn last
// line after a crash) are skipped.
func ParseJournal(text string) []Record {
	var out []Record
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Step != "" {
			out = append(out, r)
		}
	}
	return out
}

// LastRun summarises the newest run in a journal.
type LastRun struct {
	ID      string    `json:"id"`
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
	// Step is the last step the run began, for interrupted runs.
	Step   string `json:"step,omitempty"`
	Target string `json:"target,omitempty"`
}

// LastRunOf returns the newest run of the journal, or nil. A run whose last
// record is not a final "run" record is reported as interrupted at the last
// step it began.
func LastRunOf(recs []Record) *LastRun {
	if len(recs) == 0 {
		return nil
	}
	last := recs[len(recs)-1]
	lr := &LastRun{ID: last.Run, At: last.At, Outcome: OutcomeInterrupted, Target: last.Target}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Run != lr.ID {
			break
		}
		if i == len(recs)-1 {
			switch {
			case r.Step == "run" && r.Phase != PhaseBegin:
				lr.Outcome = r.Phase
			case r.Step == "rollback" && r.Phase == PhaseEnd:
				// A rollback on its own (drover recover --rollback).
				lr.Outcome = OutcomeRolledBack
			}
		}
		if lr.Step == "" && r.Step != "run" && (r.Phase == PhaseBegin || r.Phase == PhaseFail) {
			lr.Step = r.Step
		}
		if r.Target != "" && lr.Target == "" {
			lr.Target = r.Target
		}
	}
	return lr
}

// journalTail is how many journal lines a probe reads.
const journalTail = 400
