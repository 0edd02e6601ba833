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

// updateBlock matches the update block the lab writes.
var updateBlock = regexp.MustCompile(`(?s)\nupdate \{.*?\n\}\n`)

// rewriteUpdate replaces the lab inventory's update block with repl ("":
// none).
func rewriteUpdate(t *testing.T, path, repl string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !updateBlock.Match(b) {
		t.Fatalf("%s has no update block to rewrite:\n%s", path, b)
	}
	out := updateBlock.ReplaceAll(b, []byte("\n"+repl))
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lineOf is the 1-based line of the first line of path holding s.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	b, _ := os.ReadFile(path)
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", path, s)
	return 0
}

// TestAdHocWithoutUpdate: on an inventory without an update block,
// validate, inventory, facts, status and exec work against a lab; plan,
// apply and recover --resume refuse with exit 2 and a diagnostic at the
// cluster block naming the command; recover --rollback does not need it.
func TestAdHocWithoutUpdate(t *testing.T) {
	nodes, _ := lab.ParseNodes("cp=1,gw=1")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	rewriteUpdate(t, l.Inventory, "")
	clusterLine := lineOf(t, l.Inventory, `cluster "`)

	for _, args := range [][]string{
		{"validate"},
		{"inventory"},
		{"facts", "--json"},
		{"status", "--json"},
		{"exec", "--", "echo hello"},
	} {
		r := run(t, args...)
		if r.code != ExitOK || strings.Contains(r.stderr, "update") {
			t.Errorf("drover %s without an update block: want exit 0 and no word about updates\n%s", strings.Join(args, " "), r)
			continue
		}
		if args[0] == "facts" || args[0] == "status" {
			var rows []struct {
				Node      string `json:"node"`
				Reachable bool   `json:"reachable"`
				Running   bool   `json:"running"`
				Level     int    `json:"update_level"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
				t.Errorf("drover %s --json: want 2 rows, got %v\n%s", args[0], err, r)
			}
			for _, row := range rows {
				if !row.Reachable || !row.Running || row.Level != 11 {
					t.Errorf("drover %s: node %s = %+v, want reachable, running, level 11", args[0], row.Node, row)
				}
			}
		}
		if args[0] == "exec" && strings.Count(r.stdout, "hello") != 2 {
			t.Errorf("drover exec: want hello from both nodes\n%s", r)
		}
	}

	at := filepath.Base(l.Inventory) + ":" + itoa(clusterLine) + ": Missing update block"
	for _, tt := range []struct {
		args []string
		cmd  string
	}{
		{[]string{"plan"}, "plan needs an update block"},
		{[]string{"apply", "--yes"}, "apply needs an update block"},
		{[]string{"recover", "gw-1", "--resume", "--yes"}, "recover --resume needs an update block"},
	} {
		r := run(t, tt.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "Missing update block") ||
			!strings.Contains(r.stderr, tt.cmd) || !strings.Contains(r.stderr, at) || strings.Contains(r.stderr, "probing") {
			t.Errorf("drover %s without an update block: want exit 2, \"Missing update block\" at %s naming %q, before probing\n%s",
				strings.Join(tt.args, " "), at, tt.cmd, r)
		}
	}
	// A rollback uses the node's own record, never the pack: it needs no
	// update block (gw-1 has no previous release here, so it refuses for
	// that reason, not for the inventory).
	if r := run(t, "recover", "gw-1", "--rollback", "--yes"); r.code == ExitUsage || strings.Contains(r.stderr, "update block") {
		t.Errorf("drover recover --rollback without an update block: want no inventory error\n%s", r)
	}
}

// TestPackNotFound: a pack path that does not exist is an error of plan and
// apply at the pack attribute (file:line, exit 2, before any node is
// probed), and a warning of validate (exit 0).
func TestPackNotFound(t *testing.T) {
	nodes, _ := lab.ParseNodes("gw=1")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	rewriteUpdate(t, l.Inventory, "update {\n  pack = \"packs/nowhere.zip\"\n}\n")
	at := filepath.Base(l.Inventory) + ":" + itoa(lineOf(t, l.Inventory, "nowhere.zip")) + ": Update pack not found"
	for _, args := range [][]string{{"plan"}, {"apply", "--yes"}} {
		r := run(t, args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "Update pack not found") || !strings.Contains(r.stderr, at) ||
			!strings.Contains(r.stderr, args[0]+" needs the pack") || strings.Contains(r.stderr, "probing") {
			t.Errorf("drover %s with a missing pack: want exit 2, \"Update pack not found\" at %s, before probing\n%s", args[0], at, r)
		}
	}
	r := run(t, "validate")
	if r.code != ExitOK || !strings.Contains(r.stderr, "Warning: Update pack not found") || !strings.Contains(r.stdout, "valid") {
		t.Errorf("drover validate with a missing pack: want exit 0 and a warning\n%s", r)
	}
	r = run(t, "validate", "--json")
	var out validateOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != ExitOK || !out.Valid || len(out.Diagnostics) != 1 ||
		out.Diagnostics[0].Severity != "warning" || out.Diagnostics[0].Line != lineOf(t, l.Inventory, "nowhere.zip") {
		t.Errorf("drover validate --json with a missing pack: want valid with one warning at the pack line\n%s", r)
	}
	// An update block without a pack: a warning of validate, an error of plan.
	rewriteUpdate(t, l.Inventory, "update {\n  strategy = \"side-by-side\"\n}\n")
	if r := run(t, "validate"); r.code != ExitOK || !strings.Contains(r.stderr, "Warning: Missing update pack") {
		t.Errorf("drover validate with an update block without a pack: want exit 0 and a warning\n%s", r)
	}
	if r := run(t, "plan"); r.code != ExitUsage || !strings.Contains(r.stderr, "Error: Missing update pack") {
		t.Errorf("drover plan with an update block without a pack: want exit 2\n%s", r)
	}
}
