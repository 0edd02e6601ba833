package tasks_test

import (
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
)

// TestMaskSecrets: the node's copy of a managed file, diffed against the
// file rendered with placeholders, shows neither the value the inventory
// resolves now nor an older one where the template has env().
func TestMaskSecrets(t *testing.T) {
	shown := "[database]\nurl = \"jdbc:h2:./db\"\npassword = \"(env DB_PASS)\"\nuser = \"(env DB_USER)@(env DB_HOST)\"\n"
	redact := func(s string) string {
		return strings.NewReplacer("new-secret", "(env DB_PASS)", "app", "(env DB_USER)", "db.local", "(env DB_HOST)").Replace(s)
	}
	tests := []struct {
		name, current, want string
		changed             int
	}{
		{"same values", "[database]\nurl = \"jdbc:h2:./db\"\npassword = \"new-secret\"\nuser = \"app@db.local\"\n", shown, 0},
		{"old password", "[database]\nurl = \"jdbc:h2:./db\"\npassword = \"old-secret\"\nuser = \"app@db.local\"\n",
			"[database]\nurl = \"jdbc:h2:./db\"\npassword = \"(hidden)\"\nuser = \"(env DB_USER)@(env DB_HOST)\"\n", 1},
		{"other url too", "[database]\nurl = \"jdbc:h2:./other\"\npassword = \"old-secret\"\nuser = \"app@old-secret-host\"\n",
			"[database]\nurl = \"jdbc:h2:./other\"\npassword = \"(hidden)\"\nuser = \"(env DB_USER)@(hidden)\"\n", 2},
		{"no such line", "[server]\nhostname = \"old-secret\"", "[server]\nhostname = \"old-secret\"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := tasks.MaskSecrets(tt.current, shown, redact)
			if got != tt.want || changed != tt.changed {
				t.Errorf("MaskSecrets =\n%s(changed %d)\nwant\n%s(changed %d)", got, changed, tt.want, tt.changed)
			}
			if tt.name != "no such line" && (strings.Contains(got, "secret") || strings.Contains(tasks.UnifiedDiff("a", "b", got, shown), "secret")) {
				t.Errorf("a secret shows: %s", got)
			}
		})
	}
}

// TestUnifiedDiffOrder: a changed line reads as diff(1) shows it, the old
// line removed before the new one is added, with the hunk's line counts.
func TestUnifiedDiffOrder(t *testing.T) {
	got := tasks.UnifiedDiff("a/f", "b/f", "x\ny\nz = true\nw\n", "x\ny\nz = false\nw\nv\n")
	want := "--- a/f\n+++ b/f\n@@ -1,4 +1,5 @@\n x\n y\n-z = true\n+z = false\n w\n+v\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := tasks.UnifiedDiff("a", "b", "same\n", "same\n"); d != "" {
		t.Errorf("equal inputs gave %q", d)
	}
}
