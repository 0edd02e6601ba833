package tasks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drover-sh/drover/transport"
)

// Conflicts of WSO2's update tool (exit 3): a file the operator customised
// that the update also changes is not merged. The tool writes
// <file>.original and <file>.new next to it, anywhere under home; the
// operator merges them into <file>.final and the update is continued with
// --continue. drover records the list in the node's journal (a note of the
// update step with the files, relative to home), so any controller knows
// it, and continues only when every listed file has its .final.

// UpdateConflicts is an update the tool stopped on conflicts, waiting for
// the operator's merges.
type UpdateConflicts struct {
	// Run is the run the tool stopped in; At when.
	Run string    `json:"run"`
	At  time.Time `json:"at"`
	// Files are the conflicting files, relative to home.
	Files []string `json:"files"`
	// MissingFinal are the Files that have no <file>.final on the node yet.
	MissingFinal []string `json:"missing_final"`
}

// Resolved says whether every conflicting file has its .final.
func (c *UpdateConflicts) Resolved() bool { return c != nil && len(c.MissingFinal) == 0 }

// conflictsIn returns the conflicts the journal last recorded for the
// update step, or nil when the update finished or was rolled back since.
func conflictsIn(recs []Record) *UpdateConflicts {
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		switch {
		case r.Step == "update" && r.Phase == PhaseEnd, r.Step == "rollback" && r.Phase == PhaseEnd:
			return nil
		case r.Step == "update" && r.Phase == PhaseNote && len(r.Files) > 0:
			return &UpdateConflicts{Run: r.Run, At: r.At, Files: r.Files}
		}
	}
	return nil
}

// conflictState checks, on the node, which of the recorded conflicting
// files have their .final. It returns nil when none of them has any of
// the tool's files (.original, .new, .final) left: the update was
// finished or reverted outside drover.
func conflictState(ctx context.Context, c Conn, home string, recorded *UpdateConflicts) (*UpdateConflicts, error) {
	if recorded == nil {
		return nil, nil
	}
	out, err := sh(ctx, c, fmt.Sprintf(`cd %s || exit 1
for f in %s; do
  fin=0; m=0
  [ -e "$f.final" ] && fin=1
  { [ -e "$f.original" ] || [ -e "$f.new" ]; } && m=1
  printf 'c%%s%%s %%s\n' "$fin" "$m" "$f"
done`, q(home), transport.QuoteAll(recorded.Files...)))
	cs := *recorded
	cs.MissingFinal = nil
	if err != nil {
		// Not knowing is counted as not merged.
		cs.MissingFinal = append([]string(nil), recorded.Files...)
		return &cs, err
	}
	any := false
	for _, l := range strings.Split(out, "\n") {
		if len(l) < 4 || l[0] != 'c' || l[3] != ' ' {
			continue
		}
		final, marker, f := l[1] == '1', l[2] == '1', l[4:]
		if final || marker {
			any = true
		}
		if !final {
			cs.MissingFinal = append(cs.MissingFinal, f)
		}
	}
	if !any {
		return nil, nil
	}
	return &cs, nil
}

// findConflicts lists the files under home that the update tool left a
// <file>.original and a <file>.new beside, relative to home.
func (j *Job) findConflicts(ctx context.Context) ([]string, error) {
	out, err := sh(ctx, j.Conn, j.vars()+`cd "$H"
find . -name '*.original' -type f 2>/dev/null | while IFS= read -r f; do
  b=${f%.original}
  if [ -e "$b.new" ]; then printf '%s\n' "${b#./}"; fi
done | LC_ALL=C sort`)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			files = append(files, l)
		}
	}
	return files, nil
}

// ConflictsError refuses to continue an update the tool stopped on
// conflicts while some conflicting file has no .final yet. Nothing was
// changed.
type ConflictsError struct {
	Node      string
	Home      string
	Conflicts *UpdateConflicts
}

func (e *ConflictsError) Error() string {
	c := e.Conflicts
	var b strings.Builder
	fmt.Fprintf(&b, "the update tool stopped on conflicts in %d file(s) (run %s) and %d still lack their merge: ", len(c.Files), c.Run, len(c.MissingFinal))
	for i, f := range c.MissingFinal {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (no %s.final)", f, f)
	}
	fmt.Fprintf(&b, "; on %s, in %s, merge each <file>.original and <file>.new into <file>.final, then run drover recover %s --resume (or drover recover %s --rollback to give the update up)",
		e.Node, e.Home, e.Node, e.Node)
	return b.String()
}

func (e *ConflictsError) Refused() bool { return true }
