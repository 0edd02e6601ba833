package apim_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim"
)

// The engine reaches API Manager only through tasks.Product.
var _ tasks.Product = apim.Product{}

// inv loads a one-node inventory of a release.
func inv(t *testing.T, version, profile, extra string) (*inventory.Inventory, *inventory.Node) {
	t.Helper()
	dir := t.TempDir()
	src := `cluster "c" {
  version = "` + version + `"
  home    = "/opt/wso2/wso2am-` + version + `"
}
` + extra + `
node "n" {
  profile = "` + profile + `"
  host    = "10.0.0.1"
}
`
	if err := os.WriteFile(filepath.Join(dir, "drover.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	i, diags := inventory.NewLoader().Load(filepath.Join(dir, "drover.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return i, i.Node("n")
}

func TestStart(t *testing.T) {
	cases := []struct {
		version, profile, extra, product string
		script, args                     string
	}{
		{"3.0.0", "api-key-manager", "", "", "bin/wso2server.sh", "-Dprofile=api-key-manager"},
		{"4.4.0", "api-key-manager-node", "", "", "bin/api-manager.sh", ""},
		{"4.4.0", "gateway-worker", "", "", "bin/api-manager.sh", "-Dprofile=gateway-worker"},
		{"4.7.0", "key-manager", "", "", "bin/key-manager.sh", ""},
		{"4.7.0", "gateway-worker", "", "", "bin/gateway.sh", ""},
		{"4.7.0", "traffic-manager", `profile "traffic-manager" { distribution = "all-in-one" }`, "", "bin/api-manager.sh", "-Dprofile=traffic-manager"},
		// a release the node runs before a release upgrade: its own script
		{"4.0.0", "gateway-worker", "", "wso2am-3.2.0", "bin/wso2server.sh", "-Dprofile=gateway-worker"},
	}
	for _, c := range cases {
		i, n := inv(t, c.version, c.profile, c.extra)
		script, args := apim.Product{}.Start(i, n, c.product)
		if script != c.script || strings.Join(args, " ") != c.args {
			t.Errorf("%s %s on %q: %s %q, want %s %q", c.version, c.profile, c.product, script, args, c.script, c.args)
		}
	}
}

func TestSetup(t *testing.T) {
	i, n := inv(t, "3.0.0", "gateway-worker", "")
	cmd, _, check := apim.Product{}.Setup(i, n, "", "/opt/x y")
	for _, want := range []string{"cd '/opt/x y'/bin", "-Dprofile=gateway-worker", "deployment.toml'.drover-keep", "rm -f '/opt/x y/repository/conf/deployment.toml'.backup"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("3.0.0 setup %q lacks %q", cmd, want)
		}
	}
	if strings.Contains(cmd, "skipConfigOptimization") {
		t.Errorf("3.0.0 has no --skipConfigOptimization: %q", cmd)
	}
	if check("[x] INFO - Finished the optimizations\n") != nil || check("Profile is not specified properly, please try again\n") == nil || check("half done\n") == nil {
		t.Error("the output check does not tell success from failure")
	}
	i, n = inv(t, "4.4.0", "control-plane", "")
	if cmd, _, _ := (apim.Product{}).Setup(i, n, "", "/h"); !strings.Contains(cmd, "--skipConfigOptimization") || strings.Contains(cmd, "drover-keep") {
		t.Errorf("4.4.0 setup %q", cmd)
	}
	for _, p := range []string{"gateway-worker", "control-plane", "traffic-manager"} {
		i, n = inv(t, "4.7.0", p, "")
		if cmd, summary, _ := (apim.Product{}).Setup(i, n, "", "/h"); cmd != "" || !strings.Contains(summary, "no profileSetup.sh") {
			t.Errorf("4.7.0 %s: setup %q (%s), want none", p, cmd, summary)
		}
	}
	i, n = inv(t, "4.7.0", "key-manager", "")
	if cmd, _, _ := (apim.Product{}).Setup(i, n, "", "/h"); !strings.Contains(cmd, "-Dprofile=key-manager --skipConfigOptimization") {
		t.Errorf("4.7.0 key-manager setup %q", cmd)
	}
}

func TestCheck(t *testing.T) {
	p := apim.Product{}
	cases := []struct {
		version, profile, extra, product, pack string
		want                                   string // "" for no refusal
	}{
		{"4.4.0", "gateway-worker", "", "wso2am-4.4.0", "wso2am-4.4.0", ""},
		{"4.4.0", "gateway-worker", "", "wso2am-4.4.0", "", ""},
		{"4.4.0", "gateway-worker", "", "wso2is-7.0.0", "wso2am-4.4.0", "no API Manager release"},
		{"4.4.0", "gateway-worker", "", "wso2am-4.4.0", "wso2am-4.3.0", "use a 4.4.0 pack"},
		{"4.3.0", "gateway-worker", "", "wso2am-4.4.0", "wso2am-4.3.0", "does not downgrade"},
		{"4.7.0", "gateway-worker", "", "wso2am-universal-gw-4.7.0", "wso2am-tm-4.7.0", `set pack in the profile "gateway-worker" block`},
		{"4.7.0", "gateway-worker", "", "wso2am-tm-4.7.0", "wso2am-universal-gw-4.7.0", "holds wso2am-tm-4.7.0"},
		{"4.7.0", "traffic-manager", `profile "traffic-manager" { distribution = "all-in-one" }`, "wso2am-4.7.0", "wso2am-4.7.0", ""},
		{"4.4.0", "gateway-worker", "", "wso2am-4.3.0", "wso2am-4.4.0", ""},                           // same H2 format
		{"4.3.0", "gateway-worker", "", "wso2am-4.2.0", "wso2am-4.3.0", "changes the H2 file format"}, // 2 -> 3
		{"4.1.0", "gateway-worker", "", "wso2am-4.0.0", "wso2am-4.1.0", "changes the H2 file format"}, // 1 -> 2
		{"4.3.0", "gateway-worker", "update {\n  reset_local_data = true\n}", "wso2am-4.2.0", "wso2am-4.3.0", ""},
		{"4.4.0", "gateway-worker", "", "wso2am-4.3.0", "", "stays within a release"},
	}
	for _, c := range cases {
		i, n := inv(t, c.version, c.profile, c.extra)
		err := p.Check(i, n, c.product, c.pack, "p.zip")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %s %s with %s: refused: %v", c.version, c.profile, c.product, c.pack, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %s %s with %s: %v, want a refusal saying %q", c.version, c.profile, c.product, c.pack, err, c.want)
		}
		var h2 *apim.H2BreakError
		if c.want == "changes the H2 file format" && !errors.As(err, &h2) {
			t.Errorf("%s: not an H2BreakError: %v", c.version, err)
		}
	}
}
