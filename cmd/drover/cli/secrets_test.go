package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// noSecret fails the test when any of the secrets shows in text.
func noSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the secret %q:\n%s", where, s, text)
		}
	}
}

// TestSecretsNeverShown: a managed template that reads env("DB_PASS") is
// shown in plan, plan --json and the plan file as (env DB_PASS), on the
// node's side too (which holds an older value); a new DB_PASS makes the
// saved plan stale (exit 3); apply's JSON events, its run record and the
// nodes' journals hold no secret either.
func TestSecretsNeverShown(t *testing.T) {
	nodes, _ := lab.ParseNodes("gw=2")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	t.Setenv("DROVER_SSH_CONFIG", "none")
	const first, second, older, sudo = "first-s3cret-value", "second-s3cret-value", "older-s3cret-value", "sudo-s3cret-pw"
	secrets := []string{first, second, older, sudo}
	t.Setenv("DB_PASS", first)
	t.Setenv("DROVER_SUDO_PASSWORD", sudo)

	tmpl := filepath.Join(l.Dir, "templates", "gateway.toml")
	b, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmpl, append(b, []byte("\n[database.shared_db]\npassword = \"${env(\"DB_PASS\")}\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	// The node's file holds a password of an earlier run, which the
	// inventory no longer knows.
	for _, n := range l.Nodes {
		conf := filepath.Join(n.Home, "repository", "conf", "deployment.toml")
		cur, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, append(cur, []byte("\n[database.shared_db]\npassword = \""+older+"\"\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	r := run(t, "plan")
	if r.code != 0 || !strings.Contains(r.stdout, `+password = "(env DB_PASS)"`) || !strings.Contains(r.stdout, `-password = "(hidden)"`) {
		t.Fatalf("plan does not show the managed password as (env DB_PASS):\n%s", r)
	}
	noSecret(t, "plan", r.stdout+r.stderr, secrets...)
	r = run(t, "plan", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, "(env DB_PASS)") {
		t.Fatalf("plan --json:\n%s", r)
	}
	noSecret(t, "plan --json", r.stdout+r.stderr, secrets...)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, "plan", "-o", planFile); r.code != 0 {
		t.Fatalf("plan -o:\n%s", r)
	}
	pf, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "the plan file", string(pf), secrets...)

	// A rotated secret: the saved plan is stale, and says so without
	// showing either value.
	t.Setenv("DB_PASS", second)
	r = run(t, "apply", planFile)
	if r.code != ExitRefused || !strings.Contains(r.stderr, "stale") || !strings.Contains(r.stderr, "inventory") {
		t.Fatalf("apply of a plan made with another DB_PASS: want exit 3 (stale):\n%s", r)
	}
	noSecret(t, "apply PLANFILE", r.stdout+r.stderr, secrets...)

	r = run(t, "apply", "--yes", "--json")
	if r.code != 0 {
		t.Fatalf("apply --yes --json:\n%s", r)
	}
	noSecret(t, "apply's JSON events", r.stdout+r.stderr, secrets...)
	records, _ := filepath.Glob(filepath.Join(l.Dir, ".drover", "runs", "*.json"))
	if len(records) == 0 {
		t.Fatalf("no run record in %s", filepath.Join(l.Dir, ".drover", "runs"))
	}
	for _, rec := range records {
		b, _ := os.ReadFile(rec)
		noSecret(t, rec, string(b), secrets...)
	}
	for _, n := range l.Nodes {
		j, err := os.ReadFile(tasks.NewPaths(n.Home).Journal())
		if err != nil {
			t.Fatal(err)
		}
		noSecret(t, n.Name+"'s journal", string(j), secrets...)
		conf, _ := os.ReadFile(filepath.Join(n.Home, "repository", "conf", "deployment.toml"))
		if !strings.Contains(string(conf), second) {
			t.Errorf("%s's deployment.toml lacks the real password after apply:\n%s", n.Name, conf)
		}
	}
}
