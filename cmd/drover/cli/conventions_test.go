package cli

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionBuildInfo(t *testing.T) {
	v := buildInfo(func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "41fa0d6abc"}, {Key: "vcs.time", Value: "2026-11-30T18:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, true
	})
	s := v.String()
	for _, want := range []string{"drover " + Version, "41fa0d6abc", "2026-11-30T18:00:00Z", "modified tree", "go1.26.8"} {
		if !strings.Contains(s, want) {
			t.Errorf("version text lacks %q:\n%s", want, s)
		}
	}
	if !v.Modified || v.Commit != "41fa0d6abc" || v.CommitTime != "2026-11-30T18:00:00Z" {
		t.Errorf("%+v", v)
	}
	clean := buildInfo(func() (*debug.BuildInfo, bool) { return nil, false })
	if clean.Commit != "" || !strings.Contains(clean.String(), "commit:   unknown") {
		t.Errorf("no build info: %+v", clean)
	}
}

// jsonDocument fails unless s is exactly one JSON document.
func jsonDocument(t *testing.T, what, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, s)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON document:\n%s", what, s)
	}
	return v
}

// jsonLines fails unless every line of s is a JSON object; it returns them.
func jsonLines(t *testing.T, what, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: line %q is not a JSON object: %v\n%s", what, line, err, s)
		}
		out = append(out, v)
	}
	return out
}

func TestVersionJSON(t *testing.T) {
	for _, args := range [][]string{{"version", "--json"}, {"--json", "version"}} {
		r := run(t, args...)
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("%v: %s", args, r)
		}
		v := jsonDocument(t, "version --json", r.stdout)
		if v["version"] != Version || v["go_version"] == "" {
			t.Errorf("%v: %v", args, v)
		}
		for _, k := range []string{"commit", "commit_time", "modified"} {
			if _, ok := v[k]; !ok {
				t.Errorf("version --json lacks %q: %v", k, v)
			}
		}
	}
}
