package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kevinburke/ssh_config"
)

// sshConfig is a parsed ssh_config file (with its Includes), or an empty one.
// kevinburke/ssh_config is used because, since v1.5, it evaluates "Match
// host" and "Match all" blocks as well as Host blocks and Include; it
// rejects "Match exec" rather than running commands.
type sshConfig struct {
	path string
	cfg  *ssh_config.Config // nil: no file
}

type sshConfigCacheEntry struct {
	mtime time.Time
	size  int64
	cfg   *sshConfig
}

var sshConfigCache sync.Map // path -> sshConfigCacheEntry

// loadSSHConfig parses the ssh_config file at path: "" is ~/.ssh/config (a
// missing one is empty), "none" reads nothing. Parsed files are cached until
// their size or modification time changes.
func loadSSHConfig(path string) (*sshConfig, error) {
	if path == "none" {
		return &sshConfig{}, nil
	}
	optional := path == ""
	if optional {
		path = filepath.Join(homeDir(), ".ssh", "config")
	}
	fi, err := os.Stat(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return &sshConfig{path: path}, nil
		}
		return nil, fmt.Errorf("ssh_config: %w", err)
	}
	if e, ok := sshConfigCache.Load(path); ok {
		e := e.(sshConfigCacheEntry)
		if e.mtime.Equal(fi.ModTime()) && e.size == fi.Size() {
			return e.cfg, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ssh_config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh_config %s: %w (fix the file, or set its path to \"none\" to ignore it)", path, err)
	}
	sc := &sshConfig{path: path, cfg: cfg}
	sshConfigCache.Store(path, sshConfigCacheEntry{mtime: fi.ModTime(), size: fi.Size(), cfg: sc})
	return sc, nil
}

// lookup returns the values that apply to a host alias.
func (c *sshConfig) lookup(alias string) sshLookup { return sshLookup{c: c.cfg, alias: alias} }

type sshLookup struct {
	c     *ssh_config.Config
	alias string
}

// get returns the first value of key for the alias, "" when none.
func (l sshLookup) get(key string) string {
	if l.c == nil {
		return ""
	}
	v, err := l.c.Get(l.alias, key)
	if err != nil {
		return ""
	}
	return v
}

// getAll returns every value of key for the alias, in file order.
func (l sshLookup) getAll(key string) []string {
	if l.c == nil {
		return nil
	}
	v, err := l.c.GetAll(l.alias, key)
	if err != nil {
		return nil
	}
	return v
}
