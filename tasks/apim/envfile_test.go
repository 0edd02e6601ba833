package apim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
)

func TestEnvFile(t *testing.T) {
	n := &inventory.Node{
		JVM: inventory.JVM{HeapMax: "128m", Options: []string{"-Da=$HOME", "-Db=\"q\""}, ShownOptions: []string{"-Da=$HOME", "-Db=\"q\""}},
		Env: []inventory.EnvVar{{Name: "JAVA_HOME", Value: "/usr/lib/jvm/java 21", Shown: "/usr/lib/jvm/java 21"}, {Name: "PW", Value: "s`e$c", Shown: "(env PW)"}},
	}
	p, content, shown, err := Product{}.EnvFile(n)
	if err != nil || p != "bin/drover.env" {
		t.Fatal(p, err)
	}
	for _, want := range []string{
		`JAVA_HOME="/usr/lib/jvm/java 21"`,
		"PW=\"s\\`e\\$c\"",
		`JVM_MEM_OPTS="-Xms128m -Xmx128m"`, // the script's -Xms256m would exceed the maximum
		`JAVA_OPTS="-Da=\$HOME -Db=\"q\""`,
	} {
		if !strings.Contains(string(content), want+"\n") {
			t.Errorf("env file lacks %s:\n%s", want, content)
		}
	}
	if strings.Contains(string(shown), "s`e") || !strings.Contains(string(shown), `PW="(env PW)"`) {
		t.Errorf("shown env file:\n%s", shown)
	}
	n = &inventory.Node{JVM: inventory.JVM{HeapMin: "2g"}}
	if _, c, _, _ := (Product{}).EnvFile(n); !strings.Contains(string(c), `JVM_MEM_OPTS="-Xms2g -Xmx2g"`) {
		t.Errorf("heap_min above the default maximum:\n%s", c)
	}
	n = &inventory.Node{JVM: inventory.JVM{HeapMax: "4g"}, Env: []inventory.EnvVar{{Name: "JVM_MEM_OPTS", Value: "-Xmx1g"}}}
	if _, _, _, err := (Product{}).EnvFile(n); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("JVM_MEM_OPTS in env and a heap: %v", err)
	}
	if p, c, _, err := (Product{}).EnvFile(&inventory.Node{}); p != "bin/drover.env" || c != nil || err != nil {
		t.Errorf("nothing set: %q %q %v", p, c, err)
	}
}

// TestEnvFileQuoteRoundTrip: the file sourced by sh gives the values back.
func TestEnvFileQuoteRoundTrip(t *testing.T) {
	for _, v := range []string{`a"b`, `$x`, "`id`", `back\slash`, `it's`, `-Xms1g -Xmx4g`} {
		f := filepath.Join(t.TempDir(), "drover.env")
		if err := os.WriteFile(f, []byte("X="+envQuote(v)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", `set -a; . "$1"; set +a; printf %s "$X"`, "sh", f).Output()
		if err != nil || string(out) != v {
			t.Errorf("%q quoted %s reads back as %q (%v)", v, envQuote(v), out, err)
		}
	}
}
