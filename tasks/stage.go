package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// vars is the shell prologue every step script starts with.
func (j *Job) vars() string {
	return fmt.Sprintf("set -e\nH=%s; S=%s; N=%s; P=%s\n", q(j.Paths.Home), q(j.Paths.State), q(j.Paths.Staged()), q(j.Paths.Previous()))
}

// switched reports whether the target release is already the product
// directory.
func (j *Job) switched() bool {
	f := j.facts
	if j.Pack == nil {
		return false
	}
	return f.HomeExists && f.Current == j.Pack.SHA256
}

// staged reports whether the staged release is the target pack.
func (j *Job) staged() bool {
	st := j.facts.Staged
	if j.Pack == nil || st == nil || !st.Exists || st.Pack != j.Pack.SHA256 {
		return false
	}
	for _, p := range st.DataPaths {
		if !slices.Contains(j.persistPaths(), p) {
			// It holds the old node's data where the inventory now wants
			// the pack's own files (reset_local_data, a path dropped).
			return false
		}
	}
	return true
}

func (j *Job) writeStagedState(ctx context.Context, st StagedState) error {
	b, _ := json.Marshal(st)
	_, err := sh(ctx, j.Conn, j.vars()+fmt.Sprintf("printf '%%s\\n' %s > \"$S/staged.json.tmp\" && mv \"$S/staged.json.tmp\" \"$S/staged.json\"", q(string(b))))
	if err == nil {
		cp := st
		cp.Exists = true
		j.facts.Staged = &cp
	}
	return err
}

func (j *Job) stagedState() StagedState {
	if j.facts.Staged != nil {
		return *j.facts.Staged
	}
	return StagedState{}
}

func preflightStep() Step {
	return Step{
		Name: "preflight",
		// The checks run in the probe, so a plan shows every node that would
		// be refused before any node is touched; the apply has nothing left
		// to do but let the probe's verdict stand.
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if err := j.preflight(ctx); err != nil {
				return Change{}, &PreflightError{Node: j.Node.Name, Err: err}
			}
			return Change{Summary: "checked home, product, tools, disk space and filesystem"}, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return nil },
	}
}

// PreflightError is a node that cannot be updated safely, found before
// anything on it changed.
type PreflightError struct {
	Node string
	Err  error
}

func (e *PreflightError) Error() string { return e.Err.Error() }
func (e *PreflightError) Unwrap() error { return e.Err }
func (e *PreflightError) Refused() bool { return true }

// preflight refuses a node that cannot be updated safely, before anything
// on it changes.
func (j *Job) preflight(ctx context.Context) error {
	f := j.facts
	switch {
	case !f.HomeExists && !f.Previous: // without home, a kept previous release means a switch to finish
		return fmt.Errorf("home %s does not exist on the node; check home in the inventory", j.Paths.Home)
	case len(f.MissingCmd) > 0:
		return fmt.Errorf("the node lacks %s; install them (Debian: apt-get install %s)", strings.Join(f.MissingCmd, ", "), strings.Join(f.MissingCmd, " "))
	case !f.SameFS:
		return fmt.Errorf("%s and %s are on different filesystems, so the release switch could not be an atomic rename", j.Paths.Home, j.Paths.State)
	}
	if f.HomeExists && !j.switched() {
		if err := j.checkRelease(); err != nil {
			return err
		}
	}
	if j.Inv.Update.Strategy == inventory.InPlace {
		if j.updated() {
			return nil
		}
		return j.preflightInPlace(ctx)
	}
	if j.switched() || j.Pack == nil {
		return nil
	}
	need, err := j.diskNeeded(ctx)
	if err != nil {
		return err
	}
	if f.DiskFreeBytes < need {
		return fmt.Errorf("not enough disk space beside %s: %s free, %s needed (pack, unpacked release and persisted data); free some space and run again",
			j.Paths.Home, HumanBytes(f.DiskFreeBytes), HumanBytes(need))
	}
	return nil
}

// diskNeeded is what staging needs beyond what the node already holds.
// Base (<state>/base) needs nothing more: staging replaces it with hard
// links to the staged release, and what it keeps later (the files the
// optimize step removes from that release) is space the release took
// when it was unpacked; the base already on the node is counted as used.
func (j *Job) diskNeeded(ctx context.Context) (int64, error) {
	var need int64
	if !j.staged() {
		need += j.Pack.Size + j.Pack.Unpacked
	}
	sizes, err := j.persistSizes(ctx)
	if err != nil {
		return 0, err
	}
	for _, sz := range sizes {
		need += sz
	}
	return need + need/20, nil // 5% slack for file system overhead
}

func (j *Job) persistPaths() []string {
	return append(slices.Clone(j.Inv.Persist), j.Inv.OptionalPersist...)
}

func stageStep() Step {
	return Step{
		Name: "stage",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			switch {
			case j.switched() || j.staged():
				return Change{Done: true, Summary: "already staged"}, nil
			}
			d := j.prepareDelta(ctx)
			j.delta = d
			var ch Change
			if d.whole == "" {
				ch = Change{Summary: fmt.Sprintf("ship %s of %s (%s; delta from the running release: %s of %s files)",
					HumanBytes(d.stream), j.Pack.Top, HumanBytes(j.Pack.Size), thousands(d.shippedFiles()), thousands(d.m.Files)), Bytes: d.stream}
				ch.Details = append(ch.Details, fmt.Sprintf("copy %s files from the running release (%d from another path); verify every file against the pack", thousands(d.copied()-d.fromBase), len(d.moved)))
				if d.fromBase > 0 {
					ch.Details = append(ch.Details, fmt.Sprintf("copy %s files the running release lacks (removed by the optimize step, or changed since) from the last staged pack's own files in %s", thousands(d.fromBase), j.Paths.Base()))
				}
			} else {
				ch = Change{Summary: fmt.Sprintf("push %s (%s) and unpack it beside home (whole pack: %s)", j.Pack.Top, HumanBytes(j.Pack.Size), d.whole), Bytes: j.Pack.Size}
			}
			if j.facts.Previous {
				ch.Details = append(ch.Details, fmt.Sprintf("discard the release kept from the update before (level %d)", j.facts.PreviousLvl))
			}
			return ch, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.stage(ctx) },
	}
}

// thousands renders n with thousands separators: 2,310.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (j *Job) stage(ctx context.Context) error {
	// The release kept from the update before the last one is no longer a
	// way back: the running release is. Drop it to make room.
	if j.facts.Previous && j.facts.HomeExists {
		j.journal(ctx, Record{Step: "stage", Phase: PhaseNote, Detail: fmt.Sprintf("discard previous release (level %d)", j.facts.PreviousLvl)})
		if _, err := sh(ctx, j.Conn, j.vars()+`rm -rf "$P"`); err != nil {
			return fmt.Errorf("remove the old previous release: %w", err)
		}
		j.facts.Previous = false
	}
	return j.stageRelease(ctx)
}

// stageRelease makes the staged release from scratch: by delta from the
// running release when that works, else from the whole pack.
func (j *Job) stageRelease(ctx context.Context) error {
	d := j.delta
	j.delta = nil
	if d == nil || d.pack != j.Pack.SHA256 {
		d = j.prepareDelta(ctx)
	}
	if d.whole == "" {
		err := j.stageDelta(ctx, d)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || isConnLoss(err) {
			return err
		}
		d.whole = "staging by delta failed: " + err.Error()
		j.warn(d.whole + "; pushing the whole pack")
	}
	j.journal(ctx, Record{Step: "stage", Phase: PhaseNote, Detail: "push the whole pack: " + d.whole})
	return j.pushWhole(ctx, d)
}

// pushWhole pushes the pack and unpacks it.
func (j *Job) pushWhole(ctx context.Context, d *delta) error {
	remote := j.Paths.Pack(j.Pack.SHA256)
	if _, err := sh(ctx, j.Conn, j.vars()+`rm -rf `+q(j.Paths.Delta())+` && mkdir -p "$S/packs" && find "$S/packs" -name '*.zip' ! -name `+q(j.Pack.SHA256+".zip")+` -delete`); err != nil {
		return err
	}
	res, err := j.Conn.Upload(ctx, j.Pack.Path, remote, transport.UploadOptions{
		Mode: 0o600, SHA256: j.Pack.SHA256,
		Progress: func(done, total int64) {
			j.Sink.Emit(Event{Type: EventProgress, Node: j.Node.Name, Step: "stage", Done: done, Total: total})
		},
	})
	if err != nil {
		return fmt.Errorf("push pack: %w", j.noSpace(ctx, err, "push the pack", remote, j.Paths.Packs(), j.Pack.Size, ""))
	}
	if res.Skipped {
		j.Sink.Emit(Event{Type: EventProgress, Node: j.Node.Name, Step: "stage", Message: "pack already on the node", Done: j.Pack.Size, Total: j.Pack.Size})
	}
	return j.unpackWith(ctx, d)
}

// restage makes the staged release again from scratch: from the pack on
// the node when it was pushed whole, else as staging does.
func (j *Job) restage(ctx context.Context) error {
	out, err := sh(ctx, j.Conn, "[ -f "+q(j.Paths.Pack(j.Pack.SHA256))+" ] && echo yes || true")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) == "yes" {
		return j.unpack(ctx)
	}
	return j.stageRelease(ctx)
}

// unpack makes the pushed pack the staged release, from scratch.
func (j *Job) unpack(ctx context.Context) error { return j.unpackWith(ctx, nil) }

// unpackWith unpacks the pushed pack and records the sha256s of the
// staged release's files (the pack's, as its manifest says) with those of
// the running release that d knows, so the next update needs not hash
// them on the node.
func (j *Job) unpackWith(ctx context.Context, d *delta) error {
	remote := j.Paths.Pack(j.Pack.SHA256)
	script := j.vars() + fmt.Sprintf(`rm -rf "$S/unpack" "$N" "$S/staged.json"
mkdir -p "$S/unpack"
if ! out=$(unzip -q %s -d "$S/unpack" 2>&1); then rm -rf "$S/unpack"; echo "unzip failed: $out" | tail -n 3 >&2; exit 1; fi
[ -d "$S/unpack/"%s ] || { echo "the pack has no folder %s" >&2; exit 1; }
mv "$S/unpack/"%s "$N" && rm -rf "$S/unpack"
# For the sha256 cache; a find without -printf costs only the cache.
{ cd "$N" && find . -type f -printf '%%s\t%%T@\t%%P\0'; } 2>/dev/null || true
%s
`, q(remote), q(j.Pack.Top), j.Pack.Top, q(j.Pack.Top), keepBaseScript)
	out, err := runBig(ctx, j.Conn, script, nil)
	if err != nil {
		var said string
		if xe := (*transport.ExitError)(nil); errors.As(err, &xe) {
			said = lastLines(string(xe.Stderr), 1)
		}
		return fmt.Errorf("unpack: %w", j.noSpace(ctx, err, "unpack the pack", j.Paths.Unpack(), j.Paths.State, j.Pack.Unpacked, said))
	}
	j.recordUnpackedSums(ctx, d, out)
	j.recordPristine(ctx)
	return j.writeStagedState(ctx, StagedState{Pack: j.Pack.SHA256, Level: j.Pack.Level})
}

// recordUnpackedSums writes the sha256 cache for a release unzipped from
// the pack, and for base, linked to it. A failure costs only hashing on
// the next update.
func (j *Job) recordUnpackedSums(ctx context.Context, d *delta, listing string) {
	m, err := j.Pack.Manifest()
	if err != nil {
		return
	}
	var sums []nodeFile
	if d != nil {
		sums = slices.Clone(d.home)
	}
	for _, f := range parseFileList(listing) {
		if e, ok := m.Entry(f.Path); ok && e.Type == 'f' && e.Size == f.Size {
			f.SHA256 = e.SHA256
			sums = append(sums, f)
			f.Base = true
			sums = append(sums, f)
		}
	}
	if err := j.writeSums(ctx, sums); err != nil {
		j.warn("could not record the staged release's sha256s (the next update hashes its files again): " + err.Error())
	}
}

// HumanBytes renders a byte count for people: 1.5 MiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// checkRelease asks the product whether the node's release, and the pack
// meant for it, fit the inventory.
func (j *Job) checkRelease() error {
	var prod, path string
	if j.Pack != nil {
		prod, path = j.Pack.Product, j.Pack.Path
	}
	return j.Product.Check(j.Inv, j.Node, j.facts.Product, prod, path)
}
