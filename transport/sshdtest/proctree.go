package sshdtest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// OpenSSH's sshd forks a process per connection and that process calls setsid, so a process
// group does not hold a node's connections. To kill "the node's sshd" (the listener, every
// connection handler, and the commands they run) we walk the process tree through /proc.

// freezeTree sends SIGSTOP to pid and then to every descendant, parents before their children,
// so no process of the tree can fork a new one while we look. It returns every pid it stopped,
// root first. Without /proc (not Linux) it returns only pid.
func freezeTree(pid int) []int {
	stopped := []int{pid}
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	level := []int{pid}
	seen := map[int]bool{pid: true}
	for len(level) > 0 {
		parents := make(map[int]bool, len(level))
		for _, p := range level {
			parents[p] = true
		}
		var next []int
		for _, c := range childrenOf(parents) {
			if seen[c] {
				continue
			}
			seen[c] = true
			_ = syscall.Kill(c, syscall.SIGSTOP)
			stopped = append(stopped, c)
			next = append(next, c)
		}
		level = next
	}
	return stopped
}

// descendants returns every process under pid (not pid itself), without stopping them.
func descendants(pid int) []int {
	var out []int
	level := map[int]bool{pid: true}
	for len(level) > 0 {
		next := map[int]bool{}
		for _, c := range childrenOf(level) {
			if c != pid && !next[c] {
				next[c] = true
				out = append(out, c)
			}
		}
		level = next
	}
	return out
}

// processName is the command name of pid (/proc/<pid>/comm), "" when it is gone.
func processName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// signalAll sends sig to every pid, ignoring processes that are already gone.
func signalAll(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

// killTree kills pid and every descendant with SIGKILL.
func killTree(pid int) {
	signalAll(freezeTree(pid), syscall.SIGKILL)
}

// childrenOf returns the live (not zombie) pids whose parent is in parents, by scanning
// /proc/*/stat.
func childrenOf(parents map[int]bool) []int { return scanChildren(parents, false) }

// scanChildren returns the pids whose parent is in parents, zombies too when zombies is set.
func scanChildren(parents map[int]bool, zombies bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := parentOf(pid)
		if ok && parents[ppid] && (zombies || state != "Z") {
			out = append(out, pid)
		}
	}
	return out
}

// parentOf reads the parent pid and the state from /proc/<pid>/stat. The command name (field 2)
// may contain spaces and parentheses, so we parse from the last ')'.
func parentOf(pid int) (int, string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", false
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is the state, fields[1] the parent pid.
	if len(fields) < 2 {
		return 0, "", false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return 0, "", false
	}
	return ppid, fields[0], true
}
