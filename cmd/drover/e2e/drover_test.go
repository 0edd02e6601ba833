package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// result is how a drover run ended.
type result struct {
	code           int // exit status; -1 when killed by a signal
	stdout, stderr string
}

// output is stdout and stderr together, for messages that may be on either.
func (r result) output() string { return r.stdout + r.stderr }

// droverCmd is `drover -i INVENTORY args...` run from the controller
// directory, with an environment that keeps the tester's own SSH setup out:
// no ssh-agent, no ~/.ssh/config.
func (f *fixture) droverCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(droverBin, append([]string{"-i", f.inv}, args...)...)
	cmd.Dir = f.dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") && !strings.HasPrefix(kv, "DROVER_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "DROVER_SSH_CONFIG=none", "NO_COLOR=1"), f.env...)
	return cmd
}

// drover runs drover to the end (stdin is /dev/null: not a terminal).
func (f *fixture) drover(args ...string) result {
	f.t.Helper()
	p := f.start(args...)
	return p.wait()
}

// proc is a drover running in the background; its stderr is watched line by
// line.
type proc struct {
	t      *testing.T
	args   []string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan struct{} // closed when the process has been waited for
	res    result

	mu     sync.Mutex
	stderr strings.Builder
	lines  []string
	// killOn: the first stderr line matching it gets the process killSig,
	// sent from the reading goroutine the moment the line arrives.
	killOn  *regexp.Regexp
	killSig syscall.Signal
	killed  string // the line that triggered killSig
	// killOnEvent: the first JSON line of stdout (apply --json) it accepts
	// gets the process killSig. outDone is closed when stdout is read to
	// its end (nil when stdout is not watched).
	killOnEvent func(ev map[string]any) bool
	killDelay   time.Duration
	outDone     chan struct{}
}

// start starts drover in the background. Cleanup kills it if the test did
// not wait for it.
func (f *fixture) start(args ...string) *proc {
	return f.startKillOn(nil, 0, args...)
}

// startKillOn starts drover and sends it sig as soon as a line of its stderr
// matches re.
func (f *fixture) startKillOn(re *regexp.Regexp, sig syscall.Signal, args ...string) *proc {
	f.t.Helper()
	p := &proc{t: f.t, args: args, cmd: f.droverCmd(args...), done: make(chan struct{}), killOn: re, killSig: sig}
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go p.read(errPipe)
	f.cleanupProc(p)
	return p
}

// startKillOnEvent starts drover with --json output and sends it sig delay
// after a JSON event line on its stdout first satisfies match.
func (f *fixture) startKillOnEvent(match func(ev map[string]any) bool, delay time.Duration, sig syscall.Signal, args ...string) *proc {
	f.t.Helper()
	p := &proc{t: f.t, args: args, cmd: f.droverCmd(args...), done: make(chan struct{}), killSig: sig,
		killOnEvent: match, killDelay: delay, outDone: make(chan struct{})}
	outPipe, err := p.cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go p.readEvents(outPipe)
	go p.read(errPipe)
	f.cleanupProc(p)
	return p
}

// readEvents copies stdout into p.stdout, line by line, and watches each
// JSON line for killOnEvent.
func (p *proc) readEvents(r io.Reader) {
	defer close(p.outDone)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var ev map[string]any
		json.Unmarshal([]byte(line), &ev)
		p.mu.Lock()
		p.stdout.WriteString(line + "\n")
		if p.killed == "" && ev != nil && p.killOnEvent(ev) {
			p.killed = line
			if p.killDelay > 0 {
				time.AfterFunc(p.killDelay, func() { p.cmd.Process.Signal(p.killSig) })
			} else {
				p.cmd.Process.Signal(p.killSig)
			}
		}
		p.mu.Unlock()
	}
}

// cleanupProc kills p at the end of the test if the test did not wait for it.
func (f *fixture) cleanupProc(p *proc) {
	f.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.stderr.WriteString(line + "\n")
		p.lines = append(p.lines, line)
		if p.killOn != nil && p.killed == "" && p.killOn.MatchString(line) {
			p.killed = line
			p.cmd.Process.Signal(p.killSig)
		}
		p.mu.Unlock()
	}
	if p.outDone != nil {
		<-p.outDone // Wait closes the pipes: stdout must be read to its end first
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	stdout := p.stdout.String()
	p.mu.Unlock()
	p.res = result{code: p.cmd.ProcessState.ExitCode(), stdout: stdout, stderr: p.stderrText()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.res.stderr += "\n(wait: " + err.Error() + ")"
	}
	close(p.done)
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// killedAt is the line that triggered the kill ("" when none did).
func (p *proc) killedAt() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// wait waits for the process to end (a deadlock guard fails the test after
// several minutes) and logs its output.
func (p *proc) wait() result {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("drover %s did not finish within 5 minutes:\n%s", strings.Join(p.args, " "), p.res.output())
	}
	p.t.Logf("drover %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(p.args, " "), p.res.code, tail(p.res.stdout, 60), tail(p.res.stderr, 80))
	if strings.Contains(p.res.stderr, "WARNING: DATA RACE") {
		p.t.Errorf("drover %s hit a data race:\n%s", strings.Join(p.args, " "), p.res.stderr)
	}
	return p.res
}

// waitLine waits until a stderr line matches re and returns it; it fails
// the test when the process ends first.
func (p *proc) waitLine(re *regexp.Regexp) string {
	p.t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // a deadlock guard
	for seen := 0; ; {
		p.mu.Lock()
		lines := p.lines[seen:]
		p.mu.Unlock()
		for _, l := range lines {
			if re.MatchString(l) {
				return l
			}
		}
		seen += len(lines)
		select {
		case <-p.done:
			// Look once more at what arrived before the end.
			p.mu.Lock()
			rest := p.lines[seen:]
			p.mu.Unlock()
			for _, l := range rest {
				if re.MatchString(l) {
					return l
				}
			}
			p.t.Fatalf("drover %s ended (exit %d) before printing a line matching %q:\n%s", strings.Join(p.args, " "), p.res.code, re, p.res.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("drover %s printed no line matching %q within 3 minutes:\n%s", strings.Join(p.args, " "), re, p.stderrText())
		}
	}
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return "...\n" + strings.Join(lines[len(lines)-n:], "")
}

// runIDOf finds the run id in apply's "run ID started" line.
var runStartedRE = regexp.MustCompile(`run (\S+) started:`)

func runIDOf(t *testing.T, stderr string) string {
	t.Helper()
	m := runStartedRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no \"run ID started\" line in:\n%s", stderr)
	}
	return m[1]
}
