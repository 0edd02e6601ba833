package apimsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updater runs wso2update_linux on n with credentials in the environment.
func (n *simNode) update(args ...string) (string, int) {
	n.t.Helper()
	return n.script("", "", append([]string{"wso2update_linux"}, args...)...)
}

func withCreds(n *simNode) {
	n.env = append(n.env, "UPDATE_TOOL_USERNAME=ops@example.com", "UPDATE_TOOL_PASSWORD=secret")
}

// selfUpdate runs the tool once so that it has "updated itself" (exit 2).
func selfUpdate(t *testing.T, n *simNode) {
	t.Helper()
	if out, code := n.update("--dry-run"); code != UpdateSelfUpdated {
		t.Fatalf("first run: exit %d, want 2: %s", code, out)
	}
}

func level(t *testing.T, home string) int {
	t.Helper()
	l, err := ReadLevel(home)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestUpdateCredentialsAndPreconditions(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 5)
	out, code := n.update()
	if code != UpdateError || !strings.Contains(out, "Enter username:") {
		t.Fatalf("no credentials, no stdin: exit %d %q", code, out)
	}
	// credentials typed on stdin are accepted (and the first run updates the tool itself)
	if out, code := n.script("", "ops\nsecret\n", "wso2update_linux"); code != UpdateSelfUpdated {
		t.Fatalf("credentials on stdin: exit %d %q", code, out)
	}
	if out, code := n.script("", "", "wso2update_linux", "-u", "ops", "-p", "secret", "--dry-run"); code != UpdateOK {
		t.Fatalf("-u/-p: exit %d %q", code, out)
	}
	withCreds(n)
	if out, code := n.script(n.home, "", "wso2update_linux"); code != UpdateError || !strings.Contains(out, "bin") {
		t.Fatalf("run outside bin/: exit %d %q", code, out)
	}
	n.start()
	n.pid()
	if out, code := n.update(); code != UpdateError || !strings.Contains(out, "running") {
		t.Fatalf("while running: exit %d %q", code, out)
	}
	if level(t, n.home) != 5 {
		t.Fatal("a refused run changed the level")
	}
}

func TestUpdateAndRevert(t *testing.T) {
	for _, version := range Versions() {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, version, 3)
			withCreds(n)
			rel, _ := lookupRelease(version)
			backup := filepath.Join(t.TempDir(), "backups")
			selfUpdate(t, n)
			// a profile deleted a webapp (4.5.0+ all-in-one packs have no profileSetup.sh: by hand)
			if err := os.Remove(n.path(webappsDir + "/" + rel.wars[1])); err != nil {
				t.Fatal(err)
			}
			operatorConf := readFile(t, n.path("repository/conf/deployment.toml"))

			if out, code := n.update("--dry-run"); code != UpdateOK || level(t, n.home) != 3 {
				t.Fatalf("dry run: exit %d %q", code, out)
			}
			if out, code := n.update("--level", "9"); code != UpdateError {
				t.Fatalf("unavailable level: exit %d %q", code, out)
			}
			if out, code := n.update("--backup", n.path("backup")); code != UpdateError {
				t.Fatalf("backup inside the product: exit %d %q", code, out)
			}
			if out, code := n.update("--backup", backup); code != UpdateOK {
				t.Fatalf("update: exit %d %q", code, out)
			}
			if level(t, n.home) != 4 || !exists(n.path("updates/changelog-0003-0004.md")) {
				t.Fatal("level or changelog not written")
			}
			if exists(n.path("repository/components/plugins/"+fmt.Sprintf(rel.coreJar, 3))) || !exists(n.path("repository/components/plugins/"+fmt.Sprintf(rel.coreJar, 4))) {
				t.Fatal("the level jar was not replaced")
			}
			if !exists(n.path(webappsDir + "/" + rel.wars[1])) {
				t.Fatal("the update did not re-introduce the files of every profile")
			}
			if readFile(t, n.path("repository/conf/deployment.toml")) != operatorConf {
				t.Fatal("the update touched deployment.toml")
			}
			if out, code := n.update("--revert"); code != UpdateReverted {
				t.Fatalf("revert: exit %d %q", code, out)
			}
			if level(t, n.home) != 3 || exists(n.path("updates/changelog-0003-0004.md")) || !exists(n.path("repository/components/plugins/"+fmt.Sprintf(rel.coreJar, 3))) {
				t.Fatal("revert did not restore level 3")
			}
			if exists(n.path(webappsDir + "/" + rel.wars[1])) {
				t.Fatal("revert left the re-introduced webapp")
			}
			if out, code := n.update("--revert"); code != UpdateError {
				t.Fatalf("nothing left to revert: exit %d %q", code, out)
			}
			if out, code := n.update("--no-backup", "--level", "4"); code != UpdateOK {
				t.Fatalf("--no-backup: exit %d %q", code, out)
			}
			if out, code := n.update("--revert"); code != UpdateError || !strings.Contains(out, "no-backup") {
				t.Fatalf("revert without a backup: exit %d %q", code, out)
			}
			if out, code := n.update("--level", "4"); code != UpdateOK || level(t, n.home) != 4 {
				t.Fatalf("same level: exit %d %q", code, out)
			}
		})
	}
}

func TestUpdateConflicts(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 7)
	withCreds(n)
	selfUpdate(t, n)
	tmpl := n.path(carbonTemplate)
	custom := readFile(t, tmpl) + "<!-- operator tweak -->\n"
	os.WriteFile(tmpl, []byte(custom), 0o644)
	if err := WriteFaults(n.home, Faults{Conflicts: []string{"repository/conf/log4j2.properties"}}); err != nil {
		t.Fatal(err)
	}
	out, code := n.update("--no-backup")
	if code != UpdateConflicts || !strings.Contains(out, carbonTemplate) || !strings.Contains(out, "log4j2.properties") {
		t.Fatalf("exit %d %q", code, out)
	}
	for _, f := range []string{tmpl, n.path("repository/conf/log4j2.properties")} {
		if !exists(f+".original") || !exists(f+".new") {
			t.Fatalf("%s: no .original/.new", f)
		}
	}
	if readFile(t, tmpl) != custom || level(t, n.home) != 7 {
		t.Fatal("a conflicted update changed the product")
	}
	if _, code := n.update("--no-backup"); code != UpdateConflicts {
		t.Fatal("a rerun without --continue must report the conflicts again")
	}
	if _, code := n.update("--continue", "--no-backup"); code != UpdateConflicts {
		t.Fatal("--continue without .final files must still conflict")
	}
	os.WriteFile(tmpl+".final", []byte("merged\n"), 0o644)
	os.WriteFile(n.path("repository/conf/log4j2.properties.final"), []byte("merged log4j\n"), 0o644)
	if out, code := n.update("--continue", "--no-backup"); code != UpdateOK {
		t.Fatalf("--continue: exit %d %q", code, out)
	}
	if readFile(t, tmpl) != "merged\n" || level(t, n.home) != 8 || exists(tmpl+".original") || exists(tmpl+".final") {
		t.Fatal("--continue did not apply the resolution")
	}

	// an unfinished (conflicted) update can be reverted: exit 4, product unchanged
	os.WriteFile(tmpl, []byte("again\n"), 0o644)
	if _, code := n.update("--no-backup"); code != UpdateConflicts {
		t.Fatal("want a conflict")
	}
	if out, code := n.update("--revert"); code != UpdateReverted || exists(tmpl+".new") || level(t, n.home) != 8 {
		t.Fatalf("revert of an unfinished update: exit %d %q", code, out)
	}
}

func TestUpdateFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults Faults
		args   []string
		code   int
		level  int
	}{
		{"disk full", Faults{DiskFull: true}, nil, UpdateError, 2},
		{"disk full at another level", Faults{DiskFull: true, OnlyLevel: 5}, nil, UpdateOK, 3},
		{"latest level", Faults{LatestLevel: 6}, nil, UpdateOK, 6},
		{"pinned level", Faults{LatestLevel: 6}, []string{"--level", "4"}, UpdateOK, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, "4.4.0", 2)
			withCreds(n)
			selfUpdate(t, n)
			if err := WriteFaults(n.home, c.faults); err != nil {
				t.Fatal(err)
			}
			out, code := n.update(append([]string{"--no-backup"}, c.args...)...)
			if code != c.code || level(t, n.home) != c.level {
				t.Fatalf("exit %d level %d, want %d level %d: %s", code, level(t, n.home), c.code, c.level, out)
			}
		})
	}
}

// TestUpdateConflictFilesBesideEachFile: the tool writes <file>.original and
// <file>.new next to each conflicting file wherever it is under home (not
// in updates/), continues only when every <file>.final is there, and never
// treats a .jar as a conflict (jars are replaced outright).
func TestUpdateConflictFilesBesideEachFile(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 4)
	withCreds(n)
	selfUpdate(t, n)
	deep := "repository/deployment/server/synapse-configs/default/api/Pets.xml"
	jar := "repository/components/lib/custom.jar"
	for _, p := range []string{deep, jar} {
		if err := writeFileAll(n.path(p), []byte("operator's\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFaults(n.home, Faults{Conflicts: []string{deep, jar}}); err != nil {
		t.Fatal(err)
	}
	out, code := n.update("--no-backup")
	if code != UpdateConflicts || !strings.Contains(out, deep) || strings.Contains(out, jar) {
		t.Fatalf("exit %d %q", code, out)
	}
	if !exists(n.path(deep+".original")) || !exists(n.path(deep+".new")) || exists(n.path(jar+".new")) {
		t.Fatal(".original/.new not beside the conflicting file only")
	}
	if m, _ := filepath.Glob(n.path("updates/*.original")); len(m) > 0 {
		t.Fatalf("conflict files in updates/: %v", m)
	}
	// A .final in updates/ is not a merge.
	os.WriteFile(n.path("updates/Pets.xml.final"), []byte("x\n"), 0o644)
	if out, code := n.update("--continue", "--no-backup"); code != UpdateConflicts || !strings.Contains(out, deep) {
		t.Fatalf("--continue without %s.final: exit %d %q", deep, code, out)
	}
	os.WriteFile(n.path(deep+".final"), []byte("merged\n"), 0o644)
	if out, code := n.update("--continue", "--no-backup"); code != UpdateOK {
		t.Fatalf("--continue: exit %d %q", code, out)
	}
	if readFile(t, n.path(deep)) != "merged\n" || level(t, n.home) != 5 || exists(n.path(deep+".new")) {
		t.Fatal("--continue did not put the merge in")
	}
}
