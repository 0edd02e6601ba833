package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// keyPair is a generated key written to disk in OpenSSH format.
type keyPair struct {
	Path   string // private key, mode 0600
	Signer ssh.Signer
}

// generateKey creates a key of the given type ("ed25519" or "rsa") and writes the private key to
// path (0600) and the public key to path+".pub".
func generateKey(kind, path, comment string) (keyPair, error) {
	var priv any
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return keyPair{}, fmt.Errorf("sshdtest: generate ed25519 key: %w", err)
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return keyPair{}, fmt.Errorf("sshdtest: generate rsa key: %w", err)
		}
		priv = k
	default:
		return keyPair{}, fmt.Errorf("sshdtest: unknown key type %q", kind)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return keyPair{}, fmt.Errorf("sshdtest: signer for %s key: %w", kind, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("sshdtest: marshal %s key: %w", kind, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return keyPair{}, fmt.Errorf("sshdtest: write key: %w", err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		return keyPair{}, fmt.Errorf("sshdtest: write public key: %w", err)
	}
	return keyPair{Path: path, Signer: signer}, nil
}

// knownHostsAddr is the host pattern OpenSSH writes for host:port: "host" for port 22 and
// "[host]:port" otherwise.
func knownHostsAddr(host string, port int) string {
	if port == 22 {
		return host
	}
	return "[" + host + "]:" + strconv.Itoa(port)
}

// knownHostsLine is one known_hosts line (with a trailing newline) for key at host:port.
func knownHostsLine(host string, port int, key ssh.PublicKey) string {
	// MarshalAuthorizedKey ends with "\n".
	return knownHostsAddr(host, port) + " " + string(ssh.MarshalAuthorizedKey(key))
}

// hostPort joins host and port for dialing.
func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
