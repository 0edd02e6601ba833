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
func (c *Client) Upload(ctx context.Context, local, remote string, opts UploadOptions) (UploadResult, error) {
	start := time.Now()
	res, err := c.upload(ctx, local, remote, opts)
	if c.cfg.Trace != nil {
		c.cfg.trace(TraceEvent{Kind: TraceUpload, Addr: c.s.addr(), User: c.s.user, Command: local + " -> " + remote,
			Bytes: res.Bytes, Skipped: res.Skipped, Err: err, Took: time.Since(start)})
	}
	return res, err
}

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
	fail := func(step string, err error) (UploadResult, error) {
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
	rf, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fail("create "+tmp, err)
	}
	src := &progressReader{ctx: ctx, r: f, size: fi.Size(), progress: opts.Progress}
	if sending != nil {
		src.r = io.TeeReader(f, sending) // sftp's ReadFrom reads its source once, in order
	}
	n, err := rf.ReadFrom(src)
	res.Bytes = n
	if err != nil {
		rf.Close()
		return fail("write", err)
	}
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
	got, err := c.RemoteSHA256(ctx, tmp)
	if err != nil {
		return fail("verify", err)
	}
	if got != res.SHA256 {
		return fail("verify", fmt.Errorf("sha256 on the node is %s, want %s", got, res.SHA256))
	}
	if err := sc.PosixRename(tmp, remote); err != nil {
		return fail("rename", err)
	}
	return res, nil
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

// progressReader reports progress and stops when ctx ends. Its Size lets
// sftp.File.ReadFrom use concurrent writes.
type progressReader struct {
	ctx      context.Context
	r        io.Reader
	size     int64
	done     int64
	progress func(done, total int64)
}

func (r *progressReader) Size() int64 { return r.size }

func (r *progressReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.done += int64(n)
	if r.progress != nil && n > 0 {
		r.progress(r.done, r.size)
	}
	return n, err
}
