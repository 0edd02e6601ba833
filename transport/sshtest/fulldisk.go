package sshtest

import (
	"encoding/binary"
	"io"

	"golang.org/x/crypto/ssh"
)

// SFTP packet types and open flags this file reads (draft-ietf-secsh-filexfer-02).
const (
	fxpOpen      = 3
	fxfWrite     = 0x02
	fxfCreat     = 0x08
	maxSFTPFrame = 8 << 20 // larger frames are passed through unread
)

// fullDiskChannel sits between an sftp client and the server and sends
// every open for writing of a path full() matches to /dev/full instead, so
// the writes fail with ENOSPC ("no space left on device") the way they do
// on a full disk. The file itself is never created.
type fullDiskChannel struct {
	ssh.Channel
	full    func(path string) bool
	in, out []byte
	buf     []byte
	err     error
}

func newFullDiskChannel(ch ssh.Channel, full func(string) bool) *fullDiskChannel {
	return &fullDiskChannel{Channel: ch, full: full, buf: make([]byte, 64<<10)}
}

// Read hands the server whole packets, rewritten when they open a full
// path for writing.
func (c *fullDiskChannel) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if len(c.in) >= 4 {
			n := int(binary.BigEndian.Uint32(c.in[:4]))
			if n > maxSFTPFrame {
				c.out, c.in = c.in, nil
				break
			}
			if len(c.in) >= 4+n {
				c.out = c.rewrite(c.in[:4+n])
				c.in = c.in[4+n:]
				continue
			}
		}
		if c.err != nil {
			if len(c.in) > 0 { // a partial packet at the end: pass it on
				c.out, c.in = c.in, nil
				break
			}
			return 0, c.err
		}
		k, err := c.Channel.Read(c.buf)
		c.in = append(c.in, c.buf[:k]...)
		c.err = err
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// rewrite returns pkt (length prefix included), its file name replaced by
// /dev/full when it opens a full path for writing.
func (c *fullDiskChannel) rewrite(pkt []byte) []byte {
	out := append([]byte(nil), pkt...)
	if len(pkt) < 13 || pkt[4] != fxpOpen {
		return out
	}
	nameLen := int(binary.BigEndian.Uint32(pkt[9:13]))
	if 13+nameLen+4 > len(pkt) {
		return out
	}
	name := string(pkt[13 : 13+nameLen])
	flags := binary.BigEndian.Uint32(pkt[13+nameLen : 17+nameLen])
	if flags&(fxfWrite|fxfCreat) == 0 || !c.full(name) {
		return out
	}
	const dev = "/dev/full"
	var b []byte
	b = append(b, 0, 0, 0, 0)  // length, set below
	b = append(b, pkt[4:9]...) // type and request id
	b = binary.BigEndian.AppendUint32(b, uint32(len(dev)))
	b = append(b, dev...)
	b = append(b, pkt[13+nameLen:]...) // flags and attributes
	binary.BigEndian.PutUint32(b[:4], uint32(len(b)-4))
	return b
}

var _ io.ReadWriteCloser = (*fullDiskChannel)(nil)
