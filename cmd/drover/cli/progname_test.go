package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
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
		!strings.Contains(errOut.String(), "Run 'bin/drover exec --help'") {
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

// TestPlanHintsNameTheProgram: the plan's warnings (here, a lock left by a
// dead run) carry their fix naming drover as invoked.
func TestPlanHintsNameTheProgram(t *testing.T) {
	nodes, _ := lab.ParseNodes("gw=1")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	gw := l.Nodes[0]
	state := filepath.Join(filepath.Dir(gw.Home), ".drover", filepath.Base(gw.Home))
	dead := tasks.Lock{ID: "20261123T160047-baa136", Owner: "ops@old pid 1", Since: time.Now(), Expires: time.Now().Add(time.Hour)}
	b, _ := json.Marshal(dead)
	os.MkdirAll(filepath.Join(state, "lock"), 0o755)
	os.WriteFile(filepath.Join(state, "lock", "owner.json"), b, 0o644)
	var out, errOut bytes.Buffer
	Run(context.Background(), []string{"bin/drover", "plan"}, strings.NewReader(""), &out, &errOut)
	all := out.String() + errOut.String()
	if !strings.Contains(all, "bin/drover unlock "+dead.ID+" --force") || strings.Contains(all, " drover unlock") {
		t.Errorf("bin/drover plan with a lock held: want the fix as \"bin/drover unlock %s --force\"\n%s", dead.ID, all)
	}
}
