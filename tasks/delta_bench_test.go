package tasks

import (
	"archive/zip"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchRelease is a realistic product's files: jars of random
// (incompressible) content of 64 KiB to 4 MiB, about 300 MiB in all, and
// small text files. Level n+1 changes about 2% of the files.
type benchFile struct {
	path string
	size int
	seed uint64
	text bool
}

func benchRelease(level int) []benchFile {
	r := rand.New(rand.NewPCG(1, 2))
	var out []benchFile
	for i := range 250 {
		size := 64<<10 + r.IntN(2300<<10)
		out = append(out, benchFile{path: fmt.Sprintf("repository/components/plugins/org.example.bundle%03d_1.0.%d.jar", i, i%7), size: size, seed: uint64(i)})
	}
	for i := range 400 {
		out = append(out, benchFile{path: fmt.Sprintf("repository/resources/conf/templates/t%03d.xml.j2", i), size: 1<<10 + r.IntN(8<<10), seed: uint64(1000 + i), text: true})
	}
	out = append(out, benchFile{path: "updates/product.txt", size: 0, text: true})
	if level > 11 {
		// About 2% of the files change: every 50th.
		for i := range out {
			if i%50 == 7 {
				out[i].seed += 1 << 32
			}
		}
	}
	return out
}

func (f benchFile) content(level int) []byte {
	switch {
	case f.path == "updates/product.txt":
		return []byte("wso2am-4.4.0\n")
	case f.text:
		r := rand.New(rand.NewPCG(f.seed, 7))
		b := make([]byte, 0, f.size)
		for len(b) < f.size {
			b = fmt.Appendf(b, "<property name=\"p%d\">{{ value_%d }}</property>\n", r.IntN(1000), r.IntN(1000))
		}
		return b[:f.size]
	}
	b := make([]byte, f.size)
	r := rand.NewChaCha8([32]byte{byte(f.seed), byte(f.seed >> 8), byte(f.seed >> 32)})
	r.Read(b)
	return b
}

func writeBenchPack(b *testing.B, path string, level int) *Pack {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	add := func(name string, data []byte) {
		h := &zip.FileHeader{Name: "wso2am-4.4.0/" + name, Method: zip.Deflate}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(data)
	}
	add("updates/config.json", fmt.Appendf(nil, `{"update-level": %d}`, level))
	for _, bf := range benchRelease(level) {
		add(bf.path, bf.content(level))
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	p, err := OpenPack(path, "")
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDeltaStaging stages level 12 of a pack of about 300 MiB on an
// in-process node running level 11 (staged by drover, so its sha256s are
// cached), by delta and by the whole pack, and reports the bytes the node
// received over SSH for the delta staging (measured at the server's
// socket) and both stagings' wall time.
func BenchmarkDeltaStaging(b *testing.B) {
	dir := b.TempDir()
	old := writeBenchPack(b, filepath.Join(dir, "u11.zip"), 11)
	next := writeBenchPack(b, filepath.Join(dir, "u12.zip"), 12)
	node := newTestNode(b)
	ctx := context.Background()
	var log eventLog
	// Level 11 as drover leaves it: staged from the whole pack, switched in.
	j := stageJob(node, old, &log)
	j.facts.HomeExists = false
	if err := j.stage(ctx); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(j.Paths.Staged(), j.Paths.Home); err != nil {
		b.Fatal(err)
	}
	os.Remove(j.Paths.Pack(old.SHA256))
	mstart := time.Now()
	if _, err := next.Manifest(); err != nil { // once per plan, not per node
		b.Fatal(err)
	}
	b.Logf("the pack's manifest took %s to compute (%.0f MiB)", time.Since(mstart).Round(time.Millisecond), float64(next.Size)/(1<<20))
	reset := func() {
		os.RemoveAll(j.Paths.Staged())
		os.Remove(j.Paths.StagedState())
		os.RemoveAll(j.Paths.Packs())
	}
	var shipped int64
	var deltaT, wholeT time.Duration
	b.ResetTimer()
	for range b.N {
		reset()
		j := stageJob(node, next, &log)
		before := node.received.Load()
		start := time.Now()
		if err := j.stage(ctx); err != nil {
			b.Fatal(err)
		}
		deltaT += time.Since(start)
		shipped += node.received.Load() - before
		if w := log.warnings(); len(w) > 0 {
			b.Fatalf("delta staging fell back: %v", w)
		}
		if _, err := os.Stat(j.Paths.Pack(next.SHA256)); err == nil {
			b.Fatal("the whole pack was pushed")
		}
		reset()
		j = stageJob(node, next, &log)
		start = time.Now()
		if err := j.pushWhole(ctx, nil); err != nil {
			b.Fatal(err)
		}
		wholeT += time.Since(start)
	}
	n := float64(b.N)
	const mib = 1 << 20
	b.ReportMetric(float64(shipped)/n/mib, "shipped-MiB")
	b.ReportMetric(float64(next.Size)/mib, "pack-MiB")
	b.ReportMetric(float64(shipped)/n/float64(next.Size)*100, "shipped-%")
	b.ReportMetric(deltaT.Seconds()/n, "delta-s")
	b.ReportMetric(wholeT.Seconds()/n, "whole-s")
}
