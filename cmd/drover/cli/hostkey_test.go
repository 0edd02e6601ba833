package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
	"golang.org/x/crypto/ssh"
)

// setKnownHost rewrites the lab's known_hosts entry of node n: with
// another key (changed), or without the entry (unknown) when key is "".
func setKnownHost(t *testing.T, l *lab.Lab, n *lab.Node, key string) {
	t.Helper()
	b, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("[127.0.0.1]:%d ", n.SSHPort)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, prefix) {
			if key == "" {
				continue
			}
			line = prefix + key
		}
		out = append(out, line)
	}
	if err := os.WriteFile(l.KnownHosts, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func otherHostKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// TestHostKeyRefusedInEveryCommand: a changed or unknown host key is exit 3
// with the command that fixes it (ssh-keygen -R, ssh-keyscan) in every
// command that connects, and nothing changes on any node.
func TestHostKeyRefusedInEveryCommand(t *testing.T) {
	nodes, _ := lab.ParseNodes("gw=2")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	t.Setenv("DROVER_SSH_CONFIG", "none")
	gw1 := l.Nodes[0]
	planFile := t.TempDir() + "/plan.json"
	if r := run(t, "plan", "-o", planFile); r.code != 0 {
		t.Fatalf("plan -o before the key changed:\n%s", r)
	}

	commands := [][]string{
		{"facts"}, {"facts", "--json"}, {"status"}, {"status", "--json"},
		{"plan"}, {"plan", "--json"}, {"apply", "--yes"}, {"apply", planFile},
		{"recover", "gw-1", "--resume", "--yes"}, {"recover", "gw-1", "--rollback", "--yes"},
		{"unlock", "20261123T160047-baa136", "--force"}, {"exec", "--", "true"},
	}
	for _, kc := range []struct {
		name, key, hint string
	}{
		{"changed", otherHostKey(t), "ssh-keygen -R '[127.0.0.1]:"},
		{"unknown", "", fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1", gw1.SSHPort)},
	} {
		setKnownHost(t, l, gw1, kc.key)
		for _, args := range commands {
			r := run(t, args...)
			if r.code != ExitRefused || !strings.Contains(r.stderr, kc.hint) || !strings.Contains(r.stderr, "gw-1") {
				t.Errorf("%s host key, drover %s: want exit 3 naming gw-1 with the hint %q:\n%s", kc.name, strings.Join(args, " "), kc.hint, r)
			}
		}
	}
	for _, n := range l.Nodes {
		if lv := levelOf(t, n.Home); lv != l.Level {
			t.Errorf("%s is at level %d after refused commands, want %d", n.Name, lv, l.Level)
		}
	}
}

func levelOf(t *testing.T, home string) int {
	t.Helper()
	n, err := apimsim.ReadLevel(home)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
