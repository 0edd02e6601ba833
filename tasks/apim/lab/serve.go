package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/transport/sshtest"
	"golang.org/x/crypto/ssh"
)

// hostKey loads or creates an ed25519 host key and returns its
// authorized_keys form.
func hostKey(file string) (string, error) {
	s, err := loadSigner(file)
	if err != nil {
		return "", err
	}
	return string(ssh.MarshalAuthorizedKey(s.PublicKey())), nil
}

func loadSigner(file string) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err == nil {
		return ssh.ParsePrivateKey(data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "drover lab")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// Servers are a lab's running SSH servers.
type Servers struct {
	lab  *Lab
	mu   sync.Mutex
	list []*sshtest.Server // in l.Nodes order; nil while a node's server is stopped
}

// Close stops every SSH server and waits for its goroutines.
func (s *Servers) Close() {
	s.mu.Lock()
	list := append([]*sshtest.Server(nil), s.list...)
	s.mu.Unlock()
	for _, srv := range list {
		if srv != nil {
			srv.Close()
		}
	}
}

func (s *Servers) index(name string) (int, error) {
	if s.lab != nil {
		for i, n := range s.lab.Nodes {
			if n.Name == name && i < len(s.list) {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("lab: no SSH server for node %q", name)
}

// Server returns the node's running SSH server, nil while it is stopped.
func (s *Servers) Server(name string) *sshtest.Server {
	i, err := s.index(name)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list[i]
}

// Stop closes one node's SSH server the way a dead sshd goes: the listener
// closes, every connection drops and commands still running are killed.
// The node's product keeps running. Stopping a stopped server does nothing.
func (s *Servers) Stop(name string) error {
	i, err := s.index(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	srv := s.list[i]
	s.list[i] = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	return nil
}

// Restart starts a stopped node's SSH server again, on the same port with
// the same host key (so known_hosts stays valid). Restarting a running
// server does nothing.
func (s *Servers) Restart(name string) error {
	i, err := s.index(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.list[i] != nil {
		return nil
	}
	var srv *sshtest.Server
	// The port was ours a moment ago; retry briefly in case the kernel
	// has not let go of it yet.
	for try := 0; ; try++ {
		srv, err = s.lab.serveNode(s.lab.Nodes[i])
		if err == nil || try >= 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	s.list[i] = srv
	return nil
}

// Serve starts one SSH server per node on its recorded port. Commands run
// in the node's directory with APIMSIM_BIN pointing at the simulator.
func (l *Lab) Serve() (*Servers, error) {
	ss := &Servers{lab: l}
	for _, n := range l.Nodes {
		srv, err := l.serveNode(n)
		if err != nil {
			ss.Close()
			return nil, err
		}
		ss.list = append(ss.list, srv)
	}
	return ss, nil
}

// serveNode starts one node's SSH server on its recorded port.
func (l *Lab) serveNode(n *Node) (*sshtest.Server, error) {
	signer, err := loadSigner(n.hostKeyFile())
	if err != nil {
		return nil, err
	}
	srv, err := sshtest.Start(sshtest.ServerConfig{
		Addr: "127.0.0.1:" + strconv.Itoa(n.SSHPort), HostKey: signer, ClientKeyFile: l.ClientKey, Dir: n.Dir,
		// Tests put fault-injecting stand-ins for system tools (a
		// full disk for unzip, say) in the node's shims folder.
		Env: []string{"PATH=" + n.ShimDir() + ":" + os.Getenv("PATH")},
	})
	if err != nil {
		return nil, fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	return srv, nil
}

// StartProducts starts API Manager on every node whose server is not
// running, the way an operator would (the startup script with the node's
// profile), after running profileSetup.sh once, and waits until each
// answers /services/Version.
func (l *Lab) StartProducts(ctx context.Context) error {
	for _, n := range l.Nodes {
		if _, alive := apimsim.PIDAlive(n.Home); alive {
			continue
		}
		script := filepath.Join(n.Home, apimsim.Script(l.Version))
		setup := exec.CommandContext(ctx, "sh", filepath.Join(n.Home, "bin", "profileSetup.sh"), "-Dprofile="+n.Profile, "--skipConfigOptimization")
		setup.Dir = filepath.Join(n.Home, "bin")
		if out, err := setup.CombinedOutput(); err != nil || !strings.Contains(string(out), "Finished the optimizations") {
			return fmt.Errorf("lab: node %s: profileSetup: %v: %s", n.Name, err, out)
		}
		cmd := exec.CommandContext(ctx, "sh", script, "start", "-Dprofile="+n.Profile)
		cmd.Dir = n.Home
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("lab: node %s: start: %v: %s", n.Name, err, out)
		}
	}
	for _, n := range l.Nodes {
		if err := waitVersion(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func waitVersion(ctx context.Context, n *Node) error {
	httpPort, _ := apimsim.Ports(n.Offset)
	url := fmt.Sprintf("http://127.0.0.1:%d/services/Version", httpPort)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("lab: node %s did not answer %s within a minute; see %s", n.Name, url, apimsim.LogFile(n.Home))
}

// StopProducts stops every simulated server the lab's nodes run: the
// product directory's and any kept or failed release's. SIGTERM first,
// SIGKILL after a grace period. Only processes whose PID file lies in the
// lab are touched.
func (l *Lab) StopProducts() error {
	var pids []int
	for _, n := range l.Nodes {
		filepath.WalkDir(n.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "wso2carbon.pid" {
				return nil
			}
			if pid, alive := apimsim.PIDAlive(filepath.Dir(p)); alive && ours(pid, n.Dir) {
				pids = append(pids, pid)
				syscall.Kill(pid, syscall.SIGTERM)
			}
			return nil
		})
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// ours reports whether pid is a simulated server of this node: a stale PID
// file may name a process that has nothing to do with the lab.
func ours(pid int, nodeDir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), nodeDir)
}

// ShimDir is a folder searched first for commands run on the node: tests put
// stand-ins for system tools there to inject faults.
func (n *Node) ShimDir() string { return filepath.Join(n.Dir, "shims") }
