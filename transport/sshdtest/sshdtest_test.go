package sshdtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshRun runs OpenSSH's ssh client against node i of c, independent of drover's transport.
func sshRun(ctx context.Context, t *testing.T, c *Cluster, i int, extra []string, remote string) (string, error) {
	t.Helper()
	// Options must come before the destination.
	args := append(append(append([]string(nil), extra...), c.SSHArgs(i)...), remote)
	cmd := exec.CommandContext(ctx, RequireProgram(t, "ssh"), args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestStartLogsInWithOpenSSH(t *testing.T) {
	c := Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kh, err := os.ReadFile(c.KnownHosts())
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]bool{}
	for i, n := range c.Nodes() {
		if hosts[n.Addr()] {
			t.Errorf("%s: address %s used twice", n.Name(), n.Addr())
		}
		hosts[n.Addr()] = true
		if !strings.Contains(string(kh), n.KnownHostsLines()) {
			t.Errorf("%s: known_hosts lacks %q", n.Name(), n.KnownHostsLines())
		}
		if want := "[" + n.Host() + "]:"; !strings.HasPrefix(n.KnownHostsLines(), want) {
			t.Errorf("%s: known_hosts line %q does not start with %q", n.Name(), n.KnownHostsLines(), want)
		}
		out, err := sshRun(ctx, t, c, i, nil, `echo "$DROVER_TEST_NODE $DROVER_TEST_NODE_DIR"; id -un`)
		if err != nil {
			t.Fatalf("%s: ssh: %v\n%s", n.Name(), err, out)
		}
		want := n.Name() + " " + n.Dir() + "\n" + c.User() + "\n"
		if out != want {
			t.Errorf("%s: ssh printed %q, want %q", n.Name(), out, want)
		}
	}
	if isLinux() {
		if !c.WaitIdle(30 * time.Second) {
			t.Error("WaitIdle: connections still open 30s after the last ssh ended")
		}
		if c.CPUTime() <= 0 {
			t.Error("CPUTime is 0 after three logins")
		}
	}
	if len(c.Nodes()) > 1 && c.Node(0).Host() == c.Node(1).Host() && isLinux() {
		t.Errorf("nodes share the host %s on Linux", c.Node(0).Host())
	}
}

func TestRSAHostKeyIsUsable(t *testing.T) {
	c := Start(t, 1, WithRSAHostKey())
	n := c.Node(0)
	if len(n.HostKeys()) != 2 || n.HostKeys()[1].Type() != ssh.KeyAlgoRSA {
		t.Fatalf("host keys: %v, want ed25519 and rsa", n.HostKeys())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := sshRun(ctx, t, c, 0, []string{"-o", "HostKeyAlgorithms=rsa-sha2-512"}, "echo ok")
	if err != nil || out != "ok\n" {
		t.Fatalf("ssh with an RSA host key: %v\n%s", err, out)
	}
}

func TestKillBreaksConnectionsAndRestartKeepsKeys(t *testing.T) {
	c := Start(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	marker := c.Node(0).Dir() + "/finished"

	// A long command on node0, and the connection broken under it.
	done := make(chan error, 1)
	go func() {
		out, err := sshRun(ctx, t, c, 0, nil, "sleep 30; touch "+marker)
		if err == nil {
			t.Errorf("ssh survived the kill:\n%s", out)
		}
		done <- err
	}()
	waitFor(t, func() bool { return c.Node(0).HasProcess("sleep") })
	c.Kill(0)
	if err := <-done; err == nil {
		t.Fatal("ssh returned no error after Kill")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the killed command went on and touched its marker")
	}
	if c.Node(0).PID() != 0 {
		t.Error("PID after Kill is not 0")
	}
	if out, err := sshRun(ctx, t, c, 0, []string{"-o", "ConnectTimeout=5"}, "true"); err == nil {
		t.Errorf("ssh to a killed node succeeded:\n%s", out)
	}
	// The other node never noticed.
	if out, err := sshRun(ctx, t, c, 1, nil, "echo alive"); err != nil || out != "alive\n" {
		t.Errorf("node1 after node0 was killed: %v\n%s", err, out)
	}

	c.Restart(0)
	out, err := sshRun(ctx, t, c, 0, nil, "echo back")
	if err != nil || out != "back\n" {
		t.Fatalf("ssh after Restart (strict known_hosts): %v\n%s", err, out)
	}
}

func TestFreezeThaw(t *testing.T) {
	c := Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.Freeze(0)
	if out, err := sshRun(ctx, t, c, 0, []string{"-o", "ConnectTimeout=2"}, "true"); err == nil {
		t.Errorf("ssh to a frozen node succeeded:\n%s", out)
	}
	c.Thaw(0)
	if out, err := sshRun(ctx, t, c, 0, nil, "echo thawed"); err != nil || out != "thawed\n" {
		t.Errorf("ssh after Thaw: %v\n%s", err, out)
	}
}

func TestSkipDisallowed(t *testing.T) {
	tests := []struct {
		ci, require string
		want        bool
	}{
		{"", "", false},
		{"", "1", true},
		{"", "true", true},
		{"", "0", false},
		{"true", "", true},
		{"1", "", true},
		{"false", "", false},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci+","+EnvRequire+"="+tt.require, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv(EnvRequire, tt.require)
			if got := SkipDisallowed(); got != tt.want {
				t.Errorf("SkipDisallowed() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoopbackHost(t *testing.T) {
	if !isLinux() {
		t.Skip("one address per node is Linux-only")
	}
	tests := []struct {
		i    int
		want string
	}{
		{0, "127.0.0.2"},
		{1, "127.0.0.3"},
		{49, "127.0.0.51"},
		{252, "127.0.0.254"},
		{253, "127.0.1.2"},
	}
	for _, tt := range tests {
		if got := loopbackHost(tt.i); got != tt.want {
			t.Errorf("loopbackHost(%d) = %s, want %s", tt.i, got, tt.want)
		}
	}
}

func TestKnownHostsAddr(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"127.0.0.2", 22, "127.0.0.2"},
		{"127.0.0.2", 2222, "[127.0.0.2]:2222"},
	}
	for _, tt := range tests {
		if got := knownHostsAddr(tt.host, tt.port); got != tt.want {
			t.Errorf("knownHostsAddr(%s, %d) = %s, want %s", tt.host, tt.port, got, tt.want)
		}
	}
}

// waitFor polls cond; the deadline only guards against a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isLinux() bool { return runtime.GOOS == "linux" }

func TestNodeConfigWinsAndStaysOnItsNode(t *testing.T) {
	c := Start(t, 2, WithNodeConfig(0, "ForceCommand echo forced"), WithConfig("Match User nobody", "  PermitTTY no"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		node int
		want string
	}{
		{0, "forced\n"},
		{1, "normal\n"},
	}
	for _, tt := range tests {
		out, err := sshRun(ctx, t, c, tt.node, nil, "echo normal")
		if err != nil || out != tt.want {
			t.Errorf("node%d: %q, %v; want %q", tt.node, out, err, tt.want)
		}
	}
}

func TestShellRC(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	if _, err := os.Stat(home + "/.bashrc"); err != nil {
		t.Skip("no ~/.bashrc to tell the modes apart")
	}
	if sh, _ := exec.Command("sh", "-c", `getent passwd "$(id -un)" | cut -d: -f7`).Output(); !strings.Contains(string(sh), "bash") {
		t.Skip("login shell is not bash")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// bash reads ~/.bashrc only as a top-level shell: SHLVL 1 inside the command. With
	// sshdtest's SetEnv SHLVL=1 bash counts itself as level 2 and skips it.
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"default skips ~/.bashrc", nil, "2\n"},
		{"WithUserShellRC", []Option{WithUserShellRC()}, "1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Start(t, 1, tt.opts...)
			out, err := sshRun(ctx, t, c, 0, nil, "echo $SHLVL")
			if err != nil || out != tt.want {
				t.Errorf("SHLVL %q, %v; want %q", out, err, tt.want)
			}
		})
	}
}
