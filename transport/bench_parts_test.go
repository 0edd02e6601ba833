package transport_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

// BenchmarkUploadParts splits a 512 MiB upload to one node (tmpfs) into its parts, to explain
// BenchmarkUpload's ratio: hashing locally, the SFTP transfer alone (drover's sftp client,
// concurrent writes), hashing on the node with sha256sum and with openssl, Upload itself, a
// what-if Upload, and scp.
func BenchmarkUploadParts(b *testing.B) {
	const size = 512 << 20
	c := benchCluster(b, 1, sshdtest.WithLogLevel("DEBUG1"))
	scp := sshdtest.RequireProgram(b, "scp")
	local, sum := randomFile(b, size)
	dir, err := os.MkdirTemp("/dev/shm", "drover-bench-")
	if err != nil {
		dir = c.Node(0).Dir()
	} else {
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	remote := filepath.Join(dir, "parts.bin")
	ctx := context.Background()
	cl, err := transport.Dial(ctx, c.Config(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for _, line := range strings.Split(c.Node(0).Log(), "\n") {
		if strings.Contains(line, "kex: client->server cipher") || strings.Contains(line, "kex: algorithm") {
			b.Log(strings.TrimSpace(line))
		}
	}
	sc, err := cl.SFTP()
	if err != nil {
		b.Fatal(err)
	}
	parts := []struct {
		name string
		fn   func() error
	}{
		{"local-sha256", func() error {
			got, err := sha256File(local)
			if err == nil && got != sum {
				err = fmt.Errorf("sha256 %s, want %s", got, sum)
			}
			return err
		}},
		{"sftp-write", func() error {
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			defer f.Close()
			rf, err := sc.OpenFile(remote, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			if err != nil {
				return err
			}
			if _, err := rf.ReadFrom(sizedReader{f, size}); err != nil {
				rf.Close()
				return err
			}
			return rf.Close()
		}},
		{"upload", func() error {
			os.Remove(remote)
			_, err := cl.Upload(ctx, local, remote, transport.UploadOptions{SHA256: sum})
			return err
		}},
		{"node-sha256sum", func() error {
			_, err := cl.Run(ctx, "sha256sum "+transport.Quote(remote), transport.RunOptions{})
			return err
		}},
		{"node-openssl-sha256", func() error {
			_, err := cl.Run(ctx, "openssl dgst -sha256 -r "+transport.Quote(remote), transport.RunOptions{})
			return err
		}},
		// What-if: Upload with the node's sum taken by openssl instead of coreutils sha256sum.
		{"upload-whatif-openssl", func() error { return whatIfUpload(ctx, cl, local, remote, sum) }},
		{"scp", func() error {
			return runAll([]*exec.Cmd{exec.Command(scp, append(c.SCPArgs(0), "-q", local, c.SCPTarget(0, remote))...)})
		}},
	}
	// Every part once per round, so the machine's noise hits them alike.
	took := make([]time.Duration, len(parts))
	for i := 0; i < b.N; i++ {
		for j, p := range parts {
			start := time.Now()
			if err := p.fn(); err != nil {
				b.Fatalf("%s: %v", p.name, err)
			}
			took[j] += time.Since(start)
		}
	}
	b.ReportMetric(0, "ns/op")
	byName := map[string]time.Duration{}
	for j, p := range parts {
		byName[p.name] = took[j]
		b.ReportMetric(took[j].Seconds()/float64(b.N), p.name+"-s/op")
	}
	b.ReportMetric(byName["upload"].Seconds()/byName["scp"].Seconds(), "upload/scp")
	b.ReportMetric(byName["upload-whatif-openssl"].Seconds()/byName["scp"].Seconds(), "whatif/scp")
	b.ReportMetric(byName["sftp-write"].Seconds()/byName["scp"].Seconds(), "sftp-write/scp")
}

// whatIfUpload follows Upload's steps (existence check, temporary file, concurrent writes,
// fsync, sha256 on the node, rename) but hashes on the node with openssl (which uses the CPU's
// SHA extensions) instead of coreutils' sha256sum.
func whatIfUpload(ctx context.Context, cl *transport.Client, local, remote, want string) error {
	os.Remove(remote) // left by an earlier part
	if _, err := cl.Run(ctx, "[ -f "+transport.Quote(remote)+" ] || exit 3", transport.RunOptions{}); err == nil {
		return fmt.Errorf("%s exists", remote)
	}
	sc, err := cl.SFTP()
	if err != nil {
		return err
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	tmp := remote + ".whatif-tmp"
	rf, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := rf.ReadFrom(sizedReader{f, fi.Size()}); err != nil {
		rf.Close()
		return err
	}
	if err := rf.Sync(); err != nil {
		rf.Close()
		return err
	}
	if err := rf.Close(); err != nil {
		return err
	}
	res, err := cl.Run(ctx, "openssl dgst -sha256 -r < "+transport.Quote(tmp), transport.RunOptions{})
	if err != nil {
		return err
	}
	if got := strings.Fields(string(res.Stdout)); len(got) == 0 || got[0] != want {
		return fmt.Errorf("node hashed %q, want %s", res.Stdout, want)
	}
	return sc.PosixRename(tmp, remote)
}

// sizedReader tells sftp's ReadFrom the size, which turns on its concurrent writes.
type sizedReader struct {
	io.Reader
	n int64
}

func (r sizedReader) Size() int64 { return r.n }
