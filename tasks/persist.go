package tasks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover-sh/drover/transport"
)

func persistStep() Step {
	return Step{
		Name: "persist",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if j.switched() || (j.midSwitch() && j.stagedState().Persisted) {
				return Change{Done: true, Summary: "data already persisted"}, nil
			}
			ch := Change{Summary: "copy the Solr index and H2 databases from the stopped release, checksums verified"}
			if j.stagedState().PreCopied || (!j.staged() && j.facts.Running) {
				ch.Summary = "copy again, from the stopped release, what changed since the pre-copy; checksums verified"
			}
			if len(j.persistPaths()) == 0 {
				ch.Summary = "nothing to copy: the inventory carries no data (reset_local_data), the new release keeps its own"
			}
			if j.staged() && j.stagedState().Persisted && !j.facts.Running {
				stamp, err := j.dataStamp(ctx)
				if err != nil {
					return ch, err
				}
				if stamp == j.stagedState().PersistedFrom {
					return Change{Done: true, Summary: "data already persisted"}, nil
				}
				ch.Details = append(ch.Details, "the data changed since it was copied (the old release ran again): copy it again")
			}
			return ch, j.dataDetails(ctx, &ch, true)
		},
		Apply: func(ctx context.Context, j *Job) error { return j.persist(ctx) },
	}
}

// persistSizes is the persisted data's size in home (du, KiB), as the
// last probe measured it: the sizes are for the plan and the disk check,
// and a step in the middle of the downtime should not pay for them again.
// dataDetails lists on ch each persisted path with its size and adds the
// sizes to its bytes; absent names the paths the node lacks too.
func (j *Job) dataDetails(ctx context.Context, ch *Change, absent bool) error {
	sizes, err := j.persistSizes(ctx)
	if err != nil {
		return err
	}
	for _, p := range j.persistPaths() {
		if sz, ok := sizes[p]; ok {
			ch.Details = append(ch.Details, fmt.Sprintf("%s (%s)", p, HumanBytes(sz)))
			ch.Bytes += sz
		} else if absent && !slices.Contains(j.Inv.OptionalPersist, p) {
			ch.Details = append(ch.Details, p+" (absent on the node; nothing to carry)")
		}
	}
	return nil
}

func (j *Job) persistSizes(ctx context.Context) (map[string]int64, error) {
	if j.facts != nil && j.facts.persistSizes != nil {
		return j.facts.persistSizes, nil // measured by the last probe (probeOptions)
	}
	out, err := sh(ctx, j.Conn, j.vars()+"cd \"$H\" 2>/dev/null || exit 0\nfor p in "+transport.QuoteAll(j.persistPaths()...)+"; do [ -e \"$p\" ] && printf '%s\\t' \"$p\" && du -sk \"$p\" | cut -f1; done; true")
	if err != nil {
		return nil, fmt.Errorf("measure persisted data: %w", err)
	}
	sizes := map[string]int64{}
	for _, l := range strings.Split(out, "\n") {
		p, kb, ok := strings.Cut(l, "\t")
		if ok {
			var n int64
			fmt.Sscan(kb, &n)
			sizes[p] = n * 1024
		}
	}
	return sizes, nil
}

// persist copies the index and databases from the stopped release into the
// staged one. Never while the server runs: a copy of a live H2 file or Solr
// index is torn. Real copies, never links: the new server writes in place
// and the previous release must stay untouched for rollback.
func (j *Job) persist(ctx context.Context) error {
	// The last chance to carry an edit the operator made to the running
	// release after configure ran (during before_stop, say).
	if changed, err := j.carriedChanged(ctx); err != nil {
		return err
	} else if len(changed) > 0 && j.stagedState().Configured != "" {
		j.warn(strings.Join(changed, ", ") + " changed on the running release after it was carried: carrying it again")
		if err := j.configure(ctx); err != nil {
			return err
		}
		if cmd, _, _ := j.setup(j.targetProduct(), j.Paths.Staged()); cmd != "" {
			if err := j.profileSetup(ctx, j.targetProduct(), j.Paths.Staged()); err != nil {
				return err
			}
			st := j.stagedState()
			st.Optimized = true
			if err := j.writeStagedState(ctx, st); err != nil {
				return err
			}
		}
	}
	if j.stagedState().PreCopied {
		sums, stamp, ok, err := j.persistDelta(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !isConnLoss(err):
			j.warn(err.Error() + "; copying all the data again")
		case err != nil:
			return err
		case ok:
			return j.persisted(ctx, sums, stamp, "copied again what changed since the pre-copy, verified")
		}
	}
	var b strings.Builder
	b.WriteString(j.pidPre(j.Paths.Home))
	b.WriteString("if alive; then echo \"the server is still running (PID $pid); refusing to copy live data\" >&2; exit 1; fi\n")
	b.WriteString(`sums() { (cd "$1" && find "$2" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1); }` + "\n")
	fmt.Fprintf(&b, "for p in %s; do\n", transport.QuoteAll(j.persistPaths()...))
	b.WriteString(`  if [ -e "$H/$p" ]; then
    rm -rf "$N/$p"; mkdir -p "$(dirname "$N/$p")"; cp -a "$H/$p" "$N/$p"
    a=$(sums "$H" "$p"); z=$(sums "$N" "$p")
    printf 'sum\t%s\t%s\t%s\n' "$p" "$a" "$z"
  fi
done
`)
	out, err := sh(ctx, j.Conn, b.String())
	if err != nil {
		return fmt.Errorf("copy data: %w", err)
	}
	sums := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 4 || f[0] != "sum" {
			continue
		}
		if f[2] != f[3] {
			return fmt.Errorf("the copy of %s differs from the original (sha256 %s vs %s); the staged release was not switched in", f[1], f[2][:12], f[3][:12])
		}
		sums[f[1]] = f[2]
	}
	stamp, err := j.dataStamp(ctx)
	if err != nil {
		return err
	}
	return j.persisted(ctx, sums, stamp, "copied and verified")
}

// persisted records a verified copy of the data: in the journal with its
// checksums, and in the staged release's state with the fingerprint of
// the data it was taken from.
func (j *Job) persisted(ctx context.Context, sums map[string]string, stamp, how string) error {
	j.journal(ctx, Record{Step: "persist", Phase: PhaseNote, Detail: how, Sums: sums})
	st := j.stagedState()
	st.Persisted, st.PersistedFrom, st.PreCopied = true, stamp, false
	st.DataPaths = j.persistPaths()
	return j.writeStagedState(ctx, st)
}

// dataStamp fingerprints the persisted data of home by name, size, mtime
// and inode, cheaply: a server that ran since the copy changes it (H2
// rewrites its files on close, the index commits a new segments_N).
func (j *Job) dataStamp(ctx context.Context) (string, error) {
	out, err := sh(ctx, j.Conn, j.vars()+"cd \"$H\"\n"+stampScript(j.persistPaths()))
	if err != nil {
		return "", fmt.Errorf("fingerprint the data: %w", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(out), "stamp "), nil
}

func switchStep() Step {
	return Step{
		Name: "switch",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if j.switched() {
				return Change{Done: true, Summary: "the updated release is in place"}, nil
			}
			return Change{Summary: fmt.Sprintf("rename %s to the kept previous release and the staged release to %s", j.Paths.Home, j.Paths.Home)}, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.switchRelease(ctx) },
	}
}

// switchRelease makes the staged release the product directory with two
// renames on one filesystem; the old release is kept as previous. Each
// rename is safe to repeat: an interrupted switch is finished, never
// started over.
func (j *Job) switchRelease(ctx context.Context) error {
	cur := j.currentState(false)
	script := j.vars() + "R=\"$H\"\n" + pidScript + `if [ -d "$H" ] && [ -d "$N" ]; then
  if alive; then echo "the server is running (PID $pid); refusing to switch" >&2; exit 1; fi
  rm -rf "$P"
  mv "$H" "$P"
fi
record() { printf '%s\n' ` + q(cur) + ` > "$S/current.json.tmp" && mv "$S/current.json.tmp" "$S/current.json"; }
# current.json names the new release before it becomes home, so a switch
# cut off between the renames is finished or undone from the node's record.
if [ ! -e "$H" ] && [ -d "$N" ]; then record; mv "$N" "$H"; fi
[ -d "$H" ] || { echo "neither the staged nor the product directory is in place" >&2; exit 1; }
record
rm -f "$S/staged.json" "$S/precopy.rec"
`
	if _, err := sh(ctx, j.Conn, script); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	j.facts.Current, j.facts.HomeExists, j.facts.Previous, j.facts.Staged = j.Pack.SHA256, true, true, nil
	j.facts.CurrentDone = false
	j.facts.Running = false
	return nil
}

// currentState is current.json for this job's pack; done marks the update
// that switched it in as completed (healthy, hooks run).
func (j *Job) currentState(done bool) string {
	return fmt.Sprintf(`{"pack":%q,"level":%d,"at":%q,"run":%q,"done":%t}`, j.Pack.SHA256, j.Pack.Level, time.Now().UTC().Format(time.RFC3339), j.Run, done)
}

// midSwitch reports a switch cut off between its two renames: home was
// renamed to the kept previous release and the staged release is not yet
// home. Everything before the switch is done.
func (j *Job) midSwitch() bool {
	return !j.facts.HomeExists && j.facts.Previous && j.staged()
}

// unfinishedSwitch reports a home that is a release an earlier update
// switched in and never finished (it did not pass its health gate, or its
// run was cut off), for another pack than this job's, with the release
// before it kept. Updating from it would discard the only release known to
// serve and carry what a failed server left behind: it is rolled back
// first.
func (j *Job) unfinishedSwitch() bool {
	f := j.facts
	return j.Pack != nil && f.HomeExists && f.Previous && f.Current != "" && f.Current != j.Pack.SHA256 && !f.CurrentDone && !completedIn(f.journal, f.Current)
}

// completedIn reports whether the journal records a run that completed the
// update to pack (for current.json files written before they said so).
func completedIn(recs []Record, pack string) bool {
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Step == "run" && r.Phase == OutcomeDone && strings.HasPrefix(r.Target, "pack:"+pack+" ") {
			return true
		}
	}
	return false
}

func restoreStep() Step {
	return Step{
		Name: "restore",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if !j.unfinishedSwitch() {
				return Change{Done: true, Summary: "the running release is one to update from"}, nil
			}
			return Change{Summary: fmt.Sprintf("roll back first: home is the release of an unfinished update (pack %.12s); put back the kept level-%d release", j.facts.Current, j.facts.PreviousLvl)}, nil
		},
		Apply: func(ctx context.Context, j *Job) error {
			if err := j.Rollback(ctx); err != nil {
				return fmt.Errorf("roll back the unfinished update first: %w", err)
			}
			_, err := j.Refresh(ctx)
			return err
		},
	}
}
