package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Where the identity files of a settings came from.
const (
	filesDefault   = iota // ~/.ssh/id_*: missing or encrypted ones are skipped
	filesSSHConfig        // IdentityFile: missing ones are skipped, like OpenSSH
	filesConfig           // Config.IdentityFiles: every file must load
)

// keyring is the keys offered to one host, and what they were, for errors.
type keyring struct {
	signers []ssh.Signer
	offered []string // "/home/me/.ssh/id_ed25519 (from identity_files)", "ssh-agent key ssh-ed25519 SHA256:..."
	notes   []string // keys skipped, said when authentication fails
	agent   net.Conn // open while the handshake runs
}

func (k *keyring) close() {
	if k.agent != nil {
		k.agent.Close()
	}
}

// describeOffered says which keys were offered, for an auth failure.
func (k *keyring) describeOffered() string {
	if len(k.offered) == 0 {
		return "no keys to offer (set identity_files, add a key to ssh-agent, or create ~/.ssh/id_ed25519)"
	}
	s := "offered " + strings.Join(k.offered, ", ")
	if len(k.notes) > 0 {
		s += "; " + strings.Join(k.notes, "; ")
	}
	return s
}

// loadKeys builds the keys for s: the identity files first (an encrypted one
// through cfg.Passphrase or the agent), then, unless IdentitiesOnly, the
// other agent keys.
func loadKeys(s *settings, cfg Config) (*keyring, error) {
	k := &keyring{}
	var agentSigners []ssh.Signer
	if s.agentSocket != "" {
		conn, err := net.Dial("unix", s.agentSocket)
		if err != nil {
			k.notes = append(k.notes, fmt.Sprintf("ssh-agent at %s not reachable: %v", s.agentSocket, err))
		} else {
			k.agent = conn
			agentSigners, err = agent.NewClient(conn).Signers()
			if err != nil {
				k.notes = append(k.notes, fmt.Sprintf("ssh-agent: %v", err))
			}
		}
	}
	used := map[string]bool{} // marshalled public keys already offered
	fromAgent := func(pub ssh.PublicKey) ssh.Signer {
		if pub == nil {
			return nil
		}
		for _, a := range agentSigners {
			if bytes.Equal(a.PublicKey().Marshal(), pub.Marshal()) {
				return a
			}
		}
		return nil
	}
	add := func(sg ssh.Signer, what string) {
		key := string(sg.PublicKey().Marshal())
		if used[key] {
			return
		}
		used[key] = true
		k.signers = append(k.signers, sg)
		k.offered = append(k.offered, what)
	}
	from := map[int]string{filesConfig: "identity_files", filesSSHConfig: "ssh_config IdentityFile", filesDefault: "default ~/.ssh/id_*"}[s.filesFrom]
	for _, file := range s.identityFiles {
		sg, err := loadIdentity(file, cfg.Passphrase, fromAgent)
		if err == nil {
			add(sg, file+" (from "+from+")")
			continue
		}
		if s.filesFrom == filesConfig || (s.filesFrom == filesSSHConfig && !errors.Is(err, fs.ErrNotExist)) {
			k.close()
			return nil, fmt.Errorf("transport: %s: %w", s.node, err)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			k.notes = append(k.notes, "skipped "+err.Error())
		}
	}
	if s.identitiesOnly {
		return k, nil
	}
	for _, a := range agentSigners {
		add(a, "ssh-agent key "+a.PublicKey().Type()+" "+ssh.FingerprintSHA256(a.PublicKey()))
	}
	return k, nil
}

// loadIdentity reads one private key file. An encrypted key is taken from
// the agent when it holds it, else decrypted with a passphrase.
func loadIdentity(file string, passphrase func(string) ([]byte, error), fromAgent func(ssh.PublicKey) ssh.Signer) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("identity file %w", err)
	}
	sg, err := parseIdentity(file, data)
	if err == nil {
		return sg, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return nil, fmt.Errorf("identity file %s: %w", file, err)
	}
	if pub := missing.PublicKey; pub == nil {
		if pubData, err := os.ReadFile(file + ".pub"); err == nil {
			missing.PublicKey, _, _, _, _ = ssh.ParseAuthorizedKey(pubData)
		}
	}
	if a := fromAgent(missing.PublicKey); a != nil {
		return a, nil
	}
	if passphrase == nil {
		return nil, fmt.Errorf("identity file %s is encrypted and no passphrase can be asked here: run on a terminal, or add the key to ssh-agent (ssh-add %s)", file, file)
	}
	return decrypt(file, data, passphrase)
}

// parsed caches the keys parsed from unencrypted identity files, by file,
// with the bytes they were parsed from: parsing an RSA key checks it, which
// takes tens of milliseconds, and every dial of a run reads the same file.
var parsed struct {
	mu   sync.Mutex
	keys map[string]decryptedKey
}

func parseIdentity(file string, data []byte) (ssh.Signer, error) {
	parsed.mu.Lock()
	k, ok := parsed.keys[file]
	parsed.mu.Unlock()
	if ok && bytes.Equal(k.data, data) {
		return k.signer, nil
	}
	sg, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, err
	}
	parsed.mu.Lock()
	if parsed.keys == nil {
		parsed.keys = map[string]decryptedKey{}
	}
	parsed.keys[file] = decryptedKey{data: data, signer: sg}
	parsed.mu.Unlock()
	return sg, nil
}

// decrypted caches keys decrypted with a passphrase, so that the many dials
// of one run ask for it once. Its lock also keeps prompts one at a time.
var decrypted struct {
	mu   sync.Mutex
	keys map[string]decryptedKey
}

type decryptedKey struct {
	data   []byte // the encrypted file the signer came from
	signer ssh.Signer
}

func decrypt(file string, data []byte, passphrase func(string) ([]byte, error)) (ssh.Signer, error) {
	decrypted.mu.Lock()
	defer decrypted.mu.Unlock()
	if k, ok := decrypted.keys[file]; ok && bytes.Equal(k.data, data) {
		return k.signer, nil
	}
	pass, err := passphrase(file)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: passphrase: %w", file, err)
	}
	sg, err := ssh.ParsePrivateKeyWithPassphrase(data, pass)
	clear(pass)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: cannot decrypt (wrong passphrase?): %w", file, err)
	}
	if decrypted.keys == nil {
		decrypted.keys = map[string]decryptedKey{}
	}
	decrypted.keys[file] = decryptedKey{data: data, signer: sg}
	return sg, nil
}
