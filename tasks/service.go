package tasks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// pidScript prints the PID of a running server of the release at "$R", or
// nothing. The PID file is never removed by the product, so a stale one is
// normal: the PID must be alive and its command line must name the release.
const pidScript = `pid=$(cat "$R/wso2carbon.pid" 2>/dev/null | tr -dc '0-9')
alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { [ ! -r "/proc/$pid/cmdline" ] || tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$H"; }; }
`

// runningPID returns the PID of the server running from home, or 0.
func (j *Job) runningPID(ctx context.Context) (int, error) {
	out, err := sh(ctx, j.Conn, j.vars()+"R=\"$H\"\n"+pidScript+"if alive; then echo \"$pid\"; fi")
	if err != nil {
		return 0, err
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	return pid, nil
}

func stopStep() Step {
	return Step{
		Name:  "stop",
		Stops: true,
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if j.switched() || !j.facts.Running {
				return Change{Done: true, Summary: "server not running"}, nil
			}
			script, _ := j.startCmd(j.facts.Product)
			return Change{Summary: fmt.Sprintf("%s stop, wait up to %s for PID %d, then SIGKILL", script, j.Inv.Rollout.StopTimeout, j.facts.PID)}, nil
		},
		Apply: func(ctx context.Context, j *Job) error {
			if err := j.stopServer(ctx, j.Paths.Home, j.facts.Product); err != nil {
				return err
			}
			j.facts.Running = false
			if st := j.facts.Staged; st != nil && st.Persisted {
				// The old release ran after its data was copied: copy again.
				st.Persisted = false
				return j.writeStagedState(ctx, *st)
			}
			return nil
		},
	}
}

// stopServer asks the server of the release at dir (whose product.txt says
// product) to stop and waits for its PID to go; past stop_timeout it is
// killed, with a warning. The startup script's stop returns at once,
// before the server has exited; where the release's script is missing,
// SIGTERM is what that script would have sent.
func (j *Job) stopServer(ctx context.Context, dir, product string) error {
	pre := j.vars() + "R=" + q(dir) + "\n" + pidScript
	script, _ := j.startCmd(product)
	script = q(script)
	out, err := sh(ctx, j.Conn, pre+"if alive; then if [ -f \"$R\"/"+script+" ]; then (cd \"$R\" && sh ./"+script+" stop >/dev/null 2>&1 </dev/null) || true; else kill -TERM \"$pid\"; fi; echo \"$pid\"; fi")
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	deadline := time.Now().Add(j.Inv.Rollout.StopTimeout)
	for {
		out, err := sh(ctx, j.Conn, pre+"if alive; then echo up; fi")
		if err != nil {
			return fmt.Errorf("wait for stop: %w", err)
		}
		if strings.TrimSpace(out) == "" {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, j.poll()); err != nil {
			return err
		}
	}
	j.warn(fmt.Sprintf("the server did not stop within %s; sending SIGKILL", j.Inv.Rollout.StopTimeout))
	_, err = sh(ctx, j.Conn, pre+`if alive; then kill -9 "$pid"; fi
i=0; while alive && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
if alive; then echo "PID $pid survived SIGKILL" >&2; exit 1; fi`)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func startStep() Step {
	return Step{
		Name: "start",
		Probe: func(ctx context.Context, j *Job) (Change, error) {
			if j.facts.Running && (j.switched() || (j.Pack == nil && j.updated())) {
				return Change{Done: true, Summary: "server running"}, nil
			}
			script, args := j.startCmd(j.targetProduct())
			return Change{Summary: script + " start" + strings.ReplaceAll(args, "'", "")}, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.startServer(ctx, j.targetProduct()) },
	}
}

// startServer starts the release at home, remembering where its log ends
// so the health gate reads only this start's lines, and what the PID file
// said before, so the gate can tell a server still booting from one that
// exited.
func (j *Job) startServer(ctx context.Context, product string) error {
	start, args := j.startCmd(product)
	script := j.vars() + `log="$H/repository/logs/wso2carbon.log"
if [ -f "$log" ]; then wc -c < "$log"; else echo 0; fi
echo "pid=$(cat "$H/wso2carbon.pid" 2>/dev/null | tr -dc '0-9')"
cd "$H" && sh ./` + q(start) + ` start` + args + ` </dev/null >/dev/null 2>&1`
	out, err := sh(ctx, j.Conn, script)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	size, pid, _ := strings.Cut(strings.TrimSpace(out), "\n")
	j.logOffset, _ = strconv.ParseInt(strings.TrimSpace(size), 10, 64)
	j.stalePID = strings.TrimPrefix(strings.TrimSpace(pid), "pid=")
	return nil
}

// serverState returns the PID wso2carbon.pid of home names and, when that
// process runs from home, the same PID as running (else 0).
func (j *Job) serverState(ctx context.Context) (file string, running int, err error) {
	out, err := sh(ctx, j.Conn, j.vars()+"R=\"$H\"\n"+pidScript+"echo \"file=$pid\"\nif alive; then echo \"alive=$pid\"; fi")
	if err != nil {
		return "", 0, err
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "file="); ok {
			file = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(l, "alive="); ok {
			running, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return file, running, nil
}
