package apimsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The simulated MVStore file (.mv.db): a 4 KiB header block, a body, a 4 KiB trailer block.
//
//	header:  H:2,block:..,blockSize:1000,format:F,version:V,clean:C,body:SHA,fletcher:X
//	body:    a live page (rewritten on every store) followed by record text
//	trailer: chunk:V,body:SHA,fletcher:X  (written only when the store is closed cleanly)
//
// While a server has the file open the header says clean:0 and its version runs ahead of the
// trailer's, so a copy taken while the server runs is always detectably inconsistent; a clean
// close rewrites trailer and header to one consistent state.

const h2Block = 4096

// ErrTorn reports a copy whose parts do not belong together (checksum or version mismatch).
var ErrTorn = errors.New("torn copy")

// ErrOpen reports data that was in use when copied: an H2 file a server still had open (or a
// server that was killed) or a Solr index with a write.lock.
var ErrOpen = errors.New("in use when copied")

type dbFile struct {
	name string
	size int
}

// dbFiles are the pack's H2 databases (the facts name these five for every release, with medium
// confidence: WSO2METRICS_DB is copied by bin.xml, the others follow the default datasources).
var dbFiles = []dbFile{
	{"WSO2AM_DB.mv.db", 192 << 10},
	{"WSO2CARBON_DB.mv.db", 96 << 10},
	{"WSO2SHARED_DB.mv.db", 64 << 10},
	{"WSO2MB_DB.mv.db", 32 << 10},
	{"WSO2METRICS_DB.mv.db", 32 << 10},
}

type h2Header struct {
	format  int
	version int64
	clean   bool
	body    string
	created int64
}

func fletcher32(b []byte) uint32 {
	var s1, s2 uint32 = 0xffff, 0xffff
	for _, c := range b {
		s1 = (s1 + uint32(c)) % 65535
		s2 = (s2 + s1) % 65535
	}
	return s2<<16 | s1
}

func bodySum(body []byte) string {
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:16])
}

func block(text string) []byte {
	b := make([]byte, h2Block)
	copy(b, text)
	return b
}

func encodeHeader(h h2Header) []byte {
	clean := 0
	if h.clean {
		clean = 1
	}
	s := fmt.Sprintf("H:2,block:2,blockSize:1000,created:%x,format:%d,version:%x,clean:%d,body:%s",
		h.created, h.format, h.version, clean, h.body)
	return block(fmt.Sprintf("%s,fletcher:%08x\n", s, fletcher32([]byte(s))))
}

func encodeTrailer(version int64, body string) []byte {
	s := fmt.Sprintf("chunk:%x,body:%s", version, body)
	return block(fmt.Sprintf("%s,fletcher:%08x\n", s, fletcher32([]byte(s))))
}

// parseBlock checks a block's fletcher checksum and returns its key:value fields.
func parseBlock(b []byte) (map[string]string, error) {
	line, _, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, errors.New("no record")
	}
	s := string(line)
	i := strings.LastIndex(s, ",fletcher:")
	if i < 0 {
		return nil, errors.New("no checksum")
	}
	want, err := strconv.ParseUint(s[i+len(",fletcher:"):], 16, 32)
	if err != nil || uint32(want) != fletcher32([]byte(s[:i])) {
		return nil, errors.New("checksum mismatch")
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s[:i], ",") {
		k, v, _ := strings.Cut(kv, ":")
		m[k] = v
	}
	return m, nil
}

func parseHeader(b []byte) (h2Header, error) {
	m, err := parseBlock(b)
	if err != nil {
		return h2Header{}, fmt.Errorf("file header: %w", err)
	}
	if m["H"] != "2" {
		return h2Header{}, errors.New("not an MVStore file")
	}
	var h h2Header
	h.format, err = strconv.Atoi(m["format"])
	if err != nil {
		return h, errors.New("file header: bad format field")
	}
	h.version, err = strconv.ParseInt(m["version"], 16, 64)
	if err != nil {
		return h, errors.New("file header: bad version field")
	}
	h.created, _ = strconv.ParseInt(m["created"], 16, 64)
	h.clean = m["clean"] == "1"
	h.body = m["body"]
	return h, nil
}

// newH2 returns a fresh, cleanly closed database file of the given write format.
func newH2(format int, name string, size int) []byte {
	body := make([]byte, size-2*h2Block)
	copy(body, livePage(1, time.Time{}))
	var rec bytes.Buffer
	for i := 0; rec.Len() < len(body)-h2Block; i++ {
		fmt.Fprintf(&rec, "%s|row:%06d|AM_API|PizzaShackAPI-%d|1.0.0|admin|PUBLISHED\n", name, i, i%97)
	}
	copy(body[h2Block:], rec.Bytes())
	sum := bodySum(body)
	out := encodeHeader(h2Header{format: format, version: 1, clean: true, body: sum, created: 0x18f0000000})
	out = append(out, body...)
	return append(out, encodeTrailer(1, sum)...)
}

func livePage(version int64, at time.Time) []byte {
	return block(fmt.Sprintf("page:live,version:%d,stored:%s\n", version, at.UTC().Format(time.RFC3339Nano)))
}

// H2Format returns the MVStore write format recorded in an .mv.db file's header.
func H2Format(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("apimsim: %w", err)
	}
	defer f.Close()
	b := make([]byte, h2Block)
	if _, err := f.ReadAt(b, 0); err != nil {
		return 0, fmt.Errorf("apimsim: %s: %w", path, err)
	}
	h, err := parseHeader(b)
	if err != nil {
		return 0, fmt.Errorf("apimsim: %s: %w", path, err)
	}
	return h.format, nil
}

// VerifyH2 checks that the .mv.db file at path is a consistent, cleanly closed store. A copy
// taken while a server had the file open fails with ErrOpen (and ErrTorn when its header and
// trailer disagree); a mix of parts from different moments fails with ErrTorn.
func VerifyH2(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("apimsim: verify h2: %w", err)
	}
	if len(data) < 3*h2Block {
		return fmt.Errorf("apimsim: verify h2: %s: %w: file too short (%d bytes)", path, ErrTorn, len(data))
	}
	h, err := parseHeader(data[:h2Block])
	if err != nil {
		return fmt.Errorf("apimsim: verify h2: %s: %w: %v", path, ErrTorn, err)
	}
	body := data[h2Block : len(data)-h2Block]
	tm, err := parseBlock(data[len(data)-h2Block:])
	if err != nil {
		return fmt.Errorf("apimsim: verify h2: %s: %w: trailer: %v", path, ErrTorn, err)
	}
	var problems []string
	if got := bodySum(body); got != h.body {
		problems = append(problems, fmt.Sprintf("body checksum %s, header says %s", got, h.body))
	}
	if tv, _ := strconv.ParseInt(tm["chunk"], 16, 64); tv != h.version || tm["body"] != h.body {
		problems = append(problems, fmt.Sprintf("header at version %d, last committed chunk %d", h.version, tv))
	}
	switch {
	case !h.clean && len(problems) > 0:
		return fmt.Errorf("apimsim: verify h2: %s: %w, %w: store not closed (copied while the server ran, or the server was killed): %s",
			path, ErrOpen, ErrTorn, strings.Join(problems, "; "))
	case !h.clean:
		return fmt.Errorf("apimsim: verify h2: %s: %w: store not closed (copied while the server ran, or the server was killed)", path, ErrOpen)
	case len(problems) > 0:
		return fmt.Errorf("apimsim: verify h2: %s: %w: %s", path, ErrTorn, strings.Join(problems, "; "))
	}
	return nil
}

// h2Store is a database file held open by a running server.
type h2Store struct {
	f    *os.File
	hdr  h2Header
	body []byte
}

// h2Error is an error in the H2 engine's own words, as the real server logs it.
type h2Error struct {
	msg string
	err error
}

func (e *h2Error) Error() string { return e.msg }
func (e *h2Error) Unwrap() error { return e.err }

// errLocked marks a store or index another live process holds.
var errLocked = errors.New("locked by another process")

// openH2 opens and locks path for a server that supports format; a wrong format fails like
// H2 does. recovered reports a store that had not been closed cleanly.
func openH2(path string, format int, engine string) (s *h2Store, recovered bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false, &h2Error{fmt.Sprintf("Database may be already in use: %q. Possible solutions: close all other connection(s); use the server mode [90020-%s]", path, engine), errLocked}
	}
	data, err := os.ReadFile(path)
	if err == nil && len(data) < 3*h2Block {
		err = errors.New("file too short")
	}
	var h h2Header
	if err == nil {
		h, err = parseHeader(data[:h2Block])
	}
	if err != nil {
		f.Close()
		return nil, false, &h2Error{fmt.Sprintf("File corrupted while reading record: %q (%v) [90030-%s]", path, err, engine), ErrTorn}
	}
	if h.format < format {
		f.Close()
		return nil, false, &h2Error{fmt.Sprintf("General error: \"The write format %d is smaller than the supported format %d\" [50000-%s]", h.format, format, engine), nil}
	}
	if h.format > format {
		f.Close()
		return nil, false, &h2Error{fmt.Sprintf("General error: \"The write format %d is larger than the supported format %d\" [50000-%s]", h.format, format, engine), nil}
	}
	s = &h2Store{f: f, hdr: h, body: append([]byte(nil), data[h2Block:len(data)-h2Block]...)}
	return s, !h.clean, s.store(false)
}

// store writes the live page and the header; a clean close also writes the trailer.
func (s *h2Store) store(closing bool) error {
	s.hdr.version++
	copy(s.body, livePage(s.hdr.version, time.Now()))
	s.hdr.body = bodySum(s.body)
	s.hdr.clean = closing
	if _, err := s.f.WriteAt(s.body[:h2Block], h2Block); err != nil {
		return err
	}
	if closing {
		if _, err := s.f.WriteAt(encodeTrailer(s.hdr.version, s.hdr.body), int64(h2Block+len(s.body))); err != nil {
			return err
		}
	}
	if _, err := s.f.WriteAt(encodeHeader(s.hdr), 0); err != nil {
		return err
	}
	if closing {
		return s.f.Sync()
	}
	return nil
}

// close writes the final consistent state and releases the lock.
func (s *h2Store) close() error {
	err := s.store(true)
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
