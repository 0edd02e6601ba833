package apimsim

import "strings"

// scriptHead resolves CARBON_HOME from the script's own location (following symlinks, like the
// real scripts) and picks the simulator binary. POSIX sh; every expansion is quoted.
const scriptHead = `# ----- resolve links: $0 may be a softlink -----
PRG="$0"
while [ -h "$PRG" ]; do
  ls=$(ls -ld "$PRG")
  link=$(expr "$ls" : '.*-> \(.*\)$')
  if expr "$link" : '/.*' >/dev/null; then
    PRG="$link"
  else
    PRG=$(dirname "$PRG")/"$link"
  fi
done
PRGDIR=$(dirname "$PRG")
# Only set CARBON_HOME if not already set
[ -z "$CARBON_HOME" ] && CARBON_HOME=$(cd "$PRGDIR/.." && pwd)
SIMBIN=@SIMBIN@
if [ -n "$APIMSIM_BIN" ]; then
  SIMBIN="$APIMSIM_BIN"
fi
`

// startupScript is a startup script of the pack: bin/wso2server.sh (3.x), bin/api-manager.sh
// (4.x all-in-one), bin/api-cp.sh and bin/key-manager.sh (control plane), bin/gateway.sh,
// bin/traffic-manager.sh. --optimize runs profileSetup.sh only where the pack has it.
func startupScript(r *release, script, simBin string) string {
	optimize := ""
	if r.profileSetup {
		pass := ` --skipConfigOptimization`
		if !r.skipFlag {
			pass = "" // 3.0.0 has no such option to pass through
		}
		optimize = `
if [ "$OPTIMIZE" = true ]; then
  for a in "$@"; do
    case "$a" in
      *Dprofile=*)
        if [ "$SKIPCONF" = true ]; then
          sh "$CARBON_HOME/bin/profileSetup.sh" "$a"` + pass + `
        else
          sh "$CARBON_HOME/bin/profileSetup.sh" "$a"
        fi
        echo "Starting the server..."
        ;;
    esac
  done
fi
`
	}
	body := `#!/bin/sh
# @NAME@ @VERSION@ startup script @SCRIPT@ (simulated by drover's apimsim).
# Usage: @SCRIPT@ [start|stop|restart|version] [--optimize] [-Dprofile=<name>] [-D...]
` + scriptHead + `
PIDFILE="$CARBON_HOME/wso2carbon.pid"
LOGDIR="$CARBON_HOME/repository/logs"

pid_alive() {
  case "$1" in
    ''|*[!0-9]*) return 1 ;;
  esac
  kill -0 "$1" 2>/dev/null || [ -d "/proc/$1" ]
}

read_pid() {
  PID=""
  if [ -e "$PIDFILE" ]; then
    PID=$(cat "$PIDFILE")
  fi
}

launch() {
  mkdir -p "$LOGDIR"
  export CARBON_HOME
  # nohup + stdin from /dev/null + stdout/stderr to the log: nothing keeps the caller's
  # terminal or SSH channel open; the server puts itself in a new session.
  nohup "$SIMBIN" server --home "$CARBON_HOME" --mem-opts "$JVM_MEM_OPTS" --java-opts "$JAVA_OPTS" "$@" </dev/null >>"$LOGDIR/wso2carbon.log" 2>&1 &
}

# As the real script: the heap from JVM_MEM_OPTS (this default when unset), further JVM options
# from JAVA_OPTS; the simulated server records both (split at blanks, as the real java command
# line splits them) and JAVA_HOME in its "starting" event.
if [ -z "$JVM_MEM_OPTS" ]; then
  JVM_MEM_OPTS="-Xms256m -Xmx1024m"
fi

CMD=""
OPTIMIZE=false
SKIPCONF=false
n=$#
i=0
while [ "$i" -lt "$n" ]; do
  c="$1"
  shift
  i=$((i + 1))
  case "$c" in
    start|--start|-start) CMD=start ;;
    stop|--stop|-stop) CMD=stop ;;
    restart|--restart|-restart) CMD=restart ;;
    version|--version|-version) CMD=version ;;
    optimize|--optimize|-optimize) OPTIMIZE=true ;;
    *)
      case "$c" in
        skipConfigOptimization|--skipConfigOptimization|-skipConfigOptimization) SKIPCONF=true ;;
      esac
      set -- "$@" "$c"
      ;;
  esac
done
@OPTIMIZE@
case "$CMD" in
  start)
    read_pid
    if pid_alive "$PID"; then
      echo "Process is already running"
      exit 0
    fi
    launch "$@"
    exit 0
    ;;
  stop)
    if [ ! -e "$PIDFILE" ]; then
      echo "cat: $PIDFILE: No such file or directory" >&2
      exit 0
    fi
    read_pid
    kill -s TERM "$PID"
    exit 0
    ;;
  restart)
    read_pid
    if pid_alive "$PID"; then
      kill -s TERM "$PID"
      while pid_alive "$PID"; do
        sleep 1
      done
    fi
    launch "$@"
    exit 0
    ;;
  version)
    cat "$CARBON_HOME/bin/version.txt"
    cat "$CARBON_HOME/bin/wso2carbon-version.txt"
    exit 0
    ;;
esac

echo "CARBON_HOME environment variable is set to $CARBON_HOME"
cd "$CARBON_HOME" || exit 1
exec "$SIMBIN" server --home "$CARBON_HOME" --console --mem-opts "$JVM_MEM_OPTS" --java-opts "$JAVA_OPTS" "$@"
`
	return strings.NewReplacer("@NAME@", r.name, "@VERSION@", r.version, "@SCRIPT@", script, "@OPTIMIZE@", optimize, "@SIMBIN@", shellQuote(simBin)).Replace(body)
}

// toolScript is a bin/ script that hands its arguments to an apimsim subcommand.
func toolScript(r *release, simBin, name, sub string) string {
	body := `#!/bin/sh
# @NAME@ of @PRODUCT@ (simulated by drover's apimsim).
` + scriptHead + `
exec "$SIMBIN" @SUB@ --home "$CARBON_HOME" "$@"
`
	return strings.NewReplacer("@NAME@", name, "@PRODUCT@", r.product, "@SUB@", sub, "@SIMBIN@", shellQuote(simBin)).Replace(body)
}
