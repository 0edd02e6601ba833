package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository root, relative to this package.
const root = "../../.."

// result is what one in-process run of drover produced.
type result struct {
	code           int
	stdout, stderr string
}

// run runs drover in-process with args (without the program name).
func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"drover"}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// example is the path of an example inventory.
func example(name string) string { return filepath.Join(root, "examples", name) }

// fixture is the path of an invalid inventory fixture.
func fixture(name string) string { return filepath.Join(root, "inventory/testdata/invalid", name) }

func (r result) String() string {
	return "exit " + itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
}
