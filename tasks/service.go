package tasks

import (
	"context"
	"slices"

	"fmt"
	"github.com/drover-sh/drover/inventory"
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

// unitPIDScript, after pidScript, makes $pid the systemd unit's MainPID
// when that process is alive and runs from "$H" (a server started by hand,
// outside the unit, is still found by its PID file); $main is the MainPID.
func unitPIDScript(unit string) string {
	return `filepid=$pid
main=$(systemctl show -p MainPID ` + q(unit) + ` 2>/dev/null | sed -n 's/^MainPID=//p' | tr -dc '0-9')
[ "$main" != 0 ] || main=
pid=$main
if ! alive; then pid=$filepid; fi
`
}

// pidPre is the prelude that sets $pid and alive() for the server of the
// release at dir: the unit's MainPID for home on a systemd node, else the
// PID file's.
func (j *Job) pidPre(dir string) string {
	pre := j.vars() + "R=" + q(dir) + "\n" + pidScript
	if j.systemd() && dir == j.Paths.Home {
		pre += unitPIDScript(j.Node.Service.Unit)
	}
	return pre
}

// systemd reports whether a systemd unit runs the node's server.
func (j *Job) systemd() bool { return j.Node.Service.Systemd() }

// systemctl is the systemctl command line for verb on the node's unit
// (run through become like every command drover runs).
func (j *Job) systemctl(verb ...string) string {
	return "systemctl " + strings.Join(verb, " ") + " " + q(j.Node.Service.Unit)
}

// runningPID returns the PID of the server running from home, or 0.
func (j *Job) runningPID(ctx context.Context) (int, error) {
	out, err := sh(ctx, j.Conn, j.pidPre(j.Paths.Home)+"if alive; then echo \"$pid\"; fi")
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
			if j.systemd() {
				return Change{Summary: fmt.Sprintf("%s, wait up to %s for the server to stop, then %s", j.systemctl("stop", "--no-block"), j.Inv.Rollout.StopTimeout, j.systemctl("kill", "-s", "SIGKILL"))}, nil
			}
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
// SIGTERM is what that script would have sent. On a systemd node the unit
// is stopped (systemctl stop --no-block, so that stop_timeout, not the
// unit's TimeoutStopSec, bounds the wait) and killed through systemctl kill.
// stopWaitRound bounds one remote wait for a stopping server, so that a
// lost connection or Ctrl-C is noticed within it.
const stopWaitRound = 5 * time.Second

func (j *Job) stopServer(ctx context.Context, dir, product string) error {
	pre := j.pidPre(dir)
	unit := j.systemd() && dir == j.Paths.Home
	script, _ := j.startCmd(product)
	script = q(script)
	byScript := "if [ -f \"$R\"/" + script + " ]; then (cd \"$R\" && sh ./" + script + " stop >/dev/null 2>&1 </dev/null) || true; else kill -TERM \"$pid\"; fi"
	stop := byScript
	if unit {
		stop = `if [ "$pid" = "$main" ]; then ` + j.systemctl("stop", "--no-block") + ` </dev/null >/dev/null; echo unit; else ` + byScript + `; fi`
	}
	out, err := sh(ctx, j.Conn, pre+"if alive; then "+stop+"; echo \"$pid\"; fi")
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	viaUnit := unit && strings.HasPrefix(out, "unit\n")
	out = strings.TrimPrefix(out, "unit\n")
	if viaUnit {
		j.journal(ctx, Record{Step: "stop", Phase: PhaseNote, Detail: fmt.Sprintf("systemd unit %s: %s", j.Node.Service.Unit, j.systemctl("stop", "--no-block"))})
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	// The wait runs on the node, looking every 50 ms, in rounds of at
	// most stopWaitRound: drover sees the server go as it goes, at the
	// cost of one round trip per round rather than one per look.
	deadline := time.Now().Add(j.Inv.Rollout.StopTimeout)
	for {
		round := min(time.Until(deadline), stopWaitRound)
		looks := max(int(round/(50*time.Millisecond)), 1)
		out, err := sh(ctx, j.Conn, pre+fmt.Sprintf(`i=0; while alive && [ $i -lt %d ]; do sleep 0.05; i=$((i+1)); done
if alive; then echo up; fi`, looks))
		if err != nil {
			return fmt.Errorf("wait for stop: %w", err)
		}
		if strings.TrimSpace(out) == "" {
			return nil
		}
		if !time.Now().Before(deadline) {
			break
		}
	}
	j.warn(fmt.Sprintf("the server did not stop within %s; sending SIGKILL", j.Inv.Rollout.StopTimeout))
	kill := `kill -9 "$pid"`
	if viaUnit {
		kill = `if [ "$pid" = "$main" ]; then ` + j.systemctl("kill", "-s", "SIGKILL") + `; else kill -9 "$pid"; fi`
		j.journal(ctx, Record{Step: "stop", Phase: PhaseNote, Detail: fmt.Sprintf("systemd unit %s did not stop within %s: %s", j.Node.Service.Unit, j.Inv.Rollout.StopTimeout, j.systemctl("kill", "-s", "SIGKILL"))})
	}
	_, err = sh(ctx, j.Conn, pre+`if alive; then `+kill+`; fi
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
			if j.systemd() {
				return Change{Summary: j.systemctl("start")}, nil
			}
			script, args := j.startCmd(j.targetProduct())
			summary := script + " start" + strings.ReplaceAll(args, "'", "")
			if slices.ContainsFunc(j.Node.Files, func(f inventory.File) bool { return f.Generated != "" }) {
				summary = "load " + j.envFile() + ", " + summary
			}
			return Change{Summary: summary}, nil
		},
		Apply: func(ctx context.Context, j *Job) error { return j.startServer(ctx, j.targetProduct()) },
	}
}

// startServer starts the release at home, remembering where its log ends
// so the health gate reads only this start's lines, and what the PID file
// said before, so the gate can tell a server still booting from one that
// exited.
//
// The startup script runs with the node's environment file (Product.EnvFile,
// the jvm and env settings) loaded when the release has one; on a systemd
// node systemctl starts the unit, which loads it through EnvironmentFile=.
func (j *Job) startServer(ctx context.Context, product string) error {
	start, args := j.startCmd(product)
	launch := "cd \"$H\" && "
	if f := j.envFile(); f != "" {
		launch += "if [ -f ./" + q(f) + " ]; then set -a; . ./" + q(f) + "; set +a; fi\n"
	}
	launch += "sh ./" + q(start) + " start" + args + " </dev/null >/dev/null 2>&1"
	if j.systemd() {
		launch = j.systemctl("start") + " </dev/null >/dev/null"
	}
	// A PID file naming a process that is not this home's server (a PID
	// reused since, or a zombie no one reaped yet) makes the startup
	// script say "already running" and start nothing: it is set aside.
	script := j.vars() + `log="$H/repository/logs/wso2carbon.log"
if [ -f "$log" ]; then wc -c < "$log"; else echo 0; fi
R="$H"
` + pidScript + `if [ -n "$pid" ] && ! alive && { kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ]; }; then
  mv -f "$H/wso2carbon.pid" "$H/wso2carbon.pid.stale" && echo "stale=$pid"
fi
echo "pid=$(cat "$H/wso2carbon.pid" 2>/dev/null | tr -dc '0-9')"
` + launch
	out, err := sh(ctx, j.Conn, script)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if j.systemd() {
		j.journal(ctx, Record{Step: "start", Phase: PhaseNote, Detail: fmt.Sprintf("systemd unit %s: %s", j.Node.Service.Unit, j.systemctl("start"))})
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	j.logOffset, _ = strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	j.stalePID = ""
	for _, l := range lines[1:] {
		if v, ok := strings.CutPrefix(l, "stale="); ok {
			j.warn("the PID file named process " + v + ", which is not this release's server (a reused PID or an exited server not yet reaped); set it aside as wso2carbon.pid.stale so the startup script starts the server")
		} else if v, ok := strings.CutPrefix(l, "pid="); ok {
			j.stalePID = strings.TrimSpace(v)
		}
	}
	return nil
}

// envFile is the environment file's path in a release (relative to it),
// "" when the product has none.
func (j *Job) envFile() string {
	p, _, _, err := j.Product.EnvFile(j.Node)
	if err != nil {
		return ""
	}
	return p
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
