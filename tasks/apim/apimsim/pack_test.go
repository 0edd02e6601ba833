package apimsim

import (
	"archive/zip"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildPackDeterministic(t *testing.T) {
	for _, version := range Versions() {
		for _, dist := range Distributions(version) {
			t.Run(version+"/"+dist, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				s := Spec{Version: version, Distribution: dist, Level: 4, SimBin: "/opt/apimsim/bin/apimsim"}
				sum := func(name string, s Spec) [32]byte {
					p := filepath.Join(dir, name)
					if err := BuildPack(p, s); err != nil {
						t.Fatal(err)
					}
					b, _ := os.ReadFile(p)
					return sha256.Sum256(b)
				}
				a, b := sum("a.zip", s), sum("b.zip", s)
				if a != b {
					t.Fatal("two builds of one Spec differ")
				}
				s.Level = 5
				if sum("c.zip", s) == a {
					t.Fatal("another level gave the same pack")
				}
				zr, err := zip.OpenReader(filepath.Join(dir, "a.zip"))
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				root := ProductNameOf(version, dist) + "/"
				seen := map[string]os.FileMode{}
				for _, f := range zr.File {
					if !strings.HasPrefix(f.Name, root) {
						t.Fatalf("entry %s outside %s", f.Name, root)
					}
					seen[strings.TrimPrefix(f.Name, root)] = f.Mode()
				}
				exe := append(ScriptsOf(version, dist), "bin/wso2update_linux")
				if HasProfileSetup(version, dist) {
					exe = append(exe, "bin/profileSetup.sh")
				} else if _, ok := seen["bin/profileSetup.sh"]; ok {
					t.Error("the pack has a profileSetup.sh the release does not ship")
				}
				for _, want := range exe {
					if m, ok := seen[want]; !ok || m.Perm()&0o111 == 0 {
						t.Errorf("%s missing or not executable (%v)", want, m)
					}
				}
				want := []string{"repository/conf/deployment.toml", "solr/data/index/segments_1", "repository/database/WSO2AM_DB.mv.db",
					"updates/config.json", "updates/product.txt", "repository/components/lib/", "repository/logs/"}
				for _, o := range OSGiProfiles(version, dist) {
					want = append(want, "repository/components/"+o+"/")
				}
				for _, w := range want {
					if _, ok := seen[w]; !ok {
						t.Errorf("pack lacks %s", w)
					}
				}
				for _, f := range zr.File {
					if f.Name == root+"updates/product.txt" {
						rc, _ := f.Open()
						b, _ := io.ReadAll(rc)
						rc.Close()
						if strings.TrimSpace(string(b)) != strings.TrimSuffix(root, "/") {
							t.Errorf("product.txt says %q, the pack folder is %s", b, root)
						}
					}
				}
			})
		}
	}
}

func TestLayoutRefusesNonEmptyHome(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "x"), nil, 0o644)
	if err := Layout(home, Spec{Version: "4.4.0", SimBin: "/bin/true"}); err == nil {
		t.Fatal("layout over a non-empty directory")
	}
	for _, s := range []Spec{{Version: "4.8.0", SimBin: "/bin/true"}, {Version: "4.4.0", Distribution: UniversalGateway, SimBin: "/bin/true"}, {Version: "4.4.0"}, {Version: "4.4.0", SimBin: "rel/bin"}} {
		if err := Layout(filepath.Join(t.TempDir(), "h"), s); err == nil {
			t.Errorf("layout accepted %+v", s)
		}
	}
}

func TestOffset(t *testing.T) {
	cases := []struct {
		toml string
		want int
	}{
		{"[server]\nhostname = \"x\"\noffset = 3\n", 3},
		{"[server]\n#offset = 7\n", 0},
		{"[server]\noffset = \"12\"\n", 12},
		{"[database]\noffset = 5\n[server]\n", 0},
		{"", 0},
	}
	for _, c := range cases {
		if got, err := parseOffset([]byte(c.toml)); err != nil || got != c.want {
			t.Errorf("parseOffset(%q) = %d, %v; want %d", c.toml, got, err, c.want)
		}
	}
	home := filepath.Join(t.TempDir(), "h")
	if err := Layout(home, Spec{Version: "4.4.0", SimBin: "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{0, 17, 2} {
		if err := SetOffset(home, off); err != nil {
			t.Fatal(err)
		}
		if got, _ := ReadOffset(home); got != off {
			t.Fatalf("SetOffset %d, read %d", off, got)
		}
	}
}

func TestFreeOffsetDistinct(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		off, err := FreeOffset()
		if err != nil {
			t.Fatal(err)
		}
		if seen[off] {
			t.Fatalf("offset %d handed out twice", off)
		}
		seen[off] = true
	}
}

// TestFreeOffsetsShareNoPort: a lab of hundreds of nodes gets offsets none of
// whose ports is another's (offsets 320 apart would share one), nor a port of
// an offset handed out before.
func TestFreeOffsetsShareNoPort(t *testing.T) {
	first, err := FreeOffset()
	if err != nil {
		t.Fatal(err)
	}
	offs, err := FreeOffsets(700)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[int]int{}
	for _, off := range append([]int{first}, offs...) {
		http, https := Ports(off)
		if http >= 32768 || https < 9443+100 {
			t.Fatalf("offset %d: ports %d, %d outside [9543, 32768)", off, http, https)
		}
		for _, p := range []int{http, https} {
			if o, ok := owner[p]; ok {
				t.Fatalf("port %d belongs to offsets %d and %d", p, o, off)
			}
			owner[p] = off
		}
	}
}
