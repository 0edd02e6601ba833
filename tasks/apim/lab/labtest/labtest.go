// Package labtest brings a lab cluster up for a test: simulated API Manager
// nodes behind in-process SSH servers, torn down (servers closed, every
// simulated process stopped) by t.Cleanup.
//
// A package whose tests use it runs them through Main, which removes what
// the tests shared (the simulator binary) when they are done:
//
//	func TestMain(m *testing.M) { labtest.Main(m) }
package labtest

import (
	"context"
	"github.com/drover-sh/drover/tasks/apim"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
)

var (
	simOnce sync.Once
	simBin  string
	simErr  error
	simDir  string
	inMain  bool
)

// Main runs the tests of a package (from its TestMain), then removes the
// folder SimBin built the simulator in, and exits with the tests' status.
func Main(m *testing.M) {
	inMain = true
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes the simulator SimBin built (Main calls it).
func Cleanup() {
	if simDir != "" {
		os.RemoveAll(simDir)
	}
}

// SimBin builds the simulator once per test binary, in a folder Main removes
// when the tests are done.
func SimBin(t testing.TB) string {
	t.Helper()
	if !inMain {
		t.Fatal("labtest: the simulator it builds would stay in the temporary folder: add to this package\n\tfunc TestMain(m *testing.M) { labtest.Main(m) }")
	}
	simOnce.Do(func() {
		// A folder that outlives single tests (t.TempDir goes with the first).
		simDir, simErr = os.MkdirTemp("", "drover-apimsim-")
		if simErr == nil {
			simBin, simErr = apimsim.Build(simDir)
		}
	})
	if simErr != nil {
		t.Fatalf("build the simulator: %v", simErr)
	}
	return simBin
}

// Fast timings for tests: the simulated server starts in 300ms and stops
// in 200ms.
const (
	FastStart = "300ms"
	FastStop  = "200ms"
)

// FastRollout is a rollout block body with short health windows and no
// order: the release's default order has every profile a lab can have.
const FastRollout = `  max_unavailable  = 1
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = "20s"
  min_healthy_time = "1s"
  stop_timeout     = "5s"`

// New creates a lab in a temporary directory, serves it and starts every
// node's API Manager. Unset timings default to the fast ones.
func New(t testing.TB, spec lab.Spec) *lab.Lab {
	t.Helper()
	l, _ := NewServed(t, spec)
	return l
}

// NewServed is New that also returns the lab's SSH servers, for tests that
// stop and restart a node's server (lab.Servers.Stop and Restart).
func NewServed(t testing.TB, spec lab.Spec) (*lab.Lab, *lab.Servers) {
	t.Helper()
	if spec.Dir == "" {
		spec.Dir = filepath.Join(t.TempDir(), "lab")
	}
	spec.SimBin = SimBin(t)
	if spec.StartDelay == "" {
		spec.StartDelay = FastStart
	}
	if spec.StopDelay == "" {
		spec.StopDelay = FastStop
	}
	if spec.Rollout == "" {
		spec.Rollout = FastRollout
	}
	l, err := lab.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := l.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.StopProducts()
		srv.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), lab.StartBudget(len(l.Nodes)))
	defer cancel()
	if err := l.StartProducts(ctx); err != nil {
		t.Fatal(err)
	}
	return l, srv
}

// Inventory loads the lab's inventory.
func Inventory(t testing.TB, l *lab.Lab) *inventory.Inventory {
	t.Helper()
	ld := inventory.NewLoader()
	ld.EnvFile = apim.Product{}.EnvFile
	inv, diags := ld.Load(l.Inventory)
	if diags.HasErrors() {
		t.Fatalf("lab inventory: %v", diags)
	}
	return inv
}
