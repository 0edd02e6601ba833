package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

func writeRandom(t *testing.T, size int) (string, string) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "pack.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return p, hex.EncodeToString(sum[:])
}

func TestInprocUploadVerifiesAndSkips(t *testing.T) {
	s, c := ipNode(t)
	local, sum := writeRandom(t, 3<<20+17)
	remote := filepath.Join(s.Dir(), "dir with space", "it's.zip")
	if err := os.MkdirAll(filepath.Dir(remote), 0o755); err != nil {
		t.Fatal(err)
	}
	var calls, last atomic.Int64
	res, err := c.Upload(ipCtx(t), local, remote, transport.UploadOptions{Mode: 0o640, Progress: func(done, total int64) {
		calls.Add(1)
		last.Store(done)
		if total != 3<<20+17 {
			t.Errorf("progress total %d", total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped || res.Bytes != 3<<20+17 || res.SHA256 != sum {
		t.Errorf("result %+v, want %d bytes sent, sum %s", res, 3<<20+17, sum)
	}
	if calls.Load() == 0 || last.Load() != 3<<20+17 {
		t.Errorf("progress called %d times, last %d", calls.Load(), last.Load())
	}
	got, err := os.ReadFile(remote)
	want, _ := os.ReadFile(local)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("remote file differs (%v)", err)
	}
	if fi, _ := os.Stat(remote); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(remote + ".drover-tmp-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if rs, err := c.RemoteSHA256(ipCtx(t), remote); err != nil || rs != sum {
		t.Errorf("RemoteSHA256 = %q, %v", rs, err)
	}
	// Same content again: skipped.
	res, err = c.Upload(ipCtx(t), local, remote, transport.UploadOptions{SHA256: sum})
	if err != nil || !res.Skipped || res.Bytes != 0 {
		t.Errorf("second upload: %+v, %v; want skipped", res, err)
	}
	// A wrong expected sum is caught on the node and nothing is renamed.
	os.Remove(remote)
	_, err = c.Upload(ipCtx(t), local, remote, transport.UploadOptions{SHA256: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("upload with a wrong sum: %v", err)
	}
	if _, err := os.Stat(remote); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remote exists after a failed verification: %v", err)
	}
	if left, _ := filepath.Glob(remote + ".drover-tmp-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := c.RemoteSHA256(ipCtx(t), remote); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoteSHA256 of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestInprocUploadCancelled(t *testing.T) {
	s, c := ipNode(t)
	local, _ := writeRandom(t, 1<<20)
	ctx, cancel := context.WithCancel(ipCtx(t))
	remote := filepath.Join(s.Dir(), "x")
	_, err := c.Upload(ctx, local, remote, transport.UploadOptions{Progress: func(done, total int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if left, _ := filepath.Glob(remote + "*"); len(left) > 0 {
		t.Errorf("files left: %v", left)
	}
}

func TestInprocDownload(t *testing.T) {
	s, c := ipNode(t)
	src, _ := writeRandom(t, 2<<20+5)
	data, _ := os.ReadFile(src)
	remote := filepath.Join(s.Dir(), "WSO2AM_DB.mv.db")
	os.WriteFile(remote, data, 0o600)
	local := filepath.Join(t.TempDir(), "backup.db")
	if err := c.Download(ipCtx(t), remote, local); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(local); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
	err := c.Download(ipCtx(t), filepath.Join(s.Dir(), "missing"), filepath.Join(t.TempDir(), "m"))
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("download of a missing file: %v", err)
	}
}

func TestInprocDialTCPAndHTTPClient(t *testing.T) {
	_, c := ipNode(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "WSO2 API Manager-4.4.0")
	}))
	t.Cleanup(web.Close)
	tlsWeb := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	t.Cleanup(tlsWeb.Close)

	resp, err := c.HTTPClient(false).Get(web.URL + "/services/Version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "WSO2 API Manager-4.4.0" {
		t.Errorf("body %q", body)
	}
	if _, err := c.HTTPClient(false).Get(tlsWeb.URL); err == nil {
		t.Error("a self-signed certificate was accepted without insecureTLS")
	}
	resp, err = c.HTTPClient(true).Get(tlsWeb.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("insecure TLS: %v", err)
	}
	resp.Body.Close()

	host, port := closedPort(t)
	_, err = c.DialTCP(ipCtx(t), net.JoinHostPort(host, fmt.Sprint(port)))
	var ce *transport.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("dial to a closed port: %v, want a ConnError", err)
	}
	oneLine(t, err, "sshtest", "forward")
}

func TestForEachRecordsEveryError(t *testing.T) {
	items := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	var running, most atomic.Int64
	block := make(chan struct{})
	go func() {
		for running.Load() < 3 {
		}
		close(block)
	}()
	errs := transport.ForEach(context.Background(), items, 3, func(ctx context.Context, i int, item int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-block
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if item%2 == 1 {
			return fmt.Errorf("item %d failed", item)
		}
		return nil
	})
	if most.Load() > 3 {
		t.Errorf("%d ran at once, limit 3", most.Load())
	}
	for i, err := range errs {
		if (i%2 == 1) != (err != nil) {
			t.Errorf("item %d: err %v", i, err)
		}
	}
}

// A node whose disk fills up during the transfer: the upload fails with the node's "no space"
// message, and neither the file nor a temporary file is left. The node's directory is a 1 MiB
// tmpfs (mounting needs root: skipped without it, failed where skipping is not allowed).
func TestInprocUploadDiskFullMidway(t *testing.T) {
	if os.Geteuid() != 0 {
		sshdtest.SkipOrFail(t, "mounting a small tmpfs needs root")
	}
	s, c := ipNode(t)
	dir := filepath.Join(s.Dir(), "small disk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	local, sum := writeRandom(t, 3<<20)
	remote := filepath.Join(dir, "pack.zip")
	for _, want := range []string{sum, ""} { // checked on the node, and here
		_, err := c.Upload(ipCtx(t), local, remote, transport.UploadOptions{SHA256: want, Mode: 0o600})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "no space left") {
			t.Errorf("upload to a full disk (sum %q): %v, want the node's no-space error", want, err)
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("left on the node after a failed upload: %v", left)
		}
	}
}

// The sum Upload checks is that of the file as it is on the node, read back there, not of the
// bytes sent: a byte of the temporary file changed on the node after its chunk was written
// (before the node's hashing reaches it; progress is reported first) fails the upload, with
// the sum known beforehand and without it, and nothing is renamed into place.
func TestInprocUploadHashesWhatIsOnTheNode(t *testing.T) {
	s, c := ipNode(t)
	local, sum := writeRandom(t, 20<<20+3) // several chunks and a short last one
	remote := filepath.Join(s.Dir(), "pack.zip")
	for _, want := range []string{sum, ""} {
		var once atomic.Bool
		_, err := c.Upload(ipCtx(t), local, remote, transport.UploadOptions{SHA256: want, Progress: func(done, total int64) {
			if once.Swap(true) {
				return
			}
			tmps, _ := filepath.Glob(remote + ".drover-tmp-*")
			if len(tmps) != 1 {
				t.Errorf("temporary files during the upload: %v", tmps)
				return
			}
			f, err := os.OpenFile(tmps[0], os.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			b := make([]byte, 1)
			f.ReadAt(b, 100)
			b[0] ^= 0xff
			f.WriteAt(b, 100)
			f.Close()
		}})
		if err == nil || !strings.Contains(err.Error(), "sha256 on the node") {
			t.Errorf("upload (sum %q) with the node's copy changed: %v, want a sha256 mismatch", want, err)
		}
		if left, _ := filepath.Glob(remote + "*"); len(left) > 0 {
			t.Errorf("left on the node: %v", left)
		}
	}
}
