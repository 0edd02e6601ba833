package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCompletionCandidates: the hidden lister gives commands, subcommands,
// options, and the node names and profile: selectors of the inventory
// (from -i or $DROVER_INVENTORY), without connecting anywhere.
func TestCompletionCandidates(t *testing.T) {
	inv := example("apim-4.4-distributed")
	complete := func(words ...string) []string {
		t.Helper()
		r := run(t, append([]string{completeCommand}, words...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("__complete %q: %s", words, r)
		}
		return strings.Fields(r.stdout)
	}
	tests := []struct {
		words []string
		want  []string // all of these, in this order
		not   []string
	}{
		{[]string{""}, []string{"validate", "status", "lab", "completion"}, []string{completeCommand, "h"}},
		{[]string{"st"}, []string{"status"}, []string{"plan"}},
		{[]string{"-i", inv, "status", "-l", ""}, []string{"cp-1", "gw-4", "profile:control-plane", "profile:gateway-worker"}, []string{"status"}},
		{[]string{"status", "-i", inv, "--limit", "profile:g"}, []string{"profile:gateway-worker"}, []string{"gw-1", "profile:control-plane"}},
		{[]string{"-i", inv, "plan", "-l", "gw-1,g"}, []string{"gw-1,gw-2", "gw-1,gw-4"}, []string{"gw-2", "gw-1,gw-1"}},
		{[]string{"--inventory=" + inv, "recover", ""}, []string{"cp-1", "gw-1"}, []string{"profile:control-plane"}},
		{[]string{"lab", ""}, []string{"up", "down"}, []string{"serve", "sim"}},
		{[]string{"plan", "--c"}, []string{"--compact"}, []string{"--out"}},
		{[]string{"exec", "--"}, []string{"--timeout", "--become", "--limit"}, nil},
		{[]string{"exec", "--", ""}, nil, []string{"status"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "zsh"}, nil},
	}
	for _, tt := range tests {
		got := complete(tt.words...)
		i := 0
		for _, w := range tt.want {
			j := slices.Index(got[i:], w)
			if j < 0 {
				t.Errorf("__complete %q = %q: lacks %q (or not in order)", tt.words, got, w)
				break
			}
			i += j
		}
		for _, w := range tt.not {
			if slices.Contains(got, w) {
				t.Errorf("__complete %q = %q: has %q", tt.words, got, w)
			}
		}
	}
	t.Setenv("DROVER_INVENTORY", inv)
	if got := complete("facts", "-l", "tm"); !slices.Equal(got, []string{"tm-1", "tm-2"}) {
		t.Errorf("with $DROVER_INVENTORY: %q", got)
	}
	t.Setenv("DROVER_INVENTORY", filepath.Join(t.TempDir(), "none.hcl"))
	if got := complete("facts", "-l", ""); len(got) != 0 {
		t.Errorf("no inventory: %q", got)
	}
}

// TestCompletionBash: the bash script can be sourced, registers drover,
// passes the words typed to drover __complete and replies past a colon
// (bash splits words there).
func TestCompletionBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	r := run(t, "completion", "bash")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	script := filepath.Join(dir, "drover.bash")
	os.WriteFile(script, []byte(r.stdout), 0o644)
	// A fake drover on PATH that records its arguments.
	fake := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + filepath.Join(dir, "args") + "\nprintf 'profile:gateway-worker\\n'\n"
	os.WriteFile(filepath.Join(dir, "drover"), []byte(fake), 0o755)
	cmd := exec.Command("bash", "-c", `source `+script+` && complete -p drover &&
COMP_LINE='drover status -l profile:ga' COMP_POINT=${#COMP_LINE}
COMP_LINE="$COMP_LINE" COMP_POINT=$COMP_POINT _drover
printf 'reply=%s\n' "${COMPREPLY[@]}"`)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "complete -o default -F _drover drover") || !strings.Contains(string(out), "reply=gateway-worker\n") {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if string(args) != "__complete\nstatus\n-l\nprofile:ga\n" {
		t.Errorf("the script called drover with %q", args)
	}
	for _, sh := range []string{"zsh", "fish"} {
		r := run(t, "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "drover __complete") {
			t.Errorf("completion %s: %s", sh, r)
		}
	}
	if r := run(t, "completion", "tcsh"); r.code != ExitUsage {
		t.Errorf("completion tcsh: %s", r)
	}
}
