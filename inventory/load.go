package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Loader reads inventories and keeps their sources, so diagnostics can be
// rendered with the offending lines.
type Loader struct {
	parser *hclparse.Parser
	// Getenv resolves env("X") calls; os.Getenv when nil.
	Getenv func(string) string
	// Home is the directory "~" expands to; the user's home when empty.
	Home string
	// EnvFile renders the file that carries a node's jvm and env settings
	// to its server: which variables hold them is the product's knowledge
	// (tasks.Product.EnvFile). It returns the file's path relative to home
	// and its content, real and with env() values hidden. The file becomes
	// one of the node's managed files. nil: an inventory that sets jvm or
	// env is refused.
	EnvFile func(n *Node) (path string, content, shown []byte, err error)
}

// NewLoader returns a Loader with an empty source cache.
func NewLoader() *Loader { return &Loader{parser: hclparse.NewParser()} }

// Files returns every source file parsed so far, for rendering diagnostics.
func (l *Loader) Files() map[string]*hcl.File { return l.parser.Files() }

// Load reads an inventory from an .hcl file or from every *.hcl file in a
// directory (in name order), checks it and resolves every node. The
// inventory is nil when diags has errors; warnings come with a usable
// inventory.
func (l *Loader) Load(path string) (*Inventory, hcl.Diagnostics) {
	files, diags := inventoryFiles(path)
	if diags.HasErrors() {
		return nil, diags
	}
	var srcs []source
	for _, name := range files {
		f, d := l.parser.ParseHCLFile(name)
		diags = append(diags, d...)
		if f != nil {
			// Paths in the file are relative to its folder; make that folder
			// absolute so resolved paths do not depend on the working
			// directory of later stages. Diagnostics keep the name as given.
			dir := filepath.Dir(name)
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
			srcs = append(srcs, source{name: name, dir: dir, file: f})
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	b := &builder{loader: l, srcs: srcs, inv: &Inventory{Path: path, Profiles: map[string]*Profile{}}}
	diags = append(diags, sortDiags(b.build(), files)...)
	if diags.HasErrors() {
		return nil, diags
	}
	// Only env() values make a plan stale; the secrets drover reads from
	// its own environment are redacted but not part of the digest.
	envSum := b.inv.secrets.digest()
	for _, name := range SecretEnv {
		if v := l.getenv(name); v != "" {
			b.inv.secrets.add(name, v)
		}
	}
	b.inv.secrets.seal()
	b.inv.Digest = b.digest(envSum)
	return b.inv, diags
}

// sortDiags puts diagnostics in source order (files in load order), which
// is the order a user fixes them in; those without a range come first.
func sortDiags(diags hcl.Diagnostics, files []string) hcl.Diagnostics {
	fileIndex := func(d *hcl.Diagnostic) int {
		if d.Subject == nil {
			return -1
		}
		for i, f := range files {
			if f == d.Subject.Filename {
				return i
			}
		}
		return len(files) // a template or other file: after the inventory
	}
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i], diags[j]
		fa, fb := fileIndex(a), fileIndex(b)
		if fa != fb || a.Subject == nil || b.Subject == nil {
			return fa < fb
		}
		if a.Subject.Filename != b.Subject.Filename {
			return a.Subject.Filename < b.Subject.Filename
		}
		return a.Subject.Start.Byte < b.Subject.Start.Byte
	})
	return diags
}

type source struct {
	name string
	dir  string
	file *hcl.File
}

// inventoryFiles lists the files an inventory path stands for.
func inventoryFiles(path string) ([]string, hcl.Diagnostics) {
	st, err := os.Stat(path)
	if err != nil {
		detail := fmt.Sprintf("Could not read %s: %v. Pass the inventory with -i PATH (a .hcl file or a directory of them), set DROVER_INVENTORY, or create ./drover.hcl.", path, err)
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Inventory not found", Detail: detail}}
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	// Read the directory rather than globbing it: the path itself may hold
	// glob characters, and a folder named x.hcl is not a file.
	entries, err := os.ReadDir(path)
	var matches []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".hcl") {
			continue
		}
		name := filepath.Join(path, e.Name())
		if st, err := os.Stat(name); err == nil && st.IsDir() { // follows symlinks
			continue
		}
		matches = append(matches, name)
	}
	if err != nil || len(matches) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No inventory files",
			Detail:   fmt.Sprintf("The directory %s holds no *.hcl file. Point -i at an .hcl file or at a directory that holds some.", path),
		}}
	}
	sort.Strings(matches)
	return matches, nil
}

// digest hashes the inventory sources, the managed files they name and
// envSum (a hash of the values env() resolved), so a plan can tell when any
// of them changed without holding a secret.
func (b *builder) digest(envSum string) string {
	h := sha256.New()
	fmt.Fprintf(h, "env\x00%s\x00", envSum)
	for _, s := range b.srcs {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(s.name), len(s.file.Bytes))
		h.Write(s.file.Bytes)
	}
	for _, n := range b.inv.Nodes {
		for _, f := range n.Files {
			fmt.Fprintf(h, "%s\x00%s\x00%d\x00", n.Name, f.Path, len(f.Content))
			h.Write(f.Content)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// expandPath makes a local path absolute: "~" is the user's home and a
// relative path is relative to the folder of the file that holds it.
func (l *Loader) expandPath(dir, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := l.Home
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}

func (l *Loader) getenv(name string) string {
	if l.Getenv != nil {
		return l.Getenv(name)
	}
	return os.Getenv(name)
}
