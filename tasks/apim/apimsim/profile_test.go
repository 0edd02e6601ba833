package apimsim

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// treeSum hashes every path, mode and content under dir.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v\n", rel, d.Type())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

var infoLine = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO - `)

func TestProfileSetup(t *testing.T) {
	type tc struct{ version, profile string }
	var cases []tc
	for _, v := range Versions() {
		for _, p := range Profiles(v) {
			cases = append(cases, tc{v, p})
		}
	}
	for _, c := range cases {
		t.Run(c.version+"/"+c.profile, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, c.version, 0)
			rel, _ := lookupRelease(c.version)
			operator := readFile(t, n.path("repository/conf/deployment.toml"))
			out, code := n.script("", "", "profileSetup.sh", "-Dprofile="+c.profile, "--skipConfigOptimization")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || !strings.HasSuffix(lines[len(lines)-1], ProfileDoneMarker) {
				t.Fatalf("exit %d, output:\n%s", code, out)
			}
			for _, l := range lines {
				if !infoLine.MatchString(l) {
					t.Errorf("not an INFO line: %q", l)
				}
			}
			for _, w := range rel.webapps {
				if got, want := exists(n.path(webappsDir+"/"+w)), slices.Contains(rel.keep[c.profile], w); got != want {
					t.Errorf("webapp %s present=%v, want %v", w, got, want)
				}
			}
			ws := n.path(synapseDir + "/inbound-endpoints/WebSocketInboundEndpoint.xml")
			if exists(ws) == rel.dropSynapse[c.profile] || exists(n.path(synapseDir+"/api")) == rel.dropSynapse[c.profile] {
				t.Errorf("synapse configs on %s: inbound endpoint present=%v", c.profile, exists(ws))
			}
			if got := readFile(t, n.path("repository/conf/deployment.toml")); got != operator {
				t.Fatal("--skipConfigOptimization changed deployment.toml")
			}
			sum := treeSum(t, n.home)
			if out, code := n.script("", "", "profileSetup.sh", "-Dprofile="+c.profile, "--skipConfigOptimization"); code != 0 || !strings.Contains(out, ProfileDoneMarker) {
				t.Fatalf("second run: %d %s", code, out)
			}
			if treeSum(t, n.home) != sum {
				t.Fatal("a second run changed the tree")
			}
		})
	}
}

// TestProfileSetupClobbersConfig: without --skipConfigOptimization each run moves
// deployment.toml to .backup and copies the template; the second run loses the operator's file.
func TestProfileSetupClobbersConfig(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	conf := n.path("repository/conf/deployment.toml")
	operator := readFile(t, conf)
	tmpl := readFile(t, n.path("repository/resources/conf/deployment-templates/gateway-worker.toml"))
	for run := 1; run <= 2; run++ {
		if out, code := n.script("", "", "profileSetup.sh", "-Dprofile=gateway-worker"); code != 0 || !strings.Contains(out, ProfileDoneMarker) {
			t.Fatalf("run %d: %d %s", run, code, out)
		}
		if readFile(t, conf) != tmpl {
			t.Fatalf("run %d: deployment.toml is not the template", run)
		}
	}
	if backup := readFile(t, conf+".backup"); backup == operator || backup != tmpl {
		t.Fatal("after two runs the backup should hold the template, the operator's config lost")
	}
	if off, _ := ReadOffset(n.home); off != 0 {
		t.Fatalf("the template brings offset 0 back, got %d", off)
	}
}

func TestProfileSetupBadProfile(t *testing.T) {
	cases := []struct {
		version string
		args    []string
	}{
		{"4.4.0", nil},
		{"4.4.0", []string{"-Dprofile=gateway"}},
		{"4.4.0", []string{"-Dprofile=api-key-manager", "--skipConfigOptimization"}}, // a 3.x name
		{"3.2.0", []string{"-Dprofile=control-plane"}},                               // a 4.x name
		{"4.4.0", []string{"-Dprofile="}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, c.version, 0)
			sum := treeSum(t, n.home)
			out, code := n.script("", "", append([]string{"profileSetup.sh"}, c.args...)...)
			if code != 0 || !strings.Contains(out, ProfileFailedMarker) || strings.Contains(out, ProfileDoneMarker) {
				t.Fatalf("exit %d, output %q", code, out)
			}
			if treeSum(t, n.home) != sum {
				t.Fatal("a bad profile changed files")
			}
		})
	}
}
