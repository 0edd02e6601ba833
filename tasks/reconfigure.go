package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// The desired state of a node is its release and its configuration: the
// inventory's managed files, rendered for the node. A node whose release is
// current but whose managed files differ from their rendering is
// reconfigured: the files it will replace are backed up in the node's
// state directory, the managed files are written into the live release,
// and the server is restarted behind the same hooks and health gate as an
// update (not at all when only files marked restart = false changed). A
// failed health gate puts the backed-up files back and restarts the node.
//
// What drover last wrote is recorded in the journal (a "managed" note with
// each file's sha256, written when a run completes), so drift is told
// apart: changed on the node by hand, or changed in the inventory.

// Drift is one managed file whose content (or mode) on the node is not
// what the inventory renders for it.
type Drift struct {
	Path string `json:"path"`
	// Absent is a file the node does not have.
	Absent bool `json:"absent,omitempty"`
	// ByHand: the node's copy is not what drover last wrote (someone
	// edited it on the node). Inventory: what the inventory renders is not
	// what drover last wrote (the template or its values changed). Both
	// false: drover has no record of writing it.
	ByHand    bool `json:"by_hand,omitempty"`
	Inventory bool `json:"inventory,omitempty"`
	// Mode is set when only the file's mode differs.
	Mode bool `json:"mode,omitempty"`
	// Restart is false for a file marked restart = false.
	Restart bool `json:"restart"`
}

// Why says where the drift comes from, for plans.
func (d Drift) Why() string {
	switch {
	case d.Absent:
		return "missing on the node"
	case d.ByHand && d.Inventory:
		return "changed on the node by hand and in the inventory"
	case d.ByHand:
		return "changed on the node by hand"
	case d.Inventory:
		return "changed in the inventory"
	case d.Mode:
		return "mode differs"
	default:
		return "differs; drover has no record of writing it"
	}
}

// managedFile is what the probe reads of one managed file on the node.
type managedFile struct {
	Sum  string // sha256 hex, "" when the file is absent
	Mode uint32
}

// managedProbe prints, per managed file of the node, "m:<sha256|-> <mode>
// <path>" in the probe's single round trip.
func managedProbe(n *inventory.Node) string {
	var b strings.Builder
	for _, f := range n.Files {
		fmt.Fprintf(&b, `p=%s; if [ -f "$H/$p" ]; then s=$(sha256sum < "$H/$p"); printf 'm:%%s %%s %%s\n' "${s%%%% *}" "$(stat -c %%a "$H/$p")" "$p"; else printf 'm:- 0 %%s\n' "$p"; fi
`, q(f.Path))
	}
	return b.String()
}

func parseManaged(f *Facts, line string) {
	sum, rest, _ := strings.Cut(line, " ")
	mode, p, _ := strings.Cut(rest, " ")
	if f.managed == nil {
		f.managed = map[string]managedFile{}
	}
	m, _ := strconv.ParseUint(mode, 8, 32)
	if sum == "-" {
		sum = ""
	}
	f.managed[p] = managedFile{Sum: sum, Mode: uint32(m)}
}

func sumBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// lastWritten is what drover last recorded writing, by path.
func lastWritten(recs []Record) map[string]string {
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Step == "managed" && r.Phase == PhaseNote {
			return r.Sums
		}
	}
	return nil
}

// driftOf compares the node's managed files with their rendering.
func driftOf(n *inventory.Node, f *Facts) []Drift {
	if f == nil || f.managed == nil {
		return nil
	}
	last := lastWritten(f.journal)
	var out []Drift
	for _, mf := range n.Files {
		live, ok := f.managed[mf.Path]
		if !ok {
			continue
		}
		want := sumBytes(mf.Content)
		d := Drift{Path: mf.Path, Restart: !mf.NoRestart}
		switch {
		case live.Sum == "":
			d.Absent = true
		case live.Sum != want:
			if prev, known := last[mf.Path]; known {
				d.ByHand, d.Inventory = live.Sum != prev, want != prev
			}
		case mf.Mode != 0 && live.Mode != mf.Mode:
			d.Mode = true
		default:
			continue
		}
		out = append(out, d)
	}
	return out
}

// Drift lists the node's managed files that differ from their rendering,
// as last probed.
func (j *Job) Drift() []Drift { return driftOf(j.Node, j.facts) }

// releaseCurrent reports whether home runs the release this job targets,
// whether or not its server runs and whatever its configuration.
func (j *Job) releaseCurrent() bool {
	f := j.facts
	if f == nil || !f.HomeExists {
		return false
	}
	if lr := f.LastRun; lr != nil && lr.Outcome == OutcomeInterrupted && !isConfigTarget(lr.Target) {
		return false // an update was cut off: it is resumed, not reconfigured
	}
	if j.Pack != nil {
		return f.UpdateLevel >= j.Pack.Level && f.Product == j.Pack.Product && (f.Staged == nil || !f.Staged.Exists)
	}
	return j.Inv.Update.Level > 0 && f.UpdateLevel >= j.Inv.Update.Level
}

const configTarget = "config:"

// RollbackConfiguration is the Message of the rollback events of a
// reconfiguration: the backed-up files are put back, the release stays.
const RollbackConfiguration = "configuration"

func isConfigTarget(t string) bool { return strings.HasPrefix(t, configTarget) }

// configMode reports whether the node's job is a reconfiguration: its
// release is current, and its managed files drifted or a reconfiguration
// of it did not finish.
func (j *Job) configMode() bool {
	if !j.releaseCurrent() {
		return false
	}
	if lr := j.facts.LastRun; lr != nil && isConfigTarget(lr.Target) && (lr.Outcome == OutcomeInterrupted || lr.Outcome == OutcomeFailed) {
		return true
	}
	return len(j.Drift()) > 0
}

// Reconfigure reports whether the job would reconfigure the node (as last
// probed) rather than update it.
func (j *Job) Reconfigure() bool { return j.reconfig }

// RestartNeeded reports whether the reconfiguration restarts the server.
func (j *Job) RestartNeeded() bool { return j.restartNeeded() }

// desiredDigest identifies the desired configuration of the node: every
// managed file's path, mode and content.
func (j *Job) desiredDigest() string {
	h := sha256.New()
	for _, f := range j.Node.Files {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", f.Path, f.Mode, sumBytes(f.Content))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// configBackups holds the backups of the files reconfigurations replaced,
// one directory per run.
func (j *Job) configBackups() string { return path.Join(j.Paths.State, "config-backups") }

// configBackup is where this run keeps the files its reconfiguration
// replaces.
func (j *Job) configBackup() string { return path.Join(j.configBackups(), j.Run) }

// keptBackups is how many configuration backups a node keeps.
const keptBackups = 5

// pendingBackup is the backup of a reconfiguration that has not finished
// (interrupted, or failed without a rollback), read from the journal: a
// resume must not back up the files it already wrote, and a rollback puts
// these back. "" when none.
func (j *Job) pendingBackup() string {
	recs := j.facts.journal
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		switch {
		case r.Step == "backup" && r.Phase == PhaseNote:
			return r.Detail
		case r.Step == "run" && (r.Phase == OutcomeDone || r.Phase == OutcomeRolledBack),
			r.Step == "rollback" && r.Phase == PhaseEnd:
			return ""
		}
	}
	return ""
}

// pendingRestart reports whether the journal says files that need a
// restart were written and the server has not been started since.
func (j *Job) pendingRestart() bool {
	recs := j.facts.journal
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		switch {
		case r.Step == "start" && r.Phase == PhaseEnd, r.Step == "rollback" && r.Phase == PhaseEnd:
			return false
		case r.Step == "write" && r.Phase == PhaseNote:
			return r.Detail == "restart"
		}
	}
	return false
}

// restartNeeded: a drifted file needs a restart, or one was written and
// the server has not been started since.
func (j *Job) restartNeeded() bool {
	if j.pendingRestart() {
		return true
	}
	return slices.ContainsFunc(j.Drift(), func(d Drift) bool { return d.Restart })
}

// healthOwed reports whether the server was started after the last write
// of managed files and the health gate has not passed since.
func (j *Job) healthOwed() bool {
	recs := j.facts.journal
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		switch {
		case r.Step == "health" && r.Phase == PhaseEnd:
			return false
		case r.Step == "start" && r.Phase == PhaseEnd:
			return true
		case r.Step == "write" && r.Phase == PhaseNote:
			return false
		}
	}
	return false
}

// reconfigureSteps is the light procedure of a configuration change.
func reconfigureSteps() []Step {
	noRestart := Change{Done: true, Summary: "no restart needed: only files marked restart = false changed"}
	return []Step{
		{
			Name: "backup",
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				if dir := j.pendingBackup(); dir != "" {
					return Change{Done: true, Summary: "the files to replace are backed up in " + dir}, nil
				}
				if len(j.Drift()) == 0 {
					return Change{Done: true, Summary: "the managed files are written"}, nil
				}
				return Change{Summary: "back up the files to replace in " + j.configBackups() + ", checksummed"}, nil
			},
			Apply: func(ctx context.Context, j *Job) error { return j.backupConfig(ctx) },
		},
		{
			Name: "write",
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				drift := j.Drift()
				if len(drift) == 0 {
					return Change{Done: true, Summary: "the managed files are written"}, nil
				}
				ch := Change{Summary: fmt.Sprintf("write %d managed file(s) into the running release", len(drift))}
				diffs, err := j.managedDiffs(ctx)
				if err != nil {
					return ch, err
				}
				for i, f := range j.Node.Files {
					k := slices.IndexFunc(drift, func(d Drift) bool { return d.Path == f.Path })
					if k < 0 {
						continue
					}
					note := drift[k].Why()
					if !drift[k].Restart {
						note += "; restart = false"
					}
					head, rest, _ := strings.Cut(diffs[i], "\n")
					ch.Details = append(ch.Details, strings.TrimSuffix(head, ":")+" ("+note+")"+prefixNL(rest))
				}
				return ch, nil
			},
			Apply: func(ctx context.Context, j *Job) error { return j.writeConfig(ctx) },
		},
		{
			Name: inventory.BeforeStop,
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				hooks := j.Node.HooksFor(inventory.BeforeStop)
				switch {
				case len(hooks) == 0:
					return Change{Done: true, Summary: "no before_stop hook to run"}, nil
				case !j.restartNeeded():
					return noRestart, nil
				case !j.facts.Running || j.drained():
					return Change{Done: true, Summary: "the node is not serving"}, nil
				}
				return Change{Summary: fmt.Sprintf("run %d before_stop hook(s)", len(hooks))}, nil
			},
			Apply: func(ctx context.Context, j *Job) error { return j.runHooks(ctx, inventory.BeforeStop) },
		},
		{
			Name:  "stop",
			Stops: true,
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				switch {
				case !j.restartNeeded():
					return noRestart, nil
				case !j.facts.Running:
					return Change{Done: true, Summary: "server not running"}, nil
				}
				script, _ := j.startCmd(j.facts.Product)
				return Change{Summary: fmt.Sprintf("%s stop, wait up to %s for PID %d, then SIGKILL", script, j.Inv.Rollout.StopTimeout, j.facts.PID)}, nil
			},
			Apply: func(ctx context.Context, j *Job) error {
				if err := j.stopServer(ctx, j.Paths.Home, j.facts.Product); err != nil {
					return err
				}
				j.facts.Running = false
				return nil
			},
		},
		{
			Name: "start",
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				if !j.restartNeeded() {
					if j.facts.Running {
						return noRestart, nil
					}
				}
				script, args := j.startCmd(j.facts.Product)
				return Change{Summary: script + " start" + strings.ReplaceAll(args, "'", "")}, nil
			},
			Apply: func(ctx context.Context, j *Job) error {
				if err := j.startServer(ctx, j.facts.Product); err != nil {
					return err
				}
				j.facts.Running = true
				j.restarted = true
				return nil
			},
		},
		{
			Name: "health",
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				if !j.restartNeeded() && !j.healthOwed() && !j.restarted {
					return noRestart, nil
				}
				return healthStep().Probe(ctx, j)
			},
			Apply: func(ctx context.Context, j *Job) error { return j.healthGate(ctx) },
		},
		{
			Name: inventory.AfterHealthy,
			Probe: func(ctx context.Context, j *Job) (Change, error) {
				hooks := j.Node.HooksFor(inventory.AfterHealthy)
				switch {
				case len(hooks) == 0:
					return Change{Done: true, Summary: "no after_healthy hook to run"}, nil
				case !j.drained() && !j.restarted && !j.restartNeeded():
					return Change{Done: true, Summary: "the node was not drained"}, nil
				}
				return Change{Summary: fmt.Sprintf("run %d after_healthy hook(s)", len(hooks))}, nil
			},
			Apply: func(ctx context.Context, j *Job) error { return j.runHooks(ctx, inventory.AfterHealthy) },
		},
	}
}

func prefixNL(s string) string {
	if s == "" {
		return ""
	}
	return ":\n" + s
}

// backupConfig copies the live copies of the drifted files (and notes the
// ones the node lacks) into the backup directory of the desired
// configuration, with a checksum manifest written last: the way back.
func (j *Job) backupConfig(ctx context.Context) error {
	dir := j.configBackup()
	var paths []string
	for _, d := range j.Drift() {
		paths = append(paths, d.Path)
	}
	script := j.vars() + fmt.Sprintf(`B=%s
rm -rf "$B.tmp" && mkdir -p "$B.tmp/files" && : > "$B.tmp/ABSENT"
for p in %s; do
  if [ -f "$H/$p" ]; then mkdir -p "$B.tmp/files/$(dirname "$p")" && cp -p "$H/$p" "$B.tmp/files/$p"; else printf '%%s\n' "$p" >> "$B.tmp/ABSENT"; fi
done
(cd "$B.tmp/files" && find . -type f -exec sha256sum {} +) > "$B.tmp/MANIFEST.tmp"
mv "$B.tmp/MANIFEST.tmp" "$B.tmp/MANIFEST"
[ ! -s "$B.tmp/MANIFEST" ] || (cd "$B.tmp/files" && sha256sum --quiet -c ../MANIFEST)
rm -rf "$B" && mv "$B.tmp" "$B"
ls -td "$(dirname "$B")"/*/ | tail -n +%d | while IFS= read -r old; do rm -rf "$old"; done
`, q(dir), transport.QuoteAll(paths...), keptBackups+1)
	if _, err := sh(ctx, j.Conn, script); err != nil {
		return fmt.Errorf("back up the managed files: %w", j.noSpace(ctx, err, "back up the managed files", dir, j.Paths.State, 0, ""))
	}
	rec := Record{Step: "backup", Phase: PhaseNote, Detail: dir}
	j.journal(ctx, rec)
	j.facts.journal = append(j.facts.journal, rec)
	return nil
}

// writeConfig writes the drifted managed files into the live release and
// records whether the server must restart for them.
func (j *Job) writeConfig(ctx context.Context) error {
	restart := false
	for _, d := range j.Drift() {
		i := slices.IndexFunc(j.Node.Files, func(f inventory.File) bool { return f.Path == d.Path })
		f := j.Node.Files[i]
		if err := j.writeManaged(ctx, j.Paths.Home, f.Path, f.Content, f.Mode); err != nil {
			return err
		}
		restart = restart || d.Restart
	}
	detail := "no restart"
	if restart {
		detail = "restart"
	}
	j.journal(ctx, Record{Step: "write", Phase: PhaseNote, Detail: detail})
	// The facts now say what was written.
	for _, f := range j.Node.Files {
		j.facts.managed[f.Path] = managedFile{Sum: sumBytes(f.Content), Mode: f.Mode}
	}
	j.facts.journal = append(j.facts.journal, Record{Step: "write", Phase: PhaseNote, Detail: detail, At: time.Now()})
	return nil
}

// recordManaged notes in the journal what drover wrote, so later drift is
// told apart: by hand or in the inventory.
func (j *Job) recordManaged(ctx context.Context) {
	if len(j.Node.Files) == 0 {
		return
	}
	sums := map[string]string{}
	for _, f := range j.Node.Files {
		sums[f.Path] = sumBytes(f.Content)
	}
	if j.facts != nil && maps.Equal(lastWritten(j.facts.journal), sums) {
		return // recorded already: a run that had nothing to write
	}
	j.journal(ctx, Record{Step: "managed", Phase: PhaseNote, Sums: sums})
}

// rollbackConfig puts the files a failed reconfiguration replaced back,
// restarts the server and gates its health; after_healthy hooks end it.
func (j *Job) rollbackConfig(ctx context.Context) error {
	start := time.Now()
	j.Sink.Emit(Event{Type: EventRollback, Node: j.Node.Name, Message: RollbackConfiguration})
	j.journal(ctx, Record{Step: "rollback", Phase: PhaseBegin, Detail: "configuration"})
	if err := j.rollbackConfigSteps(ctx); err != nil {
		j.journal(context.WithoutCancel(ctx), Record{Step: "rollback", Phase: PhaseFail, Detail: oneLine(err.Error())})
		return err
	}
	j.journal(ctx, Record{Step: "rollback", Phase: PhaseEnd, Detail: "configuration"})
	j.Sink.Emit(Event{Type: EventRolledBack, Node: j.Node.Name, Message: RollbackConfiguration, ElapsedMS: time.Since(start).Milliseconds()})
	return nil
}

func (j *Job) rollbackConfigSteps(ctx context.Context) error {
	dir := j.pendingBackup()
	if dir == "" {
		return fmt.Errorf("%w: the journal names no backup of the managed files of an unfinished reconfiguration", ErrNoWayBack)
	}
	if _, err := sh(ctx, j.Conn, fmt.Sprintf("[ -f %[1]s/MANIFEST ] && { [ ! -s %[1]s/MANIFEST ] || (cd %[1]s/files && sha256sum --quiet -c ../MANIFEST); }", q(dir))); err != nil {
		return fmt.Errorf("the backup in %s does not match its manifest (%v); not restoring it", dir, err)
	}
	f, err := j.Refresh(ctx)
	if err != nil {
		return err
	}
	if f.Running && !j.drained() {
		if err := j.hooks(ctx, inventory.BeforeStop); err != nil {
			return fmt.Errorf("drain before the rollback: %w", err)
		}
	}
	if err := j.stopServer(ctx, j.Paths.Home, f.Product); err != nil {
		return err
	}
	restore := j.vars() + fmt.Sprintf(`B=%s
cd "$B/files" && find . -type f | while IFS= read -r p; do
  p=${p#./}; mkdir -p "$H/$(dirname "$p")" && cp -p "$p" "$H/$p.drover-tmp" && mv "$H/$p.drover-tmp" "$H/$p"
done
while IFS= read -r p; do [ -n "$p" ] && rm -f "$H/$p"; done < "$B/ABSENT"
`, q(dir))
	if _, err := sh(ctx, j.Conn, restore); err != nil {
		return fmt.Errorf("restore the managed files: %w", err)
	}
	if err := j.startServer(ctx, f.Product); err != nil {
		return err
	}
	if err := j.healthGate(ctx); err != nil {
		return fmt.Errorf("with the previous files: %w", err)
	}
	return j.hooks(ctx, inventory.AfterHealthy)
}
