package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
)

// TestRedactPlanAndEvents: every text of a plan that can carry command
// output (reasons, errors, step details, warnings) and every event reach
// the user with env() values as (env NAME).
func TestRedactPlanAndEvents(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "drover.hcl"), []byte(`
cluster "c" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update { pack = "pack.zip" }
profile "gateway-worker" {
  hook "before_stop" { remote = "curl -H 'X-Token: ${env("LB_TOKEN")}' https://lb/drain" }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "192.0.2.1"
}
`), 0o644)
	l := inventory.NewLoader()
	l.Getenv = func(k string) string { return map[string]string{"LB_TOKEN": "tok-s3cret-42"}[k] }
	inv, diags := l.Load(filepath.Join(dir, "drover.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	const leak = "hook failed: curl: (22) 403 for X-Token: tok-s3cret-42"
	np := rollout.NodePlan{Node: "gw-1", Action: rollout.ActionBlocked, Reason: leak,
		Facts: &tasks.Facts{Node: "gw-1", Error: leak},
		Steps: []tasks.StepPlan{{Name: "before_stop", Change: tasks.Change{Summary: leak, Details: []string{leak}}}}}
	p := &rollout.Plan{Waves: []rollout.Wave{{Batches: []rollout.Batch{{Nodes: []rollout.NodePlan{np}}}, Skipped: []rollout.NodePlan{np}}}, Warnings: []string{leak}}
	redactPlan(inv, p)
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "tok-s3cret-42") || !strings.Contains(string(b), "(env LB_TOKEN)") {
		t.Errorf("redacted plan: %s", b)
	}
	var got []tasks.Event
	sink := redactSink(inv, func(ev tasks.Event) { got = append(got, ev) })
	sink(tasks.Event{Type: tasks.EventWarning, Message: leak, Error: leak})
	if len(got) != 1 || strings.Contains(got[0].Message+got[0].Error, "tok-s3cret-42") {
		t.Errorf("redacted event: %+v", got)
	}
}
