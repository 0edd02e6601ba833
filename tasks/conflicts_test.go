package tasks

import (
	"strings"
	"testing"
)

// TestConflictsInJournal: the last conflict note of the update step is the
// pending list until the update ends or a rollback does, whatever run
// comes between.
func TestConflictsInJournal(t *testing.T) {
	note := Record{Run: "r1", Step: "update", Phase: PhaseNote, Files: []string{"a/b.xml"}}
	cases := []struct {
		name string
		recs []Record
		want bool
	}{
		{"none", []Record{{Run: "r1", Step: "update", Phase: PhaseBegin}}, false},
		{"stopped on conflicts", []Record{{Run: "r1", Step: "update", Phase: PhaseBegin}, note, {Run: "r1", Step: "update", Phase: PhaseFail}, {Run: "r1", Step: "run", Phase: OutcomeFailed}}, true},
		{"a refused resume since", []Record{note, {Run: "r2", Step: "preflight", Phase: PhaseFail}, {Run: "r2", Step: "run", Phase: OutcomeFailed}}, true},
		{"continued", []Record{note, {Run: "r2", Step: "update", Phase: PhaseBegin}, {Run: "r2", Step: "update", Phase: PhaseEnd}}, false},
		{"rolled back", []Record{note, {Run: "r2", Step: "rollback", Phase: PhaseBegin}, {Run: "r2", Step: "rollback", Phase: PhaseEnd}}, false},
		{"a note without files", []Record{{Run: "r1", Step: "update", Phase: PhaseNote, Detail: "x"}}, false},
	}
	for _, c := range cases {
		got := conflictsIn(c.recs)
		if (got != nil) != c.want || (got != nil && (got.Run != "r1" || got.Files[0] != "a/b.xml")) {
			t.Errorf("%s: conflictsIn = %+v, want pending %v", c.name, got, c.want)
		}
	}
}

// TestInPlaceNeedsMessages: the Java and disk refusals say what is wrong
// and what to do.
func TestInPlaceNeedsMessages(t *testing.T) {
	p := NewPaths("/opt/wso2/wso2am-4.4.0")
	for _, c := range []struct {
		n    inPlaceNeeds
		want []string
	}{
		{inPlaceNeeds{pathJava: "/usr/bin/java"}, []string{"JAVA_HOME is not set in the node's shell", "java is on PATH at /usr/bin/java, which the startup script does not use"}},
		{inPlaceNeeds{javaHome: "/opt/jdk"}, []string{`JAVA_HOME is "/opt/jdk"`, "/opt/jdk/bin/java is not an executable file"}},
	} {
		err := c.n.javaError()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("javaError = %v, want %q", err, w)
			}
		}
	}
	if err := (&inPlaceNeeds{javaOK: true}).javaError(); err != nil {
		t.Errorf("a usable JAVA_HOME refused: %v", err)
	}
	const mib = 1 << 20
	for _, c := range []struct {
		n    inPlaceNeeds
		want string // "" when it passes
	}{
		{inPlaceNeeds{sameFS: true, pack: 100 * mib, backup: 50 * mib, freeHome: 350 * mib}, ""},
		{inPlaceNeeds{sameFS: true, pack: 100 * mib, backup: 50 * mib, freeHome: 349 * mib}, "349.0 MiB free, 350.0 MiB needed (3 x 100.0 MiB"},
		{inPlaceNeeds{sameFS: true, pack: 100 * mib, freeHome: 300 * mib}, ""},
		{inPlaceNeeds{pack: 100 * mib, backup: 50 * mib, freeHome: 300 * mib, freeState: 49 * mib}, "drover's backup on the filesystem of " + p.State},
		{inPlaceNeeds{pack: 100 * mib, backup: 50 * mib, freeHome: 299 * mib, freeState: 1 << 40}, "the update tool on the filesystem of " + p.Home},
	} {
		err := c.n.diskError(p)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("diskError(%+v) = %v, want %q", c.n, err, c.want)
		}
	}
}
