package catalog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// factsDir is the copy of the release facts committed with the repository.
const factsDir = "../testdata/facts"

// fact is the part of one releases.json entry the catalog must agree with.
type fact struct {
	Release      string `json:"release"`
	Distribution string `json:"distribution"`
	Product      struct {
		ProductTxt string `json:"product_txt"`
		Name       string `json:"product_name"`
		HomeDir    string `json:"home_dir"`
		Kernel     string `json:"carbon_kernel_version"`
	} `json:"product"`
	Startup struct {
		Scripts []string `json:"scripts"`
	} `json:"startup"`
	ProfileSetup struct {
		Present  bool     `json:"present"`
		Accepted []string `json:"accepted_profiles"`
		Skip     *bool    `json:"skip_config_optimization_flag"`
		Profiles []struct {
			Name      string `json:"name"`
			OSGiExist bool   `json:"osgi_profile_dir_exists"`
		} `json:"profiles"`
	} `json:"profile_setup"`
	PackLayout struct {
		OSGi  []string `json:"osgi_profiles_materialized"`
		Wars  []string `json:"webapps_wars"`
		Jagg  []string `json:"jaggeryapps"`
		Templ []string `json:"deployment_templates"`
	} `json:"pack_layout"`
	Data struct {
		Format  int     `json:"h2_mvstore_write_format"`
		Engine  string  `json:"h2_engine_version"`
		Solr    string  `json:"solr_index_dir"`
		SolrKey *string `json:"solr_index_key"`
	} `json:"data"`
	Health struct {
		Version struct {
			Expect string `json:"expect"`
		} `json:"version_service"`
	} `json:"health_checks"`
	Order struct {
		Documented []string `json:"documented_order"`
	} `json:"rollout_order"`
}

func loadFacts(t *testing.T) []fact {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(factsDir, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entries []fact `json:"entries"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Entries) != 20 {
		t.Fatalf("the facts hold %d entries, want 20 (11 releases, 4 distributions from 4.5)", len(doc.Entries))
	}
	return doc.Entries
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// TestCatalogMatchesFacts pins every release and distribution to the facts.
func TestCatalogMatchesFacts(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range loadFacts(t) {
		t.Run(f.Release+"/"+f.Distribution, func(t *testing.T) {
			r, err := Lookup(f.Release)
			if err != nil {
				t.Fatal(err)
			}
			d := r.Distribution(f.Distribution)
			if d == nil {
				t.Fatalf("release %s has no %s distribution", f.Release, f.Distribution)
			}
			seen[d.Product] = true
			check := func(what string, got, want any) {
				t.Helper()
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				if !bytes.Equal(gj, wj) {
					t.Errorf("%s: catalog %s, facts %s", what, gj, wj)
				}
			}
			check("product.txt", d.Product, f.Product.ProductTxt)
			check("home dir", d.Product, f.Product.HomeDir)
			check("server name", d.ServerName, f.Product.Name)
			check("kernel", r.Kernel, f.Product.Kernel)
			scripts := []string{d.Script}
			if d.KeyManagerScript != "" {
				scripts = append(scripts, d.KeyManagerScript)
			}
			check("scripts", scripts, f.Startup.Scripts)
			check("profileSetup.sh present", len(d.Setup) > 0, f.ProfileSetup.Present)
			if f.ProfileSetup.Present {
				check("profiles profileSetup.sh accepts", sorted(d.Setup), sorted(f.ProfileSetup.Accepted))
				check("--skipConfigOptimization", d.SkipConfigOptimization, *f.ProfileSetup.Skip)
				for _, p := range f.ProfileSetup.Profiles {
					check("start -Dprofile="+p.Name, d.StartProfile(p.Name) != "", p.OSGiExist)
				}
			}
			check("OSGi profiles", sorted(d.OSGi), sorted(f.PackLayout.OSGi))
			check("H2 format", r.H2Format, f.Data.Format)
			check("H2 engine", r.H2Engine, f.Data.Engine)
			check("index", "solr/data", f.Data.Solr)
			check("index movable", r.IndexMovable, f.Data.SolrKey != nil)
			check("gateway health war", d.GatewayHealth, slices.Contains(f.PackLayout.Wars, "api#am#gateway#v2.war") && r.GatewayHealth)
			if want := "'" + d.ServerName + "-" + r.Version + "'"; !strings.Contains(f.Health.Version.Expect, want) {
				t.Errorf("/services/Version: facts expect %q, catalog would answer %s", f.Health.Version.Expect, want)
			}
			if f.Order.Documented != nil {
				check("documented rollout order", r.Profiles, f.Order.Documented)
			}
			// every profile the inventory may use for this pack must be startable with it
			for _, p := range d.Runs {
				if !r.ValidProfile(p) {
					t.Errorf("pack runs profile %q that the release does not list", p)
				}
				if d.StartProfile(p) == "" && !d.HasSetup(p) && len(d.OSGi) > 1 && p != ProfileAllInOne {
					t.Errorf("profile %q on %s has neither an OSGi profile nor a profileSetup run", p, d.Product)
				}
			}
		})
	}
	for _, r := range releases {
		for _, d := range r.Distributions {
			if !seen[d.Product] {
				t.Errorf("catalog has %s, which the facts do not", d.Product)
			}
		}
	}
}

func TestStartArguments(t *testing.T) {
	cases := []struct {
		version, profile, pack string
		script, dprofile       string
		setup                  bool
	}{
		{"3.0.0", "api-key-manager", "", "bin/wso2server.sh", "api-key-manager", true},
		{"3.2.0", "gateway-worker", "", "bin/wso2server.sh", "gateway-worker", true},
		{"4.0.0", "api-key-manager-deprecated", "", "bin/api-manager.sh", "api-key-manager-deprecated", true},
		{"4.4.0", "api-key-manager-node", "", "bin/api-manager.sh", "", true},
		{"4.4.0", "control-plane", "", "bin/api-manager.sh", "control-plane", true},
		{"4.7.0", "key-manager", "", "bin/key-manager.sh", "", true},
		{"4.7.0", "control-plane", "", "bin/api-cp.sh", "", false},
		{"4.7.0", "gateway-worker", "", "bin/gateway.sh", "", false},
		{"4.7.0", "traffic-manager", "", "bin/traffic-manager.sh", "", false},
		{"4.6.0", "all-in-one", "", "bin/api-manager.sh", "", false},
		{"4.6.0", "gateway-worker", "wso2am-4.6.0", "bin/api-manager.sh", "gateway-worker", false},
	}
	for _, c := range cases {
		r, err := Lookup(c.version)
		if err != nil {
			t.Fatal(err)
		}
		d := r.DefaultDistribution(c.profile)
		if c.pack != "" {
			d = ByProduct(c.pack)
		}
		if !d.RunsProfile(c.profile) {
			t.Errorf("%s %s: %s cannot run it", c.version, c.profile, d.Product)
		}
		if got := d.StartScript(c.profile); got != c.script {
			t.Errorf("%s %s: script %s, want %s", c.version, c.profile, got, c.script)
		}
		if got := d.StartProfile(c.profile); got != c.dprofile {
			t.Errorf("%s %s: -Dprofile=%q, want %q", c.version, c.profile, got, c.dprofile)
		}
		if got := d.HasSetup(c.profile); got != c.setup {
			t.Errorf("%s %s: profileSetup %t, want %t", c.version, c.profile, got, c.setup)
		}
	}
}

func TestH2Breaks(t *testing.T) {
	var breaks []string
	rs := Releases()
	for i := 1; i < len(rs); i++ {
		if H2Break(rs[i-1], rs[i]) {
			breaks = append(breaks, rs[i-1].Version+"->"+rs[i].Version)
		}
	}
	if want := []string{"4.0.0->4.1.0", "4.2.0->4.3.0"}; !slices.Equal(breaks, want) {
		t.Fatalf("H2 breaks %v, want %v", breaks, want)
	}
}

func TestLookup(t *testing.T) {
	if r, err := Lookup("4.7"); err != nil || r.Version != "4.7.0" {
		t.Fatalf("Lookup(4.7) = %v, %v", r, err)
	}
	if _, err := Lookup("2.6.0"); err == nil || !strings.Contains(err.Error(), "3.0.0, 3.1.0") {
		t.Fatalf("Lookup(2.6.0) error %v should list the supported releases", err)
	}
	if d := ByProduct("wso2am-universal-gw-4.6.0"); d == nil || d.Name != UniversalGateway || d.Release.Version != "4.6.0" {
		t.Fatalf("ByProduct: %+v", d)
	}
	if ByProduct("wso2is-7.0.0") != nil {
		t.Fatal("ByProduct found a product that is not API Manager")
	}
}

// TestFactsCopyIsCurrent compares the committed copy of the facts with the original kept beside
// the repository, when the original is there (it is not in a fresh clone on CI).
func TestFactsCopyIsCurrent(t *testing.T) {
	orig := filepath.Join("..", "..", "..", "..", "shared", "apim")
	if _, err := os.Stat(orig); err != nil {
		t.Skip("no ../shared/apim beside the repository; the committed copy is used as is")
	}
	err := filepath.WalkDir(orig, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(orig, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(factsDir, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("tasks/apim/testdata/facts/%s differs from ../shared/apim/%s: copy it again", rel, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
