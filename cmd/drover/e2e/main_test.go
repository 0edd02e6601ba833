package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// Built once by TestMain for every test of the package.
var (
	droverBin string // the drover binary under test
	simBin    string // the simulated API Manager the nodes' scripts exec
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here skips under -short: do not pay for the builds.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "drover-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles drover (the package in the parent directory, with the race
// detector when the tests have it) and the simulator into dir.
func build(dir string) error {
	droverBin = filepath.Join(dir, "drover")
	args := []string{"build", "-o", droverBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "..")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", cmd.Args[1:], err, out)
	}
	var err error
	if simBin, err = apimsim.Build(dir); err != nil {
		return err
	}
	return nil
}
