package rollout_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/rollout"
)

// driftPlan is a one-node plan with the node's facts.
func driftPlan(f *tasks.Facts, action, reason string) *rollout.Plan {
	np := rollout.NodePlan{Node: f.Node, Profile: "gateway-worker", Action: action, Reason: reason, Facts: f, Fingerprint: f.Fingerprint()}
	w := rollout.Wave{Number: 1, Profile: "gateway-worker"}
	if action == rollout.ActionUpdate {
		w.Batches = []rollout.Batch{{Number: 1, Nodes: []rollout.NodePlan{np}}}
	} else {
		w.Skipped = []rollout.NodePlan{np}
	}
	return &rollout.Plan{FormatVersion: rollout.FormatVersion, InventoryDigest: "sha256:x", Waves: []rollout.Wave{w}}
}

// TestDriftUnreachableSaysWhy: a saved plan whose node cannot be probed now
// is stale because of that, in the probe's own words (connection refused,
// host key changed); the zero facts of the failed probe are never reported
// as changes ("running was true, now false").
func TestDriftUnreachableSaysWhy(t *testing.T) {
	saved := driftPlan(&tasks.Facts{Node: "gw-1", Reachable: true, Product: "wso2am-4.4.0", UpdateLevel: 11, Running: true, Current: "abc"}, rollout.ActionUpdate, "")
	for _, why := range []string{
		"transport: gw-1 (10.0.0.21:22): connect: connection refused",
		"transport: host key for gw-1 (10.0.0.21:22) has changed: the server offers ssh-ed25519 SHA256:x",
	} {
		fresh := driftPlan(&tasks.Facts{Node: "gw-1", Error: why}, rollout.ActionUnreachable, why)
		err := rollout.Drift(saved, fresh)
		var de *rollout.DriftError
		if !errors.As(err, &de) || !de.Refused() {
			t.Fatalf("Drift = %v, want a refused DriftError", err)
		}
		if len(de.Changes) != 1 || de.Changes[0] != "gw-1 cannot be probed now: "+why {
			t.Errorf("changes %q, want only: gw-1 cannot be probed now: %s", de.Changes, why)
		}
		for _, invented := range []string{"running", "update_level", "product", "current_pack"} {
			if strings.Contains(err.Error(), invented) {
				t.Errorf("%q reports %s, which nobody could read", err, invented)
			}
		}
	}
	// Unreachable when planned and now: nothing drifted.
	down := driftPlan(&tasks.Facts{Node: "gw-1", Error: "connect: connection refused"}, rollout.ActionUnreachable, "connect: connection refused")
	if err := rollout.Drift(down, down); err != nil {
		t.Errorf("Drift of a node unreachable both times: %v", err)
	}
}
