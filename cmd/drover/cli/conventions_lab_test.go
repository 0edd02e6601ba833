package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// TestVerboseAndJSON runs commands that touch nodes against a lab: -v
// shows each connection and each remote command on stderr (secrets
// redacted), -vv their output too; --json keeps stdout pure JSON for apply
// (also when there is nothing to do) and recover.
func TestVerboseAndJSON(t *testing.T) {
	nodes, _ := lab.ParseNodes("gw=1")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	t.Setenv("DROVER_SSH_CONFIG", "none")
	const dbPass, sudoPass = "db-s3cret-value", "sudo-s3cret-pw"
	t.Setenv("DB_PASS", dbPass)
	t.Setenv("DROVER_SUDO_PASSWORD", sudoPass)
	// A remote hook that carries the env() secret: its command is traced,
	// redacted.
	inv, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	const fileLine = `  file "repository/conf/deployment.toml"`
	const hook = `  hook "after_start" { remote = "echo ${env("DB_PASS")} >/dev/null" }` + "\n"
	if !strings.Contains(string(inv), fileLine) {
		t.Fatalf("the lab inventory has no %s line to put the hook before:\n%s", fileLine, inv)
	}
	if err := os.WriteFile(l.Inventory, []byte(strings.Replace(string(inv), fileLine, hook+fileLine, 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	// -v: the connection, then commands with exit status and duration;
	// no output lines.
	r := run(t, "facts", "-v")
	if r.code != 0 {
		t.Fatalf("facts -v:\n%s", r)
	}
	conn := regexp.MustCompile(`ssh gw-1: connected to 127\.0\.0\.1:\d+ as \S+, auth publickey \S*` + regexp.QuoteMeta(filepath.Base(l.Dir)) +
		`\S* \(from identity_files\), host key \S+ SHA256:\S+ \(\d`)
	if !conn.MatchString(r.stderr) {
		t.Errorf("facts -v does not show the connection:\n%s", r.stderr)
	}
	if !regexp.MustCompile(`(?m)^ssh gw-1:   exit 0 in \d`).MatchString(r.stderr) || !strings.Contains(r.stderr, "ssh gw-1: $ ") {
		t.Errorf("facts -v does not show the commands with their exit status:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "stdout| ") || strings.Contains(r.stdout, "ssh gw-1:") {
		t.Errorf("facts -v shows output, or traces on stdout:\n%s", r)
	}
	if q := run(t, "facts"); strings.Contains(q.stderr, "ssh gw-1:") {
		t.Errorf("facts without -v traces:\n%s", q)
	}

	// -vv: the output too, after the global options or before the command.
	for _, args := range [][]string{{"exec", "-vv", "--", "echo out-$((40+2))"}, {"-vv", "exec", "--", "echo out-$((40+2))"}} {
		r = run(t, args...)
		if r.code != 0 || r.stdout != "gw-1 | out-42\n" || !strings.Contains(r.stderr, "ssh gw-1:   stdout| out-42\n") ||
			!strings.Contains(r.stderr, "ssh gw-1: $ echo out-$((40+2))\n") {
			t.Errorf("%v:\n%s", args, r)
		}
	}
	r = run(t, "exec", "-v", "--", "exit 7")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "ssh gw-1:   exit 7 in ") {
		t.Errorf("exec -v -- exit 7:\n%s", r)
	}

	// The other --json outputs: one document each.
	for _, args := range [][]string{{"facts", "--json"}, {"status", "--json"}, {"plan", "--json"}, {"inventory", "--json"},
		{"validate", "--json"}, {"unlock", "no-such-lock", "--force", "--json"}} {
		r := run(t, args...)
		var v any
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Errorf("%v: stdout is not one JSON document (%v):\n%s", args, err, r)
		}
	}
	r = run(t, "exec", "--json", "--", "echo hi")
	if evs := jsonLines(t, "exec --json", r.stdout); r.code != 0 || len(evs) != 1 || evs[0]["stdout"] != "hi\n" {
		t.Errorf("exec --json:\n%s", r)
	}

	// apply --json -vv: stdout is JSON lines only; the hook's secret is
	// redacted in the trace.
	r = run(t, "apply", "--yes", "--json", "-vv")
	if r.code != 0 {
		t.Fatalf("apply --yes --json -vv:\n%s", r)
	}
	jsonLines(t, "apply --json", r.stdout)
	noSecret(t, "apply -vv", r.stdout+r.stderr, dbPass, sudoPass)
	if !strings.Contains(r.stderr, "echo (env DB_PASS) >/dev/null") {
		t.Errorf("apply -vv does not trace the hook's command (redacted):\n%s", r.stderr)
	}
	// The pack travels whole (an SFTP upload) or as its delta (a stream
	// into one command).
	if !(regexp.MustCompile(`ssh gw-1: upload \S+\.zip -> \S+: \d+ bytes in `).MatchString(r.stderr) || strings.Contains(r.stderr, `cat > "$D/ship.zip"`)) ||
		!regexp.MustCompile(`ssh gw-1: connected from the node to 127\.0\.0\.1:\d+ `).MatchString(r.stderr) {
		t.Errorf("apply -vv does not trace the pack's upload and the health checks' connections:\n%s", r.stderr)
	}

	// Nothing to do: one event that says so.
	r = run(t, "apply", "--yes", "--json")
	if r.code != 0 {
		t.Fatalf("apply --json, nothing to do:\n%s", r)
	}
	evs := jsonLines(t, "apply --json (nothing to do)", r.stdout)
	if len(evs) != 1 || evs[0]["type"] != "run_finished" || !strings.Contains(evs[0]["message"].(string), "nothing to do") {
		t.Errorf("apply --json with nothing to do: %v", evs)
	}

	// recover --json: JSON lines, the first says what will happen.
	r = run(t, "recover", "gw-1", "--rollback", "--yes", "--json")
	if r.code != 0 {
		t.Fatalf("recover --json:\n%s", r)
	}
	evs = jsonLines(t, "recover --json", r.stdout)
	if evs[0]["type"] != "run_started" || !strings.Contains(evs[0]["message"].(string), "previous release") ||
		evs[len(evs)-1]["type"] != "run_finished" || evs[len(evs)-1]["message"] != "gw-1 recovered" {
		t.Errorf("recover --json events: first %v, last %v", evs[0], evs[len(evs)-1])
	}
	noSecret(t, "recover --json", r.stdout+r.stderr, dbPass, sudoPass)
}
