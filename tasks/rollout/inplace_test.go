package rollout_test

import (
	"context"
	"errors"
	"github.com/drover-sh/drover/tasks/apim"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// inPlace rewrites a lab's inventory to the in-place strategy.
func inPlace(t *testing.T, l *lab.Lab, level int) {
	t.Helper()
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)update \{.*?\n\}`)
	out := re.ReplaceAllString(string(b), "update {\n  strategy = \"in-place\"\n  level    = "+itoa(level)+"\n}")
	if err := os.WriteFile(l.Inventory, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func setupInPlace(t *testing.T, l *lab.Lab, rec *recorder) *rollout.Options {
	inv := labtest.Inventory(t, l)
	conns := rollout.NewConns(rollout.TransportDialer(nil))
	t.Cleanup(conns.Close)
	return &rollout.Options{Inv: inv, Nodes: inv.Ordered(), Product: apim.Product{}, Conns: conns, Parallel: 4,
		Run: "run-" + t.Name(), Owner: "test", Sink: rec.sink(), Poll: 200e6}
}

func TestInPlaceUpdateWithTheUpdateTool(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops@example.com")
	t.Setenv("UPDATE_TOOL_PASSWORD", "s3cret-pw")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "cp=1,gw=1")})
	inPlace(t, l, l.Level+1)
	rec := &recorder{}
	o := setupInPlace(t, l, rec)
	p := plan(t, o)
	if p.Summary.Update != 2 {
		t.Fatalf("plan = %+v %v", p.Summary, p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d, want %d", n.Name, got, l.Level+1)
		}
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			t.Errorf("%s not running", n.Name)
		}
		j, _ := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
		if strings.Contains(string(j), "s3cret-pw") {
			t.Errorf("%s: the journal holds the update tool password", n.Name)
		}
		if _, err := os.Stat(filepath.Join(stateDir(n), "backups", "level-"+itoa(l.Level), "MANIFEST")); err != nil {
			t.Errorf("%s: no verified backup: %v", n.Name, err)
		}
	}
	// profileSetup ran again after the update: the gateway has no publisher webapp.
	gw := l.Nodes[1]
	if _, err := os.Stat(filepath.Join(gw.Home, "repository/deployment/server/webapps/api#am#publisher.war")); err == nil {
		t.Error("the update brought the publisher webapp back to the gateway and profileSetup did not remove it")
	}
	for _, e := range rec.events {
		if strings.Contains(e.Message+e.Error, "s3cret-pw") {
			t.Errorf("an event shows the password: %+v", e)
		}
	}
}

func TestInPlaceRefusesWithoutCredentialsBeforeStopping(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "")
	t.Setenv("UPDATE_TOOL_PASSWORD", "")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	inPlace(t, l, l.Level+1)
	o := setupInPlace(t, l, &recorder{})
	_, err := apply(t, o, plan(t, o))
	// Refused while planning, before any node is touched.
	var re *rollout.RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "UPDATE_TOOL_USERNAME") {
		t.Fatalf("apply = %v, want a refusal naming the credentials", err)
	}
	if c := stopEvents(t, l.Nodes[0]); c != 0 {
		t.Error("the node was stopped although the run could not update it")
	}
}

func TestInPlaceRollbackRestoresTheBackup(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops")
	t.Setenv("UPDATE_TOOL_PASSWORD", "pw")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1"), Rollout: shortHealth})
	inPlace(t, l, l.Level+1)
	fault(t, l.Nodes[0], apimsim.Faults{OnlyLevel: l.Level + 1, FailStart: true})
	o := setupInPlace(t, l, &recorder{})
	rep, err := apply(t, o, plan(t, o))
	if err == nil || rep.Nodes[0].Outcome != rollout.OutcomeRolledBack {
		t.Fatalf("apply = %v, outcome %+v; want rolled back", err, rep.Nodes)
	}
	if got := level(t, l.Nodes[0].Home); got != l.Level {
		t.Errorf("level %d after rollback, want %d", got, l.Level)
	}
	if _, alive := apimsim.PIDAlive(l.Nodes[0].Home); !alive {
		t.Error("not running after rollback")
	}
}

// conflictFiles are the files the simulated update tool stops on.
var conflictFiles = []string{
	"repository/conf/log4j2.properties",
	"repository/deployment/server/synapse-configs/default/sequences/main.xml",
}

func journalOf(t *testing.T, n *lab.Node) []tasks.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return tasks.ParseJournal(string(b))
}

func probeFacts(t *testing.T, o *rollout.Options, n *inventory.Node) *tasks.Facts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := o.Conns.Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return tasks.Probe(ctx, c, o.Inv, n, tasks.ProbeOptions{})
}

// TestInPlaceConflictsStopAndResumeWithTheMergedFiles: the update tool
// stops on conflicts (exit 3); drover records the files in the journal,
// leaves the node stopped (a rollback would revert the conflicts away) and
// shows them in the plan; a resume without every <file>.final is refused
// before anything changes, naming the files still missing theirs; once
// they are written the resume runs the tool with --continue and finishes.
func TestInPlaceConflictsStopAndResumeWithTheMergedFiles(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops")
	t.Setenv("UPDATE_TOOL_PASSWORD", "pw")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1"), Rollout: shortHealth})
	inPlace(t, l, l.Level+1)
	n := l.Nodes[0]
	fault(t, n, apimsim.Faults{Conflicts: conflictFiles})
	o := setupInPlace(t, l, &recorder{})
	rep, err := apply(t, o, plan(t, o))
	if err == nil || rep.Nodes[0].Outcome != rollout.OutcomeFailed {
		t.Fatalf("apply = %v, outcome %+v; want failed on the conflicts", err, rep.Nodes)
	}
	t.Logf("the conflicted run: %v", err)
	for _, f := range conflictFiles {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("the error does not name %s: %v", f, err)
		}
		for _, suf := range []string{".original", ".new"} {
			if _, err := os.Stat(filepath.Join(n.Home, f+suf)); err != nil {
				t.Errorf("no %s%s beside the file: %v", f, suf, err)
			}
		}
	}
	if got := level(t, n.Home); got != l.Level {
		t.Fatalf("level %d after the conflicts, want %d", got, l.Level)
	}
	if _, alive := apimsim.PIDAlive(n.Home); alive {
		t.Error("the node runs: a conflicted update must leave it stopped for the merge")
	}
	var noted []string
	for _, r := range journalOf(t, n) {
		if r.Step == "update" && r.Phase == tasks.PhaseNote {
			noted = r.Files
		}
		if r.Step == "rollback" {
			t.Errorf("the conflicts were rolled back: %+v", r)
		}
	}
	if strings.Join(noted, ",") != strings.Join(conflictFiles, ",") {
		t.Fatalf("journal conflict files = %v, want %v", noted, conflictFiles)
	}

	// Any controller sees them: the probe reads the journal and the node.
	f := probeFacts(t, o, o.Nodes[0])
	if c := f.UpdateConflicts; c == nil || strings.Join(c.MissingFinal, ",") != strings.Join(conflictFiles, ",") {
		t.Fatalf("facts conflicts = %+v", f.UpdateConflicts)
	}

	// Resume without the merges: refused (exit 3) before anything changes.
	os.WriteFile(filepath.Join(n.Home, conflictFiles[0]+".final"), []byte("merged log4j\n"), 0o644)
	jlen, stops := len(journalOf(t, n)), stopEvents(t, n)
	p := plan(t, o)
	if p.Summary.Blocked != 1 {
		t.Fatalf("plan = %+v, want the node blocked", p.Summary)
	}
	_, err = apply(t, o, p)
	var rc interface{ Refused() bool }
	if !errors.As(err, &rc) || !rc.Refused() || !strings.Contains(err.Error(), conflictFiles[1]+".final") || strings.Contains(err.Error(), "no "+conflictFiles[0]+".final") {
		t.Fatalf("apply = %v, want a refusal naming only %s", err, conflictFiles[1])
	}
	t.Logf("the refused resume: %v", err)
	j := &tasks.Job{Inv: o.Inv, Node: o.Nodes[0], Paths: tasks.NewPaths(n.Home), Product: apim.Product{}, Run: "recover", Owner: "test", Sink: func(tasks.Event) {}}
	j.Conn, _ = o.Conns.Get(context.Background(), o.Nodes[0])
	var ce *tasks.ConflictsError
	if _, err := j.PlanNode(context.Background()); !errors.As(err, &ce) || !errors.As(err, &rc) || len(ce.Conflicts.MissingFinal) != 1 {
		t.Fatalf("recover --resume's plan = %v, want a refusal on the missing .final", err)
	}
	if len(journalOf(t, n)) != jlen || stopEvents(t, n) != stops || level(t, n.Home) != l.Level {
		t.Fatal("a refused resume changed the node")
	}
	for _, f := range conflictFiles {
		if _, err := os.Stat(filepath.Join(n.Home, f+".new")); err != nil {
			t.Errorf("a refused resume removed %s.new", f)
		}
	}

	// Every merge written: the resume continues and completes.
	os.WriteFile(filepath.Join(n.Home, conflictFiles[1]+".final"), []byte("<merged/>\n"), 0o644)
	p = plan(t, o)
	np := p.Nodes()
	if len(np) != 1 || np[0].Action != rollout.ActionResume {
		t.Fatalf("plan = %+v %v, want the node resumed", p.Summary, p.Warnings)
	}
	for _, s := range np[0].Steps {
		if s.Name == "update" && (!strings.Contains(s.Summary, "--continue") || len(s.Details) != 2) {
			t.Errorf("update step = %+v", s)
		}
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got := level(t, n.Home); got != l.Level+1 {
		t.Errorf("level %d after the resume, want %d", got, l.Level+1)
	}
	if b, _ := os.ReadFile(filepath.Join(n.Home, conflictFiles[0])); string(b) != "merged log4j\n" {
		t.Errorf("%s = %q, want the merge", conflictFiles[0], b)
	}
	if _, alive := apimsim.PIDAlive(n.Home); !alive {
		t.Error("not running after the resume")
	}
	if f := probeFacts(t, o, o.Nodes[0]); f.UpdateConflicts != nil {
		t.Errorf("conflicts still reported after the update: %+v", f.UpdateConflicts)
	}
}

// TestInPlacePreflightRefusals: a node without the disk space the update
// tool asks for, without a usable JAVA_HOME or without the update tool is
// refused while planning, before any node is touched.
func TestInPlacePreflightRefusals(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops")
	t.Setenv("UPDATE_TOOL_PASSWORD", "pw")
	cases := []struct {
		name  string
		spoil func(t *testing.T, n *lab.Node)
		want  []string
	}{
		{"low disk", func(t *testing.T, n *lab.Node) {
			os.MkdirAll(n.ShimDir(), 0o755)
			shim := "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\necho '/dev/fake 1000000 999900 100 100% /'\n"
			if err := os.WriteFile(filepath.Join(n.ShimDir(), "df"), []byte(shim), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"not enough disk space for the update tool", "100.0 KiB free", "3 x ", "the product home less its logs and persisted data standing in for the pack size"}},
		{"no java", func(t *testing.T, n *lab.Node) {
			if err := os.Remove(filepath.Join(n.JavaHome(), "bin", "java")); err != nil {
				t.Fatal(err)
			}
		}, []string{"JAVA_HOME is \"", "/bin/java is not an executable file"}},
		{"no update tool", func(t *testing.T, n *lab.Node) {
			if err := os.Remove(filepath.Join(n.Home, "bin", "wso2update_linux")); err != nil {
				t.Fatal(err)
			}
		}, []string{"bin/wso2update_linux is missing or not executable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=2")})
			inPlace(t, l, l.Level+1)
			t0 := time.Now()
			c.spoil(t, l.Nodes[1])
			o := setupInPlace(t, l, &recorder{})
			_, err := apply(t, o, plan(t, o))
			var re *rollout.RefusedError
			if !errors.As(err, &re) || len(re.Reasons) != 1 || !strings.Contains(re.Reasons[0], l.Nodes[1].Name) {
				t.Fatalf("apply = %v, want a refusal naming %s", err, l.Nodes[1].Name)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			noChange(t, l, t0)
		})
	}
}

// TestInPlaceConflictsGivenUp: recover --rollback on a node the update tool
// stopped on conflicts reverts them, restores the backup and starts the
// old level; the conflicts are no longer reported.
func TestInPlaceConflictsGivenUp(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops")
	t.Setenv("UPDATE_TOOL_PASSWORD", "pw")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1"), Rollout: shortHealth})
	inPlace(t, l, l.Level+1)
	n := l.Nodes[0]
	fault(t, n, apimsim.Faults{Conflicts: conflictFiles[:1]})
	o := setupInPlace(t, l, &recorder{})
	if _, err := apply(t, o, plan(t, o)); err == nil {
		t.Fatal("apply succeeded despite the conflicts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := &tasks.Job{Inv: o.Inv, Node: o.Nodes[0], Paths: tasks.NewPaths(n.Home), Product: apim.Product{}, Run: "recover", Owner: "test", Sink: func(tasks.Event) {}, Poll: 200e6}
	j.Conn, _ = o.Conns.Get(ctx, o.Nodes[0])
	if err := j.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := level(t, n.Home); got != l.Level {
		t.Errorf("level %d, want %d", got, l.Level)
	}
	if _, alive := apimsim.PIDAlive(n.Home); !alive {
		t.Error("not running after the rollback")
	}
	if _, err := os.Stat(filepath.Join(n.Home, conflictFiles[0]+".new")); err == nil {
		t.Error("the conflict's .new is still there")
	}
	if f := probeFacts(t, o, o.Nodes[0]); f.UpdateConflicts != nil {
		t.Errorf("conflicts still reported after the rollback: %+v", f.UpdateConflicts)
	}
}
