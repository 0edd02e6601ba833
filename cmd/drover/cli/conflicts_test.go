package cli

import (
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
)

var testConflicts = &tasks.UpdateConflicts{Run: "20261123T160047-baa136",
	Files:        []string{"repository/conf/log4j2.properties", "repository/deployment/server/synapse-configs/default/sequences/main.xml"},
	MissingFinal: []string{"repository/deployment/server/synapse-configs/default/sequences/main.xml"}}

// TestStatusShowsUpdateConflicts: status lists the files the update tool
// stopped on, which still lack their .final, and the command that resumes.
func TestStatusShowsUpdateConflicts(t *testing.T) {
	var b strings.Builder
	e := &env{stdout: &b}
	renderStatus(e, []*tasks.Facts{{Node: "gw-1", Profile: "gateway-worker", Reachable: true, UpdateLevel: 11, UpdateConflicts: testConflicts},
		{Node: "gw-2", Profile: "gateway-worker", Reachable: true, Running: true, UpdateLevel: 12}})
	out := b.String()
	for _, w := range []string{
		"gw-1: the update tool stopped on conflicts in 2 file(s) (run 20261123T160047-baa136); 1 still lack their .final:",
		"  repository/conf/log4j2.properties                                        merged: log4j2.properties.final\n",
		"  repository/deployment/server/synapse-configs/default/sequences/main.xml  NO main.xml.final yet\n",
		"into <file>.final, then: drover recover gw-1 --resume\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("status does not say %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "gw-2:") {
		t.Errorf("status shows conflicts for gw-2:\n%s", out)
	}
}

// TestPlanShowsUpdateConflicts: a node refused for missing merges shows
// the files under its reason.
func TestPlanShowsUpdateConflicts(t *testing.T) {
	p := &rollout.Plan{Cluster: "c", Version: "4.4.0", Strategy: "in-place", Waves: []rollout.Wave{{Number: 1, Profile: "gateway-worker", MaxUnavailable: 1,
		Skipped: []rollout.NodePlan{{Node: "gw-1", Action: rollout.ActionBlocked, Reason: "gw-1: preflight: the update tool stopped on conflicts",
			Facts: &tasks.Facts{Node: "gw-1", Reachable: true, UpdateConflicts: testConflicts}}}}}}
	var b strings.Builder
	renderPlan(&b, p, false, false)
	out := b.String()
	if !strings.Contains(out, "    gw-1: the update tool stopped on conflicts in 2 file(s)") || !strings.Contains(out, "main.xml  NO main.xml.final yet") {
		t.Errorf("plan:\n%s", out)
	}
}
