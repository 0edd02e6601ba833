package apimsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// The update tool's state: backups with their manifest, revert, updates/config.json and the
// record of an update waiting for conflict resolution.

// saveBackup copies the files the update will change or delete into dir, with a manifest.
func (u *updater) saveBackup(dir string, from, to int, paths []string) error {
	m := backupManifest{Home: u.home, From: from, To: to}
	for _, p := range paths {
		data, err := os.ReadFile(u.abs(p))
		if errors.Is(err, fs.ErrNotExist) {
			if !containsStr(m.Added, p) {
				m.Added = append(m.Added, p)
			}
			continue
		} else if err != nil {
			return err
		}
		if containsStr(m.Saved, p) {
			continue
		}
		if err := writeFileAll(filepath.Join(dir, filepath.FromSlash(p)), data); err != nil {
			return err
		}
		m.Saved = append(m.Saved, p)
	}
	return writeJSON(filepath.Join(dir, manifestName), m)
}

func (u *updater) revert() int {
	if pend, ok, err := readPending(u.home); err != nil {
		return u.fail("%v", err)
	} else if ok {
		for _, c := range pend.Conflicts {
			os.Remove(u.abs(c) + ".original")
			os.Remove(u.abs(c) + ".new")
		}
		os.Remove(u.abs(pendingFile))
		fmt.Fprintf(u.out, "Reverted the unfinished update to level %d; the product stays at update level %d.\n", pend.To, pend.From)
		return UpdateReverted
	}
	last, _ := u.cfg.raw["last-update"].(map[string]any)
	if last == nil {
		return u.fail("there is no update to revert")
	}
	backup, _ := last["backup"].(string)
	if backup == "" {
		return u.fail("the last update was applied with --no-backup; there is nothing to revert to")
	}
	var m backupManifest
	data, err := os.ReadFile(filepath.Join(backup, manifestName))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		return u.fail("cannot read the backup at %s: %v", backup, err)
	}
	for _, p := range m.Added {
		os.Remove(u.abs(p))
	}
	for _, p := range m.Saved {
		data, err := os.ReadFile(filepath.Join(backup, filepath.FromSlash(p)))
		if err != nil {
			return u.fail("restore %s: %v", p, err)
		}
		if err := writeFileAll(u.abs(p), data); err != nil {
			return u.fail("restore %s: %v", p, err)
		}
	}
	fmt.Fprintf(u.out, "Reverted %s from update level %d to %d.\n", u.rel.product, m.To, m.From)
	return UpdateReverted
}

type updateConfig struct {
	Level int
	raw   map[string]any
}

func readUpdateConfig(home string) (updateConfig, error) {
	var c updateConfig
	data, err := os.ReadFile(filepath.Join(home, "updates", "config.json"))
	if err != nil {
		return c, fmt.Errorf("apimsim: update config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&c.raw); err != nil {
		return c, fmt.Errorf("apimsim: update config: %w", err)
	}
	n, ok := c.raw["update-level"].(json.Number)
	if !ok {
		return c, errors.New("apimsim: update config: no \"update-level\"")
	}
	lv, err := n.Int64()
	if err != nil {
		return c, fmt.Errorf("apimsim: update config: %w", err)
	}
	c.Level = int(lv)
	if lu, ok := c.raw["last-update"].(map[string]any); ok {
		for k, v := range lu {
			if n, ok := v.(json.Number); ok {
				i, _ := n.Int64()
				lu[k] = int(i)
			}
		}
	}
	return c, nil
}

func readPending(home string) (pendingUpdate, bool, error) {
	var p pendingUpdate
	data, err := os.ReadFile(filepath.Join(home, filepath.FromSlash(pendingFile)))
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	} else if err != nil {
		return p, false, err
	}
	return p, true, json.Unmarshal(data, &p)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAll(path, append(data, '\n'))
}

func writeFileAll(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func printConflicts(w io.Writer, files []string) {
	for _, c := range files {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sameDir(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
