package tasks

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// levels returns the entries of an old and a new release: the new one
// changes a file, adds files, removes a file, changes a mode, adds an empty
// folder, moves a file (same content, new path), adds a link, a folder of
// mode 0700 and a file in folders the zip does not list.
func levels() (old, new []zent) {
	common := []zent{
		dir("", 0o755), dir("bin", 0o755), dir("lib", 0o755), dir("conf", 0o755), dir("updates", 0o755),
		file("updates/product.txt", 0o644, "wso2am-4.4.0\n"),
		file("bin/run.sh", 0o755, "#!/bin/sh\necho run\n"),
		file("lib/a.jar", 0o644, string(randomBytes("a", 200<<10))),
		file("conf/x.xml", 0o644, "<x>pack</x>\n"),
		file("conf/empty.txt", 0o644, ""),
		dir("repository", 0o755), dir("repository/logs", 0o755),
		file("solr/data/index/seg.1", 0o644, "pristine index\n"),
	}
	old = append(slices.Clone(common),
		file("updates/config.json", 0o644, `{"update-level": 11}`),
		file("lib/b.jar", 0o644, string(randomBytes("b11", 100<<10))),
		file("lib/gone.jar", 0o644, string(randomBytes("gone", 50<<10))),
		file("bin/tool.sh", 0o644, "#!/bin/sh\necho tool\n"),
		dir("docs", 0o755), file("docs/moved.txt", 0o644, "moved content\n"),
	)
	new = append(slices.Clone(common),
		file("updates/config.json", 0o644, `{"update-level": 12}`),
		file("lib/b.jar", 0o644, string(randomBytes("b12", 100<<10))),
		file("lib/c.jar", 0o644, string(randomBytes("c", 30<<10))),
		file("bin/tool.sh", 0o755, "#!/bin/sh\necho tool\n"),
		dir("repository/tenants", 0o755),
		dir("docs", 0o755), dir("docs/new", 0o750), file("docs/new/moved.txt", 0o600, "moved content\n"),
		dir("secure", 0o700), file("secure/key", 0o600, "secret-ish\n"),
		zent{"bin/link", fs.ModeSymlink | 0o777, []byte("run.sh")},
		file("implied/deep/f.txt", 0o644, "implied folders\n"),
	)
	return old, new
}

// deltaFixture is a node running the old release (with an operator's edit,
// logs and data) and the new pack.
type deltaFixture struct {
	node     *testNode
	old, new *Pack
	log      eventLog
	job      *Job
}

func newDeltaFixture(t *testing.T, env ...string) *deltaFixture {
	t.Helper()
	oldEnts, newEnts := levels()
	dir := t.TempDir()
	f := &deltaFixture{node: newTestNode(t, env...)}
	f.old = writePack(t, filepath.Join(dir, "u11.zip"), "wso2am-4.4.0", oldEnts)
	f.new = writePack(t, filepath.Join(dir, "u12.zip"), "wso2am-4.4.0", newEnts)
	unzipTo(t, f.old, f.node.home)
	// The operator edited a file the pack ships; the server wrote logs
	// and data.
	mustWrite(t, filepath.Join(f.node.home, "conf/x.xml"), []byte("<x>operator</x>\n"))
	mustWrite(t, filepath.Join(f.node.home, "repository/logs/wso2carbon.log"), []byte("started\n"))
	mustWrite(t, filepath.Join(f.node.home, "solr/data/index/seg.2"), []byte("live index\n"))
	f.job = stageJob(f.node, f.new, &f.log)
	return f
}

func (f *deltaFixture) want(t *testing.T) map[string]string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "want")
	unzipTo(t, f.new, dst)
	return treeOf(t, dst)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestDeltaStagingExactTree: a node running the old release stages the new
// one by delta, and the staged release is exactly what unzipping the new
// pack gives: files changed, added and removed by the update, modes,
// empty folders, a moved file, a link, folders the zip does not list, and
// the pack's own copy of a file the operator edited on the running
// release. Only what the node lacked was shipped; no pack was pushed.
func TestDeltaStagingExactTree(t *testing.T) {
	t.Parallel()
	f := newDeltaFixture(t)
	ctx := ctxFor(t)
	ch, err := stageStep().Probe(ctx, f.job)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.Summary, "ship ") || !strings.Contains(ch.Summary, "delta from the running release: 7 of 13 files") {
		t.Errorf("plan says %q, want a delta of 7 of 13 files (b.jar, c.jar, x.xml, config.json, seg.1, secure/key, implied/deep/f.txt)", ch.Summary)
	}
	// The plan changed nothing on the node.
	if ents, _ := os.ReadDir(f.job.Paths.State); len(ents) > 0 {
		t.Errorf("the plan wrote to the state folder: %v", ents)
	}
	if err := f.job.stage(ctx); err != nil {
		t.Fatal(err)
	}
	if w := f.log.warnings(); len(w) > 0 {
		t.Fatalf("delta staging fell back: %v", w)
	}
	sameTree(t, treeOf(t, f.job.Paths.Staged()), f.want(t))
	if b, _ := os.ReadFile(filepath.Join(f.job.Paths.Staged(), "conf/x.xml")); string(b) != "<x>pack</x>\n" {
		t.Errorf("the staged conf/x.xml is %q, want the pack's (the operator's edit is configure's to carry)", b)
	}
	if _, err := os.Stat(f.job.Paths.Pack(f.new.SHA256)); err == nil {
		t.Error("the whole pack was pushed")
	}
	if _, err := os.Stat(f.job.Paths.Delta()); err == nil {
		t.Error("the assembly folder was left behind")
	}
	if j := readJournal(t, f.job); !strings.Contains(j, "staged by delta") {
		t.Errorf("the journal does not say the release was staged by delta:\n%s", j)
	}
	if st := f.job.stagedState(); st.Pack != f.new.SHA256 {
		t.Errorf("staged.json = %+v", st)
	}
	// The running release is untouched.
	if b, _ := os.ReadFile(filepath.Join(f.node.home, "conf/x.xml")); string(b) != "<x>operator</x>\n" {
		t.Errorf("home's conf/x.xml is now %q", b)
	}
}

// TestDeltaShippedBytesAsPlanned: the bytes the node receives while
// staging by delta are the plan's figure (plus SSH's framing and the few
// small commands of the step), and far fewer than the pack's.
func TestDeltaShippedBytesAsPlanned(t *testing.T) {
	t.Parallel()
	f := newDeltaFixture(t)
	ctx := ctxFor(t)
	ch, err := stageStep().Probe(ctx, f.job)
	if err != nil {
		t.Fatal(err)
	}
	before := f.node.received.Load()
	if err := f.job.stage(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.node.received.Load() - before
	if w := f.log.warnings(); len(w) > 0 {
		t.Fatalf("delta staging fell back: %v", w)
	}
	t.Logf("plan: %d bytes (%s); received: %d; pack: %d", ch.Bytes, ch.Summary, got, f.new.Size)
	if got < ch.Bytes || got > ch.Bytes+ch.Bytes/20+48<<10 {
		t.Errorf("the node received %d bytes; the plan said %d", got, ch.Bytes)
	}
	if ch.Bytes > f.new.Size/2 {
		t.Errorf("the delta is %d bytes of a %d-byte pack", ch.Bytes, f.new.Size)
	}
}

// TestDeltaFallback: the whole pack is pushed, and the staged release is
// still exactly the pack, when the node has nothing to build on, when the
// delta would be nearly the whole pack, and when the assembled release
// fails verification (a file changed between the plan and the staging):
// the last says so in a warning and in the journal.
func TestDeltaFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *deltaFixture)
		plan    string // in the plan's summary
		warn    string // in a warning ("" for none)
		journal string
	}{
		{
			name: "unrelated release",
			prepare: func(t *testing.T, f *deltaFixture) {
				os.RemoveAll(f.node.home)
				mustWrite(t, filepath.Join(f.node.home, "other.txt"), []byte("not a product\n"))
			},
			plan: "whole pack: the running release holds none of the pack's files", journal: "push the whole pack: the running release holds none",
		},
		{
			name: "delta near the pack",
			prepare: func(t *testing.T, f *deltaFixture) {
				_, newEnts := levels()
				for i := range newEnts {
					if strings.HasSuffix(newEnts[i].path, ".jar") {
						newEnts[i].data = randomBytes("other "+newEnts[i].path, len(newEnts[i].data))
					}
				}
				f.new = writePack(t, filepath.Join(t.TempDir(), "u12b.zip"), "wso2am-4.4.0", newEnts)
				f.job.Pack = f.new
			},
			plan: "is not much smaller than the pack", journal: "push the whole pack: the delta",
		},
		{
			name: "verification fails",
			plan: "ship ",
			warn: "staging by delta failed: verify the assembled release against the pack: lib/a.jar has sha256",
			// After the plan, a file the delta copies changes on the node
			// with its size and modification time kept, so the listing
			// the plan made no longer tells the truth.
			journal: "push the whole pack: staging by delta failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newDeltaFixture(t)
			if tt.prepare != nil {
				tt.prepare(t, f)
			}
			ctx := ctxFor(t)
			ch, err := stageStep().Probe(ctx, f.job)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ch.Summary, tt.plan) {
				t.Errorf("plan says %q, want %q in it", ch.Summary, tt.plan)
			}
			if tt.warn != "" {
				p := filepath.Join(f.node.home, "lib/a.jar")
				info, _ := os.Stat(p)
				b, _ := os.ReadFile(p)
				b[0] ^= 0xff
				mustWrite(t, p, b)
				os.Chtimes(p, info.ModTime(), info.ModTime())
			} else if ch.Bytes != f.new.Size {
				t.Errorf("plan ships %d bytes, want the whole pack's %d", ch.Bytes, f.new.Size)
			}
			if err := f.job.stage(ctx); err != nil {
				t.Fatal(err)
			}
			w := f.log.warnings()
			if tt.warn == "" && len(w) > 0 {
				t.Errorf("warnings: %v", w)
			}
			if tt.warn != "" && !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, tt.warn) }) {
				t.Errorf("warnings %q do not say %q", w, tt.warn)
			}
			if j := readJournal(t, f.job); !strings.Contains(j, tt.journal) {
				t.Errorf("the journal does not say %q:\n%s", tt.journal, j)
			}
			if _, err := os.Stat(f.job.Paths.Pack(f.new.SHA256)); err != nil {
				t.Errorf("the whole pack was not pushed: %v", err)
			}
			sameTree(t, treeOf(t, f.job.Paths.Staged()), f.want(t))
			if _, err := os.Stat(f.job.Paths.Delta()); err == nil {
				t.Error("the assembly folder was left behind")
			}
		})
	}
}

// TestDeltaInterrupted: a delta staging cut off while the stream is on the
// wire leaves no staged release recorded; the next run stages again, by
// delta, and the result verifies and is exactly the pack.
func TestDeltaInterrupted(t *testing.T) {
	t.Parallel()
	f := newDeltaFixture(t)
	ctx, cancel := context.WithCancel(ctxFor(t))
	f.log.on = func(e Event) {
		if e.Type == EventProgress && e.Done > 0 {
			cancel()
		}
	}
	err := f.job.stage(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stage = %v, want it cancelled; events %+v", err, f.log.events)
	}
	f.log.on = nil
	if _, err := os.Stat(f.job.Paths.StagedState()); err == nil {
		t.Fatal("staged.json was written by a cut-off staging")
	}
	var log2 eventLog
	j := stageJob(f.node, f.new, &log2)
	ctx2 := ctxFor(t)
	if err := j.stage(ctx2); err != nil {
		t.Fatal(err)
	}
	if w := log2.warnings(); len(w) > 0 {
		t.Fatalf("the second staging fell back: %v", w)
	}
	sameTree(t, treeOf(t, j.Paths.Staged()), f.want(t))
}

// TestReleaseSumsCache: a staging records the sha256s of the staged
// release's files, so once it is switched in the next update hashes
// nothing but the files that changed since.
func TestReleaseSumsCache(t *testing.T) {
	t.Parallel()
	for _, whole := range []bool{false, true} {
		name := "delta"
		if whole {
			name = "whole pack"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newDeltaFixture(t)
			ctx := ctxFor(t)
			if whole {
				os.RemoveAll(f.node.home)
				os.MkdirAll(f.node.home, 0o755)
			}
			if err := f.job.stage(ctx); err != nil {
				t.Fatal(err)
			}
			// The switch: home becomes previous, staged becomes home.
			p := f.job.Paths
			if err := os.Rename(p.Home, p.Previous()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p.Staged(), p.Home); err != nil {
				t.Fatal(err)
			}
			edited := filepath.Join(p.Home, "lib/c.jar")
			os.Chmod(edited, 0o644)
			mustWrite(t, edited, []byte("changed"))
			files, base, _, err := f.job.listRelease(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatal("nothing listed")
			}
			// Base is linked to the staged release: c.jar, edited in
			// place in home, changed in base too, and is hashed again.
			if len(base) != len(files) {
				t.Errorf("base lists %d files, home %d", len(base), len(files))
			}
			for _, nf := range append(files, base...) {
				switch {
				case nf.Path == "lib/c.jar" && nf.SHA256 != "":
					t.Errorf("the edited %s kept its cached sha256", nf.Path)
				case nf.Path != "lib/c.jar" && nf.SHA256 == "":
					t.Errorf("%s has no cached sha256", nf.Path)
				case strings.HasPrefix(nf.Path, "solr/data/") || strings.HasPrefix(nf.Path, "repository/logs/"):
					t.Errorf("%s (persisted data or logs) was listed", nf.Path)
				}
			}
		})
	}
}

// TestVerifyTree: the check of an assembled release against the pack
// refuses a missing or extra path, a wrong type, mode, size, content or
// link target.
func TestVerifyTree(t *testing.T) {
	_, newEnts := levels()
	p := writePack(t, filepath.Join(t.TempDir(), "u12.zip"), "wso2am-4.4.0", newEnts)
	m, err := p.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	// A listing of the exact tree, as listTreeScript prints it.
	good := map[string][5]string{} // path -> type, mode, size, target, sha
	for _, e := range m.Entries {
		mode := e.Mode
		if e.Implied {
			mode = 0o755
		}
		good[e.Path] = [5]string{string(e.Type), octal(mode), itoa(e.Size), e.Target, e.SHA256}
	}
	render := func(l map[string][5]string) string {
		var b, sums strings.Builder
		for p, v := range l {
			b.WriteString(v[0] + "\x00" + v[1] + "\x00" + v[2] + "\x00" + "1.5\x00" + v[3] + "\x00" + p + "\x00")
			if v[0] == "f" {
				sums.WriteString(v[4] + "  ./" + p + "\n")
			}
		}
		return b.String() + "sums\x00" + sums.String()
	}
	if _, err := verifyTree(m, render(good)); err != nil {
		t.Fatalf("the exact tree fails: %v", err)
	}
	edit := func(f func(l map[string][5]string)) map[string][5]string {
		l := map[string][5]string{}
		for k, v := range good {
			l[k] = v
		}
		f(l)
		return l
	}
	tests := []struct {
		name string
		l    map[string][5]string
		want string
	}{
		{"missing file", edit(func(l map[string][5]string) { delete(l, "lib/c.jar") }), "lib/c.jar is missing"},
		{"missing empty folder", edit(func(l map[string][5]string) { delete(l, "repository/tenants") }), "repository/tenants is missing"},
		{"extra file", edit(func(l map[string][5]string) { l["lib/gone.jar"] = good["lib/a.jar"] }), "lib/gone.jar is not in the pack"},
		{"file mode", edit(func(l map[string][5]string) { v := l["bin/tool.sh"]; v[1] = "644"; l["bin/tool.sh"] = v }), "bin/tool.sh has mode 644, not 755"},
		{"folder mode", edit(func(l map[string][5]string) { v := l["secure"]; v[1] = "755"; l["secure"] = v }), "folder secure has mode 755, not 700"},
		{"content", edit(func(l map[string][5]string) { v := l["lib/b.jar"]; v[4] = good["lib/a.jar"][4]; l["lib/b.jar"] = v }), "lib/b.jar has sha256"},
		{"size", edit(func(l map[string][5]string) { v := l["lib/b.jar"]; v[2] = "1"; l["lib/b.jar"] = v }), "lib/b.jar has 1 bytes"},
		{"type", edit(func(l map[string][5]string) { v := l["bin/link"]; v[0] = "f"; l["bin/link"] = v }), "bin/link is of type f, not l"},
		{"link target", edit(func(l map[string][5]string) { v := l["bin/link"]; v[3] = "tool.sh"; l["bin/link"] = v }), `link bin/link points to "tool.sh"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyTree(m, render(tt.l))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("verifyTree = %v, want %q", err, tt.want)
			}
		})
	}
}
