package apimsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The simulated Solr registry index (solr/data/index): segment files and a segments_N commit
// point listing each file's size and sha256. While a server runs it holds write.lock and keeps
// rewriting the live segment (_0.cfs) without committing, so a copy taken while it runs has a
// write.lock and segments that do not match the commit; a clean stop commits segments_N+1 and
// removes write.lock.

const (
	indexLock   = "write.lock"
	liveSegment = "_0.cfs"
)

func newIndex() map[string][]byte {
	files := map[string][]byte{
		"_0.cfe": fakeBinary("_0.cfe", []byte{0x3f, 0xd7, 0x6c, 0x17}, 1024),
		"_0.si":  fakeBinary("_0.si", []byte{0x3f, 0xd7, 0x6c, 0x17}, 512),
	}
	var cfs bytes.Buffer
	cfs.Write(block("live:0\n"))
	for i := 0; cfs.Len() < 40<<10; i++ {
		fmt.Fprintf(&cfs, "doc:%05d|/_system/governance/apimgt/applicationdata/provider/admin/PizzaShackAPI-%d/1.0.0/api\n", i, i%97)
	}
	files[liveSegment] = cfs.Bytes()
	files["segments_1"] = commitPoint(1, files)
	return files
}

func fileSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// commitPoint renders segments_<gen> for the given segment files.
func commitPoint(gen int, files map[string][]byte) []byte {
	var names []string
	for n := range files {
		if !strings.HasPrefix(n, "segments_") && n != indexLock {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "segments gen:%d\n", gen)
	for _, n := range names {
		fmt.Fprintf(&b, "%s %d %s\n", n, len(files[n]), fileSum(files[n]))
	}
	fmt.Fprintf(&b, "checksum %s\n", fileSum([]byte(b.String())))
	return []byte(b.String())
}

// indexDir accepts solr/data or solr/data/index.
func indexDir(dir string) string {
	if st, err := os.Stat(filepath.Join(dir, "index")); err == nil && st.IsDir() {
		return filepath.Join(dir, "index")
	}
	return dir
}

// latestCommit returns the highest segments_N in dir.
func latestCommit(dir string) (gen int, name string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, "", err
	}
	for _, e := range ents {
		if g, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "segments_")); err == nil && strings.HasPrefix(e.Name(), "segments_") && g > gen {
			gen, name = g, e.Name()
		}
	}
	if name == "" {
		return 0, "", errors.New("no segments_N commit point")
	}
	return gen, name, nil
}

// VerifyIndex checks a Solr index directory (solr/data or solr/data/index): no write.lock
// (ErrOpen) and every file of the latest commit point present with its recorded size and
// checksum (ErrTorn).
func VerifyIndex(dir string) error {
	dir = indexDir(dir)
	if _, err := os.Lstat(filepath.Join(dir, indexLock)); err == nil {
		return fmt.Errorf("apimsim: verify index: %s: %w: leftover %s (copied while the server ran, or the server was killed)", dir, ErrOpen, indexLock)
	}
	_, name, err := latestCommit(dir)
	if err != nil {
		return fmt.Errorf("apimsim: verify index: %s: %w: %v", dir, ErrTorn, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("apimsim: verify index: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "checksum ") {
		return fmt.Errorf("apimsim: verify index: %s: %w: truncated commit point", name, ErrTorn)
	}
	head := strings.Join(lines[:len(lines)-1], "\n") + "\n"
	if strings.TrimPrefix(lines[len(lines)-1], "checksum ") != fileSum([]byte(head)) {
		return fmt.Errorf("apimsim: verify index: %s: %w: commit point checksum mismatch", name, ErrTorn)
	}
	for _, l := range lines[1 : len(lines)-1] {
		f := strings.Fields(l)
		if len(f) != 3 {
			return fmt.Errorf("apimsim: verify index: %s: %w: bad line %q", name, ErrTorn, l)
		}
		b, err := os.ReadFile(filepath.Join(dir, f[0]))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("apimsim: verify index: %s: %w: %s is missing", dir, ErrTorn, f[0])
		} else if err != nil {
			return fmt.Errorf("apimsim: verify index: %w", err)
		}
		if strconv.Itoa(len(b)) != f[1] || fileSum(b) != f[2] {
			return fmt.Errorf("apimsim: verify index: %s: %w: %s does not match commit %s", dir, ErrTorn, f[0], name)
		}
	}
	return nil
}

// VerifyData checks every H2 file in home/repository/database and the index in home/solr/data.
func VerifyData(home string) error {
	var errs []error
	dbs, err := filepath.Glob(filepath.Join(home, "repository", "database", "*.mv.db"))
	if err != nil {
		return err
	}
	for _, p := range dbs {
		if err := VerifyH2(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := VerifyIndex(filepath.Join(home, "solr", "data")); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// solrIndex is the index held by a running server.
type solrIndex struct {
	dir  string
	lock *os.File
	gen  int
	n    int64
}

// openIndex takes write.lock; recovered reports an index left uncommitted (leftover lock file
// or segments that do not match the commit point).
func openIndex(dir string) (ix *solrIndex, recovered bool, err error) {
	dir = indexDir(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	recovered = VerifyIndex(dir) != nil
	lock, err := os.OpenFile(filepath.Join(dir, indexLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, false, &h2Error{"org.apache.lucene.store.LockObtainFailedException: Lock held by another program: " + filepath.Join(dir, indexLock), errLocked}
	}
	gen, _, err := latestCommit(dir)
	if err != nil {
		gen = 0 // an empty index: the first commit creates segments_1
	}
	ix = &solrIndex{dir: dir, lock: lock, gen: gen}
	return ix, recovered, ix.touch()
}

// touch rewrites the first block of the live segment (uncommitted indexing work).
func (ix *solrIndex) touch() error {
	ix.n++
	f, err := os.OpenFile(filepath.Join(ix.dir, liveSegment), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(block(fmt.Sprintf("live:%d,at:%s\n", ix.n, time.Now().UTC().Format(time.RFC3339Nano))), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// commit writes segments_N+1 for the current files, drops older commit points and releases
// write.lock.
func (ix *solrIndex) commit() error {
	if err := ix.touch(); err != nil {
		return err
	}
	ents, err := os.ReadDir(ix.dir)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	var old []string
	for _, e := range ents {
		switch {
		case e.IsDir() || e.Name() == indexLock:
		case strings.HasPrefix(e.Name(), "segments_"):
			old = append(old, e.Name())
		default:
			b, err := os.ReadFile(filepath.Join(ix.dir, e.Name()))
			if err != nil {
				return err
			}
			files[e.Name()] = b
		}
	}
	ix.gen++
	name := fmt.Sprintf("segments_%d", ix.gen)
	tmp := filepath.Join(ix.dir, "pending_"+name)
	if err := os.WriteFile(tmp, commitPoint(ix.gen, files), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(ix.dir, name)); err != nil {
		return err
	}
	for _, o := range old {
		os.Remove(filepath.Join(ix.dir, o))
	}
	os.Remove(filepath.Join(ix.dir, indexLock))
	return ix.lock.Close()
}
