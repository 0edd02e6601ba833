package inventory

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
)

func TestInterpolation(t *testing.T) {
	inv := loadSrc(t, header44+`
vars = { pool = "gws" }
profile "gateway-worker" {
  hook "before_stop"   { local = "./lb.sh drain ${vars.pool} ${node.name} ${node.host} ${node.profile} ${cluster.name}" }
  hook "after_healthy" { remote = "curl -H 'X-Token: ${env("LB_TOKEN")}' https://lb.${env("REGION")}/${node.name}" }
  hook "on_failure"    { local = env("LB_TOKEN") }
  file "repository/conf/deployment.toml" { template = "templates/gw.toml" }
  file "bin/extra.sh" {
    source = "files/extra.sh"
    mode   = "0755"
  }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
  vars    = { pool = "canary" }
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
  offset  = 2
}
`, map[string]string{
		"templates/gw.toml": "[server]\nhostname = \"${node.host}\"\noffset = ${node.offset}\n# ${cluster.name}/${node.name}/${vars.pool}\n",
		"files/extra.sh":    "echo ${node.name}\n",
	})
	gw1, gw2 := inv.Node("gw-1"), inv.Node("gw-2")

	drain := gw1.HooksFor(BeforeStop)
	if len(drain) != 1 {
		t.Fatalf("gw-1 before_stop hooks = %v", drain)
	}
	if want := "./lb.sh drain canary gw-1 10.0.0.21 gateway-worker apim"; drain[0].Command != want || drain[0].Display != want {
		t.Errorf("before_stop = %q / %q, want %q", drain[0].Command, drain[0].Display, want)
	}
	if drain[0].Where != "local" {
		t.Errorf("before_stop runs %s, want local", drain[0].Where)
	}
	if got := gw2.HooksFor(BeforeStop)[0].Command; got != "./lb.sh drain gws gw-2 10.0.0.22 gateway-worker apim" {
		t.Errorf("gw-2 before_stop = %q (cluster vars, own node)", got)
	}

	en := gw1.HooksFor(AfterHealthy)[0]
	if en.Where != "remote" {
		t.Errorf("after_healthy runs %s, want remote", en.Where)
	}
	if want := "curl -H 'X-Token: s3cret' https://lb.eu/gw-1"; en.Command != want {
		t.Errorf("Command = %q, want %q", en.Command, want)
	}
	if strings.Contains(en.Display, "s3cret") || !strings.Contains(en.Display, "(env LB_TOKEN)") {
		t.Errorf("Display = %q: the env value must be hidden and named", en.Display)
	}
	if f := gw1.HooksFor(OnFailure)[0]; f.Command != "s3cret" || f.Display != "(env LB_TOKEN)" {
		t.Errorf("on_failure = %q / %q", f.Command, f.Display)
	}

	if len(gw2.Files) != 2 {
		t.Fatalf("gw-2 files = %+v", gw2.Files)
	}
	toml := gw2.Files[0]
	want := "[server]\nhostname = \"10.0.0.22\"\noffset = 2\n# apim/gw-2/gws\n"
	if !toml.Template || string(toml.Content) != want || toml.Path != "repository/conf/deployment.toml" {
		t.Errorf("rendered template = %+v %q, want %q", toml, toml.Content, want)
	}
	if c := string(gw1.Files[0].Content); !strings.Contains(c, "# apim/gw-1/canary") {
		t.Errorf("gw-1 template = %q: node vars must override cluster vars", c)
	}
	extra := gw2.Files[1]
	if extra.Template || string(extra.Content) != "echo ${node.name}\n" || extra.Mode != 0o755 {
		t.Errorf("source file = %+v %q: copied as is with mode 0755", extra, extra.Content)
	}
	if !filepath.IsAbs(extra.Source) || filepath.Base(extra.Source) != "extra.sh" {
		t.Errorf("Source = %q, want absolute", extra.Source)
	}
}

func TestPathsRelativeToFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inv/a-cluster.hcl": `
cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  identity_files = ["~/.ssh/id_ed25519", "keys/deploy", "/etc/drover/key"]
  known_hosts    = "~"
}
update {
  pack = "../packs/wso2am.zip"
}
`,
		"inv/b-nodes.hcl": `
profile "gateway-worker" {
  hook "before_stop" { local = "./lb.sh" }
  file "repository/conf/deployment.toml" { source = "conf/gw.toml" }
}
node "gw-1" {
  profile     = "gateway-worker"
  host        = "10.0.0.21"
  known_hosts = "hosts/known"
}
`,
		"inv/conf/gw.toml": "x = 1\n",
	})
	inv, _ := mustLoad(t, filepath.Join(dir, "inv"))
	invDir := filepath.Join(dir, "inv")
	if want := filepath.Join(dir, "packs/wso2am.zip"); inv.Update.Pack != want {
		t.Errorf("Pack = %q, want %q", inv.Update.Pack, want)
	}
	n := inv.Node("gw-1")
	wantIDs := []string{"/home/tester/.ssh/id_ed25519", filepath.Join(invDir, "keys/deploy"), "/etc/drover/key"}
	if !slices.Equal(n.SSH.IdentityFiles, wantIDs) {
		t.Errorf("IdentityFiles = %q, want %q", n.SSH.IdentityFiles, wantIDs)
	}
	if want := filepath.Join(invDir, "hosts/known"); n.SSH.KnownHosts != want {
		t.Errorf("node KnownHosts = %q, want %q", n.SSH.KnownHosts, want)
	}
	if want := filepath.Join(invDir, "conf/gw.toml"); n.Files[0].Source != want {
		t.Errorf("file source = %q, want %q", n.Files[0].Source, want)
	}
	if n.Hooks[0].Dir != invDir {
		t.Errorf("hook Dir = %q, want %q", n.Hooks[0].Dir, invDir)
	}
	if inv.Path != filepath.Join(dir, "inv") || !strings.HasPrefix(inv.Digest, "sha256:") {
		t.Errorf("Path %q Digest %q", inv.Path, inv.Digest)
	}
}

func TestExpandPath(t *testing.T) {
	l := &Loader{Home: "/home/u"}
	tests := []struct{ dir, in, want string }{
		{"/inv", "~", "/home/u"},
		{"/inv", "~/.ssh/id", "/home/u/.ssh/id"},
		{"/inv", "keys/id", "/inv/keys/id"},
		{"/inv", "../packs/p.zip", "/packs/p.zip"},
		{"/inv", "/abs/./p", "/abs/p"},
		{"/inv", "~other/x", "/inv/~other/x"}, // only the own home is expanded
	}
	for _, tt := range tests {
		if got := l.expandPath(tt.dir, tt.in); got != tt.want {
			t.Errorf("expandPath(%q, %q) = %q, want %q", tt.dir, tt.in, got, tt.want)
		}
	}
}

func TestSSHSettings(t *testing.T) {
	inv := loadSrc(t, header44+`
ssh {
  user            = "wso2"
  port            = 2200
  jump            = ["ops@bastion:22"]
  become          = "sudo"
  host_key_policy = "accept-new"
  connect_timeout = "5s"
}
node "a" {
  profile = "gateway-worker"
  host    = "10.0.0.1"
}
node "b" {
  profile         = "gateway-worker"
  host            = "10.0.0.2"
  user            = "admin"
  port            = 22
  jump            = []
  become          = ""
  host_key_policy = "strict"
  connect_timeout = "1m"
}
`, nil)
	a, b := inv.Node("a").SSH, inv.Node("b").SSH
	wantA := SSH{User: "wso2", Port: 2200, Jump: []string{"ops@bastion:22"}, Become: "sudo", HostKeyPolicy: transport.PolicyAcceptNew, ConnectTimeout: 5 * time.Second}
	wantB := SSH{User: "admin", Port: 22, Jump: []string{}, Become: "", HostKeyPolicy: transport.PolicyStrict, ConnectTimeout: time.Minute}
	check := func(name string, got, want SSH) {
		if got.User != want.User || got.Port != want.Port || !slices.Equal(got.Jump, want.Jump) || len(got.Jump) != len(want.Jump) ||
			got.Become != want.Become || got.HostKeyPolicy != want.HostKeyPolicy || got.ConnectTimeout != want.ConnectTimeout {
			t.Errorf("%s SSH = %+v, want %+v", name, got, want)
		}
	}
	check("a", a, wantA)
	check("b", b, wantB)
	if inv.Node("a").Address() != "10.0.0.1:2200" {
		t.Errorf("Address = %q", inv.Node("a").Address())
	}

	plain := loadSrc(t, header44+`
node "c" {
  profile = "gateway-worker"
  host    = "fd00::1"
}
`, nil)
	c := plain.Node("c")
	if c.SSH.HostKeyPolicy != transport.PolicyStrict || c.SSH.ConnectTimeout != transport.DefaultConnectTimeout || c.SSH.Port != 0 {
		t.Errorf("defaults without ssh block = %+v", c.SSH)
	}
	if c.Address() != "[fd00::1]:22" {
		t.Errorf("Address = %q, want [fd00::1]:22", c.Address())
	}
}

func TestHealthChecks(t *testing.T) {
	inv := loadSrc(t, header44+`
profile "gateway-worker" {
  health "http" {
    url          = "https://127.0.0.1:9443/api/am/gateway/v2/server-startup-healthcheck"
    insecure_tls = true
  }
  health "http" {
    url    = "http://${node.host}/ping"
    status = 204
  }
  health "tcp" { port = 8243 }
  health "log" { pattern = "started ${node.name}" }
  health "command" { run = "test -f ${node.home}/ok" }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
  offset  = 3
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
}
`, nil)
	want := []HealthCheck{
		{Kind: HealthHTTP, URL: "https://127.0.0.1:9446/api/am/gateway/v2/server-startup-healthcheck", Status: 200, InsecureTLS: true},
		{Kind: HealthHTTP, URL: "http://10.0.0.21/ping", Status: 204}, // no explicit port: nothing to shift
		{Kind: HealthTCP, Port: 8246},
		{Kind: HealthLog, Pattern: "started gw-1"},
		{Kind: HealthCommand, Run: "test -f /opt/wso2/wso2am-4.4.0/ok"},
	}
	if got := inv.Node("gw-1").Health; !slices.Equal(got, want) {
		t.Errorf("gw-1 health =\n%+v\nwant\n%+v", got, want)
	}
	if got := inv.Node("gw-2").Health[0].URL; got != "https://127.0.0.1:9443/api/am/gateway/v2/server-startup-healthcheck" {
		t.Errorf("gw-2 (offset 0) URL = %q", got)
	}
}

func TestShiftURLPort(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		want   string
		err    bool
	}{
		{"http://127.0.0.1:9763/services/Version", 0, "http://127.0.0.1:9763/services/Version", false},
		{"http://127.0.0.1:9763/services/Version", 10, "http://127.0.0.1:9773/services/Version", false},
		{"https://localhost/x", 5, "https://localhost/x", false},
		{"https://[::1]:9443/x?a=b", 1, "https://[::1]:9444/x?a=b", false},
		{"https://127.0.0.1:65535/", 1, "", true},
		{"127.0.0.1:9763/x", 0, "", true},
		{"ftp://host/x", 0, "", true},
		{"http:///nohost", 0, "", true},
	}
	for _, tt := range tests {
		got, err := shiftURLPort(tt.in, tt.offset)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("shiftURLPort(%q, %d) = %q, %v; want %q, err %v", tt.in, tt.offset, got, err, tt.want, tt.err)
		}
	}
}

func TestDefaultHealth(t *testing.T) {
	const versionURL = "http://127.0.0.1:%d/services/Version"
	logCheck := HealthCheck{Kind: HealthLog, Pattern: "WSO2 Carbon started in", Default: true}
	version := func(port int) HealthCheck {
		return HealthCheck{Kind: HealthHTTP, URL: strings.Replace(versionURL, "%d", itoa(port), 1), Status: 200, Default: true}
	}
	gateway := func(port int) HealthCheck {
		return HealthCheck{Kind: HealthHTTP, Status: 200, InsecureTLS: true, Default: true,
			URL: "https://127.0.0.1:" + itoa(port) + "/api/am/gateway/v2/server-startup-healthcheck"}
	}
	tests := []struct {
		version, profile string
		offset           int
		want             []HealthCheck
	}{
		{"4.4.0", "control-plane", 0, []HealthCheck{logCheck, version(9763)}},
		{"4.4.0", "gateway-worker", 0, []HealthCheck{logCheck, version(9763), gateway(9443)}},
		{"4.4.0", "gateway-worker", 2, []HealthCheck{logCheck, version(9765), gateway(9445)}},
		{"4.1.0", "gateway-worker", 0, []HealthCheck{logCheck, version(9763), gateway(9443)}},
		{"4.0.0", "gateway-worker", 0, []HealthCheck{logCheck, version(9763)}}, // the 4.0.0 pack does not ship the endpoint
		{"4.5.0", "traffic-manager", 1, []HealthCheck{logCheck, version(9764)}},
		{"4.7.0", "gateway-worker", 0, []HealthCheck{logCheck, version(9763), gateway(9443)}}, // universal gateway
		{"4.7.0", "control-plane", 0, []HealthCheck{logCheck, version(9763)}},
		{"4.6.0", "all-in-one", 0, []HealthCheck{logCheck, version(9763), gateway(9443)}},
		{"3.2.0", "gateway-worker", 0, []HealthCheck{logCheck, version(9763)}}, // no v2 gateway endpoint before 4.1
	}
	for _, tt := range tests {
		t.Run(tt.version+"/"+tt.profile, func(t *testing.T) {
			home := "/opt/wso2/wso2am-" + tt.version
			inv := loadSrc(t, `
cluster "c" {
  version = "`+tt.version+`"
  home    = "`+home+`"
}
update { pack = "p.zip" }
node "n" {
  profile = "`+tt.profile+`"
  host    = "10.0.0.1"
  offset  = `+itoa(tt.offset)+`
}
`, nil)
			if got := inv.Node("n").Health; !slices.Equal(got, tt.want) {
				t.Errorf("health =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRelativeInventoryPath loads through a relative path: the paths the
// inventory resolves must still be absolute.
func TestRelativeInventoryPath(t *testing.T) {
	inv, _ := mustLoad(t, "../examples/apim-4.4-distributed/drover.hcl")
	if !filepath.IsAbs(inv.Update.Pack) || !strings.HasSuffix(inv.Update.Pack, "examples/apim-4.4-distributed/packs/wso2am-4.4.0-u12.zip") {
		t.Errorf("Pack = %q, want an absolute path beside the inventory", inv.Update.Pack)
	}
	gw := inv.Node("gw-1")
	if !filepath.IsAbs(gw.Files[0].Source) || !filepath.IsAbs(gw.Hooks[0].Dir) {
		t.Errorf("file source %q and hook dir %q must be absolute", gw.Files[0].Source, gw.Hooks[0].Dir)
	}
	if inv.Path != "../examples/apim-4.4-distributed/drover.hcl" {
		t.Errorf("Path = %q, want it as given", inv.Path)
	}
}

// TestRedactionThroughVars: a secret read with env() into vars must not
// show in a hook's Display either.
func TestRedactionThroughVars(t *testing.T) {
	inv := loadSrc(t, header44+`
vars = { token = env("LB_TOKEN"), region = "eu" }
profile "gateway-worker" {
  hook "before_stop" { local = "./lb.sh ${vars.token} ${vars.region} ${vars.own} ${node.vars.own}" }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
  vars    = { own = "${vars.token}-x" }
}
`, nil)
	h := inv.Node("gw-1").Hooks[0]
	if want := "./lb.sh s3cret eu s3cret-x s3cret-x"; h.Command != want {
		t.Errorf("Command = %q, want %q", h.Command, want)
	}
	if want := "./lb.sh (env LB_TOKEN) eu (env LB_TOKEN)-x (env LB_TOKEN)-x"; h.Display != want {
		t.Errorf("Display = %q, want %q", h.Display, want)
	}
	if inv.Cluster.Vars["token"] != "s3cret" || inv.Node("gw-1").Vars["own"] != "s3cret-x" {
		t.Errorf("vars = %v / %v", inv.Cluster.Vars, inv.Node("gw-1").Vars)
	}
}
