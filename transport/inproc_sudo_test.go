package transport_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// fakeSudo is a sudo that understands -n, -k, -S and -p, wants the password
// in $FAKE_SUDO_DIR/password (none: no password needed), logs each command
// line and runs the command with SUDO_FAKE=1.
const fakeSudo = `#!/bin/sh
echo "$*" >> "$FAKE_SUDO_DIR/log"
want=$(cat "$FAKE_SUDO_DIR/password" 2>/dev/null)
nonint=0 stdin=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) nonint=1 ;; -k) ;; -S) stdin=1 ;; -p) shift ;; --) shift; break ;; *) break ;;
  esac
  shift
done
if [ -n "$want" ]; then
  if [ $nonint = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
  [ $stdin = 1 ] || exit 1
  IFS= read -r got
  if [ "$got" != "$want" ]; then echo "sudo: 1 incorrect password attempt" >&2; exit 1; fi
fi
SUDO_FAKE=1 exec "$@"
`

func sudoNode(t *testing.T, password string) (*sshtest.Server, transport.Config, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	if password != "" {
		os.WriteFile(filepath.Join(dir, "password"), []byte(password), 0o600)
	}
	s := sshtest.NewServer(t, sshtest.WithEnv("PATH="+dir+":"+os.Getenv("PATH"), "FAKE_SUDO_DIR="+dir))
	cfg := s.ClientConfig(t)
	cfg.Become = "sudo"
	return s, cfg, dir
}

func TestInprocSudo(t *testing.T) {
	const pw = "pa$$ word'1"
	tests := []struct {
		name      string
		password  string // the node's; "" is NOPASSWD
		give      string // what SudoPassword returns; "" means no callback
		become    bool
		wantOut   string
		wantErr   string
		wantAsks  int
		wantSudos int // lines in the fake sudo's log
	}{
		{name: "become off runs as the login user", password: pw, become: false, wantOut: "-\ndata\n"},
		{name: "sudo -n without a password", become: true, wantOut: "1\ndata\n", wantSudos: 1},
		{name: "sudo -n when a password is needed and none can be given", password: pw, become: true, wantErr: "a password is required", wantSudos: 1},
		{name: "NOPASSWD node: the password is never asked", give: pw, become: true, wantOut: "1\ndata\n", wantSudos: 2},
		{name: "password piped on stdin", password: pw, give: pw, become: true, wantOut: "1\ndata\n", wantAsks: 1, wantSudos: 3},
		{name: "wrong password", password: pw, give: "guess", become: true, wantErr: "sudo refused the password", wantAsks: 1, wantSudos: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg, dir := sudoNode(t, tt.password)
			var asks atomic.Int32
			if tt.give != "" {
				cfg.SudoPassword = func() ([]byte, error) { asks.Add(1); return []byte(tt.give), nil }
			}
			c := ipDial(t, cfg)
			res, err := c.Run(ipCtx(t), `echo "${SUDO_FAKE:--}"; cat`, transport.RunOptions{Become: tt.become, Stdin: strings.NewReader("data\n")})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if string(res.Stdout) != tt.wantOut {
				t.Errorf("stdout %q, want %q", res.Stdout, tt.wantOut)
			}
			if int(asks.Load()) != tt.wantAsks {
				t.Errorf("password asked %d times, want %d", asks.Load(), tt.wantAsks)
			}
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			if n := strings.Count(string(log), "\n"); n != tt.wantSudos {
				t.Errorf("sudo ran %d times, want %d:\n%s", n, tt.wantSudos, log)
			}
			if tt.give != "" && strings.Contains(string(log), tt.give) {
				t.Errorf("the password appeared on a sudo command line:\n%s", log)
			}
			if tt.give != "" && err != nil && strings.Contains(err.Error(), tt.give) {
				t.Errorf("the password appeared in an error: %v", err)
			}
			// A second run does not probe or ask again.
			if tt.wantErr == "" && tt.become {
				if _, err := c.Run(ipCtx(t), "true", transport.RunOptions{Become: true}); err != nil {
					t.Fatal(err)
				}
				if int(asks.Load()) != tt.wantAsks {
					t.Errorf("password asked again")
				}
			}
		})
	}
}

func TestInprocSudoExitCodePassesThrough(t *testing.T) {
	_, cfg, _ := sudoNode(t, "")
	c := ipDial(t, cfg)
	_, err := c.Run(ipCtx(t), "exit 4", transport.RunOptions{Become: true})
	var xe *transport.ExitError
	if !errors.As(err, &xe) || xe.Code != 4 {
		t.Fatalf("err = %v, want exit 4", err)
	}
}
