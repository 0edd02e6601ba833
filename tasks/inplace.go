package tasks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

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
		{Name: "optimize", Probe: probeOptimizeHome, Apply: func(ctx context.Context, j *Job) error { return j.profileSetup(ctx, j.facts.Product, j.Paths.Home) }},
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
	if c := j.facts.UpdateConflicts; c != nil {
		ch := Change{Summary: fmt.Sprintf("bin/wso2update_linux --continue to %s (from %d): it stopped on conflicts in %d file(s) in run %s; each <file>.final goes in",
			target, j.facts.UpdateLevel, len(c.Files), c.Run)}
		ch.Details = conflictDetails(c)
		return ch, nil
	}
	return Change{Summary: fmt.Sprintf("bin/wso2update_linux to %s (from %d)", target, j.facts.UpdateLevel)}, nil
}

// conflictDetails says, per conflicting file, whether its merge is there.
func conflictDetails(c *UpdateConflicts) []string {
	missing := map[string]bool{}
	for _, f := range c.MissingFinal {
		missing[f] = true
	}
	var out []string
	for _, f := range c.Files {
		if missing[f] {
			out = append(out, f+": no "+path.Base(f)+".final yet")
		} else {
			out = append(out, f+": merged ("+path.Base(f)+".final)")
		}
	}
	return out
}

// ToolError is a failure of WSO2's update tool.
type ToolError struct {
	Code int
	// Conflicts are the conflicting files (exit 3), relative to Home.
	Conflicts []string
	Output    string
	Node      string
	Home      string
}

func (e *ToolError) Error() string {
	if e.Code == toolConflicts {
		if len(e.Conflicts) == 0 {
			return fmt.Sprintf("the update tool stopped on conflicts but drover found no <file>.original with a <file>.new under %s (%s); the node is left stopped: resolve the update with the tool on the node, then run drover recover %s --resume (or --rollback)",
				e.Home, e.Output, e.Node)
		}
		return fmt.Sprintf("the update tool stopped on conflicts in %d file(s): %s; it wrote <file>.original and <file>.new next to each under %s. The node is left stopped, not rolled back (a rollback would discard them): merge each into <file>.final on the node, then run drover recover %s --resume (drover status shows which still lack their .final; drover recover %s --rollback gives the update up)",
			len(e.Conflicts), strings.Join(e.Conflicts, ", "), e.Home, e.Node, e.Node)
	}
	return fmt.Sprintf("the update tool exited %d: %s", e.Code, e.Output)
}

// waitsForOperator reports a failure that leaves the node for the operator
// to finish: conflicts to merge. Rolling it back would discard them.
func waitsForOperator(err error) bool {
	var te *ToolError
	var ce *ConflictsError
	return (errors.As(err, &te) && te.Code == toolConflicts) || errors.As(err, &ce)
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
	if c := j.facts.UpdateConflicts; c != nil {
		// Look again: the probe may be a while ago.
		cs, err := conflictState(ctx, j.Conn, j.Paths.Home, c)
		if err != nil {
			return fmt.Errorf("check the merged conflict files: %w", err)
		}
		j.facts.UpdateConflicts = cs
		if cs != nil {
			if !cs.Resolved() {
				return &ConflictsError{Node: j.Node.Name, Home: j.Paths.Home, Conflicts: cs}
			}
			args += " --continue"
		}
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
			return j.conflicts(ctx, out)
		default:
			return &ToolError{Code: code, Output: lastLines(strings.TrimSuffix(out, "exit="+fmt.Sprint(code)+"\n"), 3)}
		}
	}
	return &ToolError{Code: toolSelfUpdated, Output: "the tool asked to be run again twice"}
}

// conflicts records the files the update tool stopped on (exit 3) in the
// journal, so any controller knows them, and returns the tool's error.
// The files are the ones with a <file>.original and a <file>.new beside
// them under home; the tool's own list is the fallback.
func (j *Job) conflicts(ctx context.Context, out string) error {
	files, err := j.findConflicts(ctx)
	if err != nil || len(files) == 0 {
		files = conflictFiles(out)
	}
	te := &ToolError{Code: toolConflicts, Conflicts: files, Output: lastLines(strings.TrimSuffix(out, "exit=3\n"), 3), Node: j.Node.Name, Home: j.Paths.Home}
	if len(files) == 0 {
		return te
	}
	j.journal(ctx, Record{Step: "update", Phase: PhaseNote, Files: files,
		Detail: fmt.Sprintf("the update tool stopped on conflicts in %d file(s): %s", len(files), strings.Join(files, ", "))})
	j.facts.UpdateConflicts = &UpdateConflicts{Run: j.Run, At: time.Now().UTC(), Files: files, MissingFinal: files}
	return te
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
	if cmd, _, _ := j.setup(j.facts.Product, j.Paths.Home); cmd == "" {
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
	// The way back first: a node without a verified backup is not stopped
	// for nothing.
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
	if f.Running && !j.drained() {
		if err := j.hooks(ctx, inventory.BeforeStop); err != nil {
			return fmt.Errorf("drain before the rollback: %w", err)
		}
	}
	if err := j.stopServer(ctx, j.Paths.Home, f.Product); err != nil {
		return err
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
	if err := j.startServer(ctx, j.facts.Product); err != nil {
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
// needs: an update it stopped on conflicts merged, credentials that will
// not make it prompt, the tool itself, a Java the startup script accepts
// and the disk space the tool asks for.
func (j *Job) preflightInPlace(ctx context.Context) error {
	if c := j.facts.UpdateConflicts; c != nil && !c.Resolved() {
		return &ConflictsError{Node: j.Node.Name, Home: j.Paths.Home, Conflicts: c}
	}
	if _, err := j.toolCredentials(); err != nil {
		return err
	}
	n, err := j.inPlaceNeeds(ctx)
	if err != nil {
		return err
	}
	if !n.tool {
		return fmt.Errorf("%s/bin/wso2update_linux is missing or not executable; install WSO2 Updates 2.0 on the node or use strategy = \"side-by-side\"", j.Paths.Home)
	}
	if err := n.javaError(); err != nil {
		return err
	}
	return n.diskError(j.Paths)
}

// inPlaceNeeds is what the in-place preflight reads from the node, in one
// round trip.
type inPlaceNeeds struct {
	tool bool
	// javaHome is $JAVA_HOME in the node's shell, the one drover starts
	// the server from; javaOK says $JAVA_HOME/bin/java is executable;
	// pathJava is `command -v java` (a hint only).
	javaHome, pathJava string
	javaOK             bool
	// freeHome and freeState are the bytes free on the filesystems of
	// home and of drover's state (the backups); sameFS when they are one.
	freeHome, freeState int64
	sameFS              bool
	// pack estimates the pack's size: home less its logs and persisted
	// data, that is what the pack unpacks to (the zip itself is smaller,
	// so the estimate errs on the safe side).
	pack int64
	// backup is what drover's backup will take, 0 when it is taken.
	backup int64
}

// inPlaceExcluded are the parts of home that are no part of the pack.
var inPlaceExcluded = []string{"repository/logs"}

func (j *Job) inPlaceNeeds(ctx context.Context) (*inPlaceNeeds, error) {
	excl := append(slices.Clone(inPlaceExcluded), j.persistPaths()...)
	script := j.vars() + fmt.Sprintf(`set +e
[ -x "$H/bin/wso2update_linux" ] && [ -f "$H/bin/wso2update_linux" ] && echo tool=1
echo "javahome=$JAVA_HOME"
[ -n "$JAVA_HOME" ] && [ -f "$JAVA_HOME/bin/java" ] && [ -x "$JAVA_HOME/bin/java" ] && echo java=1
echo "pathjava=$(command -v java 2>/dev/null)"
if [ -d "$S" ]; then sd=$S; else sd=$(dirname "$H"); fi
echo "freeh=$(df -Pk "$H" 2>/dev/null | awk 'NR==2{print $4}')"
echo "frees=$(df -Pk "$sd" 2>/dev/null | awk 'NR==2{print $4}')"
[ "$(stat -c %%d "$H" 2>/dev/null)" = "$(stat -c %%d "$sd" 2>/dev/null)" ] && echo samefs=1
[ -s %s/MANIFEST ] && echo backup=1
cd "$H" || exit 0
echo "home=$(du -sk . 2>/dev/null | cut -f1)"
for p in %s; do [ -e "$p" ] && echo "x=$(du -sk "$p" 2>/dev/null | cut -f1)"; done
for p in %s; do [ -e "$p" ] && echo "b=$(du -sk "$p" 2>/dev/null | cut -f1)"; done
true
`, q(j.backupDir()), transport.QuoteAll(excl...), transport.QuoteAll(j.backupPaths()...))
	out, err := sh(ctx, j.Conn, script)
	if err != nil {
		return nil, fmt.Errorf("check the node for the update tool: %w", err)
	}
	n := &inPlaceNeeds{}
	var home, excluded, backup int64
	taken := false
	kb := func(v string) int64 {
		x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return x * 1024
	}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "tool":
			n.tool = true
		case "javahome":
			n.javaHome = v
		case "java":
			n.javaOK = true
		case "pathjava":
			n.pathJava = strings.TrimSpace(v)
		case "freeh":
			n.freeHome = kb(v)
		case "frees":
			n.freeState = kb(v)
		case "samefs":
			n.sameFS = true
		case "backup":
			taken = true
		case "home":
			home = kb(v)
		case "x":
			excluded += kb(v)
		case "b":
			backup += kb(v)
		}
	}
	n.pack = max(home-excluded, 0)
	if !taken {
		n.backup = backup
	}
	return n, nil
}

// javaError refuses a node whose shell has no usable JAVA_HOME: the
// startup scripts of every release run $JAVA_HOME/bin/java and, without
// JAVA_HOME, fail every command, stop included ("JAVA_HOME is not defined
// correctly"), even with java on PATH. drover starts the updated server
// from that shell, so a node without it would stay down after the update.
func (n *inPlaceNeeds) javaError() error {
	if n.javaOK {
		return nil
	}
	hint := "set JAVA_HOME to the JDK in the environment of the node's shell for the SSH user (e.g. in ~/.profile or /etc/environment)"
	if n.pathJava != "" {
		hint += fmt.Sprintf("; java is on PATH at %s, which the startup script does not use: point JAVA_HOME at the JDK it belongs to", n.pathJava)
	}
	if n.javaHome == "" {
		return fmt.Errorf("JAVA_HOME is not set in the node's shell, and the product's startup script refuses to start (or stop) the server without it; %s", hint)
	}
	return fmt.Errorf("JAVA_HOME is %q in the node's shell but %s/bin/java is not an executable file, so the product's startup script would refuse to start the updated server; %s", n.javaHome, n.javaHome, hint)
}

// diskError refuses a node without about three times the pack's size free
// on home's filesystem (WSO2's figure for the update tool), plus the room
// for drover's own backup. Without a pack to measure, the pack's size is
// estimated by the product home less its logs and persisted data.
func (n *inPlaceNeeds) diskError(p Paths) error {
	need := 3 * n.pack
	why := fmt.Sprintf("3 x %s, the update tool's figure, with the product home less its logs and persisted data standing in for the pack size", HumanBytes(n.pack))
	backupWhy := fmt.Sprintf("%s for drover's backup of the persisted data, configuration and updates/", HumanBytes(n.backup))
	if n.sameFS || n.backup == 0 {
		if n.backup > 0 {
			need += n.backup
			why += ", plus " + backupWhy
		}
		if n.freeHome < need {
			return fmt.Errorf("not enough disk space for the update tool on the filesystem of %s: %s free, %s needed (%s); free some space and run again",
				p.Home, HumanBytes(n.freeHome), HumanBytes(need), why)
		}
		return nil
	}
	if n.freeHome < need {
		return fmt.Errorf("not enough disk space for the update tool on the filesystem of %s: %s free, %s needed (%s); free some space and run again",
			p.Home, HumanBytes(n.freeHome), HumanBytes(need), why)
	}
	if n.freeState < n.backup {
		return fmt.Errorf("not enough disk space for drover's backup on the filesystem of %s: %s free, %s needed (%s); free some space and run again",
			p.State, HumanBytes(n.freeState), HumanBytes(n.backup), backupWhy)
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
