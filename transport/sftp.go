package transport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// sftpPacket is the payload size of SFTP reads and writes: OpenSSH's
// sftp-server accepts messages up to 256 KiB, the headers take the rest.
const sftpPacket = 255 << 10

// UploadOptions are the options of Upload.
type UploadOptions struct {
	Mode     os.FileMode             // mode of the remote file; 0 keeps the server's default
	Progress func(done, total int64) // called as bytes are sent; may be nil
	SHA256   string                  // expected hex sum of the local file; computed when ""
}

// UploadResult says what Upload did.
type UploadResult struct {
	Skipped bool   // the node already had a file with this sha256
	Bytes   int64  // bytes sent
	SHA256  string // hex sha256 of the file
}

// SFTP returns the client's SFTP session, opened on first use and shared.
func (c *Client) SFTP() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	if err := c.acquire(context.Background()); err != nil { // held while the client lives
		return nil, err
	}
	sc, err := sftp.NewClient(c.conn,
		sftp.MaxPacketUnchecked(sftpPacket),
		sftp.UseConcurrentWrites(true),
		sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(64),
	)
	if err != nil {
		c.release()
		return nil, c.connErr("sftp", err)
	}
	c.sftp = sc
	return sc, nil
}

// sftpReader returns an SFTP client safe for concurrent reads. pkg/sftp
// takes a short read for the end of the file, so reads must not ask for more
// than the server answers: servers that announce limits@openssh.com
// (OpenSSH 8.7 and later) answer 255 KiB, others get a client of 32 KiB
// packets.
func (c *Client) sftpReader() (*sftp.Client, error) {
	sc, err := c.SFTP()
	if err != nil {
		return nil, err
	}
	if _, ok := sc.HasExtension("limits@openssh.com"); ok {
		return sc, nil
	}
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftpSmall == nil {
		if err := c.acquire(context.Background()); err != nil { // held while the client lives
			return nil, err
		}
		c.sftpSmall, err = sftp.NewClient(c.conn, sftp.MaxPacket(32768), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64))
		if err != nil {
			c.release()
			c.sftpSmall = nil
			return nil, c.connErr("sftp", err)
		}
	}
	return c.sftpSmall, nil
}

// RemoteSHA256 returns the hex sha256 of a file on the node, computed there.
// A missing file gives an error that wraps fs.ErrNotExist.
func (c *Client) RemoteSHA256(ctx context.Context, path string) (string, error) {
	q := Quote(path)
	// openssl uses the CPU's SHA extensions; Debian's coreutils sha256sum does not (3x slower).
	cmd := "[ -f " + q + " ] || exit 3; " +
		"if command -v openssl >/dev/null 2>&1 && openssl dgst -sha256 -r < " + q + " 2>/dev/null; then :; " +
		"elif command -v sha256sum >/dev/null 2>&1; then sha256sum < " + q + "; else shasum -a 256 < " + q + "; fi"
	res, err := c.Run(ctx, cmd, RunOptions{MaxOutput: 4096})
	var xe *ExitError
	if errors.As(err, &xe) && xe.Code == 3 {
		return "", fmt.Errorf("transport: %s: sha256 of %s: %w", c.cfg.Node, path, fs.ErrNotExist)
	}
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("transport: %s: sha256 of %s: unexpected output %q", c.cfg.Node, path, res.Stdout)
	}
	return strings.ToLower(f[0]), nil
}

// Upload copies local to remote over SFTP with concurrent writes: into
// "<remote>.drover-tmp-<random>", synced, its sha256 checked on the node,
// then renamed over remote. When remote already has the same sha256 nothing
// is sent and Skipped is set.
//
// The check on the node overlaps the transfer: the file is written in
// chunks, and a command on the node reads the temporary file back and
// hashes it as far as the writes the node has acknowledged reach, so once
// the last chunk is written only its bytes remain to be hashed. The sum
// compared is still that of the file as it is on the node, read back after
// the node wrote it.
func (c *Client) Upload(ctx context.Context, local, remote string, opts UploadOptions) (UploadResult, error) {
	start := time.Now()
	res, err := c.upload(ctx, local, remote, opts)
	if c.cfg.Trace != nil {
		c.cfg.trace(TraceEvent{Kind: TraceUpload, Addr: c.s.addr(), User: c.s.user, Command: local + " -> " + remote,
			Bytes: res.Bytes, Skipped: res.Skipped, Err: err, Took: time.Since(start)})
	}
	return res, err
}

// uploadChunk is the unit of Upload's writes and of the node's hashing;
// uploadWriters chunks are written at once (each as concurrent SFTP writes).
const (
	uploadChunk   = 8 << 20
	uploadWriters = 2
)

// followHashScript is the node side of Upload's check: $t is the file being
// written. Each line on stdin is a count of further bytes the node has
// acknowledged (whole chunks), read from the file and hashed in order; at
// the end of stdin the rest of the file is. It prints the sum of everything
// read. Where the node has python3 its hashlib reads the file itself (the
// least CPU: openssl behind a pipe costs twice as much, the pipe and
// openssl's small reads); elsewhere head -c feeds openssl, sha256sum or
// shasum. head -c reads no more than it is asked from a regular file (a
// head that read ahead would make the sum differ: the upload fails, never
// passes wrongly).
func followHashScript(tmp string) string {
	return "t=" + Quote(tmp) + `
exec 3<"$t" || exit 3
if command -v python3 >/dev/null 2>&1; then exec python3 -c ` + Quote(followHashPy) + `; fi
if command -v openssl >/dev/null 2>&1 && openssl dgst -sha256 -r </dev/null >/dev/null 2>&1; then h() { openssl dgst -sha256 -r; }
elif command -v sha256sum >/dev/null 2>&1; then h() { sha256sum; }
else h() { shasum -a 256; }; fi
{ while IFS= read -r n; do head -c "$n" <&3; done; cat <&3; } | h
`
}

// followHashPy is followHashScript's hasher in python3: it reads the file
// from descriptor 3, and flushes what it has hashed to disk every 64 MiB, so
// the disk writes overlap the transfer instead of all waiting for Upload's
// final fsync (which still follows, and still decides).
const followHashPy = `import hashlib, os, sys
h = hashlib.sha256()
buf = bytearray(1 << 20)
unsynced = 0
def take(n):
    global unsynced
    while n is None or n > 0:
        got = os.readv(3, [memoryview(buf)[:len(buf) if n is None else min(n, len(buf))]])
        if got == 0:
            return
        h.update(memoryview(buf)[:got])
        unsynced += got
        if n is not None:
            n -= got
for line in sys.stdin:
    take(int(line))
    if unsynced >= 64 << 20:
        os.fdatasync(3)
        unsynced = 0
take(None)
print(h.hexdigest())
`

func (c *Client) upload(ctx context.Context, local, remote string, opts UploadOptions) (UploadResult, error) {
	res := UploadResult{SHA256: strings.ToLower(opts.SHA256)}
	f, err := os.Open(local)
	if err != nil {
		return res, fmt.Errorf("transport: upload to %s: %w", c.cfg.Node, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("transport: upload to %s: %w", c.cfg.Node, err)
	}
	have, herr := c.RemoteSHA256(ctx, remote)
	if herr != nil && !errors.Is(herr, fs.ErrNotExist) {
		return res, herr
	}
	// The sum is needed before sending only to compare with a file the node already has;
	// otherwise it is taken from the bytes as they are sent.
	var sending hash.Hash
	if res.SHA256 == "" && herr != nil {
		sending = sha256.New()
	} else if res.SHA256 == "" {
		h := sha256.New()
		if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: f}); err != nil {
			return res, fmt.Errorf("transport: upload to %s: hash %s: %w", c.cfg.Node, local, err)
		}
		res.SHA256 = hex.EncodeToString(h.Sum(nil))
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return res, fmt.Errorf("transport: upload to %s: %w", c.cfg.Node, err)
		}
	}
	if herr == nil && have == res.SHA256 {
		res.Skipped = true
		return res, nil
	}
	sc, err := c.SFTP()
	if err != nil {
		return res, err
	}
	tmp := remote + ".drover-tmp-" + randomHex(6)
	// The node's hasher runs on a session of its own while the chunks are written; it is
	// stopped (and waited for) whatever happens.
	hctx, hstop := context.WithCancel(ctx)
	hashed := make(chan hashResult, 1)
	var feed *io.PipeWriter
	stopHasher := func() {}
	fail := func(step string, err error) (UploadResult, error) {
		stopHasher()
		sc.Remove(tmp)
		if ctx.Err() != nil {
			return res, fmt.Errorf("transport: %s: upload %s: %w", c.cfg.Node, remote, ctx.Err())
		}
		var ce *ConnError
		if errors.As(err, &ce) {
			return res, err
		}
		return res, fmt.Errorf("transport: %s: upload %s: %s: %w", c.cfg.Node, remote, step, err)
	}
	defer hstop()
	rf, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fail("create "+tmp, err)
	}
	pr, pw := io.Pipe()
	feed = pw
	go func() {
		out, err := c.runSession(hctx, followHashScript(tmp), pr, RunOptions{MaxOutput: 4096})
		pr.CloseWithError(errHasherEnded)
		var r hashResult
		r.err = err
		if out != nil {
			r.out = string(out.Stdout)
		}
		hashed <- r
	}()
	stopHasher = func() {
		hstop()
		feed.CloseWithError(context.Canceled)
		<-hashed
	}
	src := io.Reader(f)
	if sending != nil {
		src = io.TeeReader(f, sending) // read once, in order
	}
	n, err := c.writeChunks(ctx, rf, src, fi.Size(), opts.Progress, func(chunks int64) error {
		_, err := fmt.Fprintf(feed, "%d\n", chunks*uploadChunk)
		return err
	})
	res.Bytes = n
	if err != nil {
		rf.Close()
		if errors.Is(err, errHasherEnded) { // say why it ended
			h := <-hashed
			stopHasher = func() {}
			if h.err != nil {
				err = h.err
			}
			return fail("verify", err)
		}
		return fail("write", err)
	}
	feed.Close() // the node hashes the rest of the file while it is synced
	if sending != nil {
		res.SHA256 = hex.EncodeToString(sending.Sum(nil))
	}
	if _, ok := sc.HasExtension("fsync@openssh.com"); ok {
		if err := rf.Sync(); err != nil {
			rf.Close()
			return fail("fsync", err)
		}
	}
	if err := rf.Close(); err != nil {
		return fail("close", err)
	}
	if opts.Mode != 0 {
		if err := sc.Chmod(tmp, opts.Mode); err != nil {
			return fail("chmod", err)
		}
	}
	var h hashResult
	select {
	case h = <-hashed:
	case <-ctx.Done():
		return fail("verify", ctx.Err())
	}
	stopHasher = func() {}
	if h.err != nil {
		return fail("verify", h.err)
	}
	got := ""
	if f := strings.Fields(h.out); len(f) > 0 && len(f[0]) == 64 {
		got = strings.ToLower(f[0])
	}
	if got != res.SHA256 {
		return fail("verify", fmt.Errorf("sha256 on the node is %s, want %s", got, res.SHA256))
	}
	if err := sc.PosixRename(tmp, remote); err != nil {
		return fail("rename", err)
	}
	return res, nil
}

// errHasherEnded is what writing to the node's hashing command gives once
// that command has ended.
var errHasherEnded = errors.New("the hashing command on the node ended early")

type hashResult struct {
	out string
	err error
}

// writeChunks writes size bytes of src to rf in uploadChunk pieces,
// uploadWriters at once, each as concurrent SFTP writes. Whenever the
// acknowledged chunks reach further without a gap, it reports progress and
// calls acked with the count of whole chunks newly covered. It returns the
// bytes written.
func (c *Client) writeChunks(ctx context.Context, rf *sftp.File, src io.Reader, size int64, progress func(done, total int64), acked func(chunks int64) error) (int64, error) {
	type job struct {
		idx int64
		buf []byte
	}
	jobs := make(chan job)
	bufs := make(chan []byte, uploadWriters+1)
	for range uploadWriters + 1 {
		bufs <- make([]byte, uploadChunk)
	}
	var (
		mu     sync.Mutex
		done   = map[int64]int{} // written chunks past the mark: their lengths
		mark   int64             // chunks written without a gap
		bytes  int64             // bytes written up to the mark
		failed error
	)
	setErr := func(err error) {
		mu.Lock()
		if failed == nil {
			failed = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range uploadWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				_, err := rf.WriteAt(j.buf, j.idx*uploadChunk)
				bufs <- j.buf[:cap(j.buf)]
				if err != nil {
					setErr(err)
					continue
				}
				mu.Lock()
				done[j.idx] = len(j.buf)
				from := mark
				for {
					n, ok := done[mark]
					if !ok {
						break
					}
					delete(done, mark)
					mark++
					bytes += int64(n)
				}
				if mark > from && failed == nil {
					if progress != nil {
						progress(bytes, size)
					}
					whole := mark
					if bytes == size && size%uploadChunk != 0 {
						whole-- // the short last chunk is read with the rest
					}
					if whole > from {
						if err := acked(whole - from); err != nil {
							failed = err
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	var rerr error
	for idx := int64(0); ; idx++ {
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
		if err := ctx.Err(); err != nil {
			rerr = err
			break
		}
		buf := <-bufs
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			jobs <- job{idx: idx, buf: buf[:n]}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(jobs)
	wg.Wait()
	if rerr == nil {
		rerr = failed
	}
	if rerr == nil && bytes != size {
		rerr = fmt.Errorf("wrote %d bytes of %d: the local file changed meanwhile", bytes, size)
	}
	return bytes, rerr
}

// Download copies remote to local over SFTP with concurrent reads, into a
// temporary file renamed into place once its sha256 matches the node's.
func (c *Client) Download(ctx context.Context, remote, local string) error {
	sc, err := c.sftpReader()
	if err != nil {
		return err
	}
	rf, err := sc.Open(remote)
	if err != nil {
		return fmt.Errorf("transport: %s: download %s: %w", c.cfg.Node, remote, err)
	}
	defer rf.Close()
	tmp, err := os.CreateTemp(filepath.Dir(local), "."+filepath.Base(local)+".drover-tmp-")
	if err != nil {
		return fmt.Errorf("transport: %s: download %s: %w", c.cfg.Node, remote, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if err := copyAt(ctx, io.MultiWriter(tmp, h), rf); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("transport: %s: download %s: %w", c.cfg.Node, remote, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("transport: %s: download %s: %w", c.cfg.Node, remote, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("transport: %s: download %s: %w", c.cfg.Node, remote, err)
	}
	want, err := c.RemoteSHA256(ctx, remote)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("transport: %s: download %s: got sha256 %s but the node has %s (did the file change meanwhile?)", c.cfg.Node, remote, got, want)
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return fmt.Errorf("transport: %s: download %s: %w", c.cfg.Node, remote, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// copyAt copies r to w in large blocks. Each ReadAt of a block is split by
// the sftp client into concurrent requests and, unlike File.WriteTo, copes
// with servers that answer with fewer bytes than asked.
func copyAt(ctx context.Context, w io.Writer, r io.ReaderAt) error {
	buf := make([]byte, 8<<20)
	for off := int64(0); ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.ReadAt(buf, off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
