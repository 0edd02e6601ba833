package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/transport/sshtest"
)

// TestConnectionHints: a node nothing listens on, a host that does not
// resolve and a node that refuses the keys each get their hint, in facts
// and exec; the auth failure says which keys were offered and from where.
func TestConnectionHints(t *testing.T) {
	t.Setenv("DROVER_SSH_CONFIG", "none")
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if _, err := sshtest.ClientKey(key); err != nil {
		t.Fatal(err)
	}
	down := sshtest.NewServer(t)
	downPort := down.Port()
	down.Close()
	picky := sshtest.NewServer(t) // accepts only its own client key
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(picky.KnownHostsLine()+"\n"), 0o600)
	inv := filepath.Join(dir, "drover.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`cluster "c" {
  product = "wso2am"
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  strategy = "in-place"
  level    = 3
}
ssh {
  identity_files  = [%q]
  known_hosts     = %q
  connect_timeout = "5s"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "127.0.0.1"
  port    = %d
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "no-such-node.invalid"
}
node "gw-3" {
  profile = "gateway-worker"
  host    = "127.0.0.1"
  port    = %d
}
`, key, filepath.Join(dir, "known_hosts"), downPort, picky.Port())), 0o600)

	wants := []string{
		fmt.Sprintf("hint: is sshd listening on 127.0.0.1:%d?", downPort),
		"hint: cannot resolve no-such-node.invalid: check the node's host or your ssh_config",
		"was refused: offered " + key + " (from identity_files)",
		"hint: put the public half of one of the offered keys in ~/.ssh/authorized_keys",
	}
	for _, args := range [][]string{{"facts"}, {"exec", "--", "true"}} {
		r := run(t, append([]string{"-i", inv}, args...)...)
		if r.code != ExitFailed {
			t.Errorf("%v: want exit 1:\n%s", args, r)
		}
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, w, r.stderr)
			}
		}
	}
}
