package tasks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// healthRun evaluates a node's health checks through its SSH connection:
// the ports are often reachable only from the node itself.
type healthRun struct {
	conn  Conn
	node  *inventory.Node
	paths Paths
	// wait, when set, makes a log check wait on the node up to that long
	// for its line, looking every 20 ms while the server (pid) lives: the
	// gate sees the line as it is written instead of at its next poll.
	wait time.Duration
	pid  int
	// waiting, when set, hears the reason a waiting check has not passed
	// yet, as soon as the node says so.
	waiting func(reason string)
	// logHits are the verdicts of the log checks the probe ran (by index
	// in checks, for the whole log), used instead of running them again.
	logHits map[int]bool
}

// lineWriter calls fn once, on the first bytes written.
type lineWriter struct {
	once sync.Once
	fn   func()
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.once.Do(w.fn)
	return len(p), nil
}

// checkOnce runs every check once and returns "" when all pass, or why
// the first failing one failed. logOffset is where this start's log lines
// begin.
func (h *healthRun) checkOnce(ctx context.Context, checks []inventory.HealthCheck, logOffset int64) string {
	for i, c := range checks {
		if hit, ok := h.logHits[i]; ok && c.Kind == inventory.HealthLog && logOffset == 0 {
			if !hit {
				return noLogLine(c)
			}
			continue
		}
		if reason := h.check(ctx, c, logOffset); reason != "" {
			return reason
		}
	}
	return ""
}

func noLogLine(c inventory.HealthCheck) string {
	return fmt.Sprintf("log: no line matching %q yet", c.Pattern)
}

func (h *healthRun) check(ctx context.Context, c inventory.HealthCheck, logOffset int64) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch c.Kind {
	case inventory.HealthLog:
		log := h.paths.Home + "/repository/logs/wso2carbon.log"
		script := fmt.Sprintf("tail -c +%d %s 2>/dev/null | grep -qE -- %s", logOffset+1, q(log), q(c.Pattern))
		reason := noLogLine(c)
		if h.wait > 0 && h.pid > 0 {
			script = fmt.Sprintf(`i=0; while :; do
  if %s; then exit 0; fi
  [ $i -lt %d ] && [ -d /proc/%d ] || exit 1
  [ $i -gt 0 ] || echo waiting
  sleep 0.02; i=$((i+1))
done`, script, int(h.wait/(20*time.Millisecond)), h.pid)
		}
		opts := transport.RunOptions{MaxOutput: 4096}
		if h.waiting != nil {
			opts.Stdout = &lineWriter{fn: func() { h.waiting(reason) }}
		}
		if _, err := h.conn.Run(ctx, "sh -c "+q(script), opts); err != nil {
			return reason
		}
	case inventory.HealthHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
		if err != nil {
			return "http: " + err.Error()
		}
		resp, err := h.conn.HTTPClient(c.InsecureTLS).Do(req)
		if err != nil {
			return fmt.Sprintf("http %s: %v", c.URL, shortErr(err))
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != c.Status {
			return fmt.Sprintf("http %s: status %d, want %d", c.URL, resp.StatusCode, c.Status)
		}
	case inventory.HealthTCP:
		conn, err := h.conn.DialTCP(ctx, "127.0.0.1:"+strconv.Itoa(c.Port))
		if err != nil {
			return fmt.Sprintf("tcp %d: %v", c.Port, shortErr(err))
		}
		conn.Close()
	case inventory.HealthCommand:
		res, err := h.conn.Run(ctx, c.Run, transport.RunOptions{MaxOutput: 64 << 10})
		if err != nil {
			out := ""
			if res != nil {
				out = lastLines(string(res.Stderr)+string(res.Stdout), 1)
			}
			return fmt.Sprintf("command %q: %v %s", c.Run, shortErr(err), out)
		}
	default:
		return "unknown check kind " + c.Kind
	}
	return ""
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 120 {
		s = s[i+2:]
	}
	return s
}

func healthStep() Step {
	return Step{
		Name: "health",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			ch := Change{Summary: fmt.Sprintf("healthy for %s within %s", j.Inv.Rollout.MinHealthyTime, j.Inv.Rollout.HealthTimeout)}
			for _, c := range j.Node.Health {
				ch.Details = append(ch.Details, describeCheck(c))
			}
			return ch, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.healthGate(ctx) },
	}
}

func describeCheck(c inventory.HealthCheck) string {
	switch c.Kind {
	case inventory.HealthHTTP:
		return fmt.Sprintf("http %s -> %d", c.URL, c.Status)
	case inventory.HealthTCP:
		return fmt.Sprintf("tcp 127.0.0.1:%d", c.Port)
	case inventory.HealthLog:
		return fmt.Sprintf("log /%s/", c.Pattern)
	default:
		return "command " + c.Run
	}
}

// HealthError is a node that did not become healthy.
type HealthError struct {
	Reason string
	Log    string // the last ERROR lines of the product log, if any
}

func (e *HealthError) Error() string {
	s := "not healthy: " + e.Reason
	if e.Log != "" {
		s += "; log: " + e.Log
	}
	return s
}

// healthGate waits until every check passes continuously for
// min_healthy_time, within health_timeout. A server that exits on the way
// fails the gate at once; one that has not written its PID file yet is
// still booting and is waited for.
func (j *Job) healthGate(ctx context.Context) error {
	r := j.Inv.Rollout
	h := &healthRun{conn: j.Conn, node: j.Node, paths: j.Paths}
	deadline := time.Now().Add(r.HealthTimeout)
	var since time.Time
	reason, gone := "waiting for the server to start", 0
	for {
		file, pid, err := j.serverState(ctx)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		if pid == 0 && (file == "" || file == j.stalePID) {
			gone, since = 0, time.Time{}
			reason = "the server has not written a new PID to wso2carbon.pid yet"
			if time.Now().Before(deadline) {
				// Wait on the node for the server to write its PID, looking
				// every 50 ms: the first check runs as soon as it exists.
				if err := j.waitNewPID(ctx, min(time.Until(deadline), stopWaitRound)); err != nil {
					return fmt.Errorf("health: %w", err)
				}
				continue
			}
		} else if pid == 0 {
			gone++
			reason = "the server is not running"
			if gone >= 3 {
				return &HealthError{Reason: "the server exited", Log: j.logErrors(ctx)}
			}
			since = time.Time{}
		} else {
			gone = 0
			h.pid, h.wait = pid, min(max(time.Until(deadline), 0), stopWaitRound)
			h.waiting = func(reason string) {
				j.Sink.Emit(Event{Type: EventProgress, Node: j.Node.Name, Step: "health", Message: reason})
			}
			reason = h.checkOnce(ctx, j.Node.Health, j.logOffset)
			switch {
			case reason != "":
				since = time.Time{}
			case since.IsZero():
				since = time.Now()
			}
			if reason == "" && time.Since(since) >= r.MinHealthyTime {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return &HealthError{Reason: fmt.Sprintf("still failing after %s: %s", r.HealthTimeout, reason), Log: j.logErrors(ctx)}
		}
		j.Sink.Emit(Event{Type: EventProgress, Node: j.Node.Name, Step: "health", Message: healthMessage(reason, since, r.MinHealthyTime)})
		if err := sleep(ctx, j.poll()); err != nil {
			return err
		}
	}
}

func healthMessage(reason string, since time.Time, need time.Duration) string {
	if reason != "" {
		return reason
	}
	return fmt.Sprintf("healthy for %s of %s", time.Since(since).Round(time.Second), need)
}

// logErrors returns the last ERROR lines this start wrote to the log.
func (j *Job) logErrors(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := j.Paths.Home + "/repository/logs/wso2carbon.log"
	out, _ := sh(ctx, j.Conn, fmt.Sprintf("tail -c +%d %s 2>/dev/null | grep -E 'ERROR|FATAL|Exception' | tail -n 2; true", j.logOffset+1, q(log)))
	return lastLines(out, 2)
}

func afterHealthyStep() Step { return hookStep("after_healthy", inventory.AfterHealthy) }

func sideBySideSteps() []Step {
	return []Step{
		restoreStep(),
		preflightStep(),
		stageStep(),
		configureStep(),
		optimizeStep(),
		precopyStep(),
		hookStep("before_stop", inventory.BeforeStop),
		stopStep(),
		persistStep(),
		switchStep(),
		startStep(),
		hookStep("after_start", inventory.AfterStart),
		healthStep(),
		afterHealthyStep(),
	}
}

// waitNewPID waits on the node, up to d, until the PID file names a PID
// other than the one it held before this start.
func (j *Job) waitNewPID(ctx context.Context, d time.Duration) error {
	looks := max(int(d/(50*time.Millisecond)), 1)
	_, err := sh(ctx, j.Conn, j.vars()+fmt.Sprintf(`i=0; while [ $i -lt %d ]; do
  p=$(cat "$H/wso2carbon.pid" 2>/dev/null | tr -dc '0-9')
  if [ -n "$p" ] && [ "$p" != %s ]; then break; fi
  sleep 0.05; i=$((i+1))
done`, looks, q(j.stalePID)))
	return err
}
