package tasks

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// testPack writes a small product zip with 1 MiB of incompressible data.
func testPack(t *testing.T) *Pack {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wso2am-4.4.0-u12.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	data := make([]byte, 1<<20)
	rand.Read(data)
	for name, content := range map[string][]byte{
		"wso2am-4.4.0/updates/product.txt": []byte("wso2am-4.4.0\n"),
		"wso2am-4.4.0/updates/config.json": []byte(`{"update-level": 12}`),
		"wso2am-4.4.0/lib/big.jar":         data,
	} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		w.Write(content)
	}
	zw.Close()
	f.Close()
	p, err := OpenPack(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fullDiskUnzip stands in for unzip on a node whose disk fills up.
const fullDiskUnzip = `#!/bin/sh
echo "wso2am-4.4.0/lib/big.jar:  write error (disk full?).  Continue? (y/n/^C) n" >&2
exit 50
`

// TestStageNoSpace: when the node's disk fills up while the pack is pushed
// (SFTP writes fail with ENOSPC) or unpacked (unzip's "disk full"), stage
// says "no space left on the node" with the path and the sizes, never a
// bare SFTP status, and leaves no partial file behind.
func TestStageNoSpace(t *testing.T) {
	t.Parallel()
	pack := testPack(t)
	tests := []struct {
		name string
		opts func(dir string) []sshtest.Option
		want []string
	}{
		{
			name: "push",
			opts: func(dir string) []sshtest.Option {
				return []sshtest.Option{sshtest.WithFullDisk(func(p string) bool { return strings.Contains(p, "/packs/") })}
			},
			want: []string{"no space left on the node gw-1 to push the pack into ", "/packs/" + pack.SHA256 + ".zip: it needs 1.0 MiB and ", " is free on that filesystem"},
		},
		{
			name: "unpack",
			opts: func(dir string) []sshtest.Option {
				shims := filepath.Join(dir, "shims")
				os.MkdirAll(shims, 0o755)
				os.WriteFile(filepath.Join(shims, "unzip"), []byte(fullDiskUnzip), 0o755)
				return []sshtest.Option{sshtest.WithEnv("PATH=" + shims + ":" + os.Getenv("PATH"))}
			},
			want: []string{"unpack: no space left on the node gw-1 to unpack the pack into ", "/unpack: it needs 1.0 MiB and ", "write error (disk full?)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			srv := sshtest.NewServer(t, tt.opts(dir)...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := transport.Dial(ctx, srv.ClientConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			home := filepath.Join(dir, "wso2", "wso2am-4.4.0")
			j := &Job{Inv: &inventory.Inventory{}, Node: &inventory.Node{Name: "gw-1", Home: home}, Conn: c, Paths: NewPaths(home),
				Pack: pack, Sink: func(Event) {}, facts: &Facts{HomeExists: true}}
			err = j.stage(ctx)
			var ns *NoSpaceError
			if !errors.As(err, &ns) {
				t.Fatalf("stage = %v, want a NoSpaceError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SSH_FX") || strings.Contains(err.Error(), "sftp:") {
				t.Errorf("%q shows the SFTP status", err)
			}
			left, _ := filepath.Glob(filepath.Join(j.Paths.Packs(), "*.drover-tmp-*"))
			if ents, _ := os.ReadDir(j.Paths.Unpack()); len(left)+len(ents) > 0 {
				t.Errorf("partial files left: %v %v", left, ents)
			}
		})
	}
}
