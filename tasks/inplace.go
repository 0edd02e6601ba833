package tasks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// The in-place strategy runs WSO2's update tool on each node's own release:
// preflight, before_stop hooks, stop, a verified backup outside home, the
// update tool, the managed configuration written again, profileSetup,
// start, health gate, after_healthy hooks. Its way back is the tool's
// --revert followed by a restore of the backup. WSO2 recommends the
// side-by-side way for fleets (update one pack, roll it out); in-place is
// for clusters that cannot move a pack around.

// What the backup of an in-place update holds, besides the persisted data.
var backupExtra = []string{"repository/conf", "repository/resources/security", "updates"}

// Exit codes of wso2update_linux (wso2-facts.md).
const (
	toolOK          = 0
	toolError       = 1
	toolSelfUpdated = 2
	toolConflicts   = 3
	toolReverted    = 4
)

func inPlaceSteps() []Step {
	return []Step{
		preflightStep(),
		hookStep("before_stop", inventory.BeforeStop),
		stopStep(),
		{Name: "backup", Probe: probeBackup, Apply: func(ctx context.Context, j *Job) error { return j.backup(ctx) }},
		{Name: "update", Probe: probeUpdate, Apply: func(ctx context.Context, j *Job) error { return j.runUpdateTool(ctx) }},
		{Name: "configure", Probe: probeReconfigure, Apply: func(ctx context.Context, j *Job) error { return j.reconfigure(ctx) }},
		{Name: "optimize", Probe: probeOptimizeHome, Apply: func(ctx context.Context, j *Job) error { return j.profileSetup(ctx, j.Paths.Home) }},
		startStep(),
		hookStep("after_start", inventory.AfterStart),
		healthStep(),
		afterHealthyStep(),
	}
}

// updated reports whether home already has the target level.
func (j *Job) updated() bool {
	return j.Inv.Update.Level > 0 && j.facts.UpdateLevel >= j.Inv.Update.Level
}

func (j *Job) backupDir() string {
	return j.Paths.Backup(fmt.Sprintf("level-%d", j.facts.UpdateLevel))
}

func (j *Job) toolBackupDir() string { return path.Join(j.Paths.State, "update-tool-backup") }

func (j *Job) backupPaths() []string { return append(j.persistPaths(), backupExtra...) }

func probeBackup(ctx context.Context, j *Job) (Change, error) {
	if j.updated() {
		return Change{Done: true, Summary: "already updated"}, nil
	}
	if ok, _ := j.backupVerified(ctx, j.backupDir()); ok {
		return Change{Done: true, Summary: "backup taken and verified"}, nil
	}
	ch := Change{Summary: "copy persisted data, configuration and updates/ to " + j.backupDir() + ", checksummed"}
	ch.Details = append(ch.Details, j.backupPaths()...)
	return ch, nil
}

// backup copies what the update may change or the operator may need back,
// with a sha256 manifest, and verifies the copy. The server is stopped: a
// live H2 file or index is never copied.
func (j *Job) backup(ctx context.Context) error {
	dir := j.backupDir()
	var b strings.Builder
	b.WriteString(j.vars() + "R=\"$H\"\n" + pidScript)
	b.WriteString("if alive; then echo \"the server is still running (PID $pid); refusing to copy live data\" >&2; exit 1; fi\n")
	fmt.Fprintf(&b, "B=%s\nrm -rf \"$B.tmp\" && mkdir -p \"$B.tmp/data\"\ncd \"$H\"\n", q(dir))
	fmt.Fprintf(&b, "for p in %s; do\n", transport.QuoteAll(j.backupPaths()...))
	b.WriteString(`  if [ -e "$p" ]; then mkdir -p "$B.tmp/data/$(dirname "$p")" && cp -a "$p" "$B.tmp/data/$p"; fi
done
(cd "$B.tmp/data" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) > "$B.tmp/MANIFEST"
rm -rf "$B" && mv "$B.tmp" "$B"
# Backups of earlier updates are superseded by this one.
for o in "$(dirname "$B")"/level-*; do [ "$o" = "$B" ] || rm -rf "$o"; done
`)
	if _, err := sh(ctx, j.Conn, b.String()); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if ok, err := j.backupVerified(ctx, dir); !ok {
		return fmt.Errorf("backup in %s does not match its manifest: %v", dir, err)
	}
	j.journal(ctx, Record{Step: "backup", Phase: PhaseNote, Detail: "backup verified in " + dir})
	return nil
}

// backupVerified checks a backup against its manifest.
func (j *Job) backupVerified(ctx context.Context, dir string) (bool, error) {
	_, err := sh(ctx, j.Conn, fmt.Sprintf("[ -s %[1]s/MANIFEST ] && cd %[1]s/data && sha256sum --quiet -c ../MANIFEST", q(dir)))
	return err == nil, err
}

func probeUpdate(ctx context.Context, j *Job) (Change, error) {
	if j.updated() {
		return Change{Done: true, Summary: fmt.Sprintf("already at level %d", j.facts.UpdateLevel)}, nil
	}
	target := "the latest level"
	if j.Inv.Update.Level > 0 {
		target = fmt.Sprintf("level %d", j.Inv.Update.Level)
	}
	return Change{Summary: fmt.Sprintf("bin/wso2update_linux to %s (from %d)", target, j.facts.UpdateLevel)}, nil
}

// ToolError is a failure of WSO2's update tool.
type ToolError struct {
	Code      int
	Conflicts []string
	Output    string
}

func (e *ToolError) Error() string {
	if e.Code == toolConflicts {
		return fmt.Sprintf("the update tool found conflicts in %s: merge each <file>.original and <file>.new into <file>.final on the node, then run drover recover NODE --resume", strings.Join(e.Conflicts, ", "))
	}
	return fmt.Sprintf("the update tool exited %d: %s", e.Code, e.Output)
}

// runUpdateTool runs wso2update_linux from home/bin. Credentials come from
// UPDATE_TOOL_USERNAME and UPDATE_TOOL_PASSWORD on the controller and reach
// the tool through stdin and its environment, never a command line. Exit 2
// (the tool updated itself) runs it once more; 3 lists the conflicting
// files.
func (j *Job) runUpdateTool(ctx context.Context) error {
	args := "--backup " + q(j.toolBackupDir())
	if j.Inv.Update.Level > 0 {
		args += fmt.Sprintf(" --level %d", j.Inv.Update.Level)
	}
	if st, _ := sh(ctx, j.Conn, fmt.Sprintf("ls %s/*.final 2>/dev/null | head -n1; true", q(j.Paths.Home+"/updates"))); strings.TrimSpace(st) != "" {
		args += " --continue"
	}
	for attempt := 0; attempt < 2; attempt++ {
		out, code, err := j.updateTool(ctx, args)
		if err != nil {
			return fmt.Errorf("update tool: %w", err)
		}
		switch code {
		case toolOK:
			return nil
		case toolSelfUpdated:
			j.warn("the update tool updated itself; running it again")
			continue
		case toolConflicts:
			return &ToolError{Code: code, Conflicts: conflictFiles(out), Output: lastLines(out, 3)}
		default:
			return &ToolError{Code: code, Output: lastLines(strings.TrimSuffix(out, "exit="+fmt.Sprint(code)+"\n"), 3)}
		}
	}
	return &ToolError{Code: toolSelfUpdated, Output: "the tool asked to be run again twice"}
}

func exitOf(out string) int {
	i := strings.LastIndex(out, "exit=")
	if i < 0 {
		return -1
	}
	var n int
	fmt.Sscan(out[i+5:], &n)
	return n
}

// conflictFiles picks the file names the tool lists as conflicts.
func conflictFiles(out string) []string {
	var files []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "-"))
		if strings.Contains(l, "/") && !strings.Contains(l, " ") {
			files = append(files, l)
		}
	}
	return files
}

func probeReconfigure(ctx context.Context, j *Job) (Change, error) {
	if len(j.Node.Files) == 0 {
		return Change{Done: true, Summary: "no managed files"}, nil
	}
	ch := Change{Summary: "write the managed files into the updated release"}
	diffs, err := j.managedDiffs(ctx)
	if err != nil {
		return ch, err
	}
	ch.Details = diffs
	return ch, nil
}

func (j *Job) reconfigure(ctx context.Context) error {
	for _, f := range j.Node.Files {
		if err := j.writeManaged(ctx, j.Paths.Home, f.Path, f.Content, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

func probeOptimizeHome(ctx context.Context, j *Job) (Change, error) {
	if !j.hasSetup() {
		return Change{Done: true, Summary: "no profileSetup.sh for " + j.Node.Profile}, nil
	}
	if j.facts.Running {
		return Change{Done: true, Summary: "server running"}, nil
	}
	return Change{Summary: "profileSetup.sh -Dprofile=" + j.Node.Profile + " on the updated release (updates bring back every profile's files)"}, nil
}

// rollbackInPlace reverts the update tool's change, restores the verified
// backup over it, starts the node and gates its health.
func (j *Job) rollbackInPlace(ctx context.Context) error {
	j.Sink.Emit(Event{Type: EventRollback, Node: j.Node.Name})
	j.journal(ctx, Record{Step: "rollback", Phase: PhaseBegin})
	err := j.rollbackInPlaceSteps(ctx)
	if err != nil {
		j.journal(context.WithoutCancel(ctx), Record{Step: "rollback", Phase: PhaseFail, Detail: oneLine(err.Error())})
		return err
	}
	j.journal(ctx, Record{Step: "rollback", Phase: PhaseEnd})
	j.Sink.Emit(Event{Type: EventRolledBack, Node: j.Node.Name})
	return nil
}

func (j *Job) rollbackInPlaceSteps(ctx context.Context) error {
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
	out, _ := sh(ctx, j.Conn, fmt.Sprintf("cd %s/backups 2>/dev/null && ls -d level-* 2>/dev/null; true", q(j.Paths.State)))
	best := -1
	for _, name := range strings.Fields(out) {
		var n int
		if _, err := fmt.Sscanf(name, "level-%d", &n); err == nil && n > best {
			best = n
		}
	}
	dir := j.Paths.Backup(fmt.Sprintf("level-%d", best))
	if best < 0 {
		return fmt.Errorf("%w: no in-place backup in %s/backups", ErrNoWayBack, j.Paths.State)
	}
	if ok, err := j.backupVerified(ctx, dir); !ok {
		return fmt.Errorf("the backup in %s does not match its manifest (%v); not restoring it", dir, err)
	}
	if out, c, err := j.updateTool(ctx, "--revert --backup "+q(j.toolBackupDir())); err != nil {
		return fmt.Errorf("revert: %w", err)
	} else if c != toolOK && c != toolReverted {
		j.warn(fmt.Sprintf("the update tool's --revert exited %d (%s); restoring the backup over it", c, lastLines(out, 1)))
	}
	restore := j.vars() + fmt.Sprintf(`B=%s
cd "$B/data"
for p in %s; do
  if [ -e "$p" ]; then rm -rf "$H/$p" && mkdir -p "$(dirname "$H/$p")" && cp -a "$p" "$H/$p"; fi
done
cd "$H" && sha256sum --quiet -c "$B/MANIFEST"
`, q(dir), transport.QuoteAll(j.backupPaths()...))
	if _, err := sh(ctx, j.Conn, restore); err != nil {
		return fmt.Errorf("restore the backup: %w", err)
	}
	if err := j.startServer(ctx, j.dist()); err != nil {
		return err
	}
	if err := j.healthGate(ctx); err != nil {
		return fmt.Errorf("restored release: %w", err)
	}
	return j.hooks(ctx, inventory.AfterHealthy)
}

func (j *Job) getenv(name string) string {
	if j.Env != nil {
		return j.Env(name)
	}
	return os.Getenv(name)
}

// preflightInPlace checks, before anything stops, what the update tool
// needs: the tool itself and credentials that will not make it prompt.
func (j *Job) preflightInPlace(ctx context.Context) error {
	if _, err := j.toolCredentials(); err != nil {
		return err
	}
	if _, err := sh(ctx, j.Conn, fmt.Sprintf("[ -x %s ]", q(j.Paths.Home+"/bin/wso2update_linux"))); err != nil {
		return fmt.Errorf("%s/bin/wso2update_linux is missing or not executable; install WSO2 Updates 2.0 on the node or use strategy = \"side-by-side\"", j.Paths.Home)
	}
	return nil
}

// toolCredentials returns the update tool's credentials as the two lines
// its wrapper script reads from stdin.
func (j *Job) toolCredentials() ([]byte, error) {
	user, pass := j.getenv("UPDATE_TOOL_USERNAME"), j.getenv("UPDATE_TOOL_PASSWORD")
	if user == "" || pass == "" || strings.ContainsAny(user+pass, "\n") {
		return nil, errors.New("set UPDATE_TOOL_USERNAME and UPDATE_TOOL_PASSWORD for drover: without them the update tool asks on a terminal and a headless run would hang")
	}
	return []byte(user + "\n" + pass + "\n"), nil
}

// updateTool runs bin/wso2update_linux with args (already quoted) from
// home/bin and returns its output and exit code. The credentials travel on
// stdin into the tool's environment, never on a command line.
func (j *Job) updateTool(ctx context.Context, args string) (string, int, error) {
	creds, err := j.toolCredentials()
	if err != nil {
		return "", -1, err
	}
	script := j.vars() + `IFS= read -r UPDATE_TOOL_USERNAME; IFS= read -r UPDATE_TOOL_PASSWORD
export UPDATE_TOOL_USERNAME UPDATE_TOOL_PASSWORD
mkdir -p ` + q(j.toolBackupDir()) + `
cd "$H/bin" && set +e && ./wso2update_linux ` + args + ` </dev/null 2>&1; echo "exit=$?"`
	out, err := shIn(ctx, j.Conn, script, creds)
	return out, exitOf(out), err
}
