package cli

import (
	"encoding/json"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/urfave/cli/v2"
)

func TestVersionBuildInfo(t *testing.T) {
	v := buildInfo(func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "41fa0d6abc"}, {Key: "vcs.time", Value: "2026-11-30T18:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, true
	})
	s := v.String()
	for _, want := range []string{"drover " + Version, "41fa0d6abc", "2026-11-30T18:00:00Z", "modified tree", "go1.26.8"} {
		if !strings.Contains(s, want) {
			t.Errorf("version text lacks %q:\n%s", want, s)
		}
	}
	if !v.Modified || v.Commit != "41fa0d6abc" || v.CommitTime != "2026-11-30T18:00:00Z" {
		t.Errorf("%+v", v)
	}
	clean := buildInfo(func() (*debug.BuildInfo, bool) { return nil, false })
	if clean.Commit != "" || !strings.Contains(clean.String(), "commit:   unknown") {
		t.Errorf("no build info: %+v", clean)
	}
}

// jsonDocument fails unless s is exactly one JSON document.
func jsonDocument(t *testing.T, what, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, s)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON document:\n%s", what, s)
	}
	return v
}

// jsonLines fails unless every line of s is a JSON object; it returns them.
func jsonLines(t *testing.T, what, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: line %q is not a JSON object: %v\n%s", what, line, err, s)
		}
		out = append(out, v)
	}
	return out
}

func TestVersionJSON(t *testing.T) {
	for _, args := range [][]string{{"version", "--json"}, {"--json", "version"}} {
		r := run(t, args...)
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("%v: %s", args, r)
		}
		v := jsonDocument(t, "version --json", r.stdout)
		if v["version"] != Version || v["go_version"] == "" {
			t.Errorf("%v: %v", args, v)
		}
		for _, k := range []string{"commit", "commit_time", "modified"} {
			if _, ok := v[k]; !ok {
				t.Errorf("version --json lacks %q: %v", k, v)
			}
		}
	}
}

func TestNearest(t *testing.T) {
	cands := []string{"validate", "inventory", "facts", "exec", "plan", "apply", "status", "recover", "unlock", "lab", "version"}
	for typed, want := range map[string]string{
		"statsu": "status", "stauts": "status", "aply": "apply", "invetory": "inventory", "recovr": "recover",
		"unlok": "unlock", "vers": "version", "xyzzy": "", "p": "", "zz": "", "deploy": "",
	} {
		if got := nearest(typed, cands); got != want {
			t.Errorf("nearest(%q) = %q, want %q", typed, got, want)
		}
	}
}

// TestUnknownCommandOrFlag: a typo gets the nearest name and a pointer to
// the --help of the command concerned; exit 2.
func TestUnknownCommandOrFlag(t *testing.T) {
	tests := []struct {
		args       []string
		want, help string
	}{
		{[]string{"statsu"}, `unknown command "statsu"; did you mean "status"?`, "drover status"},
		{[]string{"xyzzy"}, `unknown command "xyzzy"`, "drover"},
		{[]string{"status", "--limt", "gw-1"}, "unknown option -limt; did you mean --limit?", "drover status"},
		{[]string{"plan", "--compat"}, "did you mean --compact?", "drover plan"},
		{[]string{"exec", "--timeuot", "1s", "--", "true"}, "did you mean --timeout?", "drover exec"},
		{[]string{"lab", "dwn"}, `unknown command "dwn" for drover lab; did you mean "down"?`, "drover lab down"},
		{[]string{"lab", "up", "--dri", "x"}, "did you mean --dir?", "drover lab up"},
		{[]string{"recover"}, "recover takes exactly one NODE", "drover recover"},
	}
	for _, tt := range tests {
		r := run(t, tt.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "Run '"+tt.help+" --help' for usage.") {
			t.Errorf("%v: want exit 2, %q and a pointer to %s --help:\n%s", tt.args, tt.want, tt.help, r)
		}
	}
}

// TestHelpExamples: every visible command's --help (subcommands too) has
// an EXAMPLES section of two to four invocations of that command whose
// options all exist; lab --help lists up and down.
func TestHelpExamples(t *testing.T) {
	e := &env{}
	app := e.newApp()
	globalNames := flagNames(app.Flags)
	globalNames = append(globalNames, "-vv")
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Hidden || cmd.Name == "help" {
				continue
			}
			p := strings.TrimSpace(path + " " + cmd.Name)
			r := run(t, append(strings.Fields(p), "--help")...)
			_, section, ok := strings.Cut(r.stdout, "\nEXAMPLES:\n")
			section, _, _ = strings.Cut(section, "\n\n")
			lines := strings.Split(section, "\n")
			if r.code != ExitOK || !ok || len(lines) < 2 || len(lines) > 4 || !strings.Contains(r.stdout, "EXIT STATUS:") {
				t.Errorf("drover %s --help: want EXAMPLES with 2 to 4 lines and EXIT STATUS:\n%s", p, r)
				continue
			}
			for _, l := range lines {
				l = strings.TrimSpace(l)
				if !strings.Contains(l, "drover "+p) {
					t.Errorf("drover %s --help: example %q does not run drover %s", p, l, p)
				}
				_, rest, _ := strings.Cut(l, "drover "+p)
				target := cmd // lab's examples run its subcommands
				for _, w := range strings.Fields(rest) {
					if sub := target.Command(w); sub != nil {
						target = sub
					}
				}
				known := append(flagNames(target.Flags), globalNames...)
				for _, w := range strings.Fields(l) {
					if w == "--" {
						break
					}
					name, _, _ := strings.Cut(w, "=")
					if strings.HasPrefix(name, "-") && !slices.Contains(known, name) {
						t.Errorf("drover %s --help: example %q uses %s, which drover %s does not have", p, l, name, p)
					}
				}
			}
			walk(p, cmd.Subcommands)
		}
	}
	walk("", app.Commands)

	r := run(t, "lab", "--help")
	_, cmds, _ := strings.Cut(r.stdout, "COMMANDS:\n")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	if !regexp.MustCompile(`(?m)^\s+up\s`).MatchString(cmds) || !regexp.MustCompile(`(?m)^\s+down\s`).MatchString(cmds) ||
		regexp.MustCompile(`(?m)^\s+(serve|sim)\s`).MatchString(cmds) {
		t.Errorf("lab --help does not list up and down (only):\n%s", r.stdout)
	}
	if r := run(t, "--help"); !strings.Contains(r.stdout, "\nEXAMPLES:\n   drover ") {
		t.Errorf("drover --help has no EXAMPLES:\n%s", r.stdout)
	}
}

// TestPlanUpToDateIsASummary: nodes with nothing to do are one line of the
// plan, not a warning each.
func TestPlanUpToDateIsASummary(t *testing.T) {
	inv, diags := inventory.NewLoader().Load(example("apim-4.4-distributed"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var probed []rollout.NodePlan
	for _, n := range inv.Ordered() {
		np := rollout.NodePlan{Node: n.Name, Profile: n.Profile, Host: n.Host, Action: rollout.ActionUpdate,
			Facts: &tasks.Facts{Node: n.Name, Reachable: true, Running: true, Healthy: true, UpdateLevel: 11}}
		if n.Profile == "gateway-worker" {
			np.Action, np.Reason, np.Facts.UpdateLevel = rollout.ActionSkip, "already at level 12", 12
		}
		probed = append(probed, np)
	}
	p := rollout.Make(&rollout.Options{Inv: inv, Nodes: inv.Ordered()}, probed)
	if len(p.Warnings) != 0 || p.Summary.UpToDate != 4 {
		t.Errorf("warnings %q, summary %+v", p.Warnings, p.Summary)
	}
	var b strings.Builder
	renderPlan(&b, p, false, true)
	out := b.String()
	if !strings.Contains(out, "  Up to date: gw-1, gw-2, gw-3, gw-4\n") || !strings.Contains(out, "4 up to date") ||
		strings.Contains(out, "Warnings:") || strings.Contains(out, "already at level") {
		t.Errorf("plan:\n%s", out)
	}
}

// TestStatusShowsLockOwner: the lock column names who holds it.
func TestStatusShowsLockOwner(t *testing.T) {
	var b strings.Builder
	e := &env{stdout: &b}
	renderStatus(e, []*tasks.Facts{{Node: "gw-1", Profile: "gateway-worker", Reachable: true, Running: true, UpdateLevel: 11,
		Lock: &tasks.Lock{ID: "20261123T160047-baa136", Owner: "ops@ctl-1 pid 4242"}}})
	if !strings.Contains(b.String(), "20261123T160047-baa136 (ops@ctl-1 pid 4242)") {
		t.Errorf("status:\n%s", b.String())
	}
}
