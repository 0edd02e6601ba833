package apimsim

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// packTime is the fixed modification time of every pack entry, so equal Specs give equal bytes.
var packTime = time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)

// BuildPack writes a product zip like WSO2's: one top-level folder named after the product (e.g. "wso2am-4.7.0/", "wso2am-acp-4.7.0/") holding
// the layout at s.Level. The content is deterministic: two builds of one Spec (with the same Go
// toolchain) have the same sha256.
func BuildPack(zipPath string, s Spec) error {
	entries, err := productFiles(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(zipPath), ".pack-*.zip")
	if err != nil {
		return fmt.Errorf("apimsim: build pack: %w", err)
	}
	defer os.Remove(tmp.Name())
	zw := zip.NewWriter(tmp)
	root := ProductNameOf(s.Version, s.Distribution) + "/"
	if err := addZipEntry(zw, entry{path: "", mode: 0o755 | os.ModeDir}, root); err != nil {
		return err
	}
	for _, e := range entries {
		if err := addZipEntry(zw, e, root); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return fmt.Errorf("apimsim: build pack: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("apimsim: build pack: %w", err)
	}
	if err := os.Rename(tmp.Name(), zipPath); err != nil {
		return fmt.Errorf("apimsim: build pack: %w", err)
	}
	return nil
}

func addZipEntry(zw *zip.Writer, e entry, root string) error {
	h := &zip.FileHeader{Name: root + e.path, Modified: packTime, Method: zip.Deflate}
	if e.mode.IsDir() {
		if e.path != "" {
			h.Name += "/"
		}
		h.Method = zip.Store
	}
	h.SetMode(e.mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("apimsim: build pack: %w", err)
	}
	if !e.mode.IsDir() {
		if _, err := w.Write(e.data); err != nil {
			return fmt.Errorf("apimsim: build pack: %w", err)
		}
	}
	return nil
}
