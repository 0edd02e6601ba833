package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/transport/sshtest"
)

// execNode is one node of an exec test lab.
type execNode struct {
	name    string
	env     []string // for the node's commands
	down    bool     // nothing listens on its port
	unknown bool     // its host key is not in known_hosts
}

// execLab starts one sshtest server per node and writes an inventory (and
// a known_hosts file) for them into a temporary directory.
func execLab(t *testing.T, nodes ...execNode) string {
	t.Helper()
	t.Setenv("DROVER_SSH_CONFIG", "none")
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("DROVER_SUDO_PASSWORD", "")
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	pub, err := sshtest.ClientKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var kh, inv strings.Builder
	fmt.Fprintf(&inv, `cluster "lab" {
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
  connect_timeout = "20s"
}
`, key, filepath.Join(dir, "known_hosts"))
	for _, n := range nodes {
		s := sshtest.NewServer(t, sshtest.WithAuthorizedKey(pub), sshtest.WithEnv(n.env...))
		port := s.Port()
		if n.down {
			s.Close()
		}
		if !n.unknown {
			kh.WriteString(s.KnownHostsLine() + "\n")
		}
		fmt.Fprintf(&inv, "node %q {\n  profile = \"gateway-worker\"\n  host = \"127.0.0.1\"\n  port = %d\n}\n", n.name, port)
	}
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(kh.String()), 0o600)
	path := filepath.Join(dir, "drover.hcl")
	if err := os.WriteFile(path, []byte(inv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sortedLines returns the lines of s sorted, for output whose node order
// varies.
func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if s == "" {
		lines = nil
	}
	slices.Sort(lines)
	return lines
}

func TestExecCommand(t *testing.T) {
	tests := []struct {
		name       string
		nodes      []execNode
		args       []string
		code       int
		stdout     []string // sorted lines
		stderr     []string // sorted lines, before the summary
		summary    []string // each must appear in stderr
		notSummary bool     // stderr has no summary
	}{
		{
			name:  "every node succeeds; prefixes are aligned",
			nodes: []execNode{{name: "cp-1"}, {name: "gw-1"}, {name: "traffic-1"}},
			args:  []string{"exec", "--", "echo", "hello; echo", "'two  spaces'"},
			code:  0,
			stdout: []string{
				"cp-1      | hello", "cp-1      | two  spaces",
				"gw-1      | hello", "gw-1      | two  spaces",
				"traffic-1 | hello", "traffic-1 | two  spaces",
			},
			notSummary: true,
		},
		{
			name:    "a failing node: stdout and stderr kept apart, summary on stderr",
			nodes:   []execNode{{name: "gw-1", env: []string{"CODE=0"}}, {name: "gw-2", env: []string{"CODE=3"}}},
			args:    []string{"exec", "--", `echo out; echo err >&2; printf 'no newline'; exit $CODE`},
			code:    1,
			stdout:  []string{"gw-1 | no newline", "gw-1 | out", "gw-2 | no newline", "gw-2 | out"},
			stderr:  []string{"gw-1 | err", "gw-2 | err"},
			summary: []string{"drover: exec failed on 1 of 2 nodes:\n  transport: gw-2: command exited 3: err\n"},
		},
		{
			name:    "an unreachable node does not stop the others",
			nodes:   []execNode{{name: "gw-1"}, {name: "gw-2", down: true}, {name: "gw-3"}},
			args:    []string{"--parallel", "1", "exec", "--", "echo up"},
			code:    1,
			stdout:  []string{"gw-1 | up", "gw-3 | up"},
			summary: []string{"exec failed on 1 of 3 nodes", "transport: gw-2 (127.0.0.1:", "): connect: connection refused"},
		},
		{
			name:    "an unknown host key is refused with a hint (exit 3)",
			nodes:   []execNode{{name: "gw-1"}, {name: "gw-2", unknown: true}},
			args:    []string{"exec", "--", "echo up"},
			code:    3,
			stdout:  []string{"gw-1 | up"},
			summary: []string{"host key for gw-2 (127.0.0.1:", "is unknown", "hint: add the host with: ssh-keyscan -p"},
		},
		{
			name:    "--timeout stops a slow command",
			nodes:   []execNode{{name: "gw-1"}},
			args:    []string{"exec", "--timeout", "300ms", "--", "echo started; sleep 60"},
			code:    1,
			stdout:  []string{"gw-1 | started"},
			summary: []string{"gw-1: timed out after 300ms (--timeout); the command was stopped"},
		},
		{
			name:   "--limit selects nodes",
			nodes:  []execNode{{name: "cp-1"}, {name: "gw-1"}, {name: "gw-2"}},
			args:   []string{"exec", "-l", "gw-*", "--", "echo x"},
			code:   0,
			stdout: []string{"gw-1 | x", "gw-2 | x"},
		},
		{
			name:    "no command is a usage error",
			nodes:   []execNode{{name: "gw-1"}},
			args:    []string{"exec", "--"},
			code:    2,
			summary: []string{"exec needs a command"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := execLab(t, tt.nodes...)
			r := run(t, append([]string{"-i", inv}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r)
			}
			if got := sortedLines(r.stdout); !slices.Equal(got, tt.stdout) {
				t.Errorf("stdout lines %q, want %q", got, tt.stdout)
			}
			body, _, _ := strings.Cut(r.stderr, "drover:")
			if got := sortedLines(body); !slices.Equal(got, tt.stderr) {
				t.Errorf("stderr lines %q, want %q", got, tt.stderr)
			}
			for _, s := range tt.summary {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tt.notSummary && r.stderr != "" {
				t.Errorf("stderr not empty:\n%s", r.stderr)
			}
			if strings.Contains(r.stdout, "\x1b[") || strings.Contains(r.stderr, "\x1b[") {
				t.Error("colour written to a non-terminal")
			}
		})
	}
}

func TestExecJSON(t *testing.T) {
	inv := execLab(t, execNode{name: "gw-1", env: []string{"CODE=0"}}, execNode{name: "gw-2", env: []string{"CODE=4"}}, execNode{name: "gw-3", down: true})
	r := run(t, "-i", inv, "exec", "--json", "--", `echo "out $CODE"; echo err >&2; exit $CODE`)
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r)
	}
	type row struct {
		Node       string  `json:"node"`
		ExitCode   *int    `json:"exit_code"`
		Stdout     string  `json:"stdout"`
		Stderr     string  `json:"stderr"`
		Error      string  `json:"error"`
		DurationMS *int64  `json:"duration_ms"`
		Extra      *string `json:"extra"`
	}
	rows := map[string]row{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var x row
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if x.DurationMS == nil {
			t.Errorf("line %q has no duration_ms", line)
		}
		rows[x.Node] = x
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3:\n%s", len(rows), r.stdout)
	}
	if g := rows["gw-1"]; g.ExitCode == nil || *g.ExitCode != 0 || g.Stdout != "out 0\n" || g.Stderr != "err\n" || g.Error != "" {
		t.Errorf("gw-1: %+v", g)
	}
	if g := rows["gw-2"]; g.ExitCode == nil || *g.ExitCode != 4 || g.Stdout != "out 4\n" || !strings.Contains(g.Error, "exited 4") {
		t.Errorf("gw-2: %+v", g)
	}
	if g := rows["gw-3"]; g.ExitCode != nil || !regexp.MustCompile(`gw-3 \(127\.0\.0\.1:\d+\): connect: connection refused`).MatchString(g.Error) {
		t.Errorf("gw-3: %+v", g)
	}
	if !strings.Contains(r.stderr, "exec failed on 2 of 3 nodes") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
