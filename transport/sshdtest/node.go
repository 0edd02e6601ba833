package sshdtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Node is one real sshd of a Cluster.
type Node struct {
	index int
	name  string
	host  string
	port  int
	dir   string // the node's directory (for the test's files); sshd's own files are in dir/.sshd
	keys  []ssh.Signer
	c     *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Index is the node's position in its Cluster.
func (n *Node) Index() int { return n.index }

// Name is the node's name ("node0", "node1", ...), used as transport.Config.Node.
func (n *Node) Name() string { return n.name }

// Host is the node's loopback address (127.0.0.2, 127.0.0.3, ... on Linux).
func (n *Node) Host() string { return n.host }

// Port is the TCP port sshd listens on.
func (n *Node) Port() int { return n.port }

// Addr is "host:port".
func (n *Node) Addr() string { return hostPort(n.host, n.port) }

// Dir is the node's own directory; commands see it as $DROVER_TEST_NODE_DIR. sshd's config, keys
// and log live in its .sshd subdirectory.
func (n *Node) Dir() string { return n.dir }

// HostKey is the node's ed25519 host key.
func (n *Node) HostKey() ssh.PublicKey { return n.keys[0].PublicKey() }

// HostKeys are all of the node's host keys (ed25519 first, then RSA with WithRSAHostKey).
func (n *Node) HostKeys() []ssh.PublicKey {
	out := make([]ssh.PublicKey, len(n.keys))
	for i, k := range n.keys {
		out[i] = k.PublicKey()
	}
	return out
}

// KnownHostsLines are this node's known_hosts lines, one per host key, "[host]:port" form.
func (n *Node) KnownHostsLines() string {
	var b strings.Builder
	for _, k := range n.keys {
		b.WriteString(knownHostsLine(n.host, n.port, k.PublicKey()))
	}
	return b.String()
}

// JumpSpec is the node as a transport jump hop: "user@host:port".
func (n *Node) JumpSpec() string { return n.c.user + "@" + n.Addr() }

// LogPath is sshd's log file (-E).
func (n *Node) LogPath() string { return filepath.Join(n.sshdDir(), "sshd.log") }

// Log returns sshd's log so far (and whatever sshd printed on stderr before it opened the log).
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath())
	e, _ := os.ReadFile(filepath.Join(n.sshdDir(), "sshd.stderr"))
	return string(e) + string(b)
}

// PID is the listening sshd's process id, 0 when it is not running.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// HasProcess reports whether a process with this command name (as in /proc/PID/comm, e.g.
// "sleep") runs under the node's sshd: a command a client started is running right now.
// Linux only; false elsewhere.
func (n *Node) HasProcess(name string) bool {
	pid := n.PID()
	if pid == 0 {
		return false
	}
	for _, p := range descendants(pid) {
		if processName(p) == name {
			return true
		}
	}
	return false
}

func (n *Node) sshdDir() string { return filepath.Join(n.dir, ".sshd") }

// writeConfig writes sshd_config and authorized_keys into the node's .sshd directory.
func (n *Node) writeConfig(o *options, clientPub ssh.PublicKey, extra, nodeExtra []string) (string, error) {
	d := n.sshdDir()
	ak := filepath.Join(d, "authorized_keys")
	if err := os.WriteFile(ak, ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		return "", fmt.Errorf("sshdtest: write authorized_keys: %w", err)
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# written by drover's transport/sshdtest for %s", n.name)
	// sshd keeps the first value it reads for a keyword, so the caller's lines come first; a Match
	// block (and everything after it) must come last.
	top, match := splitMatch(extra)
	nodeTop, nodeMatch := splitMatch(nodeExtra)
	top = append(append([]string(nil), top...), nodeTop...)
	match = append(append([]string(nil), match...), nodeMatch...)
	for _, l := range top {
		line("%s", l)
	}
	line("ListenAddress %s", n.Addr())
	for i := range n.keys {
		line("HostKey %s", filepath.Join(d, hostKeyFile(i)))
	}
	line("PidFile %s", filepath.Join(d, "sshd.pid"))
	line("AuthorizedKeysFile %s", ak)
	line("StrictModes no")
	line("UsePAM no")
	line("PasswordAuthentication no")
	line("KbdInteractiveAuthentication no")
	line("PubkeyAuthentication yes")
	line("PermitRootLogin yes")
	line("AllowUsers %s", n.c.user)
	line("AllowTcpForwarding yes")
	line("X11Forwarding no")
	line("UseDNS no")
	line("PrintMotd no")
	line("PrintLastLog no")
	line("LogLevel %s", o.logLevel)
	line("Subsystem sftp %s", sftpServer())
	env := []string{"DROVER_TEST_NODE=" + n.name, "DROVER_TEST_NODE_DIR=" + n.dir}
	if !o.userRC {
		// bash reads ~/.bashrc for a command sent over ssh only when it thinks it is a
		// top-level shell (SHLVL < 2 once incremented).
		env = append(env, "SHLVL=1")
	}
	var quoted []string
	for _, e := range env {
		quoted = append(quoted, strconv.Quote(e))
	}
	line("SetEnv %s", strings.Join(quoted, " "))
	for _, kw := range optionalKeywords() {
		line("%s", kw)
	}
	for _, l := range match {
		line("%s", l)
	}
	p := filepath.Join(d, "sshd_config")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("sshdtest: write sshd_config: %w", err)
	}
	return p, nil
}

// splitMatch splits config lines at the first Match line.
func splitMatch(lines []string) (top, match []string) {
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "Match") {
			return lines[:i], lines[i:]
		}
	}
	return lines, nil
}

func hostKeyFile(i int) string {
	if i == 0 {
		return "ssh_host_ed25519_key"
	}
	return "ssh_host_rsa_key"
}

// start runs sshd in the foreground and waits until it listens. It returns errAddrInUse when the
// port was taken between choosing it and sshd binding it.
func (n *Node) start(sshd, config string) error {
	d := n.sshdDir()
	stderr, err := os.OpenFile(filepath.Join(d, "sshd.stderr"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sshdtest: %s: %w", n.name, err)
	}
	defer stderr.Close()
	// A fresh log per start so waitListening does not see the previous run's lines.
	logPath := n.LogPath()
	if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
		f, err := os.OpenFile(filepath.Join(d, "sshd.log.old"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err == nil {
			_, _ = f.Write(b)
			_ = f.Close()
		}
		_ = os.Remove(logPath)
	}
	cmd := exec.Command(sshd, "-D", "-f", config, "-E", logPath)
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	cmd.Dir = n.dir
	// Its own process group: a ^C to the test does not reach sshd before our cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sshdtest: %s: start %s: %w", n.name, sshd, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	return n.waitListening(exited)
}

var errAddrInUse = errors.New("sshdtest: address already in use")

// waitListening waits for sshd's "Server listening on" log line, or for sshd to exit.
func (n *Node) waitListening(exited <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second) // a deadlock guard, not a timing assertion
	for {
		b, _ := os.ReadFile(n.LogPath())
		if bytes.Contains(b, []byte("Server listening on")) {
			return nil
		}
		select {
		case <-exited:
			log := n.Log()
			if strings.Contains(log, "Address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("sshdtest: %s: sshd exited before listening on %s:\n%s", n.name, n.Addr(), log)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.kill()
			return fmt.Errorf("sshdtest: %s: sshd did not listen on %s:\n%s", n.name, n.Addr(), n.Log())
		}
	}
}

// kill kills the node's whole sshd tree and waits for the listener. Safe to call twice.
func (n *Node) kill() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	killTree(cmd.Process.Pid)
	<-exited
}

// freeport picks a port that is free on host now. sshd binds it a moment later; start retries
// with another port when someone else was faster.
func freeport(host string) (int, error) {
	l, err := net.Listen("tcp", hostPort(host, 0))
	if err != nil {
		return 0, fmt.Errorf("sshdtest: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sftpServer is Debian's sftp-server when present (what scp and sftp use against a stock
// Debian node), else sshd's internal one.
func sftpServer() string {
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "internal-sftp"
}

var (
	optionalOnce sync.Once
	optionalKWs  []string
)

// optionalKeywords are settings that only newer sshd versions know. PerSourcePenalties (9.8+)
// would otherwise refuse 127.0.0.1 for a while after the faults and refused logins tests cause.
func optionalKeywords() []string {
	optionalOnce.Do(func() {
		sshd, err := sshdPath()
		if err != nil {
			return
		}
		for _, kw := range []string{"PerSourcePenalties no"} {
			out, _ := exec.Command(sshd, "-t", "-f", os.DevNull, "-o", strings.Replace(kw, " ", "=", 1)).CombinedOutput()
			if !bytes.Contains(out, []byte("Bad configuration option")) {
				optionalKWs = append(optionalKWs, kw)
			}
		}
	})
	return optionalKWs
}
