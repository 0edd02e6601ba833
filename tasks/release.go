package tasks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/transport"
)

// A node's release listing: its files by path, size, modification time
// and sha256. The sha256s are cached in <state>/release.sums, keyed by
// path, size and modification time (to the nanosecond), so a file is
// hashed again only when one of them changed. The cache only saves work:
// whatever is assembled from it is verified against the pack before use.
//
// Base (<state>/base) is a second source: hard links to the files of the
// last staged release as the pack made them, taken before configure and
// optimize changed it, so the files profileSetup.sh removes from the
// running release are still on the node. Its files share inodes with that
// release (now home, or the previous or a failed release): a file changed
// in place there changes in base too. That is safe only because of two
// things, which must stay so: the cache is keyed by size and mtime to the
// nanosecond, so a file written since it was hashed is hashed again (its
// mtime moved), and the assembled tree is verified, every file's sha256,
// against the pack, so a file changed with its size and mtime kept (cp -p
// over it) is caught there and the whole pack is pushed instead. Base's
// files are cached under their path prefixed with basePrefix, which no
// path of a release listing can start with.

// nodeFile is one regular file of a release on the node.
type nodeFile struct {
	Path   string
	Size   int64
	MTime  string // find's %T@, compared as text
	SHA256 string // "" when unknown
	Base   bool   // a file of base, not of the release in home
}

type sumKey struct {
	path, mtime string
	size        int64
}

// basePrefix marks base's files in the cache: find's %P never starts
// with a slash.
const basePrefix = "/base/"

func (f nodeFile) key() sumKey {
	p := f.Path
	if f.Base {
		p = basePrefix + p
	}
	return sumKey{p, f.MTime, f.Size}
}

// asBase returns the files as base's: base is made of hard links to
// them, so each has the same size and mtime.
func asBase(files []nodeFile) []nodeFile {
	out := make([]nodeFile, len(files))
	for i, f := range files {
		f.Base = true
		out[i] = f
	}
	return out
}

// runtimePaths are folders of a running release that are never content of
// a pack and can be large: logs and temporary files.
var runtimePaths = []string{"repository/logs", "tmp"}

// findPrunes is a find expression that skips the paths (relative to the
// start point "."), or "" for none. Glob characters in them are escaped:
// -path matches patterns.
func findPrunes(paths []string) string {
	var parts []string
	for _, p := range paths {
		p = strings.Trim(p, "/")
		if p == "" || p == "." {
			continue
		}
		esc := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace("./" + p)
		parts = append(parts, "-path "+q(esc))
	}
	if len(parts) == 0 {
		return ""
	}
	return `\( ` + strings.Join(parts, " -o ") + ` \) -prune -o`
}

// runBig runs a script whose output may be large (a listing of a release).
func runBig(ctx context.Context, c Conn, script string, stdin []byte) (string, error) {
	opts := transport.RunOptions{MaxOutput: 256 << 20}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	res, err := c.Run(ctx, "sh -c "+q(script), opts)
	if res == nil {
		return "", err
	}
	if err == nil && res.Truncated {
		err = errors.New("the listing is larger than 256 MiB")
	}
	return string(res.Stdout), err
}

// listRelease lists the files of the release in home (without the
// persisted data and runtime folders) and of base, with the sha256s the
// cache knows, and the cache itself. It changes nothing. A missing home
// lists nothing; a missing base lists no base files.
func (j *Job) listRelease(ctx context.Context) (files, base []nodeFile, cache map[sumKey]string, err error) {
	skip := append(j.persistPaths(), runtimePaths...)
	list := `find . ` + findPrunes(skip) + ` -type f -printf '%s\t%T@\t%P\0' 2>/dev/null || true
`
	script := j.vars() + `[ -d "$H" ] || exit 0
(cd "$H" && ` + list + `)
printf 'base\0'
B=` + q(j.Paths.Base()) + `
if [ -d "$B" ]; then (cd "$B" && ` + list + `); fi
printf 'cache\0'
cat "$S/release.sums" 2>/dev/null || true
`
	out, err := runBig(ctx, j.Conn, script, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list the running release: %w", err)
	}
	// The markers are records of their own, without the tabs every file's
	// record has, so a file named "cache" is not one.
	var sect [3]strings.Builder
	at := 0
	for _, rec := range strings.SplitAfter(out, "\x00") {
		switch {
		case at == 0 && rec == "base\x00":
			at = 1
		case at <= 1 && rec == "cache\x00":
			at = 2
		default:
			sect[at].WriteString(rec)
		}
	}
	files, base = parseFileList(sect[0].String()), asBase(parseFileList(sect[1].String()))
	cache = parseSums(sect[2].String())
	for i, f := range files {
		files[i].SHA256 = cache[f.key()]
	}
	for i, f := range base {
		base[i].SHA256 = cache[f.key()]
	}
	return files, base, cache, nil
}

// parseFileList reads find's "size\tmtime\tpath\0" records.
func parseFileList(s string) []nodeFile {
	var out []nodeFile
	for _, rec := range strings.Split(s, "\x00") {
		f := strings.SplitN(rec, "\t", 3)
		if len(f) != 3 || f[2] == "" {
			continue
		}
		size, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, nodeFile{Path: f[2], Size: size, MTime: f[1]})
	}
	return out
}

// parseSums reads the cache's "sha256\tsize\tmtime\tpath\0" records.
func parseSums(s string) map[sumKey]string {
	m := map[sumKey]string{}
	for _, rec := range strings.Split(s, "\x00") {
		f := strings.SplitN(rec, "\t", 4)
		if len(f) != 4 || len(f[0]) != 64 {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		m[sumKey{f[3], f[2], size}] = f[0]
	}
	return m
}

// formatSums renders cache records, sorted by path.
func formatSums(files []nodeFile) []byte {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b nodeFile) int { return strings.Compare(a.key().path, b.key().path) })
	var b bytes.Buffer
	seen := map[sumKey]bool{}
	for _, f := range files {
		if len(f.SHA256) != 64 || seen[f.key()] {
			continue
		}
		seen[f.key()] = true
		fmt.Fprintf(&b, "%s\t%d\t%s\t%s\x00", f.SHA256, f.Size, f.MTime, f.key().path)
	}
	return b.Bytes()
}

// hashFiles computes, on the node, the sha256 of the files named (home's
// relative to home, base's to base) and fills them in, in one command. A
// file that vanished keeps "".
func (j *Job) hashFiles(ctx context.Context, files []*nodeFile) error {
	if len(files) == 0 {
		return nil
	}
	var in bytes.Buffer
	name := func(f *nodeFile) string {
		if f.Base {
			return path.Join(j.Paths.Base(), f.Path)
		}
		return path.Join(j.Paths.Home, f.Path)
	}
	for _, f := range files {
		in.WriteString(name(f) + "\x00")
	}
	out, err := runBig(ctx, j.Conn, "xargs -0 -r sha256sum -- 2>/dev/null", in.Bytes())
	var xe *transport.ExitError
	if err != nil && !errors.As(err, &xe) {
		return fmt.Errorf("hash the running release: %w", err)
	}
	sums := parseSha256sum(out)
	for _, f := range files {
		f.SHA256 = sums[name(f)]
	}
	return nil
}

// parseSha256sum reads sha256sum's output for files named "./path": a
// name holding a backslash or a line break is escaped, and its line
// starts with a backslash.
func parseSha256sum(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		escaped := strings.HasPrefix(line, `\`)
		if escaped {
			line = line[1:]
		}
		if len(line) < 66 || line[64] != ' ' {
			continue
		}
		sum, name := line[:64], line[66:]
		if escaped {
			name = unescapeSum(name)
		}
		m[strings.TrimPrefix(name, "./")] = sum
	}
	return m
}

func unescapeSum(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// writeSums replaces the node's cache of release sha256s.
func (j *Job) writeSums(ctx context.Context, files []nodeFile) error {
	_, err := shIn(ctx, j.Conn, j.vars()+`mkdir -p "$S" && cat > "$S/release.sums.tmp" && mv "$S/release.sums.tmp" "$S/release.sums"`, formatSums(files))
	return err
}
