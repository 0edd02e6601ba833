package apimsim

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The facts: tasks/apim/testdata/facts is a committed copy of /work/shared/apim, so these tests
// pass from a fresh clone.
const factsDir = "../testdata/facts"

type factSwap struct{ From, To, Op string }

type factProfile struct {
	Name                string   `json:"name"`
	OSGi                bool     `json:"osgi_profile_dir_exists"`
	StdoutWithFlag      []string `json:"stdout_success_pristine_with_flag"`
	StdoutWithoutFlag   []string `json:"stdout_success_pristine_without_flag"`
	StderrPristine      []string `json:"stderr_pristine"`
	AfterStartRemoved   []string `json:"after_first_start_extra_removed"`
	OperatorRemoved     []string `json:"operator_content_removed"`
	OperatorKept        []string `json:"operator_content_kept"`
	RerunWithoutChanges []string `json:"rerun_without_flag_changes"`
}

type factEntry struct {
	Release      string `json:"release"`
	Distribution string `json:"distribution"`
	Product      struct {
		ProductTxt string `json:"product_txt"`
		Name       string `json:"product_name"`
		Home       string `json:"home_dir"`
	} `json:"product"`
	Startup struct {
		Scripts []string `json:"scripts"`
	} `json:"startup"`
	ProfileSetup struct {
		Present  bool          `json:"present"`
		Accepted []string      `json:"accepted_profiles"`
		Skip     *bool         `json:"skip_config_optimization_flag"`
		Rejected []string      `json:"rejected_profile_names_tested"`
		Profiles []factProfile `json:"profiles"`
	} `json:"profile_setup"`
	PackLayout struct {
		Wars []string `json:"webapps_wars"`
		OSGi []string `json:"osgi_profiles_materialized"`
	} `json:"pack_layout"`
	Data struct {
		Engine string `json:"h2_engine_version"`
		Format int    `json:"h2_mvstore_write_format"`
	} `json:"data"`
	Health struct {
		Version struct {
			Expect string `json:"expect"`
		} `json:"version_service"`
		Gateway *struct {
			Available any `json:"available_in_this_distribution"`
		} `json:"gateway_startup_healthcheck"`
	} `json:"health_checks"`
}

func loadFacts(t *testing.T) []factEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(factsDir, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Entries []factEntry `json:"entries"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 20 {
		t.Fatalf("%d fact entries, want 20", len(f.Entries))
	}
	return f.Entries
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var swapLine = regexp.MustCompile(`^(\S+) -> (\S+) \[(mv|cp)(?:; (.*))?\]$`)

// factSwaps parses <profile>.swapped.txt; withFlag drops the swaps done only without the flag.
func factSwaps(t *testing.T, p string, withFlag bool) []factSwap {
	var out []factSwap
	for _, l := range readLines(t, p) {
		m := swapLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: cannot parse %q", p, l)
		}
		if withFlag && strings.Contains(m[4], "only without") {
			continue
		}
		out = append(out, factSwap{m[1], m[2], m[3]})
	}
	return out
}

// node is one path of a tree snapshot.
type snapNode struct {
	dir    bool
	origin string // the file's origin tag (its path in the pristine pack), or its own path
	sum    [32]byte
}

var originRE = regexp.MustCompile(regexp.QuoteMeta(originTag) + `(\S+)`)

func snapshot(t *testing.T, home string) map[string]snapNode {
	t.Helper()
	out := map[string]snapNode{}
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == home {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel+"/"] = snapNode{dir: true}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n := snapNode{origin: rel, sum: sha256.Sum256(b)}
		first, _, _ := strings.Cut(string(b), "\n")
		if m := originRE.FindStringSubmatch(first); m != nil {
			n.origin = m[1]
		}
		out[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffTrees returns what a profileSetup run did, the way the facts report it: the top-most
// removed paths (directories end in '/'; paths moved away are swaps, not removals) and the swaps
// (a file whose origin is another pristine path: cp when that path still holds its own content,
// else mv).
func diffTrees(before, after map[string]snapNode) (removed []string, swaps []factSwap) {
	movedAway := map[string]bool{}
	for p, a := range after {
		if a.dir {
			continue
		}
		if b, ok := before[p]; ok && b.origin == a.origin {
			continue
		}
		op := "mv"
		if src, ok := after[a.origin]; ok && src.origin == a.origin {
			op = "cp"
		} else {
			movedAway[a.origin] = true
		}
		swaps = append(swaps, factSwap{a.origin, p, op})
	}
	gone := map[string]bool{}
	for p := range before {
		if _, ok := after[p]; !ok && !movedAway[p] {
			gone[p] = true
		}
	}
	for p := range gone {
		parent := strings.TrimSuffix(p, "/")
		top := true
		for d := filepath.ToSlash(filepath.Dir(parent)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			if gone[d+"/"] {
				top = false
				break
			}
		}
		if top {
			removed = append(removed, p)
		}
	}
	sort.Strings(removed)
	sort.Slice(swaps, func(i, j int) bool { return swaps[i].To < swaps[j].To })
	return removed, swaps
}

var stamp = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] `)

// normalise replaces the timestamps and sorts the lines: the facts say the order of the webapp
// removals depends on the file system, so the output is compared as a multiset.
func normalise(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, stamp.ReplaceAllString(l, "[<timestamp>] "))
	}
	sort.Strings(out)
	return out
}

func outLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func sortedSwaps(s []factSwap) []factSwap {
	s = slices.Clone(s)
	sort.Slice(s, func(i, j int) bool { return s[i].To < s[j].To })
	return s
}

func layoutPack(t *testing.T, version, distribution string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), ProductNameOf(version, distribution))
	if err := Layout(home, Spec{Version: version, Distribution: distribution, SimBin: simBin}); err != nil {
		t.Fatal(err)
	}
	return home
}

func runSetup(home string, args ...string) (stdout, stderr string, code int) {
	var o, e strings.Builder
	code = profileSetup(home, args, &o, &e)
	return o.String(), e.String(), code
}

func diffList[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("%s: unexpected %v", what, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: missing %v", what, w)
		}
	}
	if len(got) != len(want) && !t.Failed() {
		t.Errorf("%s: got %d entries, want %d (duplicates?)", what, len(got), len(want))
	}
}

// TestProfileSetupMatchesFacts runs every profile of every release on a pristine pack, with and
// without --skipConfigOptimization, and compares what it removed and swapped and what it printed
// with the effects recorded from the real scripts.
func TestProfileSetupMatchesFacts(t *testing.T) {
	for _, e := range loadFacts(t) {
		for _, fp := range e.ProfileSetup.Profiles {
			t.Run(e.Release+"/"+e.Distribution+"/"+fp.Name, func(t *testing.T) {
				t.Parallel()
				base := filepath.Join(factsDir, "profile-setup", e.Release, fp.Name)
				wantRemoved := readLines(t, base+".removed.txt")
				for _, withFlag := range []bool{true, false} {
					args := []string{"-Dprofile=" + fp.Name}
					wantOut := fp.StdoutWithoutFlag
					if withFlag {
						args = append(args, skipFlag)
						wantOut = fp.StdoutWithFlag
					}
					home := layoutPack(t, e.Release, e.Distribution)
					before := snapshot(t, home)
					stdout, stderr, code := runSetup(home, args...)
					if code != 0 {
						t.Fatalf("exit %d", code)
					}
					after := snapshot(t, home)
					removed, swaps := diffTrees(before, after)
					name := fmt.Sprintf("flag=%v", withFlag)
					diffList(t, name+" removed", removed, wantRemoved)
					diffList(t, name+" swaps", sortedSwaps(swaps), sortedSwaps(factSwaps(t, base+".swapped.txt", withFlag)))
					got := outLines(stdout)
					if len(got) == 0 || got[len(got)-1] != ProfileDoneMarker {
						t.Errorf("%s: output does not end with %q:\n%s", name, ProfileDoneMarker, stdout)
					}
					diffList(t, name+" stdout", normalise(got), normalise(wantOut))
					if !slices.Equal(outLines(stderr), fp.StderrPristine) {
						t.Errorf("%s: stderr %q, want %q", name, outLines(stderr), fp.StderrPristine)
					}

					if withFlag {
						continue
					}
					// a second run without the flag: only the backups change (4.1.0+ loses the
					// pristine templates; up to 4.0.0 the moved sources are gone, nothing swaps)
					first := snapshot(t, home)
					if _, _, code := runSetup(home, args...); code != 0 {
						t.Fatalf("rerun: exit %d", code)
					}
					var changed []string
					second := snapshot(t, home)
					for p, a := range second {
						if b, ok := first[p]; !ok || b.sum != a.sum {
							changed = append(changed, p)
						}
					}
					for p := range first {
						if _, ok := second[p]; !ok {
							changed = append(changed, p)
						}
					}
					diffList(t, "rerun without the flag changed", changed, fp.RerunWithoutChanges)
				}
			})
		}
	}
}

// TestProfileSetupAfterStartAndOperatorContent: on a pack whose wars Tomcat exploded, every
// exploded directory goes (also those of kept wars); operator content goes or stays as the facts say.
func TestProfileSetupAfterStartAndOperatorContent(t *testing.T) {
	for _, e := range loadFacts(t) {
		for _, fp := range e.ProfileSetup.Profiles {
			t.Run(e.Release+"/"+e.Distribution+"/"+fp.Name, func(t *testing.T) {
				t.Parallel()
				home := layoutPack(t, e.Release, e.Distribution)
				if err := explodeWars(home); err != nil {
					t.Fatal(err)
				}
				for _, p := range append(slices.Clone(fp.OperatorRemoved), fp.OperatorKept...) {
					f := filepath.Join(home, filepath.FromSlash(p))
					if strings.HasSuffix(p, "/") {
						f = filepath.Join(f, "index.html")
					}
					if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(f, []byte("operator content\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				before := snapshot(t, home)
				stdout, _, _ := runSetup(home, "-Dprofile="+fp.Name, skipFlag)
				if !strings.Contains(stdout, ProfileDoneMarker) {
					t.Fatalf("output:\n%s", stdout)
				}
				after := snapshot(t, home)
				removed, _ := diffTrees(before, after)
				for _, p := range append(slices.Clone(fp.AfterStartRemoved), fp.OperatorRemoved...) {
					if _, ok := after[p]; ok {
						t.Errorf("%s was kept", p)
					}
				}
				for _, p := range fp.OperatorKept {
					if _, ok := after[p]; !ok {
						t.Errorf("operator's %s was removed", p)
					}
				}
				want := append(readLines(t, filepath.Join(factsDir, "profile-setup", e.Release, fp.Name+".removed.txt")), fp.AfterStartRemoved...)
				for _, p := range removed {
					if !slices.Contains(want, p) && !slices.Contains(fp.OperatorRemoved, p) && !underAny(p, fp.OperatorRemoved) {
						t.Errorf("removed %s, which neither the pristine run, the first start nor the operator content explains", p)
					}
				}
			})
		}
	}
}

// underAny: p is inside one of the operator's directories, or is a directory holding operator content.
func underAny(p string, paths []string) bool {
	for _, d := range paths {
		if strings.HasSuffix(d, "/") && strings.HasPrefix(p, d) || strings.HasSuffix(p, "/") && strings.HasPrefix(d, p) {
			return true
		}
	}
	return false
}

// TestProfileSetupBadProfile: a missing, unknown or misplaced profile prints the bad-profile line,
// exits 0 and changes nothing.
func TestProfileSetupBadProfile(t *testing.T) {
	for _, e := range loadFacts(t) {
		if !e.ProfileSetup.Present {
			continue
		}
		t.Run(e.Release+"/"+e.Distribution, func(t *testing.T) {
			t.Parallel()
			home := layoutPack(t, e.Release, e.Distribution)
			sum := treeSum(t, home)
			valid := e.ProfileSetup.Accepted[0]
			cases := [][]string{nil, {"-Dprofile="}, {"-Dprofile=gateway"}, {skipFlag, "-Dprofile=" + valid},
				{"--optimize", "-Dprofile=" + valid}, {"-Dprofile=" + strings.ToUpper(valid)}}
			for _, r := range e.ProfileSetup.Rejected {
				cases = append(cases, []string{"-Dprofile=" + r, skipFlag})
			}
			for _, args := range cases {
				out, _, code := runSetup(home, args...)
				if code != 0 || strings.TrimSpace(out) != ProfileFailedMarker {
					t.Errorf("%q: exit %d, output %q", args, code, out)
				}
			}
			if treeSum(t, home) != sum {
				t.Fatal("a bad profile changed files")
			}
		})
	}
}

// TestProfileSetupScript runs bin/profileSetup.sh itself (from another directory, as drover does).
func TestProfileSetupScript(t *testing.T) {
	t.Parallel()
	n := newSimNode(t, "4.4.0", 0)
	sum := treeSum(t, n.home)
	if out, code := n.script(t.TempDir(), "", "profileSetup.sh", "--skipConfigOptimization", "-Dprofile=gateway-worker"); code != 0 || strings.TrimSpace(out) != ProfileFailedMarker {
		t.Fatalf("flag first: %d %q", code, out)
	}
	if treeSum(t, n.home) != sum {
		t.Fatal("a misplaced profile changed files")
	}
	out, code := n.script(t.TempDir(), "", "profileSetup.sh", "-Dprofile=gateway-worker", "--skipConfigOptimization")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), ProfileDoneMarker) || exists(n.path(webappsDir+"/oauth2.war")) {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// TestProfileSetupClobbersConfig: without --skipConfigOptimization each run moves
// deployment.toml to .backup and copies the template; the second run loses the operator's file.
func TestProfileSetupClobbersConfig(t *testing.T) {
	for _, version := range []string{"3.0.0", "4.4.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			n := newSimNode(t, version, 0)
			conf := n.path("repository/conf/deployment.toml")
			operator := readFile(t, conf)
			tmpl := readFile(t, n.path(templateDir+"/gateway-worker.toml"))
			args := []string{"profileSetup.sh", "-Dprofile=gateway-worker"}
			if version == "3.0.0" {
				args = append(args, skipFlag) // ignored by 3.0.0
			}
			for run := 1; run <= 2; run++ {
				if out, code := n.script("", "", args...); code != 0 || !strings.Contains(out, ProfileDoneMarker) {
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
		})
	}
}

// TestReleaseTableMatchesFacts pins the simulator's own table to the facts.
func TestReleaseTableMatchesFacts(t *testing.T) {
	facts := loadFacts(t)
	if len(releaseTable) != len(facts) {
		t.Fatalf("%d table rows, %d fact entries", len(releaseTable), len(facts))
	}
	var versions []string
	for _, e := range facts {
		if !slices.Contains(versions, e.Release) {
			versions = append(versions, e.Release)
		}
		d := e.Distribution
		r, err := lookup(e.Release, d)
		if err != nil {
			t.Error(err)
			continue
		}
		scripts := append([]string(nil), e.Startup.Scripts...)
		check := func(what string, got, want any) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %s %s: %v, facts say %v", e.Release, d, what, got, want)
			}
		}
		check("product", ProductNameOf(e.Release, d), e.Product.ProductTxt)
		check("home", ProductNameOf(e.Release, d), e.Product.Home)
		check("name", CarbonName(e.Release, d), e.Product.Name)
		check("scripts", ScriptsOf(e.Release, d), scripts)
		check("profileSetup", HasProfileSetup(e.Release, d), e.ProfileSetup.Present)
		check("profiles", ProfilesOf(e.Release, d), e.ProfileSetup.Accepted)
		check("osgi", OSGiProfiles(e.Release, d), e.PackLayout.OSGi)
		check("wars", r.wars, e.PackLayout.Wars)
		check("h2", fmt.Sprint(r.h2Format, r.h2Engine), fmt.Sprint(e.Data.Format, e.Data.Engine))
		check("version body", strings.Contains(e.Health.Version.Expect, "'"+VersionBody(e.Release, d)+"'"), true)
		check("gateway health", HasGatewayHealth(e.Release, d), e.Health.Gateway != nil && e.Health.Gateway.Available == true)
		if e.ProfileSetup.Skip != nil {
			check("skip flag", r.skipFlag, *e.ProfileSetup.Skip)
		}
		for _, fp := range e.ProfileSetup.Profiles {
			check(fp.Name+" osgi", slices.Contains(r.osgiProfiles, fp.Name), fp.OSGi)
		}
		for _, p := range r.profiles {
			for _, st := range p.steps {
				if !knownStep(st) {
					t.Errorf("%s %s %s: step %q is not simulated", e.Release, d, p.name, st)
				}
			}
		}
	}
	if !slices.Equal(Versions(), versions) {
		t.Errorf("Versions() = %v, facts have %v", Versions(), versions)
	}
	for _, v := range versions {
		want := []string{AllInOne}
		if v >= "4.5.0" {
			want = []string{AllInOne, APIControlPlane, UniversalGateway, TrafficManager}
		}
		if got := Distributions(v); !slices.Equal(got, want) {
			t.Errorf("Distributions(%s) = %v, want %v", v, got, want)
		}
	}
}

// TestFactsCopyIsCurrent compares the committed copy with /work/shared/apim when that exists.
func TestFactsCopyIsCurrent(t *testing.T) {
	const shared = "/work/shared/apim"
	if _, err := os.Stat(shared); err != nil {
		t.Skip("no", shared)
	}
	err := filepath.WalkDir(shared, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(shared, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(factsDir, rel))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s differs from the committed copy (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

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
