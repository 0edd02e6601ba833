package transport

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "conf.d.conf")
	os.WriteFile(inc, []byte("Host inc-*\n  User from-include\n  Port 2201\n"), 0o600)
	conf := filepath.Join(dir, "config")
	os.WriteFile(conf, []byte(strings.Join([]string{
		"Include " + inc,
		"Host gw-*",
		"  HostName %h.example.net",
		"  User deploy",
		"  Port 2222",
		"  IdentityFile ~/.ssh/gw_key",
		"  IdentityFile /keys/%r@%h",
		"  IdentitiesOnly yes",
		"  ProxyJump ops@bastion:2200,jump2",
		"  ConnectTimeout 7",
		"  ServerAliveInterval 2",
		"  StrictHostKeyChecking accept-new",
		"  UserKnownHostsFile ~/.ssh/kh_gw",
		"Match host cp-*",
		"  User matched",
		"  Port 2300",
		"Host *",
		"  User fallback",
		"",
	}, "\n")), 0o600)
	home := homeDir()
	tests := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, s *settings)
	}{
		{"ssh_config fills what the Config leaves unset", Config{Host: "gw-1"}, func(t *testing.T, s *settings) {
			want := settings{host: "gw-1.example.net", port: 2222, user: "deploy", identitiesOnly: true,
				knownHosts: filepath.Join(home, ".ssh/kh_gw"), policy: PolicyAcceptNew, timeout: 7 * time.Second, keepAlive: 2 * time.Second}
			if s.host != want.host || s.port != want.port || s.user != want.user || s.identitiesOnly != want.identitiesOnly ||
				s.knownHosts != want.knownHosts || s.policy != want.policy || s.timeout != want.timeout || s.keepAlive != want.keepAlive {
				t.Errorf("got %+v", s)
			}
			if files := []string{filepath.Join(home, ".ssh/gw_key"), "/keys/deploy@gw-1.example.net"}; !slices.Equal(s.identityFiles, files) || s.filesFrom != filesSSHConfig {
				t.Errorf("identity files %v, want %v", s.identityFiles, files)
			}
			if !slices.Equal(s.jump, []string{"ops@bastion:2200", "jump2"}) {
				t.Errorf("jump %v", s.jump)
			}
		}},
		{"the Config wins over ssh_config", Config{Host: "gw-1", User: "wso2", Port: 22, IdentityFiles: []string{"/k"}, Jump: []string{"b"},
			KnownHosts: "/kh", HostKeyPolicy: PolicyStrict, ConnectTimeout: time.Second, KeepAlive: time.Minute}, func(t *testing.T, s *settings) {
			if s.host != "gw-1.example.net" || s.user != "wso2" || s.port != 22 || !slices.Equal(s.identityFiles, []string{"/k"}) ||
				s.filesFrom != filesConfig || !slices.Equal(s.jump, []string{"b"}) || s.knownHosts != "/kh" || s.policy != PolicyStrict ||
				s.timeout != time.Second || s.keepAlive != time.Minute {
				t.Errorf("got %+v", s)
			}
		}},
		{"Match host", Config{Host: "cp-1"}, func(t *testing.T, s *settings) {
			if s.user != "matched" || s.port != 2300 || s.host != "cp-1" {
				t.Errorf("got user %q port %d host %q", s.user, s.port, s.host)
			}
		}},
		{"Include", Config{Host: "inc-1"}, func(t *testing.T, s *settings) {
			if s.user != "from-include" || s.port != 2201 {
				t.Errorf("got user %q port %d", s.user, s.port)
			}
		}},
		{"Host * and built-in defaults", Config{Host: "10.0.0.5"}, func(t *testing.T, s *settings) {
			if s.user != "fallback" || s.port != 22 || s.policy != PolicyStrict || s.timeout != DefaultConnectTimeout ||
				s.keepAlive != DefaultKeepAlive || s.knownHosts != filepath.Join(home, ".ssh/known_hosts") || len(s.jump) != 0 || s.filesFrom != filesDefault {
				t.Errorf("got %+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.SSHConfigPath = conf
			s, err := resolve(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestResolveWithoutSSHConfig(t *testing.T) {
	s, err := resolve(Config{Host: "h", SSHConfigPath: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if s.user != currentUser() || s.port != 22 {
		t.Errorf("got %+v", s)
	}
}

func TestResolveErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "config")
	os.WriteFile(bad, []byte("Match exec \"true\"\n  User x\n"), 0o600)
	badPort := filepath.Join(t.TempDir(), "config")
	os.WriteFile(badPort, []byte("Host *\n  Port many\n"), 0o600)
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Node: "n1", Host: "h", SSHConfigPath: bad}, "ssh_config " + bad},
		{Config{Node: "n1", Host: "h", SSHConfigPath: badPort}, `Port "many"`},
		{Config{Node: "n1", Host: "h", SSHConfigPath: "/nonexistent/config"}, "/nonexistent/config"},
		{Config{Node: "n1", Host: "h", SSHConfigPath: "none", HostKeyPolicy: "yolo"}, `unknown host key policy "yolo"`},
		{Config{Node: "n1", SSHConfigPath: "none"}, "no host"},
	}
	for _, tt := range tests {
		_, err := resolve(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "n1") {
			t.Errorf("resolve(%+v) = %v, want an error naming n1 and %q", tt.cfg, err, tt.want)
		}
	}
}
