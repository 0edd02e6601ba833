package transport

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The node's hasher of Upload, run here with each of its ways: python3 where the node has it,
// else head -c into openssl or sha256sum. Told of two whole chunks and then the end, each
// prints the sha256 of the whole file; told of fewer bytes than the file holds, it still reads
// the rest at the end.
func TestFollowHashScript(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 2*uploadChunk+3)
	rand.Read(data)
	file := filepath.Join(dir, "it's a pack.zip")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	for _, way := range []string{"python3", "openssl", "sha256sum"} {
		t.Run(way, func(t *testing.T) {
			// A PATH that has the way's program, head and cat, and nothing the script
			// would try first; python3 (tried first) with the test's own PATH, as it
			// may be a wrapper script that needs more.
			bin := t.TempDir()
			path := bin
			if way == "python3" {
				path = bin + ":" + os.Getenv("PATH")
			}
			for _, prog := range []string{way, "head", "cat"} {
				p, err := exec.LookPath(prog)
				if err != nil {
					t.Skipf("%s: %v", prog, err)
				}
				if err := os.Symlink(p, filepath.Join(bin, prog)); err != nil {
					t.Fatal(err)
				}
			}
			for _, told := range []string{"8388608\n8388608\n", "8388608\n", ""} {
				cmd := exec.Command("/bin/sh", "-c", followHashScript(file))
				cmd.Env = []string{"PATH=" + path}
				cmd.Stdin = strings.NewReader(told)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("told %q: %v: %s", told, err, out)
				}
				if f := strings.Fields(string(out)); len(f) == 0 || f[0] != want {
					t.Errorf("told %q: printed %q, want the sum %s", told, out, want)
				}
			}
		})
	}
}
