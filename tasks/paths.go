package tasks

import (
	"path"
)

// Paths are the remote locations drover uses for one product directory.
// Its state lives beside home, never inside it:
//
//	<dirname(home)>/.drover/<basename(home)>/
//	    lock/owner.json      the lock (mkdir is the atomic test-and-set)
//	    journal.jsonl        every step of every run, before and after
//	    current.json         the release drover last switched in
//	    packs/<sha256>.zip   pushed packs
//	    staged/              the next release, built while the old one serves
//	    delta/               a staged release being assembled by delta, before it is verified
//	    base/                hard links to the last staged pack's own files, taken before
//	                         configure and optimize touched them: a second source for delta staging
//	    release.sums         sha256s of the releases' (and base's) files by path, size and mtime (a cache)
//	    staged.json          how far the staged release got (pack, configured, optimized)
//	    pristine/<sha256>/   a pack's own copies of its carried configuration files
//	                         (the staged pack's and the installed release's), for
//	                         telling template drift
//	    previous/            the release before the last switch, kept for rollback
//	    failed/<run>/        a release that was rolled back, kept for inspection
//	    backups/<run>/       in-place backups, with a sha256 manifest
type Paths struct {
	Home  string
	State string
}

// NewPaths returns the layout for a product directory.
func NewPaths(home string) Paths {
	home = path.Clean(home)
	return Paths{Home: home, State: path.Join(path.Dir(home), ".drover", path.Base(home))}
}

func (p Paths) Lock() string           { return path.Join(p.State, "lock") }
func (p Paths) LockOwner() string      { return path.Join(p.State, "lock", "owner.json") }
func (p Paths) Journal() string        { return path.Join(p.State, "journal.jsonl") }
func (p Paths) Current() string        { return path.Join(p.State, "current.json") }
func (p Paths) Packs() string          { return path.Join(p.State, "packs") }
func (p Paths) Pack(sha string) string { return path.Join(p.State, "packs", sha+".zip") }
func (p Paths) Unpack() string         { return path.Join(p.State, "unpack") }
func (p Paths) Staged() string         { return path.Join(p.State, "staged") }
func (p Paths) Previous() string       { return path.Join(p.State, "previous") }
func (p Paths) Failed(run string) string {
	return path.Join(p.State, "failed", run)
}
func (p Paths) Backup(run string) string { return path.Join(p.State, "backups", run) }
func (p Paths) Pristine(sha string) string {
	return path.Join(p.State, "pristine", sha)
}

func (p Paths) StagedState() string { return path.Join(p.State, "staged.json") }
func (p Paths) Delta() string       { return path.Join(p.State, "delta") }
func (p Paths) Sums() string        { return path.Join(p.State, "release.sums") }
func (p Paths) Base() string        { return path.Join(p.State, "base") }
