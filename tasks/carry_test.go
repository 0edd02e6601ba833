package tasks_test

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

const (
	confToml = "repository/conf/deployment.toml"
	log4j2   = "repository/conf/log4j2.properties"
	// customCarried is carried because the inventory's carry list names it.
	customCarried = "repository/conf/operator/custom-env.properties"
)

// TestCarryAndTemplateDrift: an update carries the operator's
// log4j2.properties, secure vault files (repository/conf/security and
// password-tmp) and the inventory's carry list, with the operator's
// content; the pack's own copies are kept under the node's state as the
// pristine record of the installed release; the next pack's plan tells
// template drift for a file the operator and the pack both changed (with
// the pack's diff), not for one only the operator changed; a node whose
// release drover did not install is told once that drift cannot be
// checked; the older pack's record is kept while the next update runs and
// removed when it completes.
func TestCarryAndTemplateDrift(t *testing.T) {
	t.Parallel()
	tl := newLab(t, "4.4.0", "20s", lab.NodeSpec{Name: "cp", Profile: "control-plane"})
	tl.inv.Carry = []string{customCarried}
	n := tl.node(t, "cp")
	paths := tasks.NewPaths(n.Home)

	custom := map[string][]byte{}
	write := func(rel, data string) {
		p := filepath.Join(n.Home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		custom[rel] = []byte(data)
	}
	appendTo := func(rel, more string) {
		old, err := os.ReadFile(filepath.Join(n.Home, rel))
		if err != nil {
			t.Fatal(err)
		}
		write(rel, string(old)+more)
	}
	appendTo(confToml, "\n# the operator's own setting\n[apim.devportal]\nurl = \"https://portal.example.com/devportal\"\n")
	appendTo(log4j2, "\nlogger.operator.name = com.example.operator\nlogger.operator.level = DEBUG\n")
	write("repository/conf/security/secret-conf.properties", "carbon.secretProvider=org.wso2.securevault.secret.handler.SecretManagerSecretCallbackHandler\nsecretRepositories.file.location=repository/conf/security/cipher-text.properties\n")
	write("repository/conf/security/cipher-text.properties", "Carbon.Security.KeyStore.Password=[cipher:QUJDREVGR0g=]\n")
	write("password-tmp", "wso2carbon\n")
	write(customCarried, "operator.flag=on\n")

	// A node drover never updated: no pristine record, said once.
	details := configureDetails(t, tl.job(t, "cp", "plan", &recorder{}))
	if c := count(details, "template drift cannot be checked: the running release was not installed by drover"); c != 1 {
		t.Errorf("the plan tells %d times that template drift cannot be checked, want once:\n%s", c, strings.Join(details, "\n"))
	}
	for _, want := range []string{"carry " + log4j2, "carry repository/conf/security", "carry password-tmp", "carry " + customCarried + " (the inventory's carry list)"} {
		if count(details, want) != 1 {
			t.Errorf("the configure step does not show %q:\n%s", want, strings.Join(details, "\n"))
		}
	}

	if err := apply(tl.job(t, "cp", "update-1", &recorder{})); err != nil {
		t.Fatalf("update: %v", err)
	}
	checkFiles(t, "after the update", n.Home, custom)
	packA := tl.pack
	rec := filepath.Join(paths.Pristine(packA.SHA256), confToml)
	if got, want := readFile(t, rec), zipFile(t, packA, confToml); got != want {
		t.Errorf("the pristine record %s is not the pack's own copy:\n%s", rec, got)
	}

	// The next pack changes deployment.toml (which the operator changed
	// too) and not log4j2.properties (which only the operator changed).
	packB := rebuildPack(t, tl, n, tl.pack.Level+1, map[string]func(string) string{
		confToml: func(s string) string {
			return strings.Replace(s, "[server]\n", "[server]\n# new in the next pack\nenable_shutdown_from_api = false\n", 1)
		},
	})
	if !strings.Contains(zipFile(t, packB, confToml), "new in the next pack") {
		t.Fatalf("the rebuilt pack's %s was not changed: the simulator's file has no [server] table", confToml)
	}
	j := tl.job(t, "cp", "plan-2", &recorder{})
	j.Pack = packB
	details = configureDetails(t, j)
	head := "template drift: " + confToml + ": you changed it and " + packB.Product + " level " + strconv.Itoa(packB.Level) + " changes it too; your copy is kept; the pack's change:\n--- a/" + confToml + "\n+++ b/" + confToml + "\n@@ "
	var drift string
	for _, d := range details {
		if strings.HasPrefix(d, head) {
			drift = d
		}
	}
	if drift == "" {
		t.Errorf("no template drift for %s in the plan:\n%s", confToml, strings.Join(details, "\n"))
	} else if !strings.Contains(drift, "\n+# new in the next pack\n+enable_shutdown_from_api = false\n") || strings.Contains(drift, "portal.example.com") {
		t.Errorf("the drift does not show the pack's change (and only it):\n%s", drift)
	}
	for _, not := range []string{"template drift: " + log4j2, "template drift cannot be checked", "template drift: repository/conf/security", "template drift: " + customCarried} {
		if count(details, not) != 0 {
			t.Errorf("the plan tells %q:\n%s", not, strings.Join(details, "\n"))
		}
	}

	// The second update: the installed release's record stays while it
	// runs, and only the new one's is left when it completes. The
	// operator edits a file of the inventory's carry list on the running
	// release after configure carried it: the CarriedFrom stamps cover it,
	// and the edit is carried again before the switch.
	r := &recorder{}
	r.on = func(e tasks.Event) {
		if e.Type == tasks.EventStepDone && e.Step == "configure" {
			appendTo(customCarried, "operator.late=yes\n")
		}
		if e.Type == tasks.EventStepDone && e.Step == "stage" {
			for _, p := range []*tasks.Pack{packA, packB} {
				if !pathExists(paths.Pristine(p.SHA256)) {
					t.Errorf("after staging, the pristine record of pack %.12s is missing", p.SHA256)
				}
			}
		}
	}
	j = tl.job(t, "cp", "update-2", r)
	j.Pack = packB
	if err := apply(j); err != nil {
		t.Fatalf("second update: %v", err)
	}
	checkFiles(t, "after the second update", n.Home, custom)
	if w := strings.Join(r.messages(tasks.EventWarning), "\n"); !strings.Contains(w, "changed on the running release after it was carried") {
		t.Errorf("no warning that the edits after configure were carried again: %q", w)
	}
	entries, err := os.ReadDir(filepath.Join(paths.State, "pristine"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != packB.SHA256 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("pristine records after the update completed: %v, want only %s", names, packB.SHA256)
	}
	if got, want := readFile(t, filepath.Join(paths.Pristine(packB.SHA256), confToml)), zipFile(t, packB, confToml); got != want {
		t.Errorf("the pristine record of the second pack is not its own copy:\n%s", got)
	}

	// A release installed by a drover that kept no record: said once.
	if err := os.RemoveAll(paths.Pristine(packB.SHA256)); err != nil {
		t.Fatal(err)
	}
	packC := rebuildPack(t, tl, n, tl.pack.Level+2, nil)
	j = tl.job(t, "cp", "plan-3", &recorder{})
	j.Pack = packC
	details = configureDetails(t, j)
	if c := count(details, "template drift cannot be checked: drover kept no pristine copies of the running release's pack"); c != 1 {
		t.Errorf("the plan tells %d times that drift cannot be checked without a record, want once:\n%s", c, strings.Join(details, "\n"))
	}
}

// configureDetails plans the job's node and returns the configure step's
// details.
func configureDetails(t *testing.T, j *tasks.Job) []string {
	t.Helper()
	plan, err := j.PlanNode(context.Background())
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	for _, s := range plan {
		if s.Name == "configure" {
			if s.Done {
				t.Fatalf("configure is done: %s", s.Summary)
			}
			return s.Details
		}
	}
	t.Fatal("the plan has no configure step")
	return nil
}

// count is how many details start with prefix.
func count(details []string, prefix string) int {
	c := 0
	for _, d := range details {
		if strings.HasPrefix(d, prefix) {
			c++
		}
	}
	return c
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// zipFile is a file of the pack's release, read from the zip.
func zipFile(t *testing.T, p *tasks.Pack, rel string) string {
	t.Helper()
	zr, err := zip.OpenReader(p.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open(p.Top + "/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rebuildPack builds a pack of the lab's release at level, with the files
// of edit rewritten inside the zip, as a newer release would ship them.
func rebuildPack(t *testing.T, tl *testLab, n *lab.Node, level int, edit map[string]func(string) string) *tasks.Pack {
	t.Helper()
	dir := t.TempDir()
	built := filepath.Join(dir, "built.zip")
	if err := apimsim.BuildPack(built, apimsim.Spec{Version: tl.Version, Level: level, SimBin: tl.SimBin}); err != nil {
		t.Fatal(err)
	}
	src, err := zip.OpenReader(built)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(dir, "pack.zip")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, zf := range src.File {
		_, rel, _ := strings.Cut(zf.Name, "/")
		fn, ok := edit[rel]
		if !ok {
			if err := zw.Copy(zf); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		h := zf.FileHeader
		h.CRC32, h.CompressedSize64, h.UncompressedSize64 = 0, 0, 0
		w, err := zw.CreateHeader(&h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, fn(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := tasks.OpenPack(out, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
