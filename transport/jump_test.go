package transport

import "testing"

// TestParseJump: the one parser of jump hosts takes what OpenSSH's -J
// takes, the ssh:// URL form included (user and port parsed, not left in the
// host or the user name), and refuses the rest.
func TestParseJump(t *testing.T) {
	tests := []struct {
		in         string
		user, host string
		port       int
		err        bool
	}{
		{"bastion", "", "bastion", 0, false},
		{"bastion:2222", "", "bastion", 2222, false},
		{"ops@bastion", "ops", "bastion", 0, false},
		{"ops@bastion.example.com:22", "ops", "bastion.example.com", 22, false},
		{"ops@[2001:db8::1]:22", "ops", "2001:db8::1", 22, false},
		{"[2001:db8::1]", "", "2001:db8::1", 0, false},
		{"[::1]:22", "", "::1", 22, false},
		{"a@b@bastion", "a@b", "bastion", 0, false},
		{"ssh://bastion", "", "bastion", 0, false},
		{"ssh://u@b:2222", "u", "b", 2222, false},
		{"ssh://ops@bastion:2222", "ops", "bastion", 2222, false},
		{"ssh://[2001:db8::1]:2222", "", "2001:db8::1", 2222, false},
		{"2001:db8::1", "", "", 0, true}, // needs brackets
		{"bastion:", "", "", 0, true},
		{"[::1]:", "", "", 0, true},
		{"bastion:0", "", "", 0, true},
		{"bastion:65536", "", "", 0, true},
		{"bastion:ssh", "", "", 0, true},
		{"ops@h:x", "", "", 0, true},
		{"@bastion", "", "", 0, true},
		{"ops@", "", "", 0, true},
		{"[::1", "", "", 0, true},
		{"[::1]x", "", "", 0, true},
		{"[]", "", "", 0, true},
		{"", "", "", 0, true},
		{"ops/x@bastion", "", "", 0, true},
		{"ssh://", "", "", 0, true},
		{"ssh://bastion/", "", "", 0, true},
		{"ssh:/bastion", "", "", 0, true},
		{"http://bastion", "", "", 0, true},
	}
	for _, tt := range tests {
		user, host, port, err := ParseJump(tt.in)
		if (err != nil) != tt.err || (!tt.err && (user != tt.user || host != tt.host || port != tt.port)) {
			t.Errorf("ParseJump(%q) = %q, %q, %d, %v; want %q, %q, %d, err %v", tt.in, user, host, port, err, tt.user, tt.host, tt.port, tt.err)
		}
	}
}
