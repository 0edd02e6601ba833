package tasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/transport"
)

// The persisted data (Solr index, H2 databases) is copied twice: once while
// the old server still serves (the pre-copy), and again after it stopped,
// but then only the files that changed since. The downtime then depends on
// what the server wrote lately, not on the size of the data.
//
// The rule that keeps a torn copy out: a pre-copied file is kept only when
// its fingerprint on the stopped server (size, mtime, ctime, inode, mode) is
// the one taken before it was copied, its copy is untouched since, the two
// hashed equal, and it was last changed well before the pre-copy began (a
// write in the same clock tick as an earlier one leaves mtime and ctime as
// they were; such "racily clean" files are always copied again). Every
// other file is copied after the stop and verified by sha256.

// racyMargin is how close to the pre-copy's start a file may have been
// changed and still be trusted by its fingerprint, in seconds.
const racyMargin = 2

// maxListing bounds the output of the listings the copies print.
const maxListing = 256 << 20

func precopyStep() Step {
	return Step{
		Name: "precopy",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			switch {
			case len(j.persistPaths()) == 0:
				return Change{Done: true, Summary: "no data to carry"}, nil
			case j.switched() || j.midSwitch() || (j.staged() && j.stagedState().Persisted):
				return Change{Done: true, Summary: "data already persisted"}, nil
			case j.staged() && j.stagedState().PreCopied:
				return Change{Done: true, Summary: "data already pre-copied; what changed since is copied after the stop"}, nil
			case !j.facts.Running:
				return Change{Done: true, Summary: "the server is stopped: the data is copied after the stop step"}, nil
			}
			ch := Change{Summary: "copy the Solr index and H2 databases into the staged release while the server serves, checksums verified; after the stop only what changed is copied again"}
			return ch, j.dataDetails(ctx, &ch, false)
		},
		Apply: func(ctx context.Context, j *Job) error { return j.precopy(ctx) },
	}
}

// entry is one file system object of a listing.
type entry struct {
	kind  byte // f, d, l, ...
	mode  string
	size  int64
	mtime string // seconds.fraction, as find prints it
	ctime string
	inode string
}

// fp is what must not change for a pre-copied file to be kept.
func (e entry) fp() string {
	return fmt.Sprintf("%c:%s:%d:%s:%s:%s", e.kind, e.mode, e.size, e.mtime, e.ctime, e.inode)
}

// racy reports a change to e at or after since-racyMargin (unix seconds).
func (e entry) racy(since int64) bool {
	sec := func(s string) int64 {
		n, err := strconv.ParseInt(strings.SplitN(s, ".", 2)[0], 10, 64)
		if err != nil {
			return since // unreadable: treat as recent
		}
		return n
	}
	return sec(e.mtime) >= since-racyMargin || sec(e.ctime) >= since-racyMargin
}

// listing is the output of the scripts below, by tag and path.
type listing struct {
	start   int64
	trees   map[byte]map[string]entry // a: home's data, b: the staged copy
	sums    map[byte]map[string]string
	cpFail  []string
	stamp   string
	invalid string // a path drover cannot parse safely; the pre-copy is not used
}

// findFormat is what a listing prints per object: tag, type, mode, size,
// mtime, ctime, inode, path (last: it may hold spaces).
const findFormat = `'%y %m %s %T@ %C@ %i %p\n'`

// listScript lists the persisted paths of dir with tag.
func listScript(dir, tag string, paths []string) string {
	return fmt.Sprintf("(cd %s && for p in %s; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then find \"$p\" -printf %s; fi; done) | sed 's/^/%s /' || true\n",
		dir, transport.QuoteAll(paths...), findFormat, tag)
}

// sumScript hashes the files named on lines tagged list in $S/persist.list
// (or every file under the persisted paths when list is "") inside dir.
func sumScript(dir, tag, list string, paths []string) string {
	src := fmt.Sprintf("grep '^%s' \"$S/persist.list\" | cut -c2- | tr '\\n' '\\0'", list)
	if list == "" {
		src = fmt.Sprintf("for p in %s; do [ ! -e \"$p\" ] || find \"$p\" -type f -print0; done", transport.QuoteAll(paths...))
	}
	return fmt.Sprintf("(cd %s && %s | xargs -0 -r sha256sum) | sed 's/^/%s /' || true\n", dir, src, tag)
}

func parseListing(out string) (*listing, error) {
	l := &listing{trees: map[byte]map[string]entry{}, sums: map[byte]map[string]string{}}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		tag, rest, _ := strings.Cut(line, " ")
		switch tag {
		case "start":
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("unexpected start line %q", line)
			}
			l.start = n
		case "stamp":
			l.stamp = rest
		case "cpfail":
			l.cpFail = append(l.cpFail, rest)
		case "a", "b":
			f := strings.SplitN(rest, " ", 7)
			if len(f) != 7 || len(f[0]) != 1 {
				return nil, fmt.Errorf("unexpected listing line %q", line)
			}
			size, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("unexpected listing line %q", line)
			}
			if l.trees[tag[0]] == nil {
				l.trees[tag[0]] = map[string]entry{}
			}
			l.trees[tag[0]][f[6]] = entry{kind: f[0][0], mode: f[1], size: size, mtime: f[3], ctime: f[4], inode: f[5]}
		case "h", "c":
			// sha256sum prints "<sum>  <name>"; a name with a newline or a
			// backslash is escaped and the line starts with a backslash.
			if strings.HasPrefix(rest, "\\") || len(rest) < 67 || rest[64:66] != "  " {
				l.invalid = rest
				continue
			}
			if l.sums[tag[0]] == nil {
				l.sums[tag[0]] = map[string]string{}
			}
			l.sums[tag[0]][rest[66:]] = rest[:64]
		default:
			// A path holding a newline splits its listing line.
			l.invalid = line
		}
	}
	return l, nil
}

// copyRecord is what the pre-copy leaves on the node for the post-stop
// pass: per kept file, its fingerprint in home before the copy, its copy's
// fingerprint and the sha256 both hashed to.
type copyRecord struct {
	pack  string
	files map[string]keptFile
}

type keptFile struct{ src, dst, sum string }

func (r copyRecord) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "drover-precopy 1 %s\n", r.pack)
	names := make([]string, 0, len(r.files))
	for n := range r.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k := r.files[n]
		fmt.Fprintf(&b, "%s %s %s %s\n", k.src, k.dst, k.sum, n)
	}
	return b.Bytes()
}

func decodeRecord(s string) (copyRecord, bool) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	head := strings.Fields(lines[0])
	if len(head) != 3 || head[0] != "drover-precopy" || head[1] != "1" {
		return copyRecord{}, false
	}
	r := copyRecord{pack: head[2], files: map[string]keptFile{}}
	for _, l := range lines[1:] {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			return copyRecord{}, false
		}
		r.files[f[3]] = keptFile{src: f[0], dst: f[1], sum: f[2]}
	}
	return r, true
}

// precopy copies the persisted data into the staged release while the
// server runs, and records which copies can be kept if the files do not
// change before the stop. It never decides what the new release starts
// with: the post-stop pass does, from the stopped server's files.
func (j *Job) precopy(ctx context.Context) error {
	paths := j.persistPaths()
	// Before anything is copied: a pre-copy cut off midway has already
	// replaced some of the pack's own files with the node's.
	if st := j.stagedState(); !sameSet(st.DataPaths, paths) {
		st.DataPaths = union(st.DataPaths, paths)
		if err := j.writeStagedState(ctx, st); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.WriteString(j.vars())
	b.WriteString(`[ -d "$N" ] || { echo "the staged release $N is missing" >&2; exit 1; }
rm -f "$S/precopy.rec"
printf 'start %s\n' "$(date +%s)"
`)
	fmt.Fprintf(&b, "i=0\nfor p in %s; do\n", transport.QuoteAll(paths...))
	b.WriteString(`  i=$((i+1))
  [ -e "$H/$p" ] || continue
  rm -rf "$N/$p"; mkdir -p "$(dirname "$N/$p")"
  (cd "$H" && find "$p" -printf ` + findFormat + ` | sed 's/^/a /') || true
  # The originals are hashed while they are copied (a second reader of the
  # same pages); a file that changes meanwhile hashes differently from its
  # copy and is copied again after the stop.
  (cd "$H" && find "$p" -type f -print0 | xargs -0 -r sha256sum | sed 's/^/h /' > "$S/precopy.h") 2>/dev/null &
  hashing=$!
  if ! err=$(cp -a --reflink=auto "$H/$p" "$N/$p" 2>&1); then
    case $err in *"No space"*)
      kill $hashing 2>/dev/null; wait $hashing 2>/dev/null || :
      printf '%s\n' "$err" | tail -n 2 >&2
      k=0; for q in ` + transport.QuoteAll(paths...) + `; do k=$((k+1)); [ $k -gt $i ] || rm -rf "$N/$q"; done # the space back to the serving node
      exit 28;;
    esac
    printf 'cpfail %s\n' "$p"
  fi
  wait $hashing || true
  (cd "$N" && find "$p" -printf ` + findFormat + ` | sed 's/^/b /') || true
  cat "$S/precopy.h"; rm -f "$S/precopy.h"
  (cd "$N" && find "$p" -type f -print0 | xargs -0 -r sha256sum | sed 's/^/c /') || true
done
`)
	res, err := j.Conn.Run(ctx, "sh -c "+q(b.String()), transport.RunOptions{MaxOutput: maxListing})
	if err != nil {
		var xe *transport.ExitError
		if errors.As(err, &xe) && xe.Code == 28 {
			return fmt.Errorf("pre-copy the data: no space left beside %s: %s; free some space and run again (the old release still serves)", j.Paths.Home, lastLines(string(xe.Stderr), 1))
		}
		return fmt.Errorf("pre-copy the data: %w", err)
	}
	if res.Truncated {
		j.warn("the pre-copy listed more than drover reads back; the data is copied whole after the stop")
		return nil
	}
	l, err := parseListing(string(res.Stdout))
	if err != nil {
		return fmt.Errorf("pre-copy the data: %w", err)
	}
	if l.invalid != "" {
		j.warn("a persisted file has a name drover cannot list safely (a newline or backslash); the data is copied whole after the stop")
		return nil
	}
	rec := copyRecord{pack: j.Pack.SHA256, files: map[string]keptFile{}}
	var kept, racy int64
	for name, src := range l.trees['a'] {
		if src.kind != 'f' {
			continue
		}
		dst, ok := l.trees['b'][name]
		sum := l.sums['h'][name]
		if !ok || dst.kind != 'f' || dst.size != src.size || sum == "" || l.sums['c'][name] != sum {
			continue // changed while it was copied: copied after the stop
		}
		if src.racy(l.start) {
			racy++
			continue
		}
		rec.files[name] = keptFile{src: src.fp(), dst: dst.fp(), sum: sum}
		kept += src.size
	}
	if _, err := shIn(ctx, j.Conn, j.vars()+`cat > "$S/precopy.rec.tmp" && mv "$S/precopy.rec.tmp" "$S/precopy.rec"`, rec.encode()); err != nil {
		return fmt.Errorf("record the pre-copy: %w", err)
	}
	j.journal(ctx, Record{Step: "precopy", Phase: PhaseNote, Detail: fmt.Sprintf("%d files (%s) copied and verified while the server ran; %d changed lately or while copied, copied again after the stop", len(rec.files), HumanBytes(kept), racy)})
	st := j.stagedState()
	st.PreCopied, st.DataPaths = true, paths
	return j.writeStagedState(ctx, st)
}

// persistDelta is the post-stop pass after a pre-copy: it copies again
// every file whose pre-copy it cannot prove current, removes what the
// server deleted, verifies, and returns the sums of each persisted path as
// the full copy computes them. ok is false when there is no usable
// pre-copy record (the caller copies everything).
func (j *Job) persistDelta(ctx context.Context) (sums map[string]string, stamp string, ok bool, err error) {
	paths := j.persistPaths()
	pre := j.pidPre(j.Paths.Home) + "if alive; then echo \"the server is still running (PID $pid); refusing to copy live data\" >&2; exit 1; fi\n"
	script := pre + `[ -r "$S/precopy.rec" ] || exit 0
cat "$S/precopy.rec"; echo drover-precopy-end
` + listScript(`"$H"`, "a", paths) + listScript(`"$N"`, "b", paths)
	res, err := j.Conn.Run(ctx, "sh -c "+q(script), transport.RunOptions{MaxOutput: maxListing})
	if err != nil {
		return nil, "", false, fmt.Errorf("list the data: %w", err)
	}
	out := string(res.Stdout)
	recText, listText, found := strings.Cut(out, "drover-precopy-end\n")
	if !found || res.Truncated {
		return nil, "", false, nil
	}
	rec, good := decodeRecord(recText)
	if !good || rec.pack != j.Pack.SHA256 {
		return nil, "", false, nil
	}
	l, err := parseListing(listText)
	if err != nil || l.invalid != "" {
		return nil, "", false, nil
	}
	src, dst := l.trees['a'], l.trees['b']
	// A path home lacks is left as the staged release has it (the pack's
	// own files), as the full copy does.
	carried := func(name string) bool {
		for _, p := range paths {
			if _, in := src[p]; in && (name == p || strings.HasPrefix(name, p+"/")) {
				return true
			}
		}
		return false
	}
	maps.DeleteFunc(dst, func(name string, _ entry) bool { return !carried(name) })

	// What to remove from the copy, what to copy again, which directories
	// to make or fix.
	var ops bytes.Buffer
	keep := map[string]string{}
	var recopy []string
	for name, d := range dst {
		if s, in := src[name]; !in || s.kind != d.kind {
			fmt.Fprintf(&ops, "x%s\n", name)
		}
	}
	for name, s := range src {
		switch s.kind {
		case 'd':
			if d, in := dst[name]; !in || d.kind != 'd' || d.mode != s.mode {
				fmt.Fprintf(&ops, "d%s %s\n", s.mode, name)
			}
			continue
		case 'f':
			if k, in := rec.files[name]; in && k.src == s.fp() {
				if d, in := dst[name]; in && k.dst == d.fp() {
					keep[name] = k.sum
					continue
				}
			}
		}
		recopy = append(recopy, name)
		if _, in := dst[name]; in {
			// Removed first, never written over: the staged file may be a
			// hard link (base/) that must keep its content.
			fmt.Fprintf(&ops, "x%s\n", name)
		}
		fmt.Fprintf(&ops, "c%s\n", name)
	}
	var b strings.Builder
	b.WriteString(pre)
	b.WriteString(`cat > "$S/persist.list"
(cd "$N" && grep '^x' "$S/persist.list" | cut -c2- | tr '\n' '\0' | xargs -0 -r rm -rf --)
grep '^d' "$S/persist.list" | cut -c2- | while read -r m d; do mkdir -p "$N/$d" && chmod "$m" "$N/$d"; done
if grep -q '^c' "$S/persist.list"; then
  if ! err=$(cd "$H" && grep '^c' "$S/persist.list" | cut -c2- | tr '\n' '\0' | xargs -0 -r cp -af --reflink=auto --parents -t "$N" -- 2>&1); then
    printf 'copy failed: %s\n' "$err" | tail -n 2 >&2; exit 1
  fi
fi
`)
	b.WriteString(sumScript(`"$H"`, "h", "c", paths))
	b.WriteString(sumScript(`"$N"`, "c", "c", paths))
	b.WriteString(listScript(`"$H"`, "a", paths))
	b.WriteString(listScript(`"$N"`, "b", paths))
	b.WriteString(`rm -f "$S/persist.list"` + "\n")
	b.WriteString(stampScript(paths))
	res, err = j.Conn.Run(ctx, "sh -c "+q(b.String()), transport.RunOptions{Stdin: bytes.NewReader(ops.Bytes()), MaxOutput: maxListing})
	if err != nil {
		return nil, "", true, fmt.Errorf("copy the data that changed: %w", err)
	}
	if res.Truncated {
		return nil, "", true, errors.New("copy the data that changed: the listing was too long to verify")
	}
	after, err := parseListing(string(res.Stdout))
	if err != nil {
		return nil, "", true, fmt.Errorf("copy the data that changed: %w", err)
	}
	maps.DeleteFunc(after.trees['b'], func(name string, _ entry) bool { return !carried(name) })
	if err := sameListing(after.trees['a'], after.trees['b']); err != nil {
		return nil, "", true, fmt.Errorf("the copy of the data is not the stopped server's: %w; the staged release was not switched in", err)
	}
	files := map[string]string{}
	for _, name := range recopy {
		if src[name].kind != 'f' {
			continue
		}
		a, c := after.sums['h'][name], after.sums['c'][name]
		if a == "" || a != c {
			return nil, "", true, fmt.Errorf("the copy of %s differs from the original (sha256 %.12s vs %.12s); the staged release was not switched in", name, a, c)
		}
		files[name] = a
	}
	for name, sum := range keep {
		files[name] = sum
	}
	for name, e := range after.trees['a'] {
		if _, in := files[name]; e.kind == 'f' && !in {
			return nil, "", true, fmt.Errorf("%s was not verified; the staged release was not switched in", name)
		}
	}
	var keptBytes, copied int64
	for name := range keep {
		keptBytes += src[name].size
	}
	for _, name := range recopy {
		copied += src[name].size
	}
	j.journal(ctx, Record{Step: "persist", Phase: PhaseNote, Detail: fmt.Sprintf("after the stop: %d files (%s) copied again, %d files (%s) kept from the pre-copy",
		len(recopy), HumanBytes(copied), len(keep), HumanBytes(keptBytes))})
	return treeSums(paths, files, after.trees['a']), after.stamp, true, nil
}

// sameListing reports the first difference between two listings in what the
// new release sees: kinds, modes and file sizes.
func sameListing(a, b map[string]entry) error {
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, in := a[n]; !in {
			return fmt.Errorf("%s is in the copy only", n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		x := a[n]
		y, in := b[n]
		switch {
		case !in:
			return fmt.Errorf("%s is missing from the copy", n)
		case x.kind != y.kind || x.mode != y.mode || (x.kind == 'f' && x.size != y.size):
			return fmt.Errorf("%s differs (%c %s %d bytes, copy %c %s %d bytes)", n, x.kind, x.mode, x.size, y.kind, y.mode, y.size)
		}
	}
	return nil
}

// treeSums computes, per persisted path, the checksum the full copy
// records: sha256 of `sha256sum` lines over the path's files in byte order.
func treeSums(paths []string, files map[string]string, tree map[string]entry) map[string]string {
	out := map[string]string{}
	for _, p := range paths {
		if _, in := tree[p]; !in {
			continue
		}
		var names []string
		for n := range files {
			if n == p || strings.HasPrefix(n, p+"/") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		h := sha256.New()
		for _, n := range names {
			fmt.Fprintf(h, "%s  %s\n", files[n], n)
		}
		out[p] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// stampScript prints the data fingerprint of home (see dataStamp).
func stampScript(paths []string) string {
	return "printf 'stamp %s\\n' \"$(cd \"$H\" && for p in " + transport.QuoteAll(paths...) +
		"; do [ ! -e \"$p\" ] || find \"$p\" -exec stat -c '%n %s %Y %i' {} +; done | LC_ALL=C sort | sha256sum | cut -c1-32)\"\n"
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && len(union(a, b)) == len(a)
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
