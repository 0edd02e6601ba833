package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/drover-sh/drover/transport"
)

// configDigest identifies the configuration written into a staged release:
// the pack and every managed file's path, mode and content.
func (j *Job) configDigest() string {
	h := sha256.New()
	if j.Pack != nil {
		h.Write([]byte(j.Pack.SHA256))
	}
	for _, f := range j.Node.Files {
		fmt.Fprintf(h, "\x00%s\x00%o\x00%d\x00", f.Path, f.Mode, len(f.Content))
		h.Write(f.Content)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func configureStep() Step {
	return Step{
		Name: "configure",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if j.switched() || j.midSwitch() {
				return Change{Done: true, Summary: "configuration already applied"}, nil
			}
			ch := Change{Summary: "carry the operator's configuration from the running release; write managed files"}
			if st := j.stagedState(); j.staged() && st.Configured != "" {
				changed, err := j.carriedChanged(ctx)
				if err != nil {
					return ch, err
				}
				switch {
				case st.Configured == j.configDigest() && len(changed) == 0:
					return Change{Done: true, Summary: "configuration already applied"}, nil
				case len(changed) > 0:
					ch.Summary = "carry the configuration again: " + strings.Join(changed, ", ") + " changed on the running release since it was carried"
				default:
					ch.Summary = "configure again: the managed files or the pack changed since the staged release was configured"
				}
			}
			overwrite, add, unpacked := j.carry()
			for _, p := range overwrite {
				if j.carriedByInventory(p) {
					ch.Details = append(ch.Details, "carry "+p+" (the inventory's carry list)")
				} else {
					ch.Details = append(ch.Details, "carry "+p)
				}
			}
			for _, p := range add {
				note := " (files the pack lacks)"
				if slices.ContainsFunc(unpacked, func(u string) bool { return strings.HasPrefix(u, p+"/") }) {
					note = " (files the pack lacks, but not the folders the server unpacked from .war files)"
				}
				ch.Details = append(ch.Details, "carry "+p+note)
			}
			ch.Details = append(ch.Details, j.templateDrift(ctx)...)
			diffs, err := j.managedDiffs(ctx)
			if err != nil {
				return ch, err
			}
			ch.Details = append(ch.Details, diffs...)
			return ch, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.configure(ctx) },
	}
}

// carriedStamps fingerprints, per carried path, what configure copies from
// the running release (names, sizes, modification times to the
// nanosecond, inodes), so an operator's edit after the carry is noticed.
func (j *Job) carriedStamps(ctx context.Context) (map[string]string, error) {
	overwrite, add, _ := j.carry()
	paths := append(slices.Clone(overwrite), add...)
	out, err := sh(ctx, j.Conn, j.vars()+"cd \"$H\"\nfor p in "+transport.QuoteAll(paths...)+
		"; do printf '%s\\t' \"$p\"; if [ -e \"$p\" ]; then find \"$p\" -exec stat -c '%n %s %y %i' {} + | LC_ALL=C sort | sha256sum | cut -c1-16; else echo absent; fi; done")
	if err != nil {
		return nil, fmt.Errorf("fingerprint the configuration: %w", err)
	}
	stamps := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if p, s, ok := strings.Cut(l, "\t"); ok {
			stamps[p] = strings.TrimSpace(s)
		}
	}
	return stamps, nil
}

// carriedChanged lists the carried paths that changed on the running
// release since the staged release was configured.
func (j *Job) carriedChanged(ctx context.Context) ([]string, error) {
	if !j.facts.HomeExists {
		return nil, nil // nothing runs there to edit
	}
	now, err := j.carriedStamps(ctx)
	if err != nil {
		return nil, err
	}
	then := j.stagedState().CarriedFrom
	var changed []string
	overwrite, add, _ := j.carry()
	for _, p := range append(slices.Clone(overwrite), add...) {
		if then == nil || then[p] != now[p] {
			changed = append(changed, p)
		}
	}
	return changed, nil
}

// configure builds the staged release's configuration. A release that was
// configured before is staged again first (unpacked from the pack on the
// node, or assembled by delta), so files carried then and changed or
// removed on the running release since do not linger.
func (j *Job) configure(ctx context.Context) error {
	if j.stagedState().Configured != "" {
		if err := j.restage(ctx); err != nil {
			return err
		}
	}
	stamps, err := j.carriedStamps(ctx)
	if err != nil {
		return err
	}
	overwrite, add, unpacked := j.carry()
	var b strings.Builder
	b.WriteString(j.vars())
	for _, p := range overwrite {
		fmt.Fprintf(&b, "if [ -d \"$H\"/%[1]s ]; then mkdir -p \"$N\"/%[1]s && cp -a \"$H\"/%[1]s/. \"$N\"/%[1]s/; elif [ -e \"$H\"/%[1]s ]; then mkdir -p \"$(dirname \"$N\"/%[1]s)\" && cp -a \"$H\"/%[1]s \"$N\"/%[1]s; fi\n", q(p))
	}
	// The server unpacks each .war of these folders into a folder of the
	// same name at start: a runtime copy of the old release's archive, not
	// the operator's, which must not shadow the new release's.
	for i, w := range unpacked {
		fmt.Fprintf(&b, "pre%d=$(ls -A \"$N\"/%s 2>/dev/null)\n", i, q(w))
	}
	for _, p := range add {
		fmt.Fprintf(&b, "if [ -d \"$H\"/%[1]s ]; then mkdir -p \"$N\"/%[1]s && cp -a -n \"$H\"/%[1]s/. \"$N\"/%[1]s/; fi\n", q(p))
	}
	for i, w := range unpacked {
		fmt.Fprintf(&b, `W=%s; pre=$pre%d
for w in "$H/$W"/*.war; do
  [ -e "$w" ] || continue
  d=$(basename "$w" .war)
  if [ -d "$N/$W/$d" ] && ! printf '%%s\n' "$pre" | grep -qxF -- "$d"; then rm -rf "$N/$W/$d"; fi
done
`, q(w), i)
	}
	if _, err := sh(ctx, j.Conn, b.String()); err != nil {
		return fmt.Errorf("carry configuration: %w", err)
	}
	for _, f := range j.Node.Files {
		if err := j.writeManaged(ctx, j.Paths.Staged(), f.Path, f.Content, f.Mode); err != nil {
			return err
		}
	}
	st := j.stagedState()
	st.Configured, st.CarriedFrom = j.configDigest(), stamps
	// Optimization must run after the configuration it optimizes.
	st.Optimized = false
	return j.writeStagedState(ctx, st)
}

// writeManaged writes a managed file into a release through a temporary
// name and a rename. The content travels on stdin: it may hold secrets and
// never appears on a command line.
func (j *Job) writeManaged(ctx context.Context, release, rel string, content []byte, mode uint32) error {
	dst := path.Join(release, rel)
	chmod := fmt.Sprintf("[ -e %[1]s ] && chmod --reference=%[1]s \"$t\" 2>/dev/null || chmod 0644 \"$t\"", q(dst))
	if mode != 0 {
		chmod = fmt.Sprintf("chmod %o \"$t\"", mode)
	}
	script := fmt.Sprintf("set -e\nmkdir -p %s\nt=%s.drover-tmp\ncat > \"$t\"\n%s\nmv \"$t\" %s\n", q(path.Dir(dst)), q(dst), chmod, q(dst))
	if _, err := shIn(ctx, j.Conn, script, content); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	return nil
}

// managedDiffs returns, per managed file, a unified diff of what the node
// has now against what drover will write. Neither side shows a secret: the
// new file is shown as rendered with "(env NAME)" for every env() value,
// and the node's copy with the values the inventory knows redacted and
// lines that hold other values where the template has env() masked too.
func (j *Job) managedDiffs(ctx context.Context) ([]string, error) {
	var out []string
	for _, f := range j.Node.Files {
		var cur string
		if m, ok := j.facts.managed[f.Path]; ok && m.Sum == sumBytes(f.Content) {
			cur = string(f.Content) // the probe read its sum: the file is the rendering
		} else {
			var err error
			if cur, err = sh(ctx, j.Conn, fmt.Sprintf("cat %s 2>/dev/null || true", q(path.Join(j.Paths.Home, f.Path)))); err != nil {
				return nil, fmt.Errorf("read %s: %w", f.Path, j.Inv.RedactError(err))
			}
		}
		shown := string(f.Shown)
		if f.Shown == nil {
			shown = string(f.Content)
		}
		shown = j.Inv.Redact(shown)
		have, _ := MaskSecrets(cur, shown, j.Inv.Redact)
		d := UnifiedDiff("a/"+f.Path, "b/"+f.Path, have, shown)
		name := f.Path
		if f.Generated != "" {
			name += " (generated from the node's " + f.Generated + " settings)"
		}
		switch {
		case cur == string(f.Content):
			out = append(out, "write "+name+" (unchanged)")
		case d == "":
			out = append(out, "write "+name+" (only values read with env() change; not shown)")
		default:
			out = append(out, "write "+name+":\n"+d)
		}
	}
	return out, nil
}

func optimizeStep() Step {
	return Step{
		Name: "optimize",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			cmd, summary, _ := j.setup(j.targetProduct(), j.Paths.Staged())
			if cmd == "" {
				return Change{Done: true, Summary: summary}, nil
			}
			if j.switched() || (j.staged() && j.stagedState().Optimized) {
				return Change{Done: true, Summary: "release already optimized for " + j.Node.Profile}, nil
			}
			return Change{Summary: summary + " on the staged release"}, nil
		},
		Apply: func(ctx context.Context, j *Job) error {
			if err := j.profileSetup(ctx, j.targetProduct(), j.Paths.Staged()); err != nil {
				return err
			}
			st := j.stagedState()
			st.Optimized = true
			return j.writeStagedState(ctx, st)
		},
	}
}

// profileSetup adapts the release in dir, which holds product, to the
// node's profile (for API Manager, profileSetup.sh). The command may report
// failure only in its output, which the product checks.
func (j *Job) profileSetup(ctx context.Context, product, dir string) error {
	cmd, summary, check := j.setup(product, dir)
	if cmd == "" {
		return nil
	}
	out, err := sh(ctx, j.Conn, cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", summary, err)
	}
	return check(out)
}
