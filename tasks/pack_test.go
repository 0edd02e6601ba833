package tasks_test

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks"
)

// writeZip writes a zip holding files (name -> content).
func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestOpenPackLevel: a pack's level comes from its updates/config.json; a
// pack without that file, or with no readable level in it, is refused
// (exit 3 in every command) with its path and the fix, never taken as
// level 0.
func TestOpenPackLevel(t *testing.T) {
	dir := t.TempDir()
	product := map[string]string{"wso2am-4.4.0/updates/product.txt": "wso2am-4.4.0\n", "wso2am-4.4.0/bin/api-manager.sh": "#!/bin/sh\n"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range product {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		files map[string]string
		level int
		want  []string // "" for no error
	}{
		{"good", with(map[string]string{"wso2am-4.4.0/updates/config.json": `{"update-level": 12}`}), 12, nil},
		{"level as a string", with(map[string]string{"wso2am-4.4.0/updates/config.json": `{"update-level": "7"}`}), 7, nil},
		{"GA, level 0 written", with(map[string]string{"wso2am-4.4.0/updates/config.json": `{"update-level": 0}`}), 0, nil},
		{"no config.json", product, 0, []string{"has no wso2am-4.4.0/updates/config.json", "update tool"}},
		{"no level in it", with(map[string]string{"wso2am-4.4.0/updates/config.json": `{"channel": "full"}`}), 0, []string{"updates/config.json", `no "update-level"`}},
		{"not JSON", with(map[string]string{"wso2am-4.4.0/updates/config.json": `update-level=3`}), 0, []string{"updates/config.json", "not JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".zip")
			writeZip(t, path, tt.files)
			p, err := tasks.OpenPack(path, "")
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if p.Level != tt.level {
					t.Fatalf("level %d, want %d", p.Level, tt.level)
				}
				return
			}
			var pe *tasks.PackError
			if !errors.As(err, &pe) || !pe.Refused() {
				t.Fatalf("OpenPack = %v, %v; want a refused PackError", p, err)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
