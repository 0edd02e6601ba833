package tasks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/transport"
)

var t0 = time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)

// rec is a journal record at t0 plus sec seconds.
func rec(run string, sec float64, step, phase, detail string) tasks.Record {
	return tasks.Record{At: t0.Add(time.Duration(sec * float64(time.Second))), Run: run, Owner: "ops@ctl pid 1",
		Step: step, Phase: phase, Detail: detail, Target: "pack:abc level:12"}
}

func historyJournal() []tasks.Record {
	return []tasks.Record{
		// A: done, every step timed, a note inside persist.
		rec("A", 0, "run", "begin", ""),
		rec("A", 0, "preflight", "begin", "checks"),
		rec("A", 1, "preflight", "end", ""),
		rec("A", 1, "stop", "begin", "stop the server"),
		rec("A", 4, "stop", "end", ""),
		rec("A", 4, "persist", "begin", "copy data"),
		rec("A", 5, "persist", "note", "copied and verified"),
		rec("A", 6, "persist", "end", ""),
		rec("A", 6, "health", "begin", ""),
		rec("A", 16, "health", "end", ""),
		rec("A", 16, "run", "done", ""),
		// B: health failed, rolled back with its hooks.
		rec("B", 100, "run", "begin", ""),
		rec("B", 100, "stop", "begin", ""),
		rec("B", 102, "stop", "end", ""),
		rec("B", 102, "health", "begin", ""),
		rec("B", 110, "health", "fail", "timed out"),
		rec("B", 110, "rollback", "begin", ""),
		rec("B", 115, "after_healthy", "begin", ""),
		rec("B", 116, "after_healthy", "end", ""),
		rec("B", 116, "rollback", "end", ""),
		rec("B", 116, "run", "rolled_back", "gw-1: health: timed out"),
		// C: killed during the stop.
		rec("C", 200, "run", "begin", ""),
		rec("C", 200, "preflight", "begin", ""),
		rec("C", 201, "preflight", "end", ""),
		rec("C", 201, "stop", "begin", ""),
		// D: recover --rollback, no run record.
		rec("D", 300, "rollback", "begin", ""),
		rec("D", 303, "rollback", "end", ""),
	}
}

func TestRunsFromJournal(t *testing.T) {
	runs := tasks.Runs(historyJournal())
	if len(runs) != 4 {
		t.Fatalf("got %d runs, want 4: %+v", len(runs), runs)
	}
	a, b, c, d := runs[0], runs[1], runs[2], runs[3]
	if a.ID != "A" || a.Outcome != tasks.OutcomeDone || a.DurationMS != 16000 || a.Owner != "ops@ctl pid 1" || a.StoppedAt != "" {
		t.Errorf("A: %+v", a)
	}
	wantSteps := "preflight 1000 done|stop 3000 done|persist 2000 done|health 10000 done"
	if got := stepLine(a); got != wantSteps {
		t.Errorf("A steps: %s, want %s", got, wantSteps)
	}
	if a.Steps[2].Notes[0] != "copied and verified" || a.Steps[1].Summary != "stop the server" {
		t.Errorf("A persist notes / stop summary: %+v", a.Steps)
	}
	if b.Outcome != tasks.OutcomeRolledBack || b.StoppedAt != "health" || b.Detail != "gw-1: health: timed out" {
		t.Errorf("B: %+v", b)
	}
	if got := stepLine(b); got != "stop 2000 done|health 8000 failed|rollback 6000 done|after_healthy 1000 done" {
		t.Errorf("B steps: %s", got)
	}
	if b.Steps[1].Error != "timed out" {
		t.Errorf("B health error: %q", b.Steps[1].Error)
	}
	if c.Outcome != tasks.OutcomeInterrupted || c.StoppedAt != "stop" || !c.Steps[1].End.IsZero() || c.Steps[1].Outcome != tasks.StepInterrupted {
		t.Errorf("C: %+v", c)
	}
	if d.Outcome != tasks.OutcomeRolledBack || stepLine(d) != "rollback 3000 done" {
		t.Errorf("D: %+v", d)
	}
	// The JSON of an unfinished step has no end.
	js, _ := json.Marshal(c.Steps[1])
	if strings.Contains(string(js), `"end"`) {
		t.Errorf("interrupted step JSON has an end: %s", js)
	}
}

func TestRunsAgreesWithLastRun(t *testing.T) {
	recs := historyJournal()
	for n := 1; n <= len(recs); n++ {
		runs := tasks.Runs(recs[:n])
		lr := tasks.LastRunOf(recs[:n])
		last := runs[len(runs)-1]
		if last.ID != lr.ID || last.Outcome != lr.Outcome {
			t.Fatalf("after %d records: history says %s %s, status says %s %s", n, last.ID, last.Outcome, lr.ID, lr.Outcome)
		}
	}
}

func stepLine(r tasks.RunHistory) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, fmt.Sprintf("%s %d %s", st.Step, st.DurationMS, st.Outcome))
	}
	return strings.Join(s, "|")
}

// localConn runs commands on this machine: enough for reading a journal.
type localConn struct{}

func (localConn) Run(ctx context.Context, cmd string, opts transport.RunOptions) (*transport.Result, error) {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	var out bytes.Buffer
	c.Stdout = &out
	if opts.Stdout != nil {
		c.Stdout = opts.Stdout
	}
	err := c.Run()
	return &transport.Result{Stdout: out.Bytes()}, err
}
func (localConn) Upload(context.Context, string, string, transport.UploadOptions) (transport.UploadResult, error) {
	return transport.UploadResult{}, nil
}
func (localConn) DialTCP(context.Context, string) (net.Conn, error) { return nil, nil }
func (localConn) HTTPClient(bool) *http.Client                      { return nil }

// TestReadHistoryWholeJournal: a journal far longer than the probe's tail
// is read whole; only the newest runs are kept, newest first.
func TestReadHistoryWholeJournal(t *testing.T) {
	home := filepath.Join(t.TempDir(), "wso2am-4.4.0")
	p := tasks.NewPaths(home)
	if err := os.MkdirAll(p.State, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	const total = 300
	for i := range total {
		id := fmt.Sprintf("R%03d", i)
		for _, r := range []tasks.Record{rec(id, float64(i*10), "run", "begin", ""), rec(id, float64(i*10), "stage", "begin", ""),
			rec(id, float64(i*10+2), "stage", "end", ""), rec(id, float64(i*10+3), "run", "done", "")} {
			enc.Encode(r)
		}
	}
	buf.WriteString("{\"torn\n") // a torn last line
	if err := os.WriteFile(p.Journal(), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := tasks.ReadHistory(context.Background(), localConn{}, p, 5)
	if err != nil {
		t.Fatal(err)
	}
	if h.Total != total || h.Records != 4*total || len(h.Runs) != 5 || h.Runs[0].ID != "R299" || h.Runs[4].ID != "R295" {
		t.Fatalf("total %d records %d runs %d first %s", h.Total, h.Records, len(h.Runs), h.Runs[0].ID)
	}
	if h.Runs[0].Steps[0].DurationMS != 2000 || h.Runs[0].Outcome != tasks.OutcomeDone {
		t.Fatalf("newest run: %+v", h.Runs[0])
	}
	all, err := tasks.ReadHistory(context.Background(), localConn{}, p, 0)
	if err != nil || len(all.Runs) != total || all.Runs[total-1].ID != "R000" {
		t.Fatalf("all: %v %d", err, len(all.Runs))
	}
	// No journal yet: no runs, no error.
	none, err := tasks.ReadHistory(context.Background(), localConn{}, tasks.NewPaths(filepath.Join(t.TempDir(), "x", "home")), 5)
	if err != nil || len(none.Runs) != 0 || none.Total != 0 {
		t.Fatalf("no journal: %v %+v", err, none)
	}
}
