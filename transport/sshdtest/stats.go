package sshdtest

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on every Linux platform
// Go supports).
const clockTick = 10 * time.Millisecond

// CPUTime is the CPU time (user + system) the cluster's sshd processes have used so far: the
// listeners and every connection that has ended, with the commands it ran. Benchmarks take the
// difference around an operation, after WaitIdle. Linux only; 0 elsewhere.
func (c *Cluster) CPUTime() time.Duration {
	var total time.Duration
	for _, n := range c.nodes {
		if pid := n.PID(); pid != 0 {
			total += processCPU(pid)
		}
	}
	return total
}

// processCPU is utime+stime+cutime+cstime of pid: its own CPU time and that of the children it
// has waited for (sshd waits for every connection process, which waits for its session).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	// After the command name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// Busy reports whether any node's sshd still has a connection process (a client connected, or
// a connection still shutting down or not yet reaped).
func (c *Cluster) Busy() bool {
	parents := map[int]bool{}
	for _, n := range c.nodes {
		if pid := n.PID(); pid != 0 {
			parents[pid] = true
		}
	}
	return len(parents) > 0 && len(scanChildren(parents, true)) > 0
}

// WaitIdle waits until no node's sshd has a connection process, or until timeout has passed;
// it reports whether the cluster is idle. Benchmarks call it between measurements so one side's
// teardown is not billed to the other.
func (c *Cluster) WaitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for c.Busy() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
