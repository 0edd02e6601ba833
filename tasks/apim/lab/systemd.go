package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

// Real systemd cannot run in the lab (no PID 1 systemd in a container or a
// test), so a lab node can be laid out under a simulated one: a systemctl
// in the node's shims folder (first on the node's PATH) that manages the
// units whose unit files lie in the node's systemd folder, the way
// systemctl manages a Type=forking unit with a PIDFile:
//
//	systemctl start UNIT            runs ExecStart with the unit's Environment= and EnvironmentFile=
//	                                (a missing "-" file is skipped), in WorkingDirectory, and waits
//	                                for PIDFile to name a new live process
//	systemctl stop [--no-block] UNIT runs ExecStop the same way; without --no-block it waits for
//	                                MainPID to go (90 s, then SIGKILL, like TimeoutStopSec)
//	systemctl kill -s SIG UNIT      sends SIG to MainPID
//	systemctl show -p A,B [UNIT]    MainPID, ActiveState, LoadState, EnvironmentFiles; without a
//	                                unit the manager's UnitPath (the node's systemd folder)
//
// Every call is appended to <node>/systemctl.log; the servers it starts see
// APIMSIM_UNIT=<unit>, which the simulated server records.

// DefaultUnit is the unit a lab node laid out under systemd runs as.
const DefaultUnit = "wso2am.service"

// UnitDir is the folder of the node's simulated unit files.
func (n *Node) UnitDir() string { return filepath.Join(n.Dir, "systemd") }

// SystemctlLog is where the simulated systemctl records its calls.
func (n *Node) SystemctlLog() string { return filepath.Join(n.Dir, "systemctl.log") }

const systemctlSim = `#!/bin/sh
# systemctl, simulated by drover's lab for one node: see tasks/apim/lab/systemd.go.
NODE=@NODE@
UNITS="$NODE/systemd"
echo "$*" >> "$NODE/systemctl.log"
prop() { sed -n "s/^[[:space:]]*$1=//p" "$UNITS/$2" 2>/dev/null; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
filepid() { cat "$(prop PIDFile "$1")" 2>/dev/null | tr -dc '0-9'; }
mainpid() {
  if [ -f "$UNITS/$1.active" ]; then p=$(filepid "$1"); if alive "$p"; then echo "$p"; return; fi; fi
  echo 0
}
state() {
  if [ ! -f "$UNITS/$1" ]; then echo inactive; return; fi
  if [ -f "$UNITS/$1.active" ]; then
    if [ "$(mainpid "$1")" != 0 ]; then echo active; else echo failed; fi
  else echo inactive; fi
}
# run CMDPROP UNIT: the unit's command with its environment, in its directory.
run() {
  (
    prop Environment "$2" | while IFS= read -r kv; do echo "export $kv"; done > "$UNITS/$2.envsh"
    . "$UNITS/$2.envsh"
    for f in $(prop EnvironmentFile "$2"); do
      case "$f" in
        -*) f=${f#-}; [ -f "$f" ] || continue ;;
      esac
      [ -f "$f" ] || { echo "$2: environment file $f missing" >&2; exit 1; }
      set -a; . "$f"; set +a
    done
    export APIMSIM_UNIT="$2"
    cd "$(prop WorkingDirectory "$2")" || exit 1
    eval "$(prop "$1" "$2")"
  )
}
verb=""; props=""; unit=""; noblock=0; sig=TERM
while [ $# -gt 0 ]; do
  case "$1" in
    -p) props="$2"; shift ;;
    -s) sig="${2#SIG}"; shift ;;
    --no-block) noblock=1 ;;
    --value|--no-pager|-q) ;;
    start|stop|show|kill|status|is-active) verb="$1" ;;
    *) unit="$1" ;;
  esac
  shift
done
case "$unit" in *.*) ;; ?*) unit="$unit.service" ;; esac
case "$verb" in
  show)
    if [ -z "$unit" ]; then echo "UnitPath=$UNITS"; exit 0; fi
    for p in $(echo "$props" | tr ',' ' '); do
      case "$p" in
        MainPID) echo "MainPID=$(mainpid "$unit")" ;;
        ActiveState) echo "ActiveState=$(state "$unit")" ;;
        LoadState) if [ -f "$UNITS/$unit" ]; then echo LoadState=loaded; else echo LoadState=not-found; fi ;;
        EnvironmentFiles)
          for f in $(prop EnvironmentFile "$unit"); do
            case "$f" in -*) echo "EnvironmentFiles=${f#-} (ignore_errors=yes)" ;; *) echo "EnvironmentFiles=$f (ignore_errors=no)" ;; esac
          done ;;
      esac
    done
    exit 0 ;;
  is-active|status)
    s=$(state "$unit"); echo "$s"; [ "$s" = active ] ;;
  start)
    [ -f "$UNITS/$unit" ] || { echo "Failed to start $unit: Unit $unit not found." >&2; exit 5; }
    if [ "$(mainpid "$unit")" != 0 ]; then exit 0; fi
    old=$(filepid "$unit")
    touch "$UNITS/$unit.active"
    run ExecStart "$unit" </dev/null >/dev/null 2>&1 || { rm -f "$UNITS/$unit.active"; echo "Job for $unit failed." >&2; exit 1; }
    i=0
    while [ $i -lt 200 ]; do
      p=$(filepid "$unit")
      if [ -n "$p" ] && [ "$p" != "$old" ] && alive "$p"; then exit 0; fi
      sleep 0.05; i=$((i+1))
    done
    echo "Job for $unit failed: no new PID in $(prop PIDFile "$unit")" >&2; exit 1 ;;
  stop)
    p=$(mainpid "$unit")
    if [ "$p" != 0 ]; then run ExecStop "$unit" </dev/null >/dev/null 2>&1; fi
    if [ "$p" != 0 ] && [ $noblock = 0 ]; then
      i=0
      while alive "$p" && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done
      alive "$p" && kill -KILL "$p"
    fi
    rm -f "$UNITS/$unit.active"
    exit 0 ;;
  kill)
    p=$(mainpid "$unit")
    [ "$p" != 0 ] && kill -s "$sig" "$p"
    exit 0 ;;
esac
echo "systemctl (drover lab): unsupported: $verb" >&2
exit 1
`

// InstallUnit lays node n out under the simulated systemd: the systemctl
// shim and a unit file for unit that runs the node's product (its start
// script with the node's -Dprofile, PIDFile wso2carbon.pid, JAVA_HOME) and
// loads envFile (relative to home; "" for none) with EnvironmentFile=-.
func (l *Lab) InstallUnit(n *Node, unit, envFile string) error {
	d := l.distribution(n)
	script := filepath.Join(n.Home, d.StartScript(n.Profile))
	start := fmt.Sprintf("/bin/sh %s start", script)
	if p := d.StartProfile(n.Profile); p != "" {
		start += " -Dprofile=" + p
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=WSO2 API Manager on lab node %s (simulated by drover lab)\n\n[Service]\nType=forking\n", n.Name)
	fmt.Fprintf(&b, "Environment=JAVA_HOME=%s\n", n.JavaHome())
	if envFile != "" {
		fmt.Fprintf(&b, "EnvironmentFile=-%s\n", filepath.Join(n.Home, envFile))
	}
	fmt.Fprintf(&b, "WorkingDirectory=%s\nPIDFile=%s\nExecStart=%s\nExecStop=/bin/sh %s stop\n\n[Install]\nWantedBy=multi-user.target\n",
		n.Home, apimsim.PIDFile(n.Home), start, script)
	if err := os.MkdirAll(n.UnitDir(), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.UnitDir(), unit), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(n.ShimDir(), 0o755); err != nil {
		return err
	}
	sim := strings.ReplaceAll(systemctlSim, "@NODE@", shellQuote(n.Dir))
	return os.WriteFile(filepath.Join(n.ShimDir(), "systemctl"), []byte(sim), 0o755)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
