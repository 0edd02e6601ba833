package sshdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// EnvRequire, when "1" (or "true"), turns every "sshd (or another program) is missing" skip
// into a failure. CI, when set to anything but "" or "false", does the same.
const EnvRequire = "DROVER_TEST_REQUIRE_SSHD"

// EnvSSHD overrides where sshd is looked for (default /usr/sbin/sshd, then $PATH).
const EnvSSHD = "DROVER_SSHD"

// SkipDisallowed reports whether the environment forbids skipping the real-sshd tier.
func SkipDisallowed() bool {
	if v := strings.ToLower(os.Getenv(EnvRequire)); v == "1" || v == "true" || v == "yes" {
		return true
	}
	ci := strings.ToLower(os.Getenv("CI"))
	return ci != "" && ci != "false" && ci != "0"
}

// Require returns the absolute path of sshd, or ends the test: skipped locally when sshd is
// missing, failed when SkipDisallowed.
func Require(t testing.TB) string {
	t.Helper()
	p, err := sshdPath()
	if err != nil {
		SkipOrFail(t, "%v", err)
	}
	return p
}

// RequireProgram returns the path of an executable the test needs besides sshd (ssh, scp,
// sudo, ...), skipping or failing like Require when it is missing.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		SkipOrFail(t, "sshdtest: %s not found: %v", name, err)
	}
	return p
}

// SkipOrFail skips the test with the message, or fails it when SkipDisallowed.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if SkipDisallowed() {
		t.Fatalf("%s (skipping is not allowed: CI or %s=1 is set; install openssh-server)", msg, EnvRequire)
	}
	t.Skipf("%s (install openssh-server to run the real-sshd tier)", msg)
}

// sshdPath finds sshd. sshd must be run by an absolute path (it re-executes itself).
func sshdPath() (string, error) {
	if p := os.Getenv(EnvSSHD); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("sshdtest: %s=%s: %w", EnvSSHD, p, err)
		}
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("sshd")
	if err != nil {
		return "", errors.New("sshdtest: sshd not found in /usr/sbin, /usr/local/sbin or $PATH")
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("sshdtest: sshd found at %s, not an absolute path", p)
	}
	return p, nil
}
