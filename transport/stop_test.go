package transport

import (
	"bytes"
	"testing"
)

func TestPIDSniffer(t *testing.T) {
	mark := "\x1edrover-pid 4242\x1e"
	tests := []struct {
		name   string
		chunks []string
		out    string
		pid    int
	}{
		{"report then output", []string{mark + "err\n"}, "err\n", 4242},
		{"report split across writes", []string{"\x1edro", "ver-pid 42", "42\x1eerr", "\n"}, "err\n", 4242},
		{"rc file noise first", []string{"welcome\n", mark, "err\n"}, "welcome\nerr\n", 4242},
		{"no report", []string{"plain ", "stderr\n"}, "plain stderr\n", 0},
		{"a lone separator is data", []string{"a\x1eb\n"}, "a\x1eb\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &pidSniffer{w: &out}
			for _, c := range tt.chunks {
				s.Write([]byte(c))
			}
			if tt.pid == 0 && out.String() != tt.out {
				t.Errorf("output held back without a report: %q", out.String())
			}
			s.flush()
			if out.String() != tt.out || s.PID() != tt.pid {
				t.Errorf("out %q pid %d, want %q %d", out.String(), s.PID(), tt.out, tt.pid)
			}
		})
	}
}
