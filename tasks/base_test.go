package tasks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// baseFixture is a node that staged the new pack by delta and switched it
// in, after which the optimize step removed lib/a.jar from home; next is
// the pack of the update after, which changes only updates/config.json.
type baseFixture struct {
	*deltaFixture
	next *Pack
	job  *Job
	log  eventLog
}

func newBaseFixture(t *testing.T) *baseFixture {
	t.Helper()
	f := &baseFixture{deltaFixture: newDeltaFixture(t)}
	ctx := ctxFor(t)
	if err := f.deltaFixture.job.stage(ctx); err != nil {
		t.Fatal(err)
	}
	p := f.deltaFixture.job.Paths
	if _, err := os.Stat(filepath.Join(p.Base(), "lib/a.jar")); err != nil {
		t.Fatalf("staging kept no base: %v", err)
	}
	if err := os.Rename(p.Home, p.Previous()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p.Staged(), p.Home); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(p.Home, "lib/a.jar")); err != nil {
		t.Fatal(err)
	}
	_, ents := levels()
	for i, e := range ents {
		if e.path == "updates/config.json" {
			ents[i].data = []byte(`{"update-level": 13}`)
		}
	}
	f.next = writePack(t, filepath.Join(t.TempDir(), "u13.zip"), "wso2am-4.4.0", ents)
	f.job = stageJob(f.node, f.next, &f.log)
	return f
}

func (f *baseFixture) want(t *testing.T) map[string]string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "want")
	unzipTo(t, f.next, dst)
	return treeOf(t, dst)
}

// TestBaseSuppliesRemovedFiles: a file the optimize step removed from the
// running release is copied from base, not shipped; only the file the
// next pack changed is, and the staged release is exactly the pack's.
func TestBaseSuppliesRemovedFiles(t *testing.T) {
	t.Parallel()
	f := newBaseFixture(t)
	ctx := ctxFor(t)
	d := f.job.prepareDelta(ctx)
	if d.whole != "" {
		t.Fatalf("whole pack: %s", d.whole)
	}
	var shipped []string
	for _, e := range d.ship {
		shipped = append(shipped, e.Path)
	}
	// Links and the pack's files under persisted folders are always shipped.
	if !slices.Equal(shipped, []string{"bin/link", "solr/data/index/seg.1", "updates/config.json"}) {
		t.Errorf("ships %v, want only the changed updates/config.json (and the link and persisted seg.1)", shipped)
	}
	if !slices.Contains(d.bsame, "lib/a.jar") || d.fromBase != 1 {
		t.Errorf("copies %v (%d) from base, want lib/a.jar", d.bsame, d.fromBase)
	}
	f.job.delta = d
	if err := f.job.stage(ctx); err != nil {
		t.Fatal(err)
	}
	sameTree(t, treeOf(t, f.job.Paths.Staged()), f.want(t))
	if j := readJournal(t, f.job); !strings.Contains(j, "1 from the pack's own files") {
		t.Errorf("the journal does not say a file came from base:\n%s", j)
	}
	// Base is now the newly staged pack's.
	b, _ := os.ReadFile(filepath.Join(f.job.Paths.Base(), "updates/config.json"))
	if string(b) != `{"update-level": 13}` {
		t.Errorf("base's updates/config.json is %q after staging level 13", b)
	}
}

// TestBaseChangedThroughSharedInode: base's files are hard links to the
// release switched in, so a file written in place there changes in base
// too (here the optimize step then removed it from home, so base holds
// the only copy). Written with a new mtime, it is hashed again and
// shipped; written
// with its size and mtime kept (cp -p over it), the cache cannot tell, but
// the assembled tree's verification does: the whole pack is pushed, and
// the staged release is the pack's either way.
func TestBaseChangedThroughSharedInode(t *testing.T) {
	t.Parallel()
	for _, keepMTime := range []bool{false, true} {
		name := "new mtime"
		if keepMTime {
			name = "mtime kept"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newBaseFixture(t)
			ctx := ctxFor(t)
			// lib/b.jar in home, and so in base, gets other bytes of
			// the same size.
			home := filepath.Join(f.job.Paths.Home, "lib/b.jar")
			st, err := os.Stat(home)
			if err != nil {
				t.Fatal(err)
			}
			wf, err := os.OpenFile(home, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wf.Write(randomBytes("other", int(st.Size()))); err != nil {
				t.Fatal(err)
			}
			wf.Close()
			mtime := st.ModTime()
			if !keepMTime {
				mtime = mtime.Add(time.Second)
			}
			if err := os.Chtimes(home, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			bst, _ := os.Stat(filepath.Join(f.job.Paths.Base(), "lib/b.jar"))
			if !os.SameFile(st, bst) {
				t.Fatal("home's and base's lib/b.jar are not one file")
			}
			// Then the optimize step removed it from home: base's
			// copy is the only one on the node.
			if err := os.Remove(home); err != nil {
				t.Fatal(err)
			}
			d := f.job.prepareDelta(ctx)
			if d.whole != "" {
				t.Fatalf("whole pack: %s", d.whole)
			}
			if shipsB := slices.ContainsFunc(d.ship, func(e PackEntry) bool { return e.Path == "lib/b.jar" }); shipsB == keepMTime {
				t.Errorf("ships lib/b.jar: %v, want %v", shipsB, !keepMTime)
			}
			if fromBase := slices.Contains(d.bsame, "lib/b.jar"); fromBase != keepMTime {
				t.Errorf("plans lib/b.jar from base: %v, want %v", fromBase, keepMTime)
			}
			f.job.delta = d
			if err := f.job.stage(ctx); err != nil {
				t.Fatal(err)
			}
			sameTree(t, treeOf(t, f.job.Paths.Staged()), f.want(t))
			j := readJournal(t, f.job)
			if keepMTime != strings.Contains(j, "push the whole pack: staging by delta failed: verify") {
				t.Errorf("whole pack after a failed verification: %v, want %v:\n%s", !keepMTime, keepMTime, j)
			}
			// Base is made again from the verified tree.
			got := treeOf(t, f.job.Paths.Base())
			sameTree(t, got, f.want(t))
		})
	}
}
