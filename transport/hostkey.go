package transport

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyKind says why a host key was refused.
type HostKeyKind int

// Host key refusals.
const (
	HostKeyUnknown HostKeyKind = iota + 1 // not in known_hosts (policy strict)
	HostKeyChanged                        // known_hosts records another key
)

// HostKeyError reports a host key that was refused: unknown under the strict
// policy, or changed (always). Nothing ran on the host.
type HostKeyError struct {
	Node        string
	Host        string // host:port that was checked
	Kind        HostKeyKind
	KnownHosts  string // the known_hosts file
	KeyType     string // type of the key the server offered
	Fingerprint string // SHA256 fingerprint of the key the server offered
	Line        int    // HostKeyChanged: line of the recorded key
}

// Refused reports that the connection was refused before anything ran.
func (e *HostKeyError) Refused() bool { return true }

func (e *HostKeyError) Error() string {
	if e.Kind == HostKeyChanged {
		return fmt.Sprintf("transport: host key for %s (%s) has changed: the server offers %s %s but %s:%d records another key; refusing to connect (the host was reinstalled, or someone is intercepting the connection)",
			e.Node, e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, e.Line)
	}
	return fmt.Sprintf("transport: host key for %s (%s) is unknown: %s has no entry for it and host_key_policy is strict (the server offers %s %s)",
		e.Node, e.Host, e.KnownHosts, e.KeyType, e.Fingerprint)
}

// Hint says how to fix the refusal.
func (e *HostKeyError) Hint() string {
	host, port, err := net.SplitHostPort(e.Host)
	if err != nil {
		host, port = e.Host, "22"
	}
	scan := "ssh-keyscan " + host
	entry := host
	if port != "22" {
		scan = "ssh-keyscan -p " + port + " " + host
		entry = "[" + host + "]:" + port
	}
	if e.Kind == HostKeyChanged {
		return fmt.Sprintf("if the new key is expected, remove the old one with: ssh-keygen -R %s -f %s, then add the new one with: %s >> %s (check its fingerprint %s first)",
			Quote(entry), Quote(e.KnownHosts), scan, Quote(e.KnownHosts), e.Fingerprint)
	}
	return fmt.Sprintf("add the host with: %s >> %s (check its fingerprint %s first), or set host_key_policy = \"accept-new\"",
		scan, Quote(e.KnownHosts), e.Fingerprint)
}

// hostKeys checks one hop's host key against known_hosts.
type hostKeys struct {
	node   string
	file   string
	policy string
	db     *knownhosts.HostKeyDB // nil: the file does not exist yet
}

func newHostKeys(node, file, policy string) (*hostKeys, error) {
	h := &hostKeys{node: node, file: file, policy: policy}
	db, err := loadKnownHosts(file)
	switch {
	case err == nil:
		h.db = db
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("transport: %s: known_hosts %s: %w", node, file, err)
	}
	return h, nil
}

// knownHostsDBs are the known_hosts files parsed so far, by path, with the
// sha256 of the bytes parsed: every dial of a run checks its host key
// against the same file, and parsing a file of a thousand nodes' keys for
// each of a thousand dials would cost more than the dials.
var knownHostsDBs struct {
	mu sync.Mutex
	m  map[string]knownHostsDB
}

type knownHostsDB struct {
	sum [sha256.Size]byte
	db  *knownhosts.HostKeyDB
}

// loadKnownHosts parses file, or returns the database parsed from the same
// bytes before. A file that changes while it is parsed is parsed for this
// dial only.
func loadKnownHosts(file string) (*knownhosts.HostKeyDB, error) {
	before, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(before)
	knownHostsDBs.mu.Lock()
	c, ok := knownHostsDBs.m[file]
	knownHostsDBs.mu.Unlock()
	if ok && c.sum == sum {
		return c.db, nil
	}
	db, err := knownhosts.NewDB(file)
	if err != nil {
		return nil, err
	}
	if after, err := os.ReadFile(file); err == nil && sha256.Sum256(after) == sum {
		knownHostsDBs.mu.Lock()
		if knownHostsDBs.m == nil {
			knownHostsDBs.m = map[string]knownHostsDB{}
		}
		knownHostsDBs.m[file] = knownHostsDB{sum: sum, db: db}
		knownHostsDBs.mu.Unlock()
	}
	return db, nil
}

// algorithms returns the host key algorithms recorded for hostport, so that
// the server is asked for a key type known_hosts has; nil when none.
func (h *hostKeys) algorithms(hostport string) []string {
	if h.db == nil {
		return nil
	}
	return h.db.HostKeyAlgorithms(hostport)
}

// callback verifies the key offered for hostport (the address given to the
// handshake).
func (h *hostKeys) callback() ssh.HostKeyCallback {
	return func(hostport string, remote net.Addr, key ssh.PublicKey) error {
		if h.db != nil {
			err := h.db.HostKeyCallback()(hostport, remote, key)
			if err == nil {
				return nil
			}
			if !knownhosts.IsHostUnknown(err) {
				return h.refusal(hostport, key, err)
			}
		}
		if h.policy != PolicyAcceptNew {
			return h.newError(hostport, key, HostKeyUnknown)
		}
		return h.record(hostport, remote, key)
	}
}

func (h *hostKeys) newError(hostport string, key ssh.PublicKey, kind HostKeyKind) *HostKeyError {
	return &HostKeyError{Node: h.node, Host: hostport, Kind: kind, KnownHosts: h.file,
		KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
}

// refusal turns an error of the known_hosts check into a HostKeyError when
// the key changed.
func (h *hostKeys) refusal(hostport string, key ssh.PublicKey, err error) error {
	var ke *xknownhosts.KeyError
	if errors.As(err, &ke) && len(ke.Want) > 0 {
		e := h.newError(hostport, key, HostKeyChanged)
		e.Line = ke.Want[0].Line
		if ke.Want[0].Filename != "" {
			e.KnownHosts = ke.Want[0].Filename
		}
		return e
	}
	return fmt.Errorf("transport: %s: known_hosts %s: %w", h.node, h.file, err)
}

// knownHostsMu serialises appends within this process; flock serialises them
// with other processes.
var knownHostsMu sync.Mutex

// record appends the key of a new host to known_hosts (accept-new). Under
// the lock it reads the file again: another dial may have recorded the host
// meanwhile, with the same key (fine) or another one (changed).
func (h *hostKeys) record(hostport string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return fmt.Errorf("transport: %s: known_hosts: %w", h.node, err)
	}
	f, err := os.OpenFile(h.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("transport: %s: known_hosts: %w", h.node, err)
	}
	defer f.Close()
	if err := flock(f); err != nil {
		return fmt.Errorf("transport: %s: lock known_hosts %s: %w", h.node, h.file, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	db, err := knownhosts.NewDB(h.file)
	if err != nil {
		return fmt.Errorf("transport: %s: known_hosts %s: %w", h.node, h.file, err)
	}
	if err := db.HostKeyCallback()(hostport, remote, key); err == nil {
		return nil
	} else if !knownhosts.IsHostUnknown(err) {
		return h.refusal(hostport, key, err)
	}
	line := knownhosts.Line([]string{hostport}, key) + "\n"
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("transport: %s: append to known_hosts %s: %w", h.node, h.file, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("transport: %s: sync known_hosts %s: %w", h.node, h.file, err)
	}
	return nil
}

// flock takes an exclusive lock on f, retrying when a signal interrupts.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
