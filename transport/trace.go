package transport

import (
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// Trace kinds.
const (
	TraceDial = "dial" // a connection (a jump host or the node) was made and authenticated
	TraceRun  = "run"  // a command ended
	// TraceForward is a TCP connection opened from the node (health checks):
	// Addr is the address as the node sees it.
	TraceForward = "forward"
	// TraceUpload is an SFTP upload that ended: Command is "LOCAL -> REMOTE".
	TraceUpload = "upload"
)

// TraceEvent is what a Client tells Config.Trace, for verbose logs. It never
// holds what went to a command's stdin (the sudo password travels there).
type TraceEvent struct {
	Kind string // TraceDial or TraceRun
	Node string

	// TraceDial
	Hop     string        // "" for the node itself, "jump 1", "jump 2", ... for its jump hosts
	Addr    string        // host:port dialled
	User    string        // login user
	Auth    string        // how the user was authenticated: "publickey FILE (from identity_files)" or "publickey ssh-agent key TYPE SHA256:..."
	HostKey string        // the server's host key: "TYPE SHA256:..."
	Jump    []string      // the node's jump hops, first hop first (TraceDial of the node)
	Took    time.Duration // connect + handshake, or how long the command ran

	// TraceRun
	Command        string // as sent to the login shell (sudo-wrapped when become applies)
	ExitCode       int    // -1 when the command did not run to an exit
	Err            error  // nil, *ExitError, *ConnError or a context error
	Stdout, Stderr []byte // what the Result kept of the command's output

	// TraceUpload
	Bytes   int64 // bytes sent
	Skipped bool  // the node had the file already
}

func (c Config) trace(ev TraceEvent) {
	if c.Trace != nil {
		ev.Node = c.Node
		c.Trace(ev)
	}
}

// usedKey wraps signers so that the one the server accepted (the one asked
// to sign) is known. The algorithm interfaces are kept, so RSA keys still
// sign with rsa-sha2-*.
func usedKey(signers []ssh.Signer, names []string, used *string) []ssh.Signer {
	out := make([]ssh.Signer, len(signers))
	for i, sg := range signers {
		t := tracedSigner{Signer: sg, mark: func() { *used = names[i] }}
		switch s := sg.(type) {
		case ssh.MultiAlgorithmSigner:
			out[i] = tracedMultiSigner{tracedAlgSigner{t, s}, s}
		case ssh.AlgorithmSigner:
			out[i] = tracedAlgSigner{t, s}
		default:
			out[i] = t
		}
	}
	return out
}

type tracedSigner struct {
	ssh.Signer
	mark func()
}

func (s tracedSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	s.mark()
	return s.Signer.Sign(r, data)
}

type tracedAlgSigner struct {
	tracedSigner
	alg ssh.AlgorithmSigner
}

func (s tracedAlgSigner) SignWithAlgorithm(r io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s.mark()
	return s.alg.SignWithAlgorithm(r, data, algorithm)
}

type tracedMultiSigner struct {
	tracedAlgSigner
	multi ssh.MultiAlgorithmSigner
}

func (s tracedMultiSigner) Algorithms() []string { return s.multi.Algorithms() }
