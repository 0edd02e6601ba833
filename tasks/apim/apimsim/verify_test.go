package apimsim

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestVerifyDetectsCopiesTakenWhileRunning(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	if err := VerifyData(n.home); err != nil {
		t.Fatalf("a fresh layout: %v", err)
	}
	n.start()
	pid := n.pid()
	n.waitStarted()
	live := filepath.Join(t.TempDir(), "live")
	copyTree(t, n.path("repository/database"), filepath.Join(live, "database"))
	copyTree(t, n.path("solr/data"), filepath.Join(live, "solr"))
	n.stop()
	n.waitGone(pid)
	stopped := filepath.Join(t.TempDir(), "stopped")
	copyTree(t, n.path("repository/database"), filepath.Join(stopped, "database"))
	copyTree(t, n.path("solr/data"), filepath.Join(stopped, "solr"))

	for _, db := range dbFiles {
		if err := VerifyH2(filepath.Join(live, "database", db.name)); !errors.Is(err, ErrOpen) {
			t.Errorf("%s copied while running: %v, want ErrOpen", db.name, err)
		}
		if err := VerifyH2(filepath.Join(stopped, "database", db.name)); err != nil {
			t.Errorf("%s copied after stop: %v", db.name, err)
		}
	}
	if err := VerifyIndex(filepath.Join(live, "solr")); !errors.Is(err, ErrOpen) {
		t.Errorf("index copied while running: %v, want ErrOpen", err)
	}
	// without its write.lock the running copy is still torn: segments do not match the commit
	os.Remove(filepath.Join(live, "solr", "index", "write.lock"))
	if err := VerifyIndex(filepath.Join(live, "solr")); !errors.Is(err, ErrTorn) {
		t.Errorf("index copied while running, lock removed: %v, want ErrTorn", err)
	}
	if err := VerifyIndex(filepath.Join(stopped, "solr")); err != nil {
		t.Errorf("index copied after stop: %v", err)
	}
}

func TestVerifyH2Tampering(t *testing.T) {
	dir := t.TempDir()
	good := newH2(2, "X.mv.db", 64<<10)
	other := newH2(2, "Y.mv.db", 64<<10)
	cases := map[string]func([]byte) []byte{
		"body byte flipped":      func(b []byte) []byte { b[h2Block*3] ^= 1; return b },
		"header byte flipped":    func(b []byte) []byte { b[10] ^= 1; return b },
		"truncated":              func(b []byte) []byte { return b[:len(b)-h2Block] },
		"header of another file": func(b []byte) []byte { copy(b, other[:h2Block]); return b },
		"too short":              func(b []byte) []byte { return b[:100] },
	}
	for name, mangle := range cases {
		p := filepath.Join(dir, "f.mv.db")
		os.WriteFile(p, mangle(append([]byte(nil), good...)), 0o644)
		if err := VerifyH2(p); !errors.Is(err, ErrTorn) {
			t.Errorf("%s: %v, want ErrTorn", name, err)
		}
	}
	p := filepath.Join(dir, "g.mv.db")
	os.WriteFile(p, good, 0o644)
	if err := VerifyH2(p); err != nil {
		t.Fatal(err)
	}
	if f, err := H2Format(p); err != nil || f != 2 {
		t.Fatalf("H2Format: %d %v", f, err)
	}
}

func TestVerifyIndexMissingFile(t *testing.T) {
	dir := t.TempDir()
	for name, data := range newIndex() {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	if err := VerifyIndex(dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "_0.si"))
	if err := VerifyIndex(dir); !errors.Is(err, ErrTorn) {
		t.Fatalf("missing segment file: %v", err)
	}
}
