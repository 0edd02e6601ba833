package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"github.com/drover-sh/drover/tasks/rollout"
)

// gatewayJVM is the gateways' jvm block and env map: JAVA_HOME is another
// JDK than the node's shell has.
func gatewayJVM(javaHome string) string {
	return `  jvm {
    heap_max = "2g"
    options  = ["-Dfoo=bar", "-XX:+UseG1GC"]
  }
  env = { JAVA_HOME = "` + javaHome + `", APIMSIM_ENV_GREETING = "hello there" }`
}

// otherJDK lays out a stand-in JDK for env's JAVA_HOME.
func otherJDK(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "jdk-21")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "java"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func systemctlCalls(t *testing.T, n *lab.Node) []string {
	b, err := os.ReadFile(n.SystemctlLog())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func countPrefix(list []string, prefix string) int {
	c := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			c++
		}
	}
	return c
}

func probe(t *testing.T, o *rollout.Options, name string) *tasks.Facts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := o.Inv.Node(name)
	c, err := o.Conns.Get(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return tasks.Probe(ctx, c, o.Inv, n, tasks.ProbeOptions{Product: apim.Product{}})
}

// TestJVMAndEnvReachTheServerUnderScriptAndSystemd updates a cluster whose
// gateways set jvm and env: gw-1 runs under a (simulated) systemd unit,
// gw-2 by its startup script. Both servers must start with the heap, the
// options, JAVA_HOME and the variable; the control plane, which sets
// nothing, with the script's defaults. gw-1 must be stopped and started
// only through systemctl, with journal notes saying so.
func TestJVMAndEnvReachTheServerUnderScriptAndSystemd(t *testing.T) {
	jdk := otherJDK(t)
	specs := nodes(t, "cp=1,gw=2")
	specs[1].Systemd = true
	l := labtest.New(t, lab.Spec{Nodes: specs, Profiles: map[string]string{"gateway-worker": gatewayJVM(jdk)}})
	cp, gw1, gw2 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	if gw1.Unit != lab.DefaultUnit {
		t.Fatalf("gw-1 unit = %q", gw1.Unit)
	}
	rec := &recorder{}
	o, inv := setup(t, l, rec)
	if !inv.Node("gw-1").Service.Systemd() || inv.Node("gw-2").Service.Systemd() {
		t.Fatalf("services: gw-1 %+v, gw-2 %+v", inv.Node("gw-1").Service, inv.Node("gw-2").Service)
	}
	before := systemctlCalls(t, gw1)
	t0 := time.Now()
	p := plan(t, o)
	js, _ := json.Marshal(p)
	for _, want := range []string{"bin/drover.env (generated from the node's jvm/env settings)", `JVM_MEM_OPTS="-Xms256m -Xmx2g"`, "systemctl start wso2am.service", "systemctl stop --no-block wso2am.service"} {
		if w, _ := json.Marshal(want); !strings.Contains(string(js), strings.Trim(string(w), `"`)) {
			t.Errorf("the plan does not show %s", want)
		}
	}
	for _, w := range p.Warnings {
		if strings.Contains(w, "unit") {
			t.Errorf("plan warning: %v", w)
		}
	}
	if _, err := apply(t, o, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	wantJVM := []string{"-Xms256m", "-Xmx2g", "-Dfoo=bar", "-XX:+UseG1GC"}
	for _, c := range []struct {
		n        *lab.Node
		jvm      []string
		javaHome string
		unit     string
		greeting string
	}{
		{cp, []string{"-Xms256m", "-Xmx1024m"}, cp.JavaHome(), "", ""},
		{gw1, wantJVM, jdk, lab.DefaultUnit, "hello there"},
		{gw2, wantJVM, jdk, "", "hello there"},
	} {
		starts := startsAfter(t, c.n, t0)
		if len(starts) != 1 {
			t.Errorf("%s: %d starts since the run began, want 1", c.n.Name, len(starts))
			continue
		}
		s := starts[0]
		if !slices.Equal(s.JVM, c.jvm) || s.JavaHome != c.javaHome || s.Unit != c.unit || s.Env["APIMSIM_ENV_GREETING"] != c.greeting {
			t.Errorf("%s started with jvm %q, JAVA_HOME %q, unit %q, env %v; want %q, %q, %q, greeting %q",
				c.n.Name, s.JVM, s.JavaHome, s.Unit, s.Env, c.jvm, c.javaHome, c.unit, c.greeting)
		}
		if level(t, c.n.Home) != l.Level+1 {
			t.Errorf("%s not updated", c.n.Name)
		}
	}
	calls := systemctlCalls(t, gw1)[len(before):]
	if countPrefix(calls, "start ") != 1 || countPrefix(calls, "stop --no-block ") != 1 {
		t.Errorf("gw-1's systemctl saw %q, want one stop --no-block and one start", calls)
	}
	if c := systemctlCalls(t, gw2); len(c) > 1 || c[0] != "" {
		// gw-2 has no unit: its PATH has no systemctl shim either, so any call
		// would have failed; none may have been made through it.
		t.Errorf("gw-2 (script) went through systemctl: %q", c)
	}
	journal, err := os.ReadFile(tasks.NewPaths(gw1.Home).Journal())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"systemd unit wso2am.service: systemctl stop --no-block wso2am.service", "systemd unit wso2am.service: systemctl start wso2am.service"} {
		if w, _ := json.Marshal(want); !strings.Contains(string(journal), strings.Trim(string(w), `"`)) {
			t.Errorf("gw-1's journal has no note %q", want)
		}
	}
	env, err := os.ReadFile(filepath.Join(gw1.Home, apim.EnvFilePath))
	if err != nil || !strings.Contains(string(env), `JAVA_OPTS="-Dfoo=bar -XX:+UseG1GC"`) {
		t.Errorf("%s: %v\n%s", apim.EnvFilePath, err, env)
	}

	// facts: the unit's state; no warning while the unit loads the env file.
	f := probe(t, o, "gw-1")
	if f.Service == nil || f.Service.ActiveState != "active" || f.Service.MainPID == 0 || !f.Running || len(f.Warnings) != 0 {
		t.Errorf("gw-1 facts: running %v, service %+v, warnings %q", f.Running, f.Service, f.Warnings)
	}
	// A unit that runs gw-2's home while the inventory says script, and a
	// unit of gw-1 that does not load the env file: both warned about.
	if err := l.InstallUnit(gw2, "apim-gw.service", ""); err != nil {
		t.Fatal(err)
	}
	if err := l.InstallUnit(gw1, lab.DefaultUnit, ""); err != nil {
		t.Fatal(err)
	}
	f = probe(t, o, "gw-2")
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], `manager = "systemd", unit = "apim-gw.service"`) || !slices.Equal(f.Service.HomeUnits, []string{"apim-gw.service"}) {
		t.Errorf("gw-2 (script, a unit runs its home): warnings %q, service %+v", f.Warnings, f.Service)
	}
	f = probe(t, o, "gw-1")
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "EnvironmentFile=-"+filepath.Join(gw1.Home, apim.EnvFilePath)) {
		t.Errorf("gw-1 (unit without the env file): warnings %q", f.Warnings)
	}
	if f := probe(t, o, "cp-1"); len(f.Warnings) != 0 || f.Service.Manager != "script" {
		t.Errorf("cp-1: warnings %q, service %+v", f.Warnings, f.Service)
	}
}

// TestSystemdNodeRolledBackThroughItsUnit: a systemd node whose updated
// release is unhealthy is rolled back, stopped and started again through
// its unit.
func TestSystemdNodeRolledBackThroughItsUnit(t *testing.T) {
	specs := nodes(t, "gw=2")
	specs[0].Systemd = true
	l := labtest.New(t, lab.Spec{Nodes: specs, Rollout: strings.Replace(shortHealth, `"control-plane", "traffic-manager", `, "", 1)})
	gw1 := l.Nodes[0]
	fault(t, gw1, apimsim.Faults{OnlyLevel: l.Level + 1, Unhealthy: true})
	rec := &recorder{}
	o, _ := setup(t, l, rec)
	before := systemctlCalls(t, gw1)
	t0 := time.Now()
	rep, err := apply(t, o, plan(t, o))
	var fe *rollout.FailedError
	if !errors.As(err, &fe) || len(fe.Nodes) != 1 || fe.Nodes[0] != "gw-1" {
		t.Fatalf("apply error = %v, want gw-1 failed", err)
	}
	if rep.Nodes[0].Outcome != rollout.OutcomeRolledBack {
		t.Fatalf("gw-1 outcome %q, want rolled back", rep.Nodes[0].Outcome)
	}
	if got := level(t, gw1.Home); got != l.Level {
		t.Errorf("gw-1 at level %d after the rollback, want %d", got, l.Level)
	}
	starts := startsAfter(t, gw1, t0)
	if len(starts) != 2 {
		t.Fatalf("gw-1 started %d times, want 2 (update, rollback)", len(starts))
	}
	for _, s := range starts {
		if s.Unit != lab.DefaultUnit || s.Level == 0 {
			t.Errorf("gw-1 started outside its unit: %+v", s)
		}
	}
	if starts[1].Level != l.Level {
		t.Errorf("the rollback started level %d, want %d", starts[1].Level, l.Level)
	}
	calls := systemctlCalls(t, gw1)[len(before):]
	if countPrefix(calls, "start ") != 2 || countPrefix(calls, "stop --no-block ") != 2 {
		t.Errorf("gw-1's systemctl saw %q, want two stops and two starts", calls)
	}
	f := probe(t, o, "gw-1")
	if f.Service.ActiveState != "active" || !f.Running {
		t.Errorf("gw-1 after the rollback: running %v, service %+v", f.Running, f.Service)
	}
}
