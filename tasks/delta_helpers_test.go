package tasks

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// zent is one entry of a test pack: a file, or a folder (fs.ModeDir) or a
// link (fs.ModeSymlink, data is the target).
type zent struct {
	path string
	mode fs.FileMode
	data []byte
}

func file(p string, mode fs.FileMode, data string) zent { return zent{p, mode, []byte(data)} }
func dir(p string, mode fs.FileMode) zent               { return zent{p, fs.ModeDir | mode, nil} }

// writePack writes a pack zip of top/ holding ents, made on Unix, and opens it.
func writePack(t testing.TB, zipPath, top string, ents []zent) *Pack {
	t.Helper()
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range ents {
		h := &zip.FileHeader{Name: top + "/" + e.path, Method: zip.Deflate}
		if e.mode.IsDir() {
			h.Name = strings.TrimSuffix(h.Name, "/") + "/"
			h.Method = zip.Store
		}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p, err := OpenPack(zipPath, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// unzipTo unzips a pack's top folder to dst with the real unzip, as a
// node's whole-pack staging does.
func unzipTo(t testing.TB, p *Pack, dst string) {
	t.Helper()
	tmp := dst + ".unzip"
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if out, err := exec.Command("unzip", "-q", p.Path, "-d", tmp).CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v: %s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, p.Top), dst); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(tmp)
}

// treeOf describes every path under root: type, permission bits, and the
// content or link target.
func treeOf(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := info.Mode().Type().String() + " " + info.Mode().Perm().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case info.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + sha256hex(b)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test for every difference between two trees.
func sameTree(t testing.TB, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s is missing from the staged release", p)
		} else if g != w {
			t.Errorf("%s is %q in the staged release, %q in the pack", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s is in the staged release but not in the pack", p)
		}
	}
}

// countingListener counts the bytes the SSH server receives.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// testNode is an in-process SSH node whose received bytes are counted.
type testNode struct {
	dir      string
	home     string
	conn     *transport.Client
	received atomic.Int64
}

func newTestNode(t testing.TB, env ...string) *testNode {
	t.Helper()
	n := &testNode{dir: t.TempDir()}
	n.home = filepath.Join(n.dir, "wso2", "wso2am-4.4.0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sshtest.Start(sshtest.ServerConfig{Listener: countingListener{ln, &n.received}, Dir: n.dir,
		ClientKeyFile: filepath.Join(t.TempDir(), "id_ed25519"), Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := transport.Dial(context.Background(), srv.ClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n.conn = c
	return n
}

// stageProduct is the little of a product staging needs.
type stageProduct struct{}

func (stageProduct) Identify(string) (string, string) { return "", "" }
func (stageProduct) Start(*inventory.Inventory, *inventory.Node, string) (string, []string) {
	return "bin/run.sh", nil
}
func (stageProduct) Setup(*inventory.Inventory, *inventory.Node, string, string) (string, string, func(string) error) {
	return "", "", nil
}
func (stageProduct) Carry() (overwrite, add, unpacked []string) {
	return []string{"conf/x.xml"}, nil, nil
}
func (stageProduct) Check(*inventory.Inventory, *inventory.Node, string, string, string) error {
	return nil
}
func (stageProduct) EnvFile(*inventory.Node) (string, []byte, []byte, error) {
	return "bin/env", nil, nil, nil
}

// eventLog keeps a job's events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	on     func(Event)
}

func (l *eventLog) sink(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	on := l.on
	l.mu.Unlock()
	if on != nil {
		on(e)
	}
}

func (l *eventLog) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if e.Type == EventWarning {
			out = append(out, e.Message)
		}
	}
	return out
}

// stageJob is a side-by-side job that stages pack on node.
func stageJob(n *testNode, pack *Pack, log *eventLog) *Job {
	inv := &inventory.Inventory{Persist: []string{"solr/data", "repository/database"}}
	return &Job{Inv: inv, Node: &inventory.Node{Name: "gw-1", Home: n.home}, Conn: n.conn, Paths: NewPaths(n.home),
		Pack: pack, Product: stageProduct{}, Run: "r1", Owner: "test", Sink: log.sink, facts: &Facts{HomeExists: true}}
}

func readJournal(t testing.TB, j *Job) string {
	t.Helper()
	b, _ := os.ReadFile(j.Paths.Journal())
	return string(b)
}

func mustWrite(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(seed string, n int) []byte {
	var b bytes.Buffer
	h := []byte(seed)
	for b.Len() < n {
		s := sha256.Sum256(h)
		h = s[:]
		b.Write(h)
	}
	return b.Bytes()[:n]
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func octal(m fs.FileMode) string { return strconv.FormatUint(uint64(m), 8) }
func itoa(n int64) string        { return strconv.FormatInt(n, 10) }
