package rollout_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// inPlace rewrites a lab's inventory to the in-place strategy.
func inPlace(t *testing.T, l *lab.Lab, level int) {
	t.Helper()
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)update \{.*?\n\}`)
	out := re.ReplaceAllString(string(b), "update {\n  strategy = \"in-place\"\n  level    = "+itoa(level)+"\n}")
	if err := os.WriteFile(l.Inventory, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func setupInPlace(t *testing.T, l *lab.Lab, rec *recorder) *rollout.Options {
	inv := labtest.Inventory(t, l)
	conns := rollout.NewConns(rollout.TransportDialer(nil))
	t.Cleanup(conns.Close)
	return &rollout.Options{Inv: inv, Nodes: inv.Ordered(), Conns: conns, Parallel: 4,
		Run: "run-" + t.Name(), Owner: "test", Sink: rec.sink(), Poll: 200e6}
}

func TestInPlaceUpdateWithTheUpdateTool(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops@example.com")
	t.Setenv("UPDATE_TOOL_PASSWORD", "s3cret-pw")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "cp=1,gw=1")})
	inPlace(t, l, l.Level+1)
	rec := &recorder{}
	o := setupInPlace(t, l, rec)
	p := plan(t, o)
	if p.Summary.Update != 2 {
		t.Fatalf("plan = %+v %v", p.Summary, p.Warnings)
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, n := range l.Nodes {
		if got := level(t, n.Home); got != l.Level+1 {
			t.Errorf("%s at level %d, want %d", n.Name, got, l.Level+1)
		}
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			t.Errorf("%s not running", n.Name)
		}
		j, _ := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
		if strings.Contains(string(j), "s3cret-pw") {
			t.Errorf("%s: the journal holds the update tool password", n.Name)
		}
		if _, err := os.Stat(filepath.Join(stateDir(n), "backups", "level-"+itoa(l.Level), "MANIFEST")); err != nil {
			t.Errorf("%s: no verified backup: %v", n.Name, err)
		}
	}
	// profileSetup ran again after the update: the gateway has no publisher webapp.
	gw := l.Nodes[1]
	if _, err := os.Stat(filepath.Join(gw.Home, "repository/deployment/server/webapps/api#am#publisher.war")); err == nil {
		t.Error("the update brought the publisher webapp back to the gateway and profileSetup did not remove it")
	}
	for _, e := range rec.events {
		if strings.Contains(e.Message+e.Error, "s3cret-pw") {
			t.Errorf("an event shows the password: %+v", e)
		}
	}
}

func TestInPlaceRefusesWithoutCredentialsBeforeStopping(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "")
	t.Setenv("UPDATE_TOOL_PASSWORD", "")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1")})
	inPlace(t, l, l.Level+1)
	o := setupInPlace(t, l, &recorder{})
	_, err := apply(t, o, plan(t, o))
	// Refused while planning, before any node is touched.
	var re *rollout.RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "UPDATE_TOOL_USERNAME") {
		t.Fatalf("apply = %v, want a refusal naming the credentials", err)
	}
	if c := stopEvents(t, l.Nodes[0]); c != 0 {
		t.Error("the node was stopped although the run could not update it")
	}
}

func TestInPlaceRollbackRestoresTheBackup(t *testing.T) {
	t.Setenv("UPDATE_TOOL_USERNAME", "ops")
	t.Setenv("UPDATE_TOOL_PASSWORD", "pw")
	l := labtest.New(t, lab.Spec{Nodes: nodes(t, "gw=1"), Rollout: shortHealth})
	inPlace(t, l, l.Level+1)
	fault(t, l.Nodes[0], apimsim.Faults{OnlyLevel: l.Level + 1, FailStart: true})
	o := setupInPlace(t, l, &recorder{})
	rep, err := apply(t, o, plan(t, o))
	if err == nil || rep.Nodes[0].Outcome != rollout.OutcomeRolledBack {
		t.Fatalf("apply = %v, outcome %+v; want rolled back", err, rep.Nodes)
	}
	if got := level(t, l.Nodes[0].Home); got != l.Level {
		t.Errorf("level %d after rollback, want %d", got, l.Level)
	}
	if _, alive := apimsim.PIDAlive(l.Nodes[0].Home); !alive {
		t.Error("not running after rollback")
	}
}
