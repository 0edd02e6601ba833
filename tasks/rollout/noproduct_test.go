package rollout

import (
	"go/build"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// productWords are WSO2 API Manager file, script, profile and product names.
// The rollout engine rolls a procedure across nodes; what the product is
// lives in tasks/apim (its catalog) and reaches the engine only through the
// inventory and the node procedure.
var productWords = regexp.MustCompile(`(?i)wso2|api-?manager|apim|carbon|profileSetup|solr|deployment\.toml|product\.txt|` +
	`repository/|gateway|control-plane|traffic-manager|key-manager|publisher|devportal|-Dprofile|\bh2\b|\.mv\.db|9763|9443|wso2update`)

func TestEngineHasNoProductNames(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.GoFiles) < 5 {
		t.Fatalf("found only %v: the test is not looking at the engine's sources", pkg.GoFiles)
	}
	for _, name := range pkg.GoFiles { // what `go list` reports: the package's non-test sources
		src, err := os.ReadFile(filepath.Join(pkg.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, loc := range productWords.FindAllIndex(src, -1) {
			line := 1 + countNewlines(src[:loc[0]])
			t.Errorf("%s:%d: product name %q in the rollout engine; move the knowledge to tasks/apim", name, line, src[loc[0]:loc[1]])
		}
	}
}

func countNewlines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
