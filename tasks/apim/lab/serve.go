package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
		srv, err = s.lab.serveNode(s.lab.Nodes[i], nil)
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

// Serve starts one SSH server per node: on the listener Create (or
// InheritListeners) left open for it, else on its recorded port. Commands
// run in the node's directory with APIMSIM_BIN pointing at the simulator.
func (l *Lab) Serve() (*Servers, error) {
	ss := &Servers{lab: l}
	fail := func(err error) (*Servers, error) {
		ss.Close()
		l.CloseListeners()
		return nil, err
	}
	for _, n := range l.Nodes {
		ln := l.takeListener(n.Name)
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n.SSHPort)); err != nil {
				return fail(fmt.Errorf("lab: node %s: its SSH port %d is taken (%v): stop what holds it, or make the lab afresh in another --dir", n.Name, n.SSHPort, err))
			}
		}
		srv, err := l.serveNode(n, ln)
		if err != nil {
			ln.Close()
			return fail(err)
		}
		ss.list = append(ss.list, srv)
	}
	return ss, nil
}

func (l *Lab) takeListener(node string) net.Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.listeners[node]
	delete(l.listeners, node)
	return ln
}

// Bind binds the SSH port of every node again (a lab that was down), keeping
// the listeners for Serve or ListenerFiles. A node whose port another program
// took meanwhile gets a free one, written to the inventory, known_hosts and
// lab.json; Bind returns the nodes that moved.
func (l *Lab) Bind() (moved []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listeners == nil {
		l.listeners = map[string]net.Listener{}
	}
	defer func() {
		if err != nil {
			for name, ln := range l.listeners {
				ln.Close()
				delete(l.listeners, name)
			}
		}
	}()
	for _, n := range l.Nodes {
		if l.listeners[n.Name] != nil {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n.SSHPort))
		if err != nil {
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return nil, fmt.Errorf("lab: node %s: %w", n.Name, err)
			}
			l.listeners[n.Name] = ln
			port := ln.Addr().(*net.TCPAddr).Port
			if err := setNodeAttr(l.Inventory, n.Name, "port", port); err != nil {
				return nil, err
			}
			if err := setKnownHostsPort(l.KnownHosts, n.SSHPort, port); err != nil {
				return nil, err
			}
			n.SSHPort = port
			moved = append(moved, n.Name)
			continue
		}
		l.listeners[n.Name] = ln
	}
	if len(moved) > 0 {
		return moved, l.save()
	}
	return nil, nil
}

// ListenerFiles returns the SSH listeners Create left open, one per node in
// l.Nodes order, as files to hand to the process that will serve them
// (exec.Cmd.ExtraFiles; that process calls InheritListeners). The caller
// closes the files, and CloseListeners once the other process has them.
func (l *Lab) ListenerFiles() ([]*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var files []*os.File
	for _, n := range l.Nodes {
		ln, ok := l.listeners[n.Name].(*net.TCPListener)
		var f *os.File
		err := fmt.Errorf("lab: node %s has no open SSH listener", n.Name)
		if ok {
			f, err = ln.File()
		}
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// InheritListeners takes the SSH listeners of ListenerFiles (one per node,
// in l.Nodes order) for Serve, closing the files.
func (l *Lab) InheritListeners(files []*os.File) error {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if len(files) != len(l.Nodes) {
		return fmt.Errorf("lab: %d listeners handed over for %d nodes", len(files), len(l.Nodes))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listeners == nil {
		l.listeners = map[string]net.Listener{}
	}
	for i, n := range l.Nodes {
		ln, err := net.FileListener(files[i])
		if err != nil {
			return fmt.Errorf("lab: node %s: the handed-over listener: %w", n.Name, err)
		}
		if a, ok := ln.Addr().(*net.TCPAddr); !ok || a.Port != n.SSHPort {
			ln.Close()
			return fmt.Errorf("lab: node %s: the handed-over listener is %s, not port %d", n.Name, ln.Addr(), n.SSHPort)
		}
		l.listeners[n.Name] = ln
	}
	return nil
}

// CloseListeners closes the SSH listeners not yet served.
func (l *Lab) CloseListeners() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, ln := range l.listeners {
		ln.Close()
		delete(l.listeners, name)
	}
}

// What starting a lab costs, measured on a 2-core machine (see
// `drover lab up --help`). StartParallel nodes run profileSetup.sh and
// their startup script at once; StartBudget is how long a lab of n nodes may
// take to answer on every node.
const StartParallel = 8

// StartBudget is the time StartProducts needs at most for n nodes: a
// minute, plus what the nodes' startups cost when they share two cores.
func StartBudget(n int) time.Duration {
	return time.Minute + time.Duration(n)*time.Second
}

// startAttempts is how often a node whose simulated server found its port
// taken (by a program that bound it after the lab chose the offset) is
// started again on a new offset.
const startAttempts = 4

// errPortTaken is a simulated server failing to bind its ports.
var errPortTaken = errors.New("its HTTP or HTTPS port is taken")

// serveNode starts one node's SSH server on ln, or on its recorded port
// when ln is nil.
func (l *Lab) serveNode(n *Node, ln net.Listener) (*sshtest.Server, error) {
	signer, err := loadSigner(n.hostKeyFile())
	if err != nil {
		return nil, err
	}
	if err := n.ensureJDK(); err != nil {
		return nil, fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	cfg := sshtest.ServerConfig{
		Listener: ln, HostKey: signer, ClientKeyFile: l.ClientKey, Dir: n.Dir,
		// Tests put fault-injecting stand-ins for system tools (a
		// full disk for unzip, say) in the node's shims folder.
		Env: []string{"PATH=" + n.ShimDir() + ":" + os.Getenv("PATH"), "JAVA_HOME=" + n.JavaHome()},
	}
	if ln == nil {
		cfg.Addr = "127.0.0.1:" + strconv.Itoa(n.SSHPort)
	}
	srv, err := sshtest.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	return srv, nil
}

// StartProducts starts API Manager on every node whose server is not
// running, the way an operator would (profileSetup.sh, then the startup
// script with the node's profile), StartParallel nodes at a time, and waits
// until each answers /services/Version, within ctx. A node whose server
// finds its port taken gets a new offset (in its deployment.toml, lab.json
// and the inventory) and is started again.
func (l *Lab) StartProducts(ctx context.Context) error {
	sem := make(chan struct{}, StartParallel)
	errs := make([]error, len(l.Nodes))
	var wg sync.WaitGroup
	for i, n := range l.Nodes {
		if _, alive := apimsim.PIDAlive(n.Home); alive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 1; ; attempt++ {
				sem <- struct{}{}
				err := l.startNode(ctx, n)
				<-sem
				if err == nil {
					err = waitVersion(ctx, n)
				}
				if errors.Is(err, errPortTaken) && attempt < startAttempts {
					if err = l.moveNode(n); err == nil {
						continue
					}
				}
				errs[i] = err
				return
			}
		}()
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 3 {
		failed = append(failed[:3], fmt.Errorf("lab: and %d more nodes", len(failed)-3))
	}
	return errors.Join(failed...)
}

// distribution is the catalog entry of the pack n runs.
func (l *Lab) distribution(n *Node) *catalog.Distribution {
	r, err := catalog.Lookup(l.Version)
	if err != nil {
		r, _ = catalog.Lookup("4.4.0")
	}
	if d := r.Distribution(n.Distribution); d != nil {
		return d
	}
	return r.DefaultDistribution(n.Profile)
}

func (l *Lab) startNode(ctx context.Context, n *Node) (err error) {
	// A PID file naming a dead process is stale: without it, a PID file
	// that appears is this start's.
	if _, alive := apimsim.PIDAlive(n.Home); !alive {
		os.Remove(apimsim.PIDFile(n.Home))
	}
	// As an operator would start a node of its profile (and as drover's
	// catalog says): profileSetup.sh where the pack runs it for the profile,
	// then the distribution's script, with -Dprofile only where the pack
	// ships an OSGi profile of that name.
	d := l.distribution(n)
	if d.HasSetup(n.Profile) {
		args := []string{filepath.Join(n.Home, "bin", "profileSetup.sh"), "-Dprofile=" + n.Profile}
		conf := filepath.Join(n.Home, "repository", "conf", "deployment.toml")
		var keep []byte
		if d.SkipConfigOptimization {
			args = append(args, "--skipConfigOptimization")
		} else if keep, err = os.ReadFile(conf); err != nil { // 3.0.0 replaces it
			return fmt.Errorf("lab: node %s: %w", n.Name, err)
		}
		setup := exec.CommandContext(ctx, "sh", args...)
		setup.Dir = filepath.Join(n.Home, "bin")
		out, err := setup.CombinedOutput()
		if keep != nil {
			os.WriteFile(conf, keep, 0o644)
			os.Remove(conf + ".backup")
		}
		if err != nil || !strings.Contains(string(out), "Finished the optimizations") {
			return fmt.Errorf("lab: node %s: profileSetup: %v: %s", n.Name, err, out)
		}
	}
	args := []string{filepath.Join(n.Home, d.StartScript(n.Profile)), "start"}
	if p := d.StartProfile(n.Profile); p != "" {
		args = append(args, "-Dprofile="+p)
	}
	if n.Unit != "" { // as the operator would: through the (simulated) systemctl
		args = []string{filepath.Join(n.ShimDir(), "systemctl"), "start", n.Unit}
	}
	cmd := exec.CommandContext(ctx, "sh", args...)
	cmd.Dir = n.Home
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: node %s: start: %v: %s", n.Name, err, out)
	}
	return nil
}

// moveNode gives n a new offset: in its deployment.toml, the inventory and
// lab.json.
func (l *Lab) moveNode(n *Node) error {
	off, err := apimsim.FreeOffset()
	if err != nil {
		return err
	}
	if err := apimsim.SetOffset(n.Home, off); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := setNodeAttr(l.Inventory, n.Name, "offset", off); err != nil {
		return err
	}
	n.Offset = off
	return l.save()
}

// waitVersion waits until n answers /services/Version, or its server dies.
func waitVersion(ctx context.Context, n *Node) error {
	httpPort, _ := apimsim.Ports(n.Offset)
	url := fmt.Sprintf("http://127.0.0.1:%d/services/Version", httpPort)
	client := &http.Client{Timeout: 5 * time.Second}
	deadBefore := 0
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		// The server writes its PID file (startNode removed a stale one):
		// a PID read whole that names no live process, twice in a row, is a
		// server that exited (an empty file is one being written).
		if pid, alive := apimsim.PIDAlive(n.Home); pid > 0 && !alive {
			if deadBefore == pid {
				return died(n)
			}
			deadBefore = pid
		} else {
			deadBefore = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: node %s did not answer %s in time (%v); see %s", n.Name, url, ctx.Err(), apimsim.LogFile(n.Home))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// died says why n's server exited during startup.
func died(n *Node) error {
	evs, _ := apimsim.ReadEvents(filepath.Dir(n.Home))
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == apimsim.EventFailed {
			if strings.Contains(evs[i].Detail, "Failed to start the servlet transports") {
				return fmt.Errorf("lab: node %s: %w: %s", n.Name, errPortTaken, evs[i].Detail)
			}
			return fmt.Errorf("lab: node %s: the server failed to start: %s; see %s", n.Name, evs[i].Detail, apimsim.LogFile(n.Home))
		}
	}
	return fmt.Errorf("lab: node %s: the server exited during startup; see %s", n.Name, apimsim.LogFile(n.Home))
}

// Levels counts the nodes per update level, read from the nodes themselves
// (after an apply they run the pack's level, not the one the lab was made at).
func (l *Lab) Levels() map[int]int {
	levels := map[int]int{}
	for _, n := range l.Nodes {
		level, err := apimsim.ReadLevel(n.Home)
		if err != nil {
			level = -1
		}
		levels[level]++
	}
	return levels
}

// LevelSummary says what Levels found: "update level 12", or "update levels
// 11 (4 nodes), 12 (2 nodes)".
func (l *Lab) LevelSummary() string {
	levels := l.Levels()
	keys := make([]int, 0, len(levels))
	for k := range levels {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	if len(keys) == 1 && keys[0] >= 0 {
		return fmt.Sprintf("update level %d", keys[0])
	}
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k < 0 {
			name = "unknown"
		}
		nodes := "nodes"
		if levels[k] == 1 {
			nodes = "node"
		}
		parts = append(parts, fmt.Sprintf("%s (%d %s)", name, levels[k], nodes))
	}
	return "update levels " + strings.Join(parts, ", ")
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

// JavaHome is the node's JAVA_HOME: a stand-in JDK whose bin/java only
// says its version (the simulated server needs no Java, but WSO2's
// startup scripts need JAVA_HOME, and drover checks it is there). Tests
// remove or break it to play a node without Java.
func (n *Node) JavaHome() string { return filepath.Join(n.Dir, "jdk") }

const fakeJava = "#!/bin/sh\necho 'openjdk version \"17.0.10\" 2024-01-16 (simulated by drover lab)' >&2\n"

// ensureJDK lays the stand-in JDK out once; a test's change to it stays.
func (n *Node) ensureJDK() error {
	if _, err := os.Stat(n.JavaHome()); err == nil {
		return nil
	}
	bin := filepath.Join(n.JavaHome(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bin, "java"), []byte(fakeJava), 0o755)
}

// ShimDir is a folder searched first for commands run on the node: tests put
// stand-ins for system tools there to inject faults.
func (n *Node) ShimDir() string { return filepath.Join(n.Dir, "shims") }
