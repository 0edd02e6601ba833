package rollout_test

import (
	"os/exec"
	"strings"
	"testing"
)

// treeSum computes a directory's checksum the way the persist step does on
// the node, with the same tools.
func treeSum(t *testing.T, root, rel string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `cd "$1" && find "$2" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1`, "sh", root, rel)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("treesum %s/%s: %v", root, rel, err)
	}
	return strings.TrimSpace(string(out))
}
