package inventory

import (
	"path/filepath"
	"testing"
)

// A 4.7 cluster on the split packs: each profile's nodes get their pack's
// distribution and a home named after it; a profile block's pack overrides
// the update block's for its nodes.
func TestSplitDistributions(t *testing.T) {
	inv := loadSrc(t, `
cluster "c" {
  version = "4.7.0"
  home    = "/opt/wso2/wso2am-4.7.0"
}
update { pack = "packs/wso2am-acp-4.7.0.zip" }
profile "gateway-worker" {
  pack   = "packs/wso2am-universal-gw-4.7.0.zip"
  sha256 = "`+sixtyFourA+`"
}
profile "traffic-manager" { pack = "packs/wso2am-tm-4.7.0.zip" }
profile "all-in-one" { home = "/srv/aio" }
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.1"
}
node "km-1" {
  profile = "key-manager"
  host    = "10.0.0.2"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "10.0.0.3"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.4"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.5"
  home    = "/data/gw"
}
node "aio-1" {
  profile = "all-in-one"
  host    = "10.0.0.6"
}
`, nil)
	want := map[string][2]string{
		"cp-1":  {"api-control-plane", "/opt/wso2/wso2am-acp-4.7.0"},
		"km-1":  {"api-control-plane", "/opt/wso2/wso2am-acp-4.7.0"},
		"tm-1":  {"traffic-manager", "/opt/wso2/wso2am-tm-4.7.0"},
		"gw-1":  {"universal-gateway", "/opt/wso2/wso2am-universal-gw-4.7.0"},
		"gw-2":  {"universal-gateway", "/data/gw"},
		"aio-1": {"all-in-one", "/srv/aio"},
	}
	for name, w := range want {
		n := inv.Node(name)
		if n.Distribution != w[0] || n.Home != w[1] {
			t.Errorf("%s: distribution %q home %q, want %q %q", name, n.Distribution, n.Home, w[0], w[1])
		}
	}
	dir := filepath.Dir(inv.Path)
	for profile, wantPack := range map[string]string{
		"control-plane":   "packs/wso2am-acp-4.7.0.zip",
		"key-manager":     "packs/wso2am-acp-4.7.0.zip",
		"gateway-worker":  "packs/wso2am-universal-gw-4.7.0.zip",
		"traffic-manager": "packs/wso2am-tm-4.7.0.zip",
	} {
		if got, _ := inv.PackFor(profile); got != filepath.Join(dir, wantPack) {
			t.Errorf("PackFor(%s) = %s, want %s", profile, got, filepath.Join(dir, wantPack))
		}
	}
	if _, sha := inv.PackFor("gateway-worker"); sha != sixtyFourA {
		t.Errorf("gateway sha256 = %q", sha)
	}
	if _, sha := inv.PackFor("traffic-manager"); sha != "" {
		t.Errorf("traffic-manager inherits a sha256 %q it did not set", sha)
	}
}

// A mixed cluster: traffic managers run the all-in-one pack (with
// -Dprofile=traffic-manager); their home is the all-in-one product's.
func TestMixedDistribution(t *testing.T) {
	inv := loadSrc(t, `
cluster "c" {
  version = "4.6.0"
  home    = "/opt/wso2/wso2am-acp-4.6.0"
}
update { pack = "p.zip" }
profile "traffic-manager" { distribution = "all-in-one" }
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.1"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "10.0.0.3"
}
`, nil)
	if n := inv.Node("tm-1"); n.Distribution != "all-in-one" || n.Home != "/opt/wso2/wso2am-4.6.0" {
		t.Errorf("tm-1: %q %q", n.Distribution, n.Home)
	}
	if n := inv.Node("cp-1"); n.Home != "/opt/wso2/wso2am-acp-4.6.0" {
		t.Errorf("cp-1 home %q", n.Home)
	}
}

// A home not named after a pack is used as it is by every node.
func TestCustomHomeKept(t *testing.T) {
	inv := loadSrc(t, `
cluster "c" {
  version = "4.7.0"
  home    = "/opt/apim/current"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.4"
}
`, nil)
	if n := inv.Node("gw-1"); n.Home != "/opt/apim/current" || n.Distribution != "universal-gateway" {
		t.Errorf("gw-1: %q %q", n.Distribution, n.Home)
	}
}

var sixtyFourA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// TestMinHealthyTimeZero: "0s" means healthy once is enough.
func TestMinHealthyTimeZero(t *testing.T) {
	inv := loadSrc(t, `
cluster "c" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
rollout { min_healthy_time = "0s" }
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.4"
}
`, nil)
	if inv.Rollout.MinHealthyTime != 0 {
		t.Fatalf("min_healthy_time = %s, want 0", inv.Rollout.MinHealthyTime)
	}
}
