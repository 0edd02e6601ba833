package tasks

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// PackEntry is one path of the release a pack unpacks to.
type PackEntry struct {
	// Path is relative to the pack's top folder; "" is the folder itself.
	Path string
	// Type is 'f' (file), 'd' (directory) or 'l' (symbolic link), as
	// find -printf %y prints it.
	Type byte
	Size int64
	// Mode is the permission bits unzip gives the entry (it drops set-id
	// and sticky bits).
	Mode fs.FileMode
	// Implied is a directory the zip does not list: unzip makes it with
	// the node's default mode, so its mode is not the pack's to check.
	Implied bool
	// SHA256 is the hex digest of a file's content.
	SHA256 string
	// Target is a symbolic link's target.
	Target string

	// zh is the entry's header in the zip (nil for an implied folder).
	zh *zip.FileHeader
	zf *zip.File // while the manifest is read
}

// PackManifest is every path of the release a pack unpacks to, read from
// the zip on the controller.
type PackManifest struct {
	// Entries are sorted by path; the top folder ("") comes first.
	Entries []PackEntry
	// NoDelta says why the release cannot be assembled by delta ("" when
	// it can).
	NoDelta string
	Files   int

	byPath map[string]int
}

// Entry returns the manifest's entry for a path.
func (m *PackManifest) Entry(p string) (PackEntry, bool) {
	i, ok := m.byPath[p]
	if !ok {
		return PackEntry{}, false
	}
	return m.Entries[i], true
}

// packManifest is a Pack's lazily computed manifest.
type packManifest struct {
	once sync.Once
	m    *PackManifest
	err  error
}

// Manifest returns the pack's manifest, computed on first use by reading
// the zip once (every entry inflated and hashed); safe for concurrent use.
func (p *Pack) Manifest() (*PackManifest, error) {
	p.manifest.once.Do(func() { p.manifest.m, p.manifest.err = readManifest(p.Path, p.Top, p.SHA256) })
	return p.manifest.m, p.manifest.err
}

// unixCreator reports whether a zip entry's mode bits were written by a
// Unix zipper: others' entries get modes from unzip's defaults and the
// node's umask, which the controller cannot know.
func unixCreator(zf *zip.File) bool {
	switch zf.CreatorVersion >> 8 {
	case 3, 19: // Unix, macOS
		return true
	}
	return false
}

// readManifest reads the manifest of the zip at zipPath, whose sha256
// must still be want: the manifest is what staging verifies the node's
// release against.
func readManifest(zipPath, top, want string) (*PackManifest, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("pack manifest: %w", err)
	}
	defer zr.Close()
	sum := make(chan string, 1)
	go func() {
		h := sha256.New()
		f, err := os.Open(zipPath)
		if err == nil {
			_, err = io.Copy(h, f)
			f.Close()
		}
		if err != nil {
			sum <- err.Error()
			return
		}
		sum <- hex.EncodeToString(h.Sum(nil))
	}()
	m := &PackManifest{byPath: map[string]int{}}
	add := func(e PackEntry) {
		if i, ok := m.byPath[e.Path]; ok {
			// A later entry of the same name wins, as when unzip
			// overwrites; an explicit folder wins over an implied one.
			if e.Type == 'd' && m.Entries[i].Type == 'd' && e.Implied {
				return
			}
			m.Entries[i] = e
			return
		}
		m.byPath[e.Path] = len(m.Entries)
		m.Entries = append(m.Entries, e)
	}
	dirs := func(p string) { // the folders above p, implied unless listed
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := m.byPath[d]; ok {
				return
			}
			add(PackEntry{Path: d, Type: 'd', Mode: 0o755, Implied: true})
		}
		if _, ok := m.byPath[""]; !ok {
			add(PackEntry{Path: "", Type: 'd', Mode: 0o755, Implied: true})
		}
	}
	var files []int
	for _, zf := range zr.File {
		name := strings.TrimPrefix(zf.Name, "./")
		rel, ok := strings.CutPrefix(name, top+"/")
		if !ok {
			if name == top {
				rel = ""
			} else {
				continue
			}
		}
		isDir := strings.HasSuffix(rel, "/") || zf.Mode().IsDir()
		rel = strings.TrimSuffix(rel, "/")
		if !unixCreator(zf) && m.NoDelta == "" {
			m.NoDelta = fmt.Sprintf("the zip was not made on Unix (%s has no Unix mode)", zf.Name)
		}
		mode := zf.Mode()
		zh := zf.FileHeader
		e := PackEntry{Path: rel, Mode: mode.Perm(), zh: &zh, zf: zf}
		switch {
		case isDir:
			e.Type = 'd'
		case mode&fs.ModeSymlink != 0:
			e.Type = 'l'
		case mode.IsRegular():
			e.Type, e.Size = 'f', int64(zf.UncompressedSize64)
		default:
			if m.NoDelta == "" {
				m.NoDelta = fmt.Sprintf("%s is neither a file, a folder nor a link", zf.Name)
			}
			continue
		}
		if rel != "" {
			dirs(rel)
		}
		add(e)
	}
	if _, ok := m.byPath[""]; !ok {
		add(PackEntry{Path: "", Type: 'd', Mode: 0o755, Implied: true})
	}
	for i, e := range m.Entries {
		if e.Type == 'f' || e.Type == 'l' {
			files = append(files, i)
		}
	}
	// Inflate and hash the files on every core: a pack of hundreds of MiB
	// is read once per plan.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		next = make(chan int)
	)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := hashEntry(&m.Entries[i]); err != nil {
					mu.Lock()
					ferr = cmpOr(ferr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if got := <-sum; ferr == nil && got != want {
		ferr = fmt.Errorf("%s changed since it was opened (sha256 %.12s, not %.12s)", zipPath, got, want)
	}
	if ferr != nil {
		return nil, fmt.Errorf("pack manifest: %w", ferr)
	}
	for i := range m.Entries {
		m.Entries[i].zf = nil
	}
	slices.SortFunc(m.Entries, func(a, b PackEntry) int { return strings.Compare(a.Path, b.Path) })
	for i, e := range m.Entries {
		m.byPath[e.Path] = i
		if e.Type == 'f' {
			m.Files++
		}
	}
	return m, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func hashEntry(e *PackEntry) error {
	rc, err := e.zf.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", e.zf.Name, err)
	}
	defer rc.Close()
	if e.Type == 'l' {
		b, err := io.ReadAll(io.LimitReader(rc, 4096))
		if err != nil {
			return fmt.Errorf("%s: %w", e.zf.Name, err)
		}
		e.Target = string(b)
		return nil
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("%s: %w", e.zf.Name, err)
	}
	e.Size = n
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}
