package transport

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Host key policies.
const (
	PolicyStrict    = "strict"     // unknown hosts are refused
	PolicyAcceptNew = "accept-new" // unknown hosts are recorded; changed keys are refused
)

// Built-in defaults, used when neither the Config nor ssh_config sets a value.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 5 * time.Second
	DefaultKeepAliveMax   = 3
	DefaultMaxSessions    = 10
)

// Config says how to reach one node. Zero values mean "not set": the
// matching ~/.ssh/config value applies, then the built-in default.
type Config struct {
	Node           string        // node name, used in every error message
	Host           string        // address or ssh_config alias
	Port           int           // 0: ssh_config or 22
	User           string        // "": ssh_config or the current user
	IdentityFiles  []string      // absolute paths; none: ssh_config IdentityFile, then ~/.ssh/id_*
	KnownHosts     string        // "": ssh_config UserKnownHostsFile, then ~/.ssh/known_hosts
	HostKeyPolicy  string        // "strict" (default) | "accept-new"
	Jump           []string      // "[ssh://][user@]host[:port]" hops (ParseJump), first hop first; none: ssh_config ProxyJump
	Become         string        // "" | "sudo"
	ConnectTimeout time.Duration // bounds TCP connect + handshake of each hop (default 10s)
	SSHConfigPath  string        // "": ~/.ssh/config; "none": do not read ssh_config
	KeepAlive      time.Duration // interval of keepalive@openssh.com (default 5s; dead after 3 missed); <0 disables
	MaxSessions    int           // sessions open at once on the connection (default 10, sshd's MaxSessions); more wait

	// NoAgent turns the ssh-agent off. When false and AgentSocket (or else
	// SSH_AUTH_SOCK) names a socket, the agent's keys are offered after the
	// identity files (only those matching an identity file with
	// IdentitiesOnly).
	NoAgent     bool
	AgentSocket string

	// Passphrase returns the passphrase of an encrypted identity file. nil:
	// an encrypted key fails the dial with an error naming the file, unless
	// the agent holds it.
	Passphrase func(file string) ([]byte, error) // asked once per file per process; the slice is cleared after use
	// SudoPassword returns the sudo password for Become "sudo". nil: sudo -n
	// only. The password goes to sudo's stdin, never to a command line or a log.
	SudoPassword func() ([]byte, error)

	// Trace, when set, is told of every connection made (each hop with its
	// address, user, key and host key) and every command run (with its
	// duration, exit status and kept output), for verbose logs. It is
	// called from the goroutine that dialled or ran; it must not block.
	Trace func(TraceEvent)
}

// settings is a Config with ssh_config and defaults applied.
type settings struct {
	node           string
	alias          string // Config.Host as given
	host           string // HostName
	port           int
	user           string
	identityFiles  []string
	filesFrom      int // filesDefault, filesSSHConfig or filesConfig
	identitiesOnly bool
	jump           []string
	knownHosts     string
	policy         string
	timeout        time.Duration
	keepAlive      time.Duration
	keepAliveMax   int
	agentSocket    string
	maxSessions    int
}

func (s *settings) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// resolve lays cfg over ssh_config over the defaults.
func resolve(cfg Config) (*settings, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("transport: %s: no host", cfg.Node)
	}
	sc, err := loadSSHConfig(cfg.SSHConfigPath)
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", cfg.Node, err)
	}
	look := sc.lookup(cfg.Host)
	s := &settings{node: cfg.Node, alias: cfg.Host, host: cfg.Host}
	if hn := look.get("HostName"); hn != "" {
		s.host = strings.ReplaceAll(hn, "%h", cfg.Host)
	}
	s.user = firstNonEmpty(cfg.User, look.get("User"), currentUser())
	s.port = cfg.Port
	if s.port == 0 {
		if p := look.get("Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("transport: %s: ssh_config Port %q for %s is not a port", cfg.Node, p, cfg.Host)
			}
			s.port = n
		} else {
			s.port = DefaultPort
		}
	}
	tok := tokens{home: homeDir(), alias: cfg.Host, host: s.host, user: s.user, port: s.port}
	switch {
	case len(cfg.IdentityFiles) > 0:
		s.identityFiles, s.filesFrom = cfg.IdentityFiles, filesConfig
	case len(look.getAll("IdentityFile")) > 0:
		for _, f := range look.getAll("IdentityFile") {
			s.identityFiles = append(s.identityFiles, tok.expand(f))
		}
		s.filesFrom = filesSSHConfig
	default:
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(tok.home, ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				s.identityFiles = append(s.identityFiles, p)
			}
		}
	}
	s.identitiesOnly = strings.EqualFold(look.get("IdentitiesOnly"), "yes")
	s.jump = cfg.Jump
	if len(s.jump) == 0 {
		if pj := look.get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
			for _, hop := range strings.Split(pj, ",") {
				if hop = strings.TrimSpace(hop); hop != "" {
					s.jump = append(s.jump, hop) // ParseJump takes ssh:// URLs too
				}
			}
		}
	}
	s.knownHosts = cfg.KnownHosts
	if s.knownHosts == "" {
		if f := strings.Fields(look.get("UserKnownHostsFile")); len(f) > 0 && f[0] != "none" {
			s.knownHosts = tok.expand(f[0])
		} else {
			s.knownHosts = filepath.Join(tok.home, ".ssh", "known_hosts")
		}
	}
	s.policy = cfg.HostKeyPolicy
	if s.policy == "" {
		switch strings.ToLower(look.get("StrictHostKeyChecking")) {
		case "accept-new", "no", "off":
			// drover never ignores a changed key: "no" means accept-new here.
			s.policy = PolicyAcceptNew
		default:
			s.policy = PolicyStrict
		}
	}
	if s.policy != PolicyStrict && s.policy != PolicyAcceptNew {
		return nil, fmt.Errorf("transport: %s: unknown host key policy %q (want %q or %q)", cfg.Node, s.policy, PolicyStrict, PolicyAcceptNew)
	}
	s.timeout = cfg.ConnectTimeout
	if s.timeout == 0 {
		s.timeout = seconds(look.get("ConnectTimeout"), DefaultConnectTimeout)
	}
	s.keepAlive = cfg.KeepAlive
	if s.keepAlive == 0 {
		s.keepAlive = seconds(look.get("ServerAliveInterval"), DefaultKeepAlive)
	}
	s.keepAliveMax = DefaultKeepAliveMax
	if n, err := strconv.Atoi(look.get("ServerAliveCountMax")); err == nil && n > 0 {
		s.keepAliveMax = n
	}
	s.maxSessions = cfg.MaxSessions
	if s.maxSessions <= 0 {
		s.maxSessions = DefaultMaxSessions
	}
	if !cfg.NoAgent {
		s.agentSocket = firstNonEmpty(cfg.AgentSocket, os.Getenv("SSH_AUTH_SOCK"))
	}
	return s, nil
}

// seconds parses an ssh_config number of seconds; 0, empty or invalid
// values give def.
func seconds(v string, def time.Duration) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return "/"
}

// tokens expands ~ and the %-tokens of ssh_config file names.
type tokens struct {
	home, alias, host, user string
	port                    int
}

func (t tokens) expand(s string) string {
	if s == "~" {
		return t.home
	}
	if strings.HasPrefix(s, "~/") {
		s = filepath.Join(t.home, s[2:])
	}
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(t.home)
		case 'h':
			b.WriteString(t.host)
		case 'n':
			b.WriteString(t.alias)
		case 'r':
			b.WriteString(t.user)
		case 'u':
			b.WriteString(currentUser())
		case 'p':
			b.WriteString(strconv.Itoa(t.port))
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
