package tasks_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
)

// objects maps every object under root/rel to its kind, mode and content,
// so two trees compare in everything the new release could see.
func objects(t *testing.T, root, rel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(root, p)
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[r] = v
		return nil
	})
	if err != nil {
		t.Fatalf("read %s/%s: %v", root, rel, err)
	}
	return out
}

func sameObjects(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, p)
		case g != w:
			t.Errorf("%s: %s differs (%.30q, want %.30q)", what, p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s should not be there", what, p)
		}
	}
}

// rewrite changes a file's content in place, keeping its size, and puts its
// times back: only ctime tells the change, the nastiest case for a copy
// that trusts fingerprints.
func rewrite(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Error(err)
		return
	}
	b := make([]byte, fi.Size())
	rand.Read(b)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Error(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Error(err)
	}
}

// TestPreCopyNeverHandsOverALiveByte updates a node whose data keeps
// changing while drover pre-copies it (the simulated server writes its H2
// stores and index every 100 ms, and a writer rewrites a file in place
// with its mtime put back), after the pre-copy (files rewritten, removed,
// added, a mode changed, an empty directory made) and during the
// shutdown (the server commits its index and closes its databases). The
// data the new release starts with must be exactly what the stopped
// server left, and most of it must come from the pre-copy (else the test
// would prove nothing about it).
func TestPreCopyNeverHandsOverALiveByte(t *testing.T) {
	tl := newLab(t, "4.4.0", "30s", specs("gw-1", "gateway-worker")...)
	n := tl.node(t, "gw-1")
	static := filepath.Join(n.Home, "solr/data/static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	names := []string{"cold-0", "cold-1", "cold-2", "cold-3", "cold-4", "cold-5", "cold-6", "cold-7", "hot", "gone", "chmod", "quiet"}
	for _, name := range names {
		b := make([]byte, 1<<20)
		rand.Read(b)
		p := filepath.Join(static, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	// Files changed lately are copied again whatever their fingerprint
	// says; these are meant to be kept, so let their ctime age.
	time.Sleep(3 * time.Second)

	rec := &recorder{}
	var (
		stopWriter = make(chan struct{})
		writerDone sync.WaitGroup
		once       sync.Once
	)
	rec.on = func(e tasks.Event) {
		if e.Step != "precopy" {
			return
		}
		switch e.Type {
		case tasks.EventStepStarted:
			// Writes while the pre-copy reads.
			writerDone.Add(1)
			go func() {
				defer writerDone.Done()
				for {
					select {
					case <-stopWriter:
						return
					default:
					}
					rewrite(t, filepath.Join(static, "hot"))
					time.Sleep(2 * time.Millisecond)
				}
			}()
		case tasks.EventStepDone:
			once.Do(func() { close(stopWriter) })
			writerDone.Wait()
			// Changes between the pre-copy and the stop.
			rewrite(t, filepath.Join(static, "cold-3"))
			if err := os.Remove(filepath.Join(static, "gone")); err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(filepath.Join(static, "new"), []byte("written after the pre-copy\n"), 0o640); err != nil {
				t.Error(err)
			}
			if err := os.Chmod(filepath.Join(static, "chmod"), 0o600); err != nil {
				t.Error(err)
			}
			if err := os.Mkdir(filepath.Join(static, "empty"), 0o700); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { once.Do(func() { close(stopWriter) }) })

	b := snapshot(t, tl, n, nil)
	if err := apply(tl.job(t, "gw-1", "run-precopy", rec)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := rec.steps(tasks.EventStepDone); !containsStep(got, "precopy") {
		t.Fatalf("the pre-copy did not run (steps done: %v)", got)
	}
	if got := level(t, n.Home); got != b.level+1 {
		t.Errorf("level %d after the update, want %d", got, b.level+1)
	}
	// The journal's checksums are those of the files the stopped server
	// left (the kept previous release), computed here with other tools.
	prev := previousDir(n)
	sums := persistSums(journal(t, n))
	for _, p := range persisted(tl.inv) {
		if want := treeSum(t, prev, p); sums[p] != want {
			t.Errorf("%s persisted with sum %q, the stopped release has %q", p, sums[p], want)
		}
	}

	// The simulated server leaves static/ alone: the new release must hold
	// exactly what the stopped one had there.
	sameObjects(t, "solr/data/static after the update", objects(t, prev, "solr/data/static"), objects(t, n.Home, "solr/data/static"))

	var note string
	for _, r := range journal(t, n) {
		if r.Step == "persist" && r.Phase == tasks.PhaseNote && strings.HasPrefix(r.Detail, "after the stop") {
			note = r.Detail
		}
	}
	if note == "" {
		t.Fatal("the persist step did not use the pre-copy (no \"after the stop\" note in the journal)")
	}
	// Seven cold files and "quiet" (1 MiB each) are unchanged: kept, not
	// copied again (with a few small files of the simulator's index).
	m := regexp.MustCompile(`(\d+) files \(([0-9.]+) MiB\) kept from the pre-copy`).FindStringSubmatch(note)
	if m == nil {
		t.Fatalf("journal: %q; want MiB kept from the pre-copy", note)
	}
	if mib, _ := strconv.ParseFloat(m[2], 64); mib < 8 || mib >= 9 {
		t.Errorf("journal: %q; want the 8 unchanged 1 MiB files kept from the pre-copy and nothing else of static/", note)
	}
}

func containsStep(steps []string, name string) bool {
	for _, s := range steps {
		if s == name {
			return true
		}
	}
	return false
}

// TestPreCopyThenServerRanAgain pre-copies, then the run is cut off before
// the stop and the old server is restarted by hand (it rewrites its
// databases and index); the resumed update must copy what changed again.
func TestPreCopyThenServerRanAgain(t *testing.T) {
	tl := newLab(t, "4.4.0", "30s", specs("gw-1", "gateway-worker")...)
	n := tl.node(t, "gw-1")
	files := customise(t, tl, n)
	rec := &recorder{}
	var cancelled bool
	j := tl.job(t, "gw-1", "run-cut", rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.on = func(e tasks.Event) {
		if e.Step == "precopy" && e.Type == tasks.EventStepDone && !cancelled {
			cancelled = true
			cancel()
		}
	}
	if err := j.Apply(ctx, true); err == nil {
		t.Fatal("the cut-off run reported success")
	}
	st, err := os.ReadFile(filepath.Join(stateDir(n), "staged.json"))
	if err != nil || !bytes.Contains(st, []byte(`"precopied":true`)) {
		t.Fatalf("staged.json after the pre-copy: %s (%v)", st, err)
	}
	restartServer(t, tl, n)
	waitHealthy(t, tl, "gw-1")

	b := snapshot(t, tl, n, files)
	if err := apply(tl.job(t, "gw-1", "run-resume", &recorder{})); err != nil {
		t.Fatalf("resume: %v", err)
	}
	checkUpdated(t, tl, n, b)
}

// TestPreCopyThenResetLocalData: a node prepared (its data pre-copied into
// the staged release), then the operator sets reset_local_data and applies
// again: the new release starts with the pack's own databases, not the
// copy of the old node's.
func TestPreCopyThenResetLocalData(t *testing.T) {
	tl := newLab(t, "4.4.0", "30s", specs("gw-1", "gateway-worker")...)
	n := tl.node(t, "gw-1")
	marker := filepath.Join(n.Home, "repository/database/OLD-NODE.mv.db")
	if err := os.WriteFile(marker, []byte("old node data"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := tl.job(t, "gw-1", "run-prep", &recorder{}).Prepare(ctx); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tasks.NewPaths(n.Home).Staged(), "repository/database/OLD-NODE.mv.db")); err != nil {
		t.Fatalf("the pre-copy did not copy the old node's database: %v", err)
	}
	tl.inv.Update.ResetLocalData = true
	tl.inv.Persist, tl.inv.OptionalPersist = nil, nil
	if err := apply(tl.job(t, "gw-1", "run-reset", &recorder{})); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("reset_local_data: the new release started with the old node's pre-copied repository/database")
	}
}

// TestAbsentPathKeepsTheStagedReleasesOwn: a persisted path the running
// release lacks is left as the staged release has it, after a pre-copy
// (delta pass) as after a full copy.
func TestAbsentPathKeepsTheStagedReleasesOwn(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "full copy", true: "after a pre-copy"}[delta], func(t *testing.T) {
			tl := newLab(t, "4.4.0", "30s", specs("gw-1", "gateway-worker")...)
			n := tl.node(t, "gw-1")
			if err := os.RemoveAll(filepath.Join(n.Home, "repository/data")); err != nil {
				t.Fatal(err)
			}
			own := filepath.Join(tasks.NewPaths(n.Home).Staged(), "repository/data/pack-own.db")
			rec := &recorder{}
			rec.on = func(e tasks.Event) {
				if e.Step == "persist" && e.Type == tasks.EventStepStarted {
					if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
						t.Error(err)
					}
					if err := os.WriteFile(own, []byte("the pack's own"), 0o644); err != nil {
						t.Error(err)
					}
					if !delta {
						os.Remove(filepath.Join(stateDir(n), "precopy.rec")) // the full copy then
					}
				}
			}
			if err := apply(tl.job(t, "gw-1", "run", rec)); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if _, err := os.Stat(filepath.Join(n.Home, "repository/data/pack-own.db")); err != nil {
				t.Errorf("the staged release's own repository/data/pack-own.db is gone: %v", err)
			}
		})
	}
}

// TestCutOffPreparationIsNotAnInterruptedUpdate: Ctrl-C while a node is
// prepared ahead of its turn leaves it serving, its last run "prepared",
// not an update to resume first.
func TestCutOffPreparationIsNotAnInterruptedUpdate(t *testing.T) {
	tl := newLab(t, "4.4.0", "30s", specs("gw-1", "gateway-worker")...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	rec.on = func(e tasks.Event) {
		if e.Step == "precopy" && e.Type == tasks.EventStepStarted {
			cancel()
		}
	}
	if err := tl.job(t, "gw-1", "run-prep", rec).Prepare(ctx); err == nil {
		t.Fatal("the cut-off preparation reported success")
	}
	f := tl.probe(t, "gw-1")
	if f.LastRun == nil || f.LastRun.Outcome != tasks.OutcomePrepared || !f.Running || !f.Healthy {
		t.Errorf("after the cut-off preparation: last run %+v, running %t, healthy %t; want prepared, running, healthy", f.LastRun, f.Running, f.Healthy)
	}
	j := tl.job(t, "gw-1", "run-2", &recorder{})
	if _, err := j.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j.Interrupted() {
		t.Error("the next run sees an interrupted update to resume first")
	}
}
