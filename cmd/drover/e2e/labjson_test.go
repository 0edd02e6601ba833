package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestLabUpJSON: lab up --json and lab down --json print one JSON document
// each on stdout (progress stays on stderr): the lab's manifest, then what
// was stopped.
func TestLabUpJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs drover")
	}
	dir := filepath.Join(t.TempDir(), "lab")
	lab := func(args ...string) (stdout, stderr string, err error) {
		var o, e bytes.Buffer
		cmd := exec.Command(droverBin, append([]string{"lab"}, args...)...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}
	t.Cleanup(func() { lab("down", "--dir", dir) })
	out, errOut, err := lab("up", "--dir", dir, "--nodes", "gw=1", "--json")
	if err != nil {
		t.Fatalf("lab up --json: %v\n%s%s", err, out, errOut)
	}
	var up struct {
		Dir       string `json:"dir"`
		Inventory string `json:"inventory"`
		Nodes     []struct {
			Name    string `json:"name"`
			SSHPort int    `json:"ssh_port"`
		} `json:"nodes"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	if err := dec.Decode(&up); err != nil || dec.More() {
		t.Fatalf("lab up --json: stdout is not one JSON document (%v):\n%s", err, out)
	}
	if up.Dir != dir || up.Inventory != filepath.Join(dir, "drover.hcl") || len(up.Nodes) != 1 || up.Nodes[0].Name != "gw-1" || up.Nodes[0].SSHPort == 0 {
		t.Errorf("lab up --json: %+v", up)
	}
	out, errOut, err = lab("down", "--dir", dir, "--json")
	var down struct {
		Stopped int `json:"stopped"`
	}
	if err != nil || json.Unmarshal([]byte(out), &down) != nil || down.Stopped != 1 {
		t.Errorf("lab down --json: %v\n%s%s", err, out, errOut)
	}
}
