package apimsim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

var (
	buildMu    sync.Mutex
	builtOnce  string // the first binary this process compiled; later Builds copy it
	offsetMu   sync.Mutex
	offsetsOut = map[int]bool{}
)

// Build compiles cmd/apimsim into dir and returns the binary's path. The first call in a process
// runs `go build` (from the module this source file belongs to); later calls copy that binary,
// so many tests share one compilation.
func Build(dir string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("apimsim: build: %w", err)
	}
	out, err := filepath.Abs(filepath.Join(dir, "apimsim"))
	if err != nil {
		return "", fmt.Errorf("apimsim: build: %w", err)
	}
	if builtOnce != "" && builtOnce != out {
		if err := copyExecutable(builtOnce, out); err == nil {
			return out, nil
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/apimsim")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apimsim: build: go build ./cmd/apimsim: %w\n%s", err, b)
	}
	builtOnce = out
	return out, nil
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("apimsim: build: cannot locate the source tree")
	}
	for d := filepath.Dir(file); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("apimsim: build: no go.mod above " + file)
		}
	}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// FreeOffset returns a [server] offset whose ports 9763+offset and 9443+offset are free on
// 127.0.0.1 right now, never the same offset twice in one process.
func FreeOffset() (int, error) {
	offsetMu.Lock()
	defer offsetMu.Unlock()
	for try := 0; try < 200; try++ {
		// Both ports stay below 32768, where Linux's ephemeral range
		// starts (ip_local_port_range): the SSH servers and every outgoing
		// connection take their ports from there, so a port picked above
		// it may be taken between this check and the server's listen.
		off := 100 + rand.IntN(32768-9763-100)
		if offsetsOut[off] {
			continue
		}
		http, https := Ports(off)
		if portFree(http) && portFree(https) {
			offsetsOut[off] = true
			return off, nil
		}
	}
	return 0, errors.New("apimsim: no free port offset found")
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
