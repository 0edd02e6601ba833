package cli

import (
	"fmt"
	"os"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/drover-sh/drover/transport"
	"golang.org/x/term"
)

// nodeConfig maps a node's inventory SSH settings to the transport's.
// Inventory values win over ~/.ssh/config, which wins over built-in
// defaults; the transport applies the last two. DROVER_SSH_CONFIG names
// another ssh_config file ("none" to read none); DROVER_SUDO_PASSWORD
// holds the sudo password for become = "sudo" (else sudo -n).
func (e *env) nodeConfig(n *inventory.Node) transport.Config {
	cfg := rollout.NodeConfig(n)
	cfg.SSHConfigPath = e.getenv("DROVER_SSH_CONFIG")
	cfg.Passphrase = e.askPassphrase
	cfg.Trace = e.tracer()
	if pw := e.getenv("DROVER_SUDO_PASSWORD"); pw != "" {
		cfg.SudoPassword = func() ([]byte, error) { return []byte(pw), nil }
	}
	return cfg
}

// askPassphrase asks for an identity file's passphrase on the terminal;
// without one, the dial fails with an error naming the file.
func (e *env) askPassphrase(file string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s is encrypted and there is no terminal to ask for its passphrase; load it into ssh-agent", file)
	}
	defer tty.Close()
	e.promptMu.Lock()
	defer e.promptMu.Unlock()
	fmt.Fprintf(tty, "Passphrase for %s: ", file)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return pw, err
}
