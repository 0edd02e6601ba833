package transport

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseJump splits one jump host as OpenSSH's -J and ProxyJump take it,
// "[user@]host[:port]" or the URL form "ssh://[user@]host[:port]", with an
// IPv6 address in brackets ("[2001:db8::1]:22"). user and port may be
// absent ("" and 0: ssh_config, then the defaults, apply). It is the only
// parser of jump hosts: inventory validation and Dial both use it, so a hop
// that validates is the hop that is dialed.
//
// Its errors name the hop and what is wrong with it, without a package
// prefix: callers add their own context.
func ParseJump(s string) (user, host string, port int, err error) {
	rest := strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
		if user == "" || strings.ContainsAny(user, " \t/:") {
			return "", "", 0, fmt.Errorf("jump host %q has no valid user name", s)
		}
	}
	host = rest
	if strings.HasPrefix(rest, "[") { // [v6]:port
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", "", 0, fmt.Errorf("jump host %q has an unclosed [", s)
		}
		host, rest = rest[1:end], rest[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return "", "", 0, fmt.Errorf("jump host %q has text after ]", s)
		}
		rest = strings.TrimPrefix(rest, ":")
		if rest == "" && strings.HasSuffix(s, ":") {
			return "", "", 0, fmt.Errorf("jump host %q has an empty port after the colon", s)
		}
	} else if i := strings.LastIndex(rest, ":"); i >= 0 {
		host, rest = rest[:i], rest[i+1:]
		if strings.Contains(host, ":") {
			return "", "", 0, fmt.Errorf("jump host %q looks like an IPv6 address without brackets; write it as \"[addr]:port\"", s)
		}
		if rest == "" {
			return "", "", 0, fmt.Errorf("jump host %q has an empty port after the colon", s)
		}
	} else {
		rest = ""
	}
	if host == "" || strings.ContainsAny(host, " \t/@[]") {
		return "", "", 0, fmt.Errorf("jump host %q has no valid host name", s)
	}
	if rest != "" {
		port, err = strconv.Atoi(rest)
		if err != nil || port < 1 || port > 65535 {
			return "", "", 0, fmt.Errorf("jump host %q has port %q outside 1-65535", s, rest)
		}
	}
	return user, host, port, nil
}
