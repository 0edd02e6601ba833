package transport_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drover-sh/drover/transport"
)

// randomFile writes size random bytes to a new file and returns its path and hex sha256.
func randomFile(t testing.TB, size int64) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "payload.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestRealUploadVerifiesAndSkipsWhenSame(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	const size = 5<<20 + 123 // several sftp writes and an odd tail
	local, sum := randomFile(t, size)
	dir := filepath.Join(c.Node(0).Dir(), "dir with space $x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(dir, "it's.bin")

	var last, calls atomic.Int64
	res, err := cl.Upload(ctx, local, remote, transport.UploadOptions{
		Mode:     0o640,
		Progress: func(done, total int64) { calls.Add(1); last.Store(done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped || res.Bytes != size || res.SHA256 != sum {
		t.Errorf("first upload: %+v, want %d bytes, sha256 %s, not skipped", res, int64(size), sum)
	}
	if got := fileSHA256(t, remote); got != sum {
		t.Errorf("remote file sha256 %s, want %s", got, sum)
	}
	if fi, err := os.Stat(remote); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("remote mode: %v, %v, want 0640", fi.Mode(), err)
	}
	if calls.Load() == 0 || last.Load() != size {
		t.Errorf("progress called %d times, last done %d, want the last at %d", calls.Load(), last.Load(), int64(size))
	}
	if got, err := cl.RemoteSHA256(ctx, remote); err != nil || got != sum {
		t.Errorf("RemoteSHA256 = %s, %v; want %s", got, err, sum)
	}

	// Same content: skipped, nothing rewritten.
	before, _ := os.Stat(remote)
	res, err = cl.Upload(ctx, local, remote, transport.UploadOptions{Mode: 0o640, SHA256: sum})
	if err != nil || !res.Skipped {
		t.Errorf("second upload: %+v, %v; want skipped", res, err)
	}
	if after, _ := os.Stat(remote); !after.ModTime().Equal(before.ModTime()) {
		t.Error("a skipped upload rewrote the file")
	}

	// Different content on the node: uploaded again.
	if err := os.WriteFile(remote, []byte("tampered"), 0o640); err != nil {
		t.Fatal(err)
	}
	res, err = cl.Upload(ctx, local, remote, transport.UploadOptions{Mode: 0o640})
	if err != nil || res.Skipped || fileSHA256(t, remote) != sum {
		t.Errorf("upload over a changed file: %+v, %v", res, err)
	}

	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("upload directory holds %q, want only the file", names)
	}

	// And back again.
	back := filepath.Join(t.TempDir(), "back.bin")
	if err := cl.Download(ctx, remote, back); err != nil {
		t.Fatal(err)
	}
	if got := fileSHA256(t, back); got != sum {
		t.Errorf("downloaded sha256 %s, want %s", got, sum)
	}
}

func TestRealUploadWrongSHA256Fails(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))
	local, _ := randomFile(t, 64<<10)
	remote := filepath.Join(c.Node(0).Dir(), "target.bin")
	wrong := strings.Repeat("0", 64)
	if _, err := cl.Upload(ctx, local, remote, transport.UploadOptions{SHA256: wrong}); err == nil {
		t.Fatal("upload with a wrong expected sha256 succeeded")
	}
	if _, err := os.Stat(remote); err == nil {
		t.Error("a file that failed verification was renamed into place")
	}
}

func TestRealDialTCPAndHTTPThroughTheNode(t *testing.T) {
	c := realCluster(t, 1)
	ctx := realCtx(t)
	cl := mustDial(ctx, t, c.Config(0))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	conn, err := cl.DialTCP(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /raw HTTP/1.0\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.HasSuffix(string(b), "hello /raw") {
		t.Errorf("raw HTTP over DialTCP: %q", b)
	}

	resp, err := cl.HTTPClient(false).Get(srv.URL + "/services/Version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello /services/Version" {
		t.Errorf("HTTPClient body %q", body)
	}

	// A closed port on the node is an error, not a hang.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if conn, err := cl.DialTCP(ctx, closed); err == nil {
		conn.Close()
		t.Errorf("DialTCP to the closed port %s succeeded", closed)
	}
}
