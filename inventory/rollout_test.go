package inventory

import (
	"slices"
	"testing"
	"time"
)

func TestRolloutDefaults(t *testing.T) {
	inv := loadSrc(t, header44+`
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`, nil)
	r := inv.Rollout
	if !slices.Equal(r.Order, inv.Defaults.Profiles) || r.MaxUnavailable != (Amount{N: 1}) || r.FailureBudget != 0 ||
		!r.AutoRollback || r.HealthTimeout != DefaultHealthTimeout || r.MinHealthyTime != DefaultMinHealthyTime || r.StopTimeout != DefaultStopTimeout {
		t.Errorf("rollout defaults = %+v", r)
	}
	if inv.Update.Strategy != SideBySide {
		t.Errorf("strategy = %q, want side-by-side", inv.Update.Strategy)
	}
	if !slices.Equal(inv.Persist, []string{"solr/data", "repository/database"}) || !slices.Equal(inv.OptionalPersist, []string{"repository/data"}) {
		t.Errorf("persist = %q optional %q", inv.Persist, inv.OptionalPersist)
	}
}

func TestMaxUnavailable(t *testing.T) {
	nodes := `
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
}
node "gw-3" {
  profile = "gateway-worker"
  host    = "10.0.0.23"
}
node "gw-4" {
  profile = "gateway-worker"
  host    = "10.0.0.24"
}
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.11"
}
node "cp-2" {
  profile = "control-plane"
  host    = "10.0.0.12"
}
`
	tests := []struct {
		rollout, profile string
		gw, cp           int
	}{
		{`1`, ``, 1, 1},
		{`3`, ``, 3, 2},
		{`"2"`, ``, 2, 2},
		{`"25%"`, ``, 1, 1},
		{`" 50% "`, ``, 2, 1},
		{`"100%"`, ``, 4, 2},
		{`1`, `"75%"`, 3, 1},
		{`"100%"`, `1`, 1, 2},
		{`2.0`, ``, 2, 2},
	}
	for _, tt := range tests {
		src := header44 + "rollout {\n  max_unavailable = " + tt.rollout + "\n}\n" + nodes
		if tt.profile != "" {
			src += "profile \"gateway-worker\" {\n  max_unavailable = " + tt.profile + "\n}\n"
		}
		inv := loadSrc(t, src, nil)
		if gw, cp := inv.MaxUnavailable("gateway-worker"), inv.MaxUnavailable("control-plane"); gw != tt.gw || cp != tt.cp {
			t.Errorf("rollout %s, profile %s: gateway %d control-plane %d; want %d %d", tt.rollout, tt.profile, gw, cp, tt.gw, tt.cp)
		}
	}
}

func TestRolloutSettings(t *testing.T) {
	inv := loadSrc(t, header44+`
rollout {
  order            = ["gateway-worker", "control-plane"]
  failure_budget   = 2
  auto_rollback    = false
  health_timeout   = "1h30m"
  min_healthy_time = "30s"
  stop_timeout     = "90s"
}
persist = ["repository/deployment/server/", "solr/data", "./custom"]
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`, nil)
	r := inv.Rollout
	if !slices.Equal(r.Order, []string{"gateway-worker", "control-plane"}) || r.FailureBudget != 2 || r.AutoRollback ||
		r.HealthTimeout != 90*time.Minute || r.MinHealthyTime != 30*time.Second || r.StopTimeout != 90*time.Second {
		t.Errorf("rollout = %+v", r)
	}
	want := []string{"solr/data", "repository/database", "repository/deployment/server", "custom"}
	if !slices.Equal(inv.Persist, want) {
		t.Errorf("persist = %q, want %q (defaults first, cleaned, no duplicates)", inv.Persist, want)
	}
}

func TestUpdateInPlace(t *testing.T) {
	inv := loadSrc(t, `
cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  strategy = "in-place"
  sha256   = "sha256:9F0E3C6A0D2B4F1E8C7A6B5D4E3F2A1B0C9D8E7F6A5B4C3D2E1F0A9B8C7D6E5F"
  level    = 12
}
persist = ["repository/data"]
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`, nil)
	u := inv.Update
	if u.Strategy != InPlace || u.Pack != "" || u.Level != 12 || u.SHA256 != "9f0e3c6a0d2b4f1e8c7a6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f" {
		t.Errorf("update = %+v", u)
	}
	if len(inv.OptionalPersist) != 0 || !slices.Contains(inv.Persist, "repository/data") {
		t.Errorf("a persisted optional path must leave the optional list: %q / %q", inv.Persist, inv.OptionalPersist)
	}
}

// TestCarryList: the inventory's carry paths are cleaned and de-duplicated,
// in the inventory's order; without the attribute the list is empty (the
// product's own carried files are not the inventory's business).
func TestCarryList(t *testing.T) {
	inv := loadSrc(t, header44+`
carry = ["repository/conf/jndi.properties", "./bin/custom-env.sh", "repository/conf/jndi.properties", "repository/conf/custom/"]
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`, nil)
	want := []string{"repository/conf/jndi.properties", "bin/custom-env.sh", "repository/conf/custom"}
	if !slices.Equal(inv.Carry, want) {
		t.Errorf("carry = %q, want %q (cleaned, no duplicates)", inv.Carry, want)
	}
	inv = loadSrc(t, header44+`
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`, nil)
	if len(inv.Carry) != 0 {
		t.Errorf("carry = %q without a carry attribute", inv.Carry)
	}
}
