package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestProgramName(t *testing.T) {
	for in, want := range map[string]string{
		"bin/drover":                       "bin/drover",
		"./drover":                         "./drover",
		"./bin/drover":                     "./bin/drover",
		"drover":                           "drover",
		"/tmp/go-build123/b001/exe/drover": "drover",
		"/usr/local/bin/drover":            "drover",
		"":                                 "drover",
	} {
		if got := programName(in); got != want {
			t.Errorf("programName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHintsNameTheProgram: a hint, from the CLI or from below it (tasks'
// lock message), names drover as it was invoked, so it can be copied.
func TestHintsNameTheProgram(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"bin/drover", "exec"}, strings.NewReader(""), &out, &errOut)
	if code != ExitUsage || !strings.Contains(errOut.String(), "bin/drover exec -- CMD") ||
		!strings.Contains(errOut.String(), "Run 'bin/drover --help'") {
		t.Errorf("bin/drover exec: want hints naming bin/drover, got exit %d:\n%s", code, errOut.String())
	}
	for in, want := range map[string]string{
		"gw-1 is locked by run X (ops, since T); if that run is dead, break the lock with: drover unlock X --force": "with: bin/drover unlock X --force",
		"lab: no lab in d (err); create one with: drover lab up --dir d":                                            "with: bin/drover lab up --dir d",
		"run `drover status` first":                                              "run `bin/drover status` first",
		"make sure no drover run is active":                                      "make sure no drover run is active",
		"the release drover rolled back to":                                      "the release drover rolled back to",
		"the node may be down: run drover recover gw-1 --resume (or --rollback)": "run bin/drover recover gw-1 --resume",
	} {
		if got := namedAs("bin/drover", in); !strings.Contains(got, want) {
			t.Errorf("namedAs(%q) = %q, want it to hold %q", in, got, want)
		}
	}
	if got := namedAs("drover", "drover unlock X"); got != "drover unlock X" {
		t.Errorf("namedAs(drover) changed the text: %q", got)
	}
}
