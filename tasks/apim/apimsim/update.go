package apimsim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Exit codes of wso2update_linux (WSO2 Updates 2.0).
const (
	UpdateOK          = 0
	UpdateError       = 1
	UpdateSelfUpdated = 2 // the tool updated itself: run the same command again
	UpdateConflicts   = 3
	UpdateReverted    = 4
)

const (
	pendingFile    = "updates/wso2update-pending.json"
	selfUpdateFile = "updates/.wso2update-tool-updated"
	manifestName   = "apimsim-backup.json"
)

type updateFlags struct {
	user, pass       string
	level            int
	backup           string
	noBackup         bool
	cont, dry, rever bool
}

func parseUpdateFlags(args []string) (updateFlags, error) {
	var f updateFlags
	f.level = -1
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		next := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag needs an argument: %s", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "-u", "--username":
			f.user, err = next()
		case "-p", "--password":
			f.pass, err = next()
		case "--level", "-l":
			var s string
			if s, err = next(); err == nil {
				if f.level, err = strconv.Atoi(s); err != nil || f.level < 0 {
					err = fmt.Errorf("invalid update level %q", s)
				}
			}
		case "--backup":
			f.backup, err = next()
		case "--no-backup":
			f.noBackup = true
		case "--continue":
			f.cont = true
		case "--dry-run":
			f.dry = true
		case "--revert":
			f.rever = true
		case "-v", "--verbose":
		default:
			err = fmt.Errorf("unknown flag: %s", a)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

type pendingUpdate struct {
	From      int      `json:"from"`
	To        int      `json:"to"`
	Conflicts []string `json:"conflicts"`
}

type backupManifest struct {
	Home  string   `json:"home"`
	From  int      `json:"from"`
	To    int      `json:"to"`
	Saved []string `json:"saved"`
	Added []string `json:"added"`
}

// updateTool is bin/wso2update_linux.
func updateTool(home string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "Error: "+format+"\n", a...)
		return UpdateError
	}
	fl, err := parseUpdateFlags(args)
	if err != nil {
		return fail("%v", err)
	}
	rel, err := readProduct(home)
	if err != nil {
		return fail("%v", err)
	}
	if wd, err := os.Getwd(); err != nil || !sameDir(wd, filepath.Join(home, "bin")) {
		return fail("run the update tool from %s", filepath.Join(home, "bin"))
	}
	if pid, alive := PIDAlive(home); alive {
		return fail("the product is running (PID %d); stop the server before updating", pid)
	}
	in := bufio.NewReader(stdin)
	if fl.user == "" {
		fl.user = os.Getenv("UPDATE_TOOL_USERNAME")
	}
	if fl.pass == "" {
		fl.pass = os.Getenv("UPDATE_TOOL_PASSWORD")
	}
	for _, c := range []struct {
		prompt string
		v      *string
	}{{"Enter username: ", &fl.user}, {"Enter password: ", &fl.pass}} {
		if *c.v != "" {
			continue
		}
		fmt.Fprint(stdout, c.prompt)
		line, err := in.ReadString('\n')
		*c.v = strings.TrimSpace(line)
		if *c.v == "" {
			if err == nil {
				err = errors.New("empty input")
			}
			return fail("failed to read the credentials: %v", err)
		}
	}
	cfg, err := readUpdateConfig(home)
	if err != nil {
		return fail("%v", err)
	}
	faults, err := ReadFaults(home)
	if err != nil {
		return fail("%v", err)
	}
	faults = faults.active(cfg.Level)
	marker := filepath.Join(home, filepath.FromSlash(selfUpdateFile))
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(marker, []byte("wso2update 2.0.99\n"), 0o644); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintln(stdout, "wso2update: the update tool was updated to version 2.0.99; run the same command again.")
		return UpdateSelfUpdated
	}
	u := &updater{home: home, rel: rel, cfg: cfg, fl: fl, faults: faults, out: stdout, errw: stderr}
	if fl.rever {
		return u.revert()
	}
	return u.update()
}

type updater struct {
	home   string
	rel    *release
	cfg    updateConfig
	fl     updateFlags
	faults Faults
	out    io.Writer
	errw   io.Writer
}

func (u *updater) fail(format string, a ...any) int {
	fmt.Fprintf(u.errw, "Error: "+format+"\n", a...)
	return UpdateError
}

func (u *updater) abs(rel string) string { return filepath.Join(u.home, filepath.FromSlash(rel)) }

func (u *updater) update() int {
	pend, hasPending, err := readPending(u.home)
	if err != nil {
		return u.fail("%v", err)
	}
	if u.fl.cont && !hasPending {
		return u.fail("there is no update in progress to continue")
	}
	from, to := u.cfg.Level, 0
	if hasPending {
		if !u.fl.cont {
			fmt.Fprintf(u.out, "An update from level %d to %d has unresolved conflicts:\n", pend.From, pend.To)
			printConflicts(u.out, pend.Conflicts)
			fmt.Fprintln(u.out, "Write <file>.final for each and run again with --continue, or run --revert.")
			return UpdateConflicts
		}
		to = pend.To
	} else {
		latest := u.faults.LatestLevel
		if latest <= from {
			latest = from + 1
		}
		switch {
		case u.fl.level < 0:
			to = latest
		case u.fl.level < from:
			return u.fail("update level %d is older than the current level %d; use --revert", u.fl.level, from)
		case u.fl.level == from:
			fmt.Fprintf(u.out, "The product is already at update level %d.\n", from)
			return UpdateOK
		case u.fl.level > latest:
			return u.fail("update level %d is not available (latest: %d)", u.fl.level, latest)
		default:
			to = u.fl.level
		}
	}
	if u.faults.DiskFull {
		return u.fail("not enough free space to update %s: write %s: no space left on device", u.home, u.abs("updates"))
	}
	oldFiles, newFiles := levelFiles(u.rel, from), levelFiles(u.rel, to)
	writes := map[string][]byte{}
	var conflicts []string
	for _, p := range []string{carbonTemplate, defaultJSONFile} {
		cur, err := os.ReadFile(u.abs(p))
		if err == nil && !bytes.Equal(cur, oldFiles[p]) && !bytes.Equal(cur, newFiles[p]) {
			conflicts = append(conflicts, p)
		}
		writes[p] = newFiles[p]
	}
	for _, p := range u.faults.Conflicts {
		p = filepath.ToSlash(filepath.Clean(p))
		cur, err := os.ReadFile(u.abs(p))
		if err != nil || containsStr(conflicts, p) || strings.HasSuffix(p, ".jar") {
			continue // .jar files are replaced outright, never merged
		}
		conflicts = append(conflicts, p)
		writes[p] = append(append([]byte(nil), cur...), []byte(fmt.Sprintf("\n# changed by update level %d\n", to))...)
	}
	sort.Strings(conflicts)
	oldJar := "repository/components/plugins/" + fmt.Sprintf(u.rel.coreJar, from)
	newJar := "repository/components/plugins/" + fmt.Sprintf(u.rel.coreJar, to)
	writes[newJar] = newFiles[newJar]
	for p, data := range profileFiles(u.rel) {
		if _, err := os.Lstat(u.abs(p)); errors.Is(err, fs.ErrNotExist) {
			writes[p] = data // updates re-introduce the files of every profile
		}
	}
	changelog := fmt.Sprintf("updates/changelog-%04d-%04d.md", from, to)
	writes[changelog] = []byte(fmt.Sprintf("# %s: update level %d to %d\n\n- security and bug fixes (simulated)\n", u.rel.product, from, to))

	if u.fl.dry {
		fmt.Fprintf(u.out, "Dry run: update level %d to %d would change:\n", from, to)
		for _, p := range sortedKeys(writes) {
			fmt.Fprintf(u.out, "  %s\n", p)
		}
		fmt.Fprintf(u.out, "  %s (removed)\n  updates/config.json\n", oldJar)
		if len(conflicts) > 0 {
			fmt.Fprintln(u.out, "Conflicts:")
			printConflicts(u.out, conflicts)
			return UpdateConflicts
		}
		return UpdateOK
	}
	if hasPending {
		var missing []string
		for _, c := range pend.Conflicts {
			final, err := os.ReadFile(u.abs(c) + ".final")
			if err != nil {
				missing = append(missing, c)
				continue
			}
			writes[c] = final
		}
		if len(missing) > 0 {
			fmt.Fprintln(u.out, "Conflicts are not resolved yet (no <file>.final):")
			printConflicts(u.out, missing)
			return UpdateConflicts
		}
	} else if len(conflicts) > 0 {
		for _, c := range conflicts {
			orig := oldFiles[c]
			if orig == nil {
				orig, _ = os.ReadFile(u.abs(c))
			}
			if err := os.WriteFile(u.abs(c)+".original", orig, 0o644); err != nil {
				return u.fail("%v", err)
			}
			if err := os.WriteFile(u.abs(c)+".new", writes[c], 0o644); err != nil {
				return u.fail("%v", err)
			}
		}
		if err := writeJSON(u.abs(pendingFile), pendingUpdate{From: from, To: to, Conflicts: conflicts}); err != nil {
			return u.fail("%v", err)
		}
		fmt.Fprintf(u.out, "Conflicts found while updating from level %d to %d; the files were not merged:\n", from, to)
		printConflicts(u.out, conflicts)
		fmt.Fprintln(u.out, "Compare <file>.original and <file>.new, write <file>.final, then run again with --continue.")
		return UpdateConflicts
	}

	backup := ""
	if !u.fl.noBackup {
		root := u.fl.backup
		if root == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return u.fail("no backup directory: %v", err)
			}
			root = filepath.Join(h, ".wso2-updates")
		}
		root, _ = filepath.Abs(root)
		if r, err := filepath.Rel(u.home, root); err == nil && !strings.HasPrefix(r, "..") {
			return u.fail("the backup directory %s must be outside the product", root)
		}
		h := fnv.New32a()
		h.Write([]byte(u.home))
		backup = filepath.Join(root, fmt.Sprintf("%s-%d-%d-%08x", u.rel.product, from, to, h.Sum32()))
		var err error
		if err = os.RemoveAll(backup); err == nil {
			err = u.saveBackup(backup, from, to, append(sortedKeys(writes), oldJar, "updates/config.json"))
		}
		if err != nil {
			return u.fail("backup: %v", err)
		}
		fmt.Fprintf(u.out, "Backed up the files this update changes to %s\n", backup)
	}
	for _, p := range sortedKeys(writes) {
		if err := writeFileAll(u.abs(p), writes[p]); err != nil {
			return u.fail("%v", err)
		}
	}
	if oldJar != newJar {
		os.Remove(u.abs(oldJar))
	}
	u.cfg.raw["update-level"] = to
	u.cfg.raw["last-update"] = map[string]any{"from": from, "to": to, "backup": backup}
	if err := writeJSON(u.abs("updates/config.json"), u.cfg.raw); err != nil {
		return u.fail("%v", err)
	}
	if hasPending {
		for _, c := range pend.Conflicts {
			for _, suf := range []string{".original", ".new", ".final"} {
				os.Remove(u.abs(c) + suf)
			}
		}
		os.Remove(u.abs(pendingFile))
	}
	fmt.Fprintf(u.out, "Updated %s from update level %d to %d.\n", u.rel.product, from, to)
	return UpdateOK
}
