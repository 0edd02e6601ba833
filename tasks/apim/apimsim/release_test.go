package apimsim

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestServerPerPack starts every pack of every release: -Dprofile=<n> fails when the pack has no
// OSGi profile <n> (no started line, a failed event), works where it has; /services/Version
// answers "<carbon Name>-<version>"; the gateway health check answers only where the pack ships a
// gateway war that serves it.
func TestServerPerPack(t *testing.T) {
	for _, version := range Versions() {
		for _, dist := range Distributions(version) {
			t.Run(version+"/"+dist, func(t *testing.T) {
				t.Parallel()
				n := newSimNodeOf(t, version, dist, 0)
				osgi := OSGiProfiles(version, dist)
				// a profile profileSetup knows but the OSGi launcher does not (4.3/4.4 key
				// manager, the control plane's key-manager), else a made-up one
				bad := "no-such-profile"
				for _, p := range ProfilesOf(version, dist) {
					if !slices.Contains(osgi, p) {
						bad = p
					}
				}
				n.start("-Dprofile=" + bad)
				n.waitEvent(EventFailed)
				waitFor(t, "the failed server to exit", func() bool { _, alive := PIDAlive(n.home); return !alive })
				// The start script, like the real one, takes a zombie for a running server: wait
				// until the failed server is reaped (slow where PID 1 is slow to reap orphans).
				if pid, _ := PIDAlive(n.home); pid > 0 {
					waitFor(t, "the failed server to be reaped", func() bool {
						_, err := os.Stat("/proc/" + strconv.Itoa(pid))
						return err != nil
					})
				}
				if log := n.runLog(); !strings.Contains(log, "ERROR") || !strings.Contains(log, "repository/components/"+bad) || strings.Contains(log, StartedMarker) {
					t.Fatalf("start with -Dprofile=%s, log:\n%s", bad, log)
				}

				good := "default"
				if slices.Contains(osgi, gatewayProfile) {
					good = gatewayProfile
				}
				n.start("-Dprofile=" + good)
				n.waitStarted()
				code, body := get(n.versionURL())
				if want := VersionBody(version, dist); code != 200 || !strings.Contains(body, "<return>"+want+"</return>") {
					t.Fatalf("Version: %d %q, want %q", code, body, want)
				}
				if !strings.Contains(n.runLog(), "Server           :  "+VersionBody(version, dist)) {
					t.Errorf("no Server line for %s in the log", VersionBody(version, dist))
				}
				code, _ = get(n.healthURL())
				if (code == 200) != HasGatewayHealth(version, dist) {
					t.Errorf("gateway health check: %d, want served=%v", code, HasGatewayHealth(version, dist))
				}
				// Tomcat explodes every war at deployment
				for _, w := range n.wars() {
					if !exists(n.path(webappsDir + "/" + strings.TrimSuffix(w, ".war") + "/META-INF/MANIFEST.MF")) {
						t.Errorf("%s was not exploded", w)
					}
				}
				pid := n.pid()
				n.stop()
				n.waitGone(pid)
			})
		}
	}
}

func (n *simNode) wars() []string {
	var out []string
	entries, _ := os.ReadDir(n.path(webappsDir))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".war") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestGatewayHealthFollowsTheWar: after the control-plane profile removed the gateway war, a
// 4.4.0 node no longer answers the gateway health check.
func TestGatewayHealthFollowsTheWar(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	if out, _ := n.script("", "", "profileSetup.sh", "-Dprofile=control-plane", skipFlag); !strings.Contains(out, ProfileDoneMarker) {
		t.Fatal(out)
	}
	n.start("-Dprofile=control-plane")
	n.waitStarted()
	if code, _ := get(n.healthURL()); code == 200 {
		t.Fatal("the health check answered without api#am#gateway#v2.war")
	}
}

// TestNoDroverCatalogImports: the simulator keeps its own facts; it must not import drover's
// catalog or inventory (nor anything else of drover).
func TestNoDroverCatalogImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	if len(files) == 0 {
		t.Fatal("no sources")
	}
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p := strings.Trim(im.Path.Value, `"`)
			if strings.HasPrefix(p, "github.com/drover-sh/drover") || strings.Contains(p, "catalog") || strings.Contains(p, "inventory") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
