package inventory

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Every fixture under testdata/invalid is an .hcl file, or a directory of
// them, whose lines carry the diagnostics they must produce:
//
//	port = 0 # ERROR: Invalid port
//	host = "h" # WARNING: Two nodes at one address -- detail: defined at
//
// The text after "-- detail:" must appear in that diagnostic's detail.
// The loader must report exactly the annotated (file, line, severity,
// summary) set: nothing missing, nothing extra.

// want is one annotated diagnostic.
type want struct {
	file     string // base name
	line     int
	severity string
	summary  string
}

func TestInvalidFixtures(t *testing.T) {
	entries, err := os.ReadDir("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 24 {
		t.Errorf("testdata/invalid holds %d fixtures, want at least 24", len(entries))
	}
	for _, e := range entries {
		path := filepath.Join("testdata/invalid", e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			wants, details := readAnnotations(t, path)
			if len(wants) == 0 {
				t.Fatalf("%s has no # ERROR: or # WARNING: annotation", path)
			}
			l := NewLoader()
			l.Home = "/home/tester"
			l.Getenv = func(string) string { return "" }
			inv, diags := l.Load(path)
			got := map[want]*hcl.Diagnostic{}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without a source range: %s: %s", d.Summary, d.Detail)
					continue
				}
				if strings.TrimSpace(d.Detail) == "" {
					t.Errorf("%s: %q has an empty detail", d.Subject, d.Summary)
				}
				sev := "ERROR"
				if d.Severity == hcl.DiagWarning {
					sev = "WARNING"
				}
				w := want{filepath.Base(d.Subject.Filename), d.Subject.Start.Line, sev, d.Summary}
				if _, dup := got[w]; dup {
					t.Errorf("%s:%d %q reported twice", w.file, w.line, w.summary)
				}
				got[w] = d
			}
			for _, w := range wants {
				d, ok := got[w]
				if !ok {
					t.Errorf("missing %s %s:%d %q", w.severity, w.file, w.line, w.summary)
					continue
				}
				if sub := details[w]; sub != "" && !strings.Contains(d.Detail, sub) {
					t.Errorf("%s:%d %q: detail %q does not contain %q", w.file, w.line, w.summary, d.Detail, sub)
				}
			}
			for w, d := range got {
				if !slices.Contains(wants, w) {
					t.Errorf("unexpected %s %s:%d %q: %s", w.severity, w.file, w.line, w.summary, d.Detail)
				}
			}
			hasErr := slices.ContainsFunc(wants, func(w want) bool { return w.severity == "ERROR" })
			if hasErr != (inv == nil) {
				t.Errorf("inventory returned = %v with errors expected = %v", inv != nil, hasErr)
			}
		})
	}
}

// readAnnotations reads the expected diagnostics of a fixture file or
// directory.
func readAnnotations(t *testing.T, path string) ([]want, map[want]string) {
	t.Helper()
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.hcl"))
	}
	var wants []want
	details := map[want]string{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			for _, sev := range []string{"ERROR", "WARNING"} {
				_, rest, ok := strings.Cut(sc.Text(), "# "+sev+": ")
				if !ok {
					continue
				}
				summary, detail, _ := strings.Cut(rest, " -- detail: ")
				w := want{filepath.Base(name), line, sev, strings.TrimSpace(summary)}
				wants = append(wants, w)
				details[w] = strings.TrimSpace(detail)
			}
		}
		f.Close()
	}
	return wants, details
}
