package transport_test

// Benchmarks of issues 3 and 14 against the real-sshd tier, drover's transport side by side with the
// OpenSSH clients on the same nodes (make bench). They report ratios; nothing here asserts a time.
//
//	go test -run '^$' -bench . -benchtime 3x ./transport/
//
// The sshd processes are started inside the benchmarks, so plain `go test` never starts them.
// Metrics: *-ms/op and *-s/op are wall time per operation; *-cpu-ms/op is the CPU time the
// client side used (drover: this process; OpenSSH: the ssh/scp processes); *-sshd-cpu-ms/op is
// what the nodes' sshd processes used for that side's connections; "ratio" is drover's wall
// time over OpenSSH's (the targets: below 0.7 for the fan-out; for uploads at most 1.0 to one
// node and 0.95 to four nodes at once).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshdtest"
)

// benchCluster starts n real sshd nodes for a benchmark.
func benchCluster(b *testing.B, n int, opts ...sshdtest.Option) *sshdtest.Cluster {
	b.Helper()
	if testing.Short() {
		b.Skip("real-sshd benchmarks skipped with -short")
	}
	sshdtest.RequireProgram(b, "ssh")
	return sshdtest.Start(b, n, opts...)
}

// cost is what one side of a comparison spent.
type cost struct {
	wall   time.Duration // from start to the last node done
	cpu    time.Duration // client side
	server time.Duration // the sshd processes, with the commands they ran
}

func (c *cost) add(o cost) { c.wall += o.wall; c.cpu += o.cpu; c.server += o.server }

// measure runs fn on an idle cluster and returns its wall time, the CPU time of this process
// (children=false) or of the child processes it waited for (children=true), and the CPU time of
// the sshd side (counted once the connections are gone).
func measure(b *testing.B, c *sshdtest.Cluster, children bool, fn func() error) cost {
	b.Helper()
	who := syscall.RUSAGE_SELF
	if children {
		who = syscall.RUSAGE_CHILDREN
	}
	c.WaitIdle(time.Minute)
	server := c.CPUTime()
	before := cpuTime(who)
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	out := cost{wall: time.Since(start), cpu: cpuTime(who) - before}
	c.WaitIdle(time.Minute)
	out.server = c.CPUTime() - server
	return out
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report prints drover's and OpenSSH's costs per operation and their ratio; ns/op (the sum of
// both sides) is suppressed.
func report(b *testing.B, other string, drover, openssh cost, unit time.Duration, unitName string) {
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(drover.wall)/float64(unit)/n, "drover-"+unitName+"/op")
	b.ReportMetric(float64(openssh.wall)/float64(unit)/n, other+"-"+unitName+"/op")
	b.ReportMetric(float64(drover.cpu)/float64(time.Millisecond)/n, "drover-cpu-ms/op")
	b.ReportMetric(float64(openssh.cpu)/float64(time.Millisecond)/n, other+"-cpu-ms/op")
	b.ReportMetric(float64(drover.server)/float64(time.Millisecond)/n, "drover-sshd-cpu-ms/op")
	b.ReportMetric(float64(openssh.server)/float64(time.Millisecond)/n, other+"-sshd-cpu-ms/op")
	b.ReportMetric(float64(drover.wall)/float64(openssh.wall), "ratio")
}

// runAll runs one command per node at once and waits for all of them.
func runAll(cmds []*exec.Cmd) error {
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %v: %s", cmd.Args[0], err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFanout: `exec -- true` on 50 nodes, drover (Dial + Run + Close per node, ForEach with
// limit 64) against 50 OpenSSH ssh clients run in parallel. Each iteration runs both, in
// alternating order.
func BenchmarkFanout(b *testing.B) {
	const nodes = 50
	c := benchCluster(b, nodes)
	ssh := sshdtest.RequireProgram(b, "ssh")
	cfgs := c.Configs()
	b.Run(fmt.Sprintf("exec-true/%d-nodes", nodes), func(b *testing.B) {
		ctx := context.Background()
		drover := func() error {
			return firstError(transport.ForEach(ctx, cfgs, 64, func(ctx context.Context, i int, cfg transport.Config) error {
				cl, err := transport.Dial(ctx, cfg)
				if err != nil {
					return err
				}
				defer cl.Close()
				_, err = cl.Run(ctx, "true", transport.RunOptions{})
				return err
			}))
		}
		openssh := func() error {
			cmds := make([]*exec.Cmd, nodes)
			for i := range cmds {
				cmds[i] = exec.Command(ssh, append(c.SSHArgs(i), "true")...)
			}
			return runAll(cmds)
		}
		var d, o cost
		for i := 0; i < b.N; i++ {
			if i%2 == 0 {
				d.add(measure(b, c, false, drover))
				o.add(measure(b, c, true, openssh))
			} else {
				o.add(measure(b, c, true, openssh))
				d.add(measure(b, c, false, drover))
			}
		}
		report(b, "openssh", d, o, time.Millisecond, "ms")
	})
}

// BenchmarkUpload: a 512 MiB file to 1 and to 4 nodes at once, drover (Dial + Upload with its
// fsync and sha256 check on the node; the local sum is known beforehand, as the pack's is in a
// plan) against OpenSSH scp (one process per node, in parallel), into the node's directory on
// disk and into tmpfs.
func BenchmarkUpload(b *testing.B) {
	const size = 512 << 20
	c := benchCluster(b, 4)
	scp := sshdtest.RequireProgram(b, "scp")
	local, localSum := randomFile(b, size)
	shm := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "drover-bench-")
		if err == nil {
			shm = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	for _, dest := range []string{"disk", "tmpfs"} {
		if dest == "tmpfs" && shm == "" {
			continue
		}
		for _, nodes := range []int{1, 4} {
			b.Run(fmt.Sprintf("512MiB/%s/%d-nodes", dest, nodes), func(b *testing.B) {
				remote := func(i int) string {
					if dest == "tmpfs" {
						return filepath.Join(shm, fmt.Sprintf("node%d.bin", i))
					}
					return filepath.Join(c.Node(i).Dir(), "upload.bin")
				}
				clean := func() {
					for i := range nodes {
						os.Remove(remote(i))
					}
				}
				ctx := context.Background()
				cfgs := c.Configs()[:nodes]
				// As tasks/stage.go does: the pack's sum is known from the plan.
				drover := func() error {
					return firstError(transport.ForEach(ctx, cfgs, 64, func(ctx context.Context, i int, cfg transport.Config) error {
						cl, err := transport.Dial(ctx, cfg)
						if err != nil {
							return err
						}
						defer cl.Close()
						res, err := cl.Upload(ctx, local, remote(i), transport.UploadOptions{SHA256: localSum})
						if err == nil && res.Skipped {
							err = fmt.Errorf("%s: upload skipped: the previous file was not removed", cfg.Node)
						}
						return err
					}))
				}
				openssh := func() error {
					cmds := make([]*exec.Cmd, nodes)
					for i := range cmds {
						args := append(c.SCPArgs(i), "-q", local, c.SCPTarget(i, remote(i)))
						cmds[i] = exec.Command(scp, args...)
					}
					return runAll(cmds)
				}
				// Before issue 14 (see whatIfUpload): write the whole file, then hash it on the
				// node with openssl; Upload now hashes on the node while it writes.
				whatif := func() error {
					return firstError(transport.ForEach(ctx, cfgs, 64, func(ctx context.Context, i int, cfg transport.Config) error {
						cl, err := transport.Dial(ctx, cfg)
						if err != nil {
							return err
						}
						defer cl.Close()
						return whatIfUpload(ctx, cl, local, remote(i), localSum)
					}))
				}
				// The three sides in rotating order, each on a clean slate.
				var d, o, w cost
				sides := []struct {
					c        *cost
					children bool
					fn       func() error
				}{{&d, false, drover}, {&o, true, openssh}, {&w, false, whatif}}
				for i := 0; i < b.N; i++ {
					for k := range sides {
						side := sides[(i+k)%len(sides)]
						clean()
						side.c.add(measure(b, c, side.children, side.fn))
					}
				}
				clean()
				report(b, "scp", d, o, time.Second, "s")
				b.ReportMetric(float64(size*nodes)/(1<<20)/(d.wall.Seconds()/float64(b.N)), "drover-MiB/s")
				b.ReportMetric(float64(size*nodes)/(1<<20)/(o.wall.Seconds()/float64(b.N)), "scp-MiB/s")
				b.ReportMetric(w.wall.Seconds()/float64(b.N), "whatif-s/op")
				b.ReportMetric(float64(w.wall)/float64(o.wall), "whatif-ratio")
			})
		}
	}
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
