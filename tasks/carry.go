package tasks

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// carry is what configure carries from the running release into the
// staged one: the product's lists, with the inventory's carry paths added
// to those that overwrite the new release's copy (a path the product
// already carries is not repeated).
func (j *Job) carry() (overwrite, add, unpacked []string) {
	overwrite, add, unpacked = j.Product.Carry()
	overwrite = slices.Clone(overwrite)
	for _, p := range j.Inv.Carry {
		if !slices.Contains(overwrite, p) && !slices.Contains(add, p) {
			overwrite = append(overwrite, p)
		}
	}
	return overwrite, add, unpacked
}

// carriedByInventory reports whether p is carried only because the
// inventory's carry list names it.
func (j *Job) carriedByInventory(p string) bool {
	overwrite, add, _ := j.Product.Carry()
	return slices.Contains(j.Inv.Carry, p) && !slices.Contains(overwrite, p) && !slices.Contains(add, p)
}

// pristineMax is the largest file kept as a pack's pristine copy: the
// carried files a template drift is told for are small text files
// (configuration, not keystores or data).
const pristineMax = 64 << 10

// recordPristine keeps the staged release's own copies of the small text
// files under the overwrite-carried paths, before configure overwrites
// them, as <state>/pristine/<pack sha256>/: when the next pack is staged,
// they are what this release shipped, against which the operator's and
// the next pack's changes are told apart. The record of the release
// installed now (current.json's pack) is kept until the update completes;
// any other is removed. A failure loses only the drift check: it is a
// warning.
func (j *Job) recordPristine(ctx context.Context) {
	overwrite, _, _ := j.carry()
	keep := []string{j.Pack.SHA256}
	if c := j.facts.Current; c != "" {
		keep = append(keep, c)
	}
	script := j.vars() + fmt.Sprintf(`R="$S/pristine/"%[1]s; T="$R.tmp"
rm -rf "$T"; mkdir -p "$T"
(cd "$N" && for p in %[2]s; do [ ! -e "$p" ] || find "$p" -type f -size -%[3]dc; done) | while IFS= read -r f; do
  if [ ! -s "$N/$f" ] || LC_ALL=C grep -Iq '' "$N/$f"; then mkdir -p "$T/$(dirname "$f")" && cp -p "$N/$f" "$T/$f"; fi
done
rm -rf "$R" && mv "$T" "$R"
%[4]s`, q(j.Pack.SHA256), transport.QuoteAll(overwrite...), pristineMax+1, prunePristineScript(keep))
	if _, err := sh(ctx, j.Conn, script); err != nil {
		j.warn("could not keep the pack's own copies of the carried files, so the next update cannot tell template drift: " + err.Error())
	}
}

// prunePristine removes the pristine records of every pack but keep.
func (j *Job) prunePristine(ctx context.Context, keep ...string) {
	if _, err := sh(ctx, j.Conn, j.vars()+prunePristineScript(keep)); err != nil {
		j.warn("could not remove the pristine copies of older packs: " + err.Error())
	}
}

func prunePristineScript(keep []string) string {
	return fmt.Sprintf(`for d in "$S/pristine"/*; do
  [ -e "$d" ] || continue
  case " "%s" " in *" $(basename "$d") "*) ;; *) rm -rf "$d";; esac
done
`, q(strings.Join(keep, " ")))
}

// templateDrift tells, for the plan, each carried file the operator
// changed that the new pack changes too: the operator's copy differs from
// the pristine copy of the running release's pack and so does the new
// pack's, which the carry overwrites. The new pack's copies are read from
// the pack on the controller, so a plan shows them before anything is
// pushed. A running release drover did not install has no pristine record:
// that is said once.
func (j *Job) templateDrift(ctx context.Context) []string {
	cur := j.facts.Current
	if cur == "" || !j.facts.HomeExists {
		return []string{"template drift cannot be checked: the running release was not installed by drover, so its pack's own copies of the carried files are unknown"}
	}
	pack, cands, err := j.driftCandidates()
	if err != nil {
		return []string{"template drift cannot be checked: " + j.Inv.Redact(err.Error())}
	}
	if len(cands) == 0 {
		return nil
	}
	rec := j.Paths.Pristine(cur)
	out, ok := j.facts.pristine.lines(cur, cands) // read by the probe
	if !ok {
		out, err = sh(ctx, j.Conn, j.vars()+fmt.Sprintf(`R=%s
[ -d "$R" ] || { echo nopristine; exit 0; }
for p in %s; do
  a=absent; [ ! -f "$R/$p" ] || a=$(sha256sum < "$R/$p" | cut -c1-64)
  b=absent; [ ! -f "$H/$p" ] || b=$(sha256sum < "$H/$p" | cut -c1-64)
  printf 'sum\t%%s\t%%s\t%%s\n' "$p" "$a" "$b"
done
`, q(rec), transport.QuoteAll(cands...)))
		if err != nil {
			return []string{"template drift cannot be checked: " + j.Inv.Redact(err.Error())}
		}
	}
	if strings.TrimSpace(out) == "nopristine" {
		return []string{fmt.Sprintf("template drift cannot be checked: drover kept no pristine copies of the running release's pack (%.12s), which was installed before it recorded them", cur)}
	}
	var details []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 4 || f[0] != "sum" {
			continue
		}
		p, old, mine := f[1], f[2], f[3]
		next := sumBytes([]byte(pack[p]))
		if mine == "absent" || mine == old || next == old || mine == next {
			continue // the operator's copy is the old pack's, or none; the pack did not change it; or both agree
		}
		var before string
		if old != "absent" {
			if before, err = sh(ctx, j.Conn, "cat "+q(rec+"/"+p)); err != nil {
				details = append(details, "template drift cannot be checked for "+p+": "+j.Inv.Redact(err.Error()))
				continue
			}
		}
		d := UnifiedDiff("a/"+p, "b/"+p, before, pack[p])
		details = append(details, j.Inv.Redact(fmt.Sprintf("template drift: %s: you changed it and %s level %d changes it too; your copy is kept; the pack's change:\n%s",
			p, j.Pack.Product, j.Pack.Level, d)))
	}
	return details
}

// driftCandidates are the carried files templateDrift compares: the pack's
// small text files under the overwrite-carried paths that are not managed
// files (a managed file is written, not carried: its diff is shown as
// such), sorted, with the pack's copies.
func (j *Job) driftCandidates() (pack map[string]string, cands []string, err error) {
	overwrite, _, _ := j.carry()
	if pack, err = j.Pack.textFiles(overwrite, pristineMax); err != nil {
		return nil, nil, err
	}
	for p := range pack {
		if !slices.ContainsFunc(j.Node.Files, func(f inventory.File) bool { return f.Path == p }) {
			cands = append(cands, p)
		}
	}
	sort.Strings(cands)
	return pack, cands, nil
}

// lines are templateDrift's script output made from what the probe read
// ("sum" lines, or "nopristine"); false when the probe did not read every
// one of cands for the pristine copies of pack cur.
func (ps *pristineSums) lines(cur string, cands []string) (string, bool) {
	if ps == nil || ps.pack != cur {
		return "", false
	}
	if ps.none {
		return "nopristine\n", true
	}
	var b strings.Builder
	for _, p := range cands {
		s, ok := ps.sums[p]
		if !ok {
			return "", false
		}
		fmt.Fprintf(&b, "sum\t%s\t%s\t%s\n", p, s[0], s[1])
	}
	return b.String(), true
}

// packTexts caches textFiles by pack and arguments: every node of a plan
// asks the same, and a real pack's zip directory has thousands of entries.
var packTexts struct {
	mu sync.Mutex
	m  map[string]*packText
}

type packText struct {
	once  sync.Once
	files map[string]string
	err   error
}

// textFiles returns, relative to the release directory, the regular files
// of the pack under paths (each a file or a folder) that are text and at
// most max bytes.
// The map is shared: callers must not change it.
func (p *Pack) textFiles(paths []string, max int64) (map[string]string, error) {
	if p.SHA256 == "" {
		return p.readTextFiles(paths, max)
	}
	key := fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%s", p.SHA256, p.Path, p.Size, max, strings.Join(paths, "\x00"))
	packTexts.mu.Lock()
	if packTexts.m == nil {
		packTexts.m = map[string]*packText{}
	}
	t := packTexts.m[key]
	if t == nil {
		t = &packText{}
		packTexts.m[key] = t
	}
	packTexts.mu.Unlock()
	t.once.Do(func() { t.files, t.err = p.readTextFiles(paths, max) })
	return t.files, t.err
}

func (p *Pack) readTextFiles(paths []string, max int64) (map[string]string, error) {
	f, err := os.Open(p.Path)
	if err != nil {
		return nil, fmt.Errorf("read the pack %s: %v", p.Path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read the pack %s: %v", p.Path, err)
	}
	out := map[string]string{}
	for _, zf := range zr.File {
		rel, ok := strings.CutPrefix(strings.TrimPrefix(zf.Name, "./"), p.Top+"/")
		if !ok || !zf.Mode().IsRegular() || zf.UncompressedSize64 > uint64(max) ||
			!slices.ContainsFunc(paths, func(c string) bool { return rel == c || strings.HasPrefix(rel, c+"/") }) {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("read %s from the pack %s: %v", rel, p.Path, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, max+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s from the pack %s: %v", rel, p.Path, err)
		}
		if int64(len(b)) <= max && !bytes.ContainsRune(b, 0) {
			out[rel] = string(b)
		}
	}
	return out, nil
}
