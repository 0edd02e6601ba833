package tasks

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/transport"
)

// Delta staging: a node that runs a release receives only the pack's files
// whose content it lacks. The controller compares the pack's manifest with
// the running release's listing and streams one zip to the node holding
// those files (their compressed bytes as they are in the pack, never
// compressed again), the pack's folders, and lists of what to copy from
// the running release and which modes to set. The node unzips it beside
// the staged release's place, copies the rest from the running release
// (cp --reflink=auto, batched by xargs) and lists and hashes the result;
// the controller checks that listing against the pack's manifest, every
// path, type, mode and sha256, before the tree becomes the staged
// release. Anything else is the whole pack, pushed and unzipped.
//
// A second source is base (<state>/base, see release.go): the last staged
// release's files as the pack made them, so files the optimize step
// removed from the running release are copied, not shipped again. Every
// staging, by delta or whole, replaces base with hard links to the
// verified (or freshly unzipped) tree before configure touches it.

// deltaMaxShare is the largest delta, as a share of the pack, worth
// assembling: a bigger one saves little transfer and costs the copies.
const deltaMaxShare = 0.75

// delta is how a node's staged release would be assembled.
type delta struct {
	pack string // the pack's sha256
	m    *PackManifest
	// home is the running release's files, with sha256s where known;
	// base is base's.
	home, base []nodeFile
	same       []string    // pack files copied from the same path of the running release
	bsame      []string    // pack files copied from the same path of base
	moved      [][2]string // pack files copied from another path (of home, or absolute in base): source, destination
	// fromBase counts the pack files copied from base.
	fromBase int
	ship     []PackEntry // pack files and links shipped
	// stream is the size of the zip that ships them.
	stream int64
	// whole says why the whole pack is pushed instead ("" for a delta).
	whole string
}

// copied counts the pack files copied on the node.
func (d *delta) copied() int { return len(d.same) + len(d.bsame) + len(d.moved) }

// shippedFiles counts the regular files the delta ships.
func (d *delta) shippedFiles() int {
	n := 0
	for _, e := range d.ship {
		if e.Type == 'f' {
			n++
		}
	}
	return n
}

// prepareDelta works out what the node lacks. It changes nothing on the
// node; a problem is a reason to push the whole pack, never an error.
func (j *Job) prepareDelta(ctx context.Context) *delta {
	d := &delta{pack: j.Pack.SHA256}
	if j.facts == nil || !j.facts.HomeExists {
		d.whole = "no running release to assemble it from"
		return d
	}
	m, err := j.Pack.Manifest()
	if err != nil {
		d.whole = err.Error()
		return d
	}
	d.m = m
	if m.NoDelta != "" {
		d.whole = m.NoDelta
		return d
	}
	files, base, _, err := j.listRelease(ctx)
	if err != nil {
		d.whole = err.Error()
		return d
	}
	// Only a file of a size the pack has can hold one of its files.
	sizes := map[int64]bool{}
	for _, e := range m.Entries {
		if e.Type == 'f' {
			sizes[e.Size] = true
		}
	}
	var need []*nodeFile
	for _, fs := range [][]nodeFile{files, base} {
		for i := range fs {
			if fs[i].SHA256 == "" && sizes[fs[i].Size] {
				need = append(need, &fs[i])
			}
		}
	}
	if err := j.hashFiles(ctx, need); err != nil {
		d.whole = err.Error()
		return d
	}
	d.home, d.base = files, base
	d.plan(j.Paths.Delta(), j.Paths.Base())
	if d.whole == "" && float64(d.stream) > deltaMaxShare*float64(j.Pack.Size) {
		d.whole = fmt.Sprintf("the delta (%s of %s) is not much smaller than the pack", HumanBytes(d.stream), HumanBytes(j.Pack.Size))
	}
	return d
}

// plan sorts the pack's files into copied and shipped, and sizes the
// stream that unzips into dir. base is base's folder. The running
// release is preferred, then base, the same path before another.
func (d *delta) plan(dir, base string) {
	d.same, d.bsame, d.moved, d.ship, d.fromBase = nil, nil, nil, nil, 0
	index := func(files []nodeFile) (at, src map[string]string) {
		at = map[string]string{}  // path -> sha256
		src = map[string]string{} // sha256 -> first path holding it
		slices.SortFunc(files, func(a, b nodeFile) int { return strings.Compare(a.Path, b.Path) })
		for _, f := range files {
			if f.SHA256 == "" {
				continue
			}
			at[f.Path] = f.SHA256
			if _, ok := src[f.SHA256]; !ok {
				src[f.SHA256] = f.Path
			}
		}
		return at, src
	}
	at, src := index(d.home)
	bat, bsrc := index(d.base)
	for _, e := range d.m.Entries {
		switch e.Type {
		case 'l':
			d.ship = append(d.ship, e)
		case 'f':
			if at[e.Path] == e.SHA256 {
				d.same = append(d.same, e.Path)
			} else if bat[e.Path] == e.SHA256 {
				d.bsame = append(d.bsame, e.Path)
				d.fromBase++
			} else if s, ok := src[e.SHA256]; ok {
				d.moved = append(d.moved, [2]string{s, e.Path})
			} else if s, ok := bsrc[e.SHA256]; ok {
				d.moved = append(d.moved, [2]string{path.Join(base, s), e.Path})
				d.fromBase++
			} else {
				d.ship = append(d.ship, e)
			}
		}
	}
	if d.copied() == 0 {
		d.whole = "the running release holds none of the pack's files"
		return
	}
	cw := &countWriter{}
	if err := d.writeStream(cw, zeroRaw, dir); err != nil {
		d.whole = err.Error()
		return
	}
	d.stream = cw.n
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// zeroRaw stands in for an entry's compressed bytes when only the size of
// the stream is wanted.
func zeroRaw(e PackEntry) (io.Reader, error) {
	return io.LimitReader(zeros{}, int64(e.zh.CompressedSize64)), nil
}

// writeStream writes the delta as a zip: ctl/ holds the lists that drive
// the assembly, r/ the pack's folders and the shipped entries (their
// compressed bytes copied from the pack). dir is where the node unzips it.
func (d *delta) writeStream(w io.Writer, raw func(PackEntry) (io.Reader, error), dir string) error {
	zw := zip.NewWriter(w)
	ctl := func(name string, paths ...string) error {
		h := &zip.FileHeader{Name: "ctl/" + name, Method: zip.Deflate}
		h.SetMode(0o600)
		cw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		for _, p := range paths {
			if _, err := io.WriteString(cw, p+"\x00"); err != nil {
				return err
			}
		}
		return nil
	}
	var implied []string
	fmodes := map[fs.FileMode][]string{}
	dmodes := map[fs.FileMode][]string{}
	var dirs []PackEntry
	for _, e := range d.m.Entries {
		if e.Type != 'd' {
			continue
		}
		if e.Implied {
			if e.Path != "" {
				implied = append(implied, e.Path)
			}
			continue
		}
		dirs = append(dirs, e)
	}
	// Deepest first, so a folder's mode is set after its subfolders'.
	slices.SortStableFunc(dirs, func(a, b PackEntry) int { return strings.Count(b.Path, "/") - strings.Count(a.Path, "/") })
	for _, e := range dirs {
		dmodes[e.Mode] = append(dmodes[e.Mode], cmpOrStr(e.Path, "."))
	}
	moved := make([]string, 0, 2*len(d.moved))
	for _, mv := range d.moved {
		moved = append(moved, mv[0], path.Join(dir, "r", mv[1]))
		e, _ := d.m.Entry(mv[1])
		fmodes[e.Mode] = append(fmodes[e.Mode], mv[1])
	}
	for _, p := range append(slices.Clone(d.same), d.bsame...) {
		e, _ := d.m.Entry(p)
		fmodes[e.Mode] = append(fmodes[e.Mode], p)
	}
	if err := ctl("implied", implied...); err != nil {
		return err
	}
	if err := ctl("same", d.same...); err != nil {
		return err
	}
	if err := ctl("bsame", d.bsame...); err != nil {
		return err
	}
	if err := ctl("moved", moved...); err != nil {
		return err
	}
	for _, mode := range sortedModes(fmodes) {
		if err := ctl(fmt.Sprintf("fmode/%o", mode), fmodes[mode]...); err != nil {
			return err
		}
	}
	for _, mode := range sortedModes(dmodes) {
		if err := ctl(fmt.Sprintf("dmode/%o", mode), dmodes[mode]...); err != nil {
			return err
		}
	}
	for _, e := range dirs {
		// Owner-writable while the tree is assembled; dmode/ sets the
		// pack's mode after.
		h := &zip.FileHeader{Name: "r/", Method: zip.Store}
		if e.Path != "" {
			h.Name = "r/" + e.Path + "/"
		}
		h.SetMode(fs.ModeDir | e.Mode | 0o700)
		if _, err := zw.CreateHeader(h); err != nil {
			return err
		}
	}
	for _, e := range d.ship {
		h := *e.zh
		h.Name, h.Extra, h.Comment = "r/"+e.Path, nil, ""
		fw, err := zw.CreateRaw(&h)
		if err != nil {
			return err
		}
		r, err := raw(e)
		if err != nil {
			return err
		}
		if _, err := io.Copy(fw, r); err != nil {
			return err
		}
	}
	return zw.Close()
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedModes(m map[fs.FileMode][]string) []fs.FileMode {
	out := make([]fs.FileMode, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// stageDelta assembles the staged release by delta and verifies it. On an
// error the staged release is absent and nothing was recorded as staged.
func (j *Job) stageDelta(ctx context.Context, d *delta) error {
	zr, err := zip.OpenReader(j.Pack.Path)
	if err != nil {
		return fmt.Errorf("read the pack: %w", err)
	}
	defer zr.Close()
	byName := make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		byName[zf.Name] = zf
	}
	raw := func(e PackEntry) (io.Reader, error) {
		zf := byName[e.zh.Name]
		if zf == nil {
			return nil, fmt.Errorf("the pack changed on the controller: %s is gone", e.zh.Name)
		}
		return zf.OpenRaw()
	}
	dir := j.Paths.Delta()
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		pw2 := &progressWriter{w: pw, total: d.stream, emit: func(done int64) {
			j.Sink.Emit(Event{Type: EventProgress, Node: j.Node.Name, Step: "stage", Done: done, Total: d.stream})
		}}
		err := d.writeStream(pw2, raw, dir)
		if err == nil && pw2.done != d.stream {
			err = fmt.Errorf("the stream has %d bytes, not the %d planned", pw2.done, d.stream)
		}
		pw.CloseWithError(err)
		werr <- err
	}()
	script := j.vars() + "D=" + q(dir) + "; B=" + q(j.Paths.Base()) + `
rm -f "$S/staged.json"
rm -rf "$D" "$N"
mkdir -p "$D"
cat > "$D/ship.zip"
if ! out=$(unzip -q "$D/ship.zip" -d "$D" 2>&1); then echo "unzip failed: $out" | tail -n 3 >&2; exit 1; fi
rm -f "$D/ship.zip"
R="$D/r"
mkdir -p "$R"
cd "$R"
xargs -0 -r mkdir -p -- < "$D/ctl/implied"
cd "$H"
xargs -0 -r cp --reflink=auto --preserve=mode,timestamps --parents -t "$R" -- < "$D/ctl/same"
if [ -s "$D/ctl/bsame" ]; then (cd "$B" && xargs -0 -r cp --reflink=auto --preserve=mode,timestamps --parents -t "$R" -- < "$D/ctl/bsame"); fi
xargs -0 -r -n 2 cp --reflink=auto --preserve=mode,timestamps -- < "$D/ctl/moved"
cd "$R"
for m in "$D"/ctl/fmode/* "$D"/ctl/dmode/*; do
  [ -e "$m" ] || continue
  xargs -0 -r chmod "${m##*/}" -- < "$m"
done
` + listTreeScript
	res, err := j.Conn.Run(ctx, "sh -c "+q(script), transport.RunOptions{Stdin: pr, MaxOutput: 256 << 20})
	pr.CloseWithError(errors.New("the node stopped reading"))
	if wrr := <-werr; err == nil && wrr != nil {
		err = wrr
	}
	if err != nil {
		var said string
		if xe := (*transport.ExitError)(nil); errors.As(err, &xe) {
			said = lastLines(string(xe.Stderr), 2)
		}
		if said != "" {
			err = fmt.Errorf("%w: %s", err, said)
		}
		return fmt.Errorf("assemble: %w", err)
	}
	if res.Truncated {
		return errors.New("verify: the staged tree's listing is larger than 256 MiB")
	}
	staged, err := verifyTree(d.m, string(res.Stdout))
	if err != nil {
		return fmt.Errorf("verify the assembled release against the pack: %w", err)
	}
	// Verified: only now does it become the staged release, and base.
	// Base's files are linked to the staged release's, so they have the
	// same sizes and mtimes: the sha256s just verified are base's too.
	sums := append(slices.Clone(d.home), staged...)
	sums = append(sums, asBase(staged)...)
	script = j.vars() + "D=" + q(dir) + `
[ -d "$D/r" ]
rm -rf "$N"
mv "$D/r" "$N"
rm -rf "$D"
` + keepBaseScript + `
mkdir -p "$S/packs"
find "$S/packs" -name '*.zip' ! -name ` + q(j.Pack.SHA256+".zip") + ` -delete
cat > "$S/release.sums.tmp" && mv "$S/release.sums.tmp" "$S/release.sums"
`
	if _, err := shIn(ctx, j.Conn, script, formatSums(sums)); err != nil {
		return fmt.Errorf("put the assembled release in place: %w", err)
	}
	j.journal(ctx, Record{Step: "stage", Phase: PhaseNote, Detail: fmt.Sprintf("staged by delta: shipped %s of %s (%d of %d files; %d copied from the running release and the last staged pack's own files, %d of them from another path, %d from the pack's own files); every file verified against the pack",
		HumanBytes(d.stream), HumanBytes(j.Pack.Size), d.shippedFiles(), d.m.Files, d.copied(), len(d.moved), d.fromBase)})
	j.recordPristine(ctx)
	return j.writeStagedState(ctx, StagedState{Pack: j.Pack.SHA256, Level: j.Pack.Level})
}

// keepBaseScript replaces base with hard links to the staged release $N,
// which must be the pack's tree exactly (verified, or just unzipped) and
// untouched by configure and optimize. Failing to make it is no error:
// base is then absent, which costs only shipping. Every sha256 recorded
// for base is that of the staged file it is linked to. Base's folders are
// its own (only files are links), so making them writable to remove them
// changes nothing of any release; drover never writes a file of base.
const keepBaseScript = `rmbase() { [ ! -e "$1" ] && [ ! -L "$1" ] && return 0; find "$1" -type d ! -perm -u=wx -exec chmod u+wx {} + 2>/dev/null; rm -rf "$1"; }
rmbase "$S/base.new" || true
if cp -al "$N" "$S/base.new" 2>/dev/null; then rmbase "$S/base" && mv "$S/base.new" "$S/base" || true; else rmbase "$S/base.new" || true; rmbase "$S/base" || true; fi`

// listTreeScript prints every path under the current folder as
// NUL-terminated fields (type, mode, size, mtime, link target, path), then
// "sums", then sha256sum's lines for every file.
const listTreeScript = `find . -printf '%y\0%m\0%s\0%T@\0%l\0%P\0'
printf 'sums\0'
find . -type f -print0 | xargs -0 -r sha256sum --
`

// verifyTree checks listTreeScript's output against the manifest: every
// path of the pack is there with its type, mode (for the folders the zip
// lists), size, sha256 or link target, and nothing else is. It returns
// the tree's files, for the sha256 cache.
func verifyTree(m *PackManifest, out string) ([]nodeFile, error) {
	list, sumText, ok := strings.Cut(out, "sums\x00")
	if !ok {
		return nil, errors.New("the listing is incomplete")
	}
	sums := parseSha256sum(sumText)
	fields := strings.Split(list, "\x00")
	var problems []string
	bad := func(format string, a ...any) {
		problems = append(problems, fmt.Sprintf(format, a...))
	}
	seen := make(map[string]bool, len(m.Entries))
	var files []nodeFile
	for i := 0; i+6 <= len(fields); i += 6 {
		typ, modeS, sizeS, mtime, target, p := fields[i], fields[i+1], fields[i+2], fields[i+3], fields[i+4], fields[i+5]
		seen[p] = true
		e, ok := m.Entry(p)
		if !ok {
			bad("%s is not in the pack", p)
			continue
		}
		if len(typ) != 1 || typ[0] != e.Type {
			bad("%s is of type %s, not %c", cmpOrStr(p, "."), typ, e.Type)
			continue
		}
		mode, _ := strconv.ParseUint(modeS, 8, 32)
		size, _ := strconv.ParseInt(sizeS, 10, 64)
		switch e.Type {
		case 'd':
			if !e.Implied && fs.FileMode(mode) != e.Mode {
				bad("folder %s has mode %o, not %o", cmpOrStr(p, "."), mode, e.Mode)
			}
		case 'l':
			if target != e.Target {
				bad("link %s points to %q, not %q", p, target, e.Target)
			}
		case 'f':
			if fs.FileMode(mode) != e.Mode {
				bad("%s has mode %o, not %o", p, mode, e.Mode)
			}
			sum := sums[p]
			switch {
			case size != e.Size:
				bad("%s has %d bytes, not %d", p, size, e.Size)
			case sum != e.SHA256:
				bad("%s has sha256 %.12s, not %.12s", p, cmpOrStr(sum, "(unread)"), e.SHA256)
			}
			files = append(files, nodeFile{Path: p, Size: size, MTime: mtime, SHA256: sum})
		}
	}
	for _, e := range m.Entries {
		if !seen[e.Path] {
			bad("%s is missing", cmpOrStr(e.Path, "."))
		}
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > 5 {
			more = fmt.Sprintf(" (and %d more)", len(problems)-5)
			problems = problems[:5]
		}
		return nil, errors.New(strings.Join(problems, "; ") + more)
	}
	return files, nil
}

// progressWriter reports bytes written, at most every 1 MiB.
type progressWriter struct {
	w           io.Writer
	total, done int64
	last        int64
	emit        func(done int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.done-p.last >= 1<<20 || p.done == p.total {
		p.last = p.done
		p.emit(p.done)
	}
	return n, err
}
