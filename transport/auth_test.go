package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyFile writes a new ed25519 key, encrypted when passphrase is set, and
// returns its path and the raw key.
func keyFile(t *testing.T, dir, name, passphrase string) (string, ed25519.PrivateKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, priv
}

// testAgent serves an ssh-agent holding keys on a socket in a temp dir.
func testAgent(t *testing.T, keys ...ed25519.PrivateKey) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				agent.ServeAgent(kr, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return sock
}

func pubOf(k ed25519.PrivateKey) string {
	p, _ := ssh.NewPublicKey(k.Public())
	return string(p.Marshal())
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	plain, plainKey := keyFile(t, dir, "id_plain", "")
	enc, encKey := keyFile(t, dir, "id_enc", "s3cret")
	enc2, _ := keyFile(t, dir, "id_enc2", "s3cret")
	_, agentOnly, _ := ed25519.GenerateKey(rand.Reader)
	sock := testAgent(t, agentOnly, encKey)
	ask := func(string) ([]byte, error) { return []byte("s3cret"), nil }
	tests := []struct {
		name       string
		s          settings
		passphrase func(string) ([]byte, error)
		want       []ed25519.PrivateKey // in order
		err        string
	}{
		{name: "file then every agent key", s: settings{identityFiles: []string{plain}, filesFrom: filesConfig, agentSocket: sock},
			want: []ed25519.PrivateKey{plainKey, agentOnly, encKey}},
		{name: "IdentitiesOnly offers no other agent key", s: settings{identityFiles: []string{plain}, filesFrom: filesSSHConfig, identitiesOnly: true, agentSocket: sock},
			want: []ed25519.PrivateKey{plainKey}},
		{name: "encrypted key found in the agent", s: settings{identityFiles: []string{enc}, filesFrom: filesConfig, identitiesOnly: true, agentSocket: sock},
			want: []ed25519.PrivateKey{encKey}},
		{name: "encrypted key with a passphrase", s: settings{identityFiles: []string{enc}, filesFrom: filesConfig}, passphrase: ask,
			want: []ed25519.PrivateKey{encKey}},
		{name: "encrypted key without a way to decrypt it", s: settings{node: "gw-1", identityFiles: []string{enc}, filesFrom: filesConfig},
			err: "gw-1: identity file " + enc + " is encrypted"},
		{name: "wrong passphrase", s: settings{node: "gw-1", identityFiles: []string{enc2}, filesFrom: filesConfig},
			passphrase: func(string) ([]byte, error) { return []byte("nope"), nil }, err: "cannot decrypt"},
		{name: "missing file named by the inventory", s: settings{node: "gw-1", identityFiles: []string{"/nonexistent/key"}, filesFrom: filesConfig},
			err: "/nonexistent/key"},
		{name: "missing ssh_config file is skipped", s: settings{identityFiles: []string{"/nonexistent/key", plain}, filesFrom: filesSSHConfig},
			want: []ed25519.PrivateKey{plainKey}},
		{name: "encrypted default key is skipped", s: settings{identityFiles: []string{enc, plain}, filesFrom: filesDefault},
			want: []ed25519.PrivateKey{plainKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := loadKeys(&tt.s, Config{Passphrase: tt.passphrase})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer k.close()
			if len(k.signers) != len(tt.want) {
				t.Fatalf("%d keys offered (%v), want %d", len(k.signers), k.offered, len(tt.want))
			}
			for i, w := range tt.want {
				if string(k.signers[i].PublicKey().Marshal()) != pubOf(w) {
					t.Errorf("key %d is %s", i, k.offered[i])
				}
			}
		})
	}
}

func TestLoadKeysUnreachableAgent(t *testing.T) {
	dir := t.TempDir()
	plain, _ := keyFile(t, dir, "id", "")
	k, err := loadKeys(&settings{identityFiles: []string{plain}, filesFrom: filesConfig, agentSocket: filepath.Join(dir, "none.sock")}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	if len(k.signers) != 1 || !strings.Contains(k.describeOffered(), "ssh-agent") {
		t.Errorf("signers %d, description %q", len(k.signers), k.describeOffered())
	}
}

func TestPassphraseAskedOncePerFile(t *testing.T) {
	enc, _ := keyFile(t, t.TempDir(), "id", "pw")
	var mu sync.Mutex
	asked := 0
	ask := func(string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		return []byte("pw"), nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := loadKeys(&settings{identityFiles: []string{enc}, filesFrom: filesConfig}, Config{Passphrase: ask})
			if err != nil {
				t.Error(err)
				return
			}
			k.close()
		}()
	}
	wg.Wait()
	if asked != 1 {
		t.Errorf("passphrase asked %d times, want 1", asked)
	}
}

// TestIdentityParsedOncePerContent: the dials of a run share the key
// parsed from an identity file while the file holds the same bytes; a key
// written over it is the one the next dial offers.
func TestIdentityParsedOncePerContent(t *testing.T) {
	dir := t.TempDir()
	file, a := keyFile(t, dir, "id", "")
	other, b := keyFile(t, dir, "other", "")
	load := func() ssh.Signer {
		t.Helper()
		sg, err := loadIdentity(file, nil, func(ssh.PublicKey) ssh.Signer { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return sg
	}
	first := load()
	if want, _ := ssh.NewPublicKey(a.Public()); string(first.PublicKey().Marshal()) != string(want.Marshal()) {
		t.Fatal("the signer is not the file's key")
	}
	if load() != first {
		t.Error("the same file was parsed again")
	}
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if want, _ := ssh.NewPublicKey(b.Public()); string(load().PublicKey().Marshal()) != string(want.Marshal()) {
		t.Error("a key written over the file was not read")
	}
}
