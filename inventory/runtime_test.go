package inventory

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRuntimeInheritance: jvm, env and service resolve node > profile >
// top level; heap sizes one by one, options as a whole list, env by name;
// the environment file joins the node's managed files, marked generated,
// with env() values hidden in what plans show.
func TestRuntimeInheritance(t *testing.T) {
	inv := loadSrc(t, header44+`
jvm {
  heap_min = "512m"
  heap_max = "4g"
  options  = ["-XX:+UseG1GC", "-Dregion=${env("REGION")}"]
}
env = { JAVA_HOME = "/usr/lib/jvm/java-17", TOKEN = env("LB_TOKEN") }
service {
  unit = "wso2am.service"
}
profile "gateway-worker" {
  jvm { heap_max = "2g" }
  env = { JAVA_HOME = "/usr/lib/jvm/java-21" }
  service { manager = "systemd" }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
  jvm { options = ["-Dnode=${node.name}"] }
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
  service { manager = "script" }
  env = { EXTRA = "x" }
}
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.11"
}
`, nil)
	gw1, gw2, cp := inv.Node("gw-1"), inv.Node("gw-2"), inv.Node("cp-1")
	if gw1.JVM.HeapMin != "512m" || gw1.JVM.HeapMax != "2g" || !slices.Equal(gw1.JVM.Options, []string{"-Dnode=gw-1"}) {
		t.Errorf("gw-1 jvm = %+v: heap_min from the top, heap_max from the profile, options replaced by the node's", gw1.JVM)
	}
	if !slices.Equal(cp.JVM.Options, []string{"-XX:+UseG1GC", "-Dregion=eu"}) || !slices.Equal(cp.JVM.ShownOptions, []string{"-XX:+UseG1GC", "-Dregion=(env REGION)"}) || cp.JVM.HeapMax != "4g" {
		t.Errorf("cp-1 jvm = %+v", cp.JVM)
	}
	envOf := func(n *Node) map[string]string {
		m := map[string]string{}
		for _, e := range n.Env {
			m[e.Name] = e.Value
		}
		return m
	}
	if e := envOf(gw2); e["JAVA_HOME"] != "/usr/lib/jvm/java-21" || e["TOKEN"] != "s3cret" || e["EXTRA"] != "x" || len(e) != 3 {
		t.Errorf("gw-2 env = %v: merged by name, the profile's JAVA_HOME over the top's", e)
	}
	if e := envOf(cp); e["JAVA_HOME"] != "/usr/lib/jvm/java-17" {
		t.Errorf("cp-1 env = %v", e)
	}
	if gw1.Service != (Service{Manager: ManagerSystemd, Unit: "wso2am.service"}) || gw2.Service.Manager != ManagerScript || cp.Service.Manager != ManagerScript {
		t.Errorf("services: gw-1 %+v, gw-2 %+v, cp-1 %+v", gw1.Service, gw2.Service, cp.Service)
	}
	var f *File
	for i := range cp.Files {
		if cp.Files[i].Generated != "" {
			f = &cp.Files[i]
		}
	}
	if f == nil || f.Path != "bin/test.env" || f.Generated != EnvFileSource {
		t.Fatalf("cp-1 files = %+v, want the generated environment file", cp.Files)
	}
	if !strings.Contains(string(f.Content), "TOKEN=s3cret") || strings.Contains(string(f.Shown), "s3cret") || !strings.Contains(string(f.Shown), "TOKEN=(env LB_TOKEN)") {
		t.Errorf("env file content %q, shown %q", f.Content, f.Shown)
	}
	if got := inv.Redact(string(f.Content)); strings.Contains(got, "s3cret") {
		t.Errorf("Redact leaves the secret: %q", got)
	}
}

// TestRuntimeNothingSet: without jvm or env no file is generated and the
// service manager is the script.
func TestRuntimeNothingSet(t *testing.T) {
	inv := loadSrc(t, header44+"node \"gw-1\" {\n profile = \"gateway-worker\"\n host = \"h\"\n}\n", nil)
	n := inv.Node("gw-1")
	if len(n.Files) != 0 || n.Service.Manager != ManagerScript || !n.JVM.IsZero() || n.Env != nil {
		t.Errorf("node = %+v", n)
	}
}

// TestRuntimeInvalid: each mistake is an error at its place with a fix.
func TestRuntimeInvalid(t *testing.T) {
	node := "node \"gw-1\" {\n  profile = \"gateway-worker\"\n  host = \"h\"\n%s\n}\n"
	for _, c := range []struct {
		name, src, summary, fix string
	}{
		{"heap", `jvm { heap_max = "4 GB" }`, "Invalid heap size", `such as "512m" or "4g"`},
		{"heap order", `jvm {
  heap_min = "4g"
  heap_max = "1g"
}`, "Heap minimum above maximum", "Raise heap_max or lower heap_min"},
		{"Xmx in options", `jvm { options = ["-Xmx4g"] }`, "Heap size in options", `heap_max = "4g"`},
		{"not an option", `jvm { options = ["UseG1GC"] }`, "Invalid JVM option", "starting with '-'"},
		{"spaced option", `jvm { options = ["-Da=b -Dc=d"] }`, "JVM option with a space", "one option per list entry"},
		{"env name", `env = { java_home = "/x" }`, "Invalid environment variable name", "such as JAVA_HOME"},
		{"env value", `env = { A = "x\ny" }`, "Invalid environment value", "on one line"},
		{"manager", `service { manager = "systemctl" }`, "Unknown service manager", `did you mean "systemd"`},
		{"unit missing", `service { manager = "systemd" }`, "Missing unit", `unit = "wso2am.service"`},
		{"unit name", `service {
  manager = "systemd"
  unit    = "wso2 am"
}`, "Invalid unit name", "such as \"wso2am.service\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"drover.hcl": header44 + strings.Replace(node, "%s", c.src, 1)})
			_, diags := testLoader().Load(filepath.Join(dir, "drover.hcl"))
			var found bool
			for _, d := range diags {
				if d.Summary == c.summary && strings.Contains(d.Detail, c.fix) && d.Subject != nil && d.Subject.Start.Line > 1 {
					found = true
				}
			}
			if !found || !diags.HasErrors() {
				t.Errorf("diagnostics %s\nwant %q with %q", diagsString(diags), c.summary, c.fix)
			}
		})
	}
}

// TestRuntimeWithoutRenderer: a loader without the product's renderer
// refuses jvm and env instead of ignoring them.
func TestRuntimeWithoutRenderer(t *testing.T) {
	dir := writeFiles(t, map[string]string{"drover.hcl": header44 + "env = { A = \"b\" }\nnode \"gw-1\" {\n profile = \"gateway-worker\"\n host = \"h\"\n}\n"})
	l := testLoader()
	l.EnvFile = nil
	if _, diags := l.Load(filepath.Join(dir, "drover.hcl")); !diags.HasErrors() {
		t.Error("jvm/env settings loaded without a renderer")
	}
}
