package rollout_test

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

// exec runs the node's startup script locally, as an operator on the node would.
func script(t *testing.T, n *lab.Node, arg string) string {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(n.Home, apimsim.Script("4.4.0")), arg)
	cmd.Dir = n.Home
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", n.Name, arg, err, out)
	}
	return string(out)
}

func waitDown(t *testing.T, n *lab.Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, alive := apimsim.PIDAlive(n.Home); !alive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not stop", n.Name)
}
