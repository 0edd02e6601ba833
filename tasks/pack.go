package tasks

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Pack is an updated product zip on the controller, inspected before
// anything is pushed: a wrong checksum or a pack of another product is
// refused before any node is touched.
type Pack struct {
	Path string
	// SHA256 is the hex digest of the zip.
	SHA256 string
	Size   int64
	// Unpacked is the total size of the files in the zip.
	Unpacked int64
	// Top is the single top-level folder of the zip, e.g. wso2am-4.4.0.
	Top string
	// Product is the first line of updates/product.txt, e.g. wso2am-4.4.0.
	Product string
	// Level is "update-level" from updates/config.json.
	Level int

	manifest packManifest
}

// PackError reports a pack that cannot be used. Nothing has been changed
// when it is returned.
type PackError struct {
	Path   string
	Reason string
}

func (e *PackError) Error() string { return fmt.Sprintf("pack %s: %s", e.Path, e.Reason) }
func (e *PackError) Refused() bool { return true }

// OpenPack inspects a product zip. want is the expected sha256 (hex) or "".
func OpenPack(path, want string) (*Pack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &PackError{path, fmt.Sprintf("cannot be read (%v); set update.pack to the updated product zip", err)}
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, &PackError{path, err.Error()}
	}
	p := &Pack{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: size}
	if want != "" && !strings.EqualFold(want, p.SHA256) {
		return nil, &PackError{path, fmt.Sprintf("sha256 is %s but the inventory expects %s; the file is corrupt or not the pack you meant (check update.sha256)", p.SHA256, want)}
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, &PackError{path, fmt.Sprintf("is not a zip file (%v)", err)}
	}
	tops := map[string]bool{}
	for _, zf := range zr.File {
		name := strings.TrimPrefix(zf.Name, "./")
		if strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
			return nil, &PackError{path, fmt.Sprintf("holds an unsafe path %q", zf.Name)}
		}
		top, _, _ := strings.Cut(name, "/")
		if top != "" {
			tops[top] = true
		}
		p.Unpacked += int64(zf.UncompressedSize64)
	}
	if len(tops) != 1 {
		return nil, &PackError{path, fmt.Sprintf("has %d top-level entries; a product pack holds exactly one folder such as wso2am-4.4.0/", len(tops))}
	}
	for t := range tops {
		p.Top = t
	}
	read := func(rel string) (string, error) {
		rc, err := zr.Open(p.Top + "/" + rel)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		return string(b), err
	}
	prod, err := read("updates/product.txt")
	if err != nil {
		return nil, &PackError{path, "has no updates/product.txt; it is not an API Manager pack"}
	}
	p.Product = strings.TrimSpace(strings.SplitN(prod, "\n", 2)[0])
	conf, err := read("updates/config.json")
	if err != nil {
		return nil, &PackError{path, fmt.Sprintf("has no %s/updates/config.json, so its update level is unknown; build the pack from a product updated with the WSO2 update tool, which writes that file", p.Top)}
	}
	if p.Level, err = packLevel(conf); err != nil {
		return nil, &PackError{path, fmt.Sprintf("%s/updates/config.json: %v; rebuild the pack from a product updated with the update tool", p.Top, err)}
	}
	return p, nil
}

// packLevel reads "update-level" from a pack's updates/config.json. Unlike
// a node's probe, a pack without a readable level is refused: level 0 would
// be a guess that makes every node look newer than the pack.
func packLevel(conf string) (int, error) {
	var c map[string]any
	if err := json.Unmarshal([]byte(conf), &c); err != nil {
		return 0, fmt.Errorf("not JSON (%v)", err)
	}
	switch v := c["update-level"].(type) {
	case float64:
		if v >= 0 && v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n, nil
		}
	case nil:
		return 0, fmt.Errorf("no \"update-level\"")
	}
	return 0, fmt.Errorf("\"update-level\" is %v, not a level", c["update-level"])
}
