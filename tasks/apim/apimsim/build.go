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
	buildMu   sync.Mutex
	builtOnce string // the first binary this process compiled; later Builds copy it
	offsetMu  sync.Mutex
	portsOut  = map[int]bool{} // ports of the offsets handed out
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

// The offsets FreeOffset and FreeOffsets hand out keep both ports in
// [offsetLow+9443, 32768): below Linux's ephemeral range (ip_local_port_range
// starts at 32768), where the SSH servers and every outgoing connection take
// their ports, so no connection of this machine takes one by chance.
const (
	offsetLow  = 100
	offsetSpan = 32768 - 9763 - offsetLow
)

// FreeOffset returns a [server] offset whose ports 9763+offset and 9443+offset are free on
// 127.0.0.1 right now, and whose ports no other offset handed out by this process uses.
func FreeOffset() (int, error) {
	offs, err := FreeOffsets(1)
	if err != nil {
		return 0, err
	}
	return offs[0], nil
}

// FreeOffsets returns n [server] offsets for n servers of one machine: no port of one is a
// port of another (offsets 320 apart would share one: 9763+a = 9443+b), none is a port of an
// offset handed out earlier in this process, and every port is free on 127.0.0.1 right now.
// The offsets are packed from a random start, so labs made by different processes rarely
// meet; a server that still finds its port taken (another program bound it since) fails to
// start, and its caller picks it a new offset.
func FreeOffsets(n int) ([]int, error) {
	offsetMu.Lock()
	defer offsetMu.Unlock()
	var out []int
	start := rand.IntN(offsetSpan)
	for i := 0; i < offsetSpan && len(out) < n; i++ {
		off := offsetLow + (start+i)%offsetSpan
		http, https := Ports(off)
		if portsOut[http] || portsOut[https] || !portFree(http) || !portFree(https) {
			continue
		}
		portsOut[http], portsOut[https] = true, true
		out = append(out, off)
	}
	if len(out) < n {
		for _, off := range out { // give back what this call took
			http, https := Ports(off)
			delete(portsOut, http)
			delete(portsOut, https)
		}
		return nil, fmt.Errorf("apimsim: only %d of %d port offsets are free below port 32768", len(out), n)
	}
	return out, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
