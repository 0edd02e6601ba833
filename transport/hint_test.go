package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/drover-sh/drover/transport"
)

func TestConnErrorHint(t *testing.T) {
	tests := []struct {
		err  *transport.ConnError
		want string
	}{
		{&transport.ConnError{Node: "gw-1", Addr: "10.0.0.21:2222", Op: "connect", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
			"is sshd listening on 10.0.0.21:2222?"},
		{&transport.ConnError{Node: "gw-1", Addr: "gw1.example:22", Op: "connect", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Name: "gw1.example", Err: "no such host"}}},
			"cannot resolve gw1.example: check the node's host or your ssh_config"},
		{&transport.ConnError{Node: "gw-1", Addr: "10.0.0.21:22", Op: "jump 1 handshake", Err: fmt.Errorf("no answer within 10s (connect_timeout): %w", context.DeadlineExceeded)},
			"no answer from 10.0.0.21: is the host up, does a firewall drop port 22"},
		{&transport.ConnError{Node: "gw-1", Addr: "10.0.0.21:22", Op: "auth", Err: errors.New("user wso2 was refused: offered /k (from identity_files)")},
			"authorized_keys"},
		{&transport.ConnError{Node: "gw-1", Addr: "10.0.0.21:22", Op: "run", Err: errors.New("connection lost: EOF")}, ""},
	}
	for _, tt := range tests {
		got := tt.err.Hint()
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%v: hint %q, want %q", tt.err, got, tt.want)
		}
	}
}
