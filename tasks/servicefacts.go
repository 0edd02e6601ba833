package tasks

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/inventory"
)

// serviceProbeScript is the probe's part about the service manager. On a
// systemd node it prints the unit's properties ("svc:" lines) and, when
// the unit's MainPID is alive and runs from home, that PID as the running
// server's. On a script node it looks for units that run home anyway:
// unit files, in the directories systemd reads them from (its UnitPath),
// whose ExecStart, WorkingDirectory, PIDFile or EnvironmentFile names home
// ("unit:" lines). Without systemd it prints nothing.
func serviceProbeScript(n *inventory.Node) string {
	if n.Service.Systemd() {
		u := q(n.Service.Unit)
		return `systemctl show -p ActiveState,LoadState,MainPID,EnvironmentFiles ` + u + ` 2>/dev/null | sed 's/^/svc:/'
main=$(systemctl show -p MainPID ` + u + ` 2>/dev/null | sed -n 's/^MainPID=//p' | tr -dc '0-9')
if [ -n "$main" ] && [ "$main" != 0 ] && kill -0 "$main" 2>/dev/null && { [ ! -r "/proc/$main/cmdline" ] || tr '\0' ' ' < "/proc/$main/cmdline" | grep -qF -- "$H"; }; then echo "pid=$main"; echo running=1; fi
`
	}
	// One awk reads every unit file, rather than a grep or two per file.
	return `if command -v systemctl >/dev/null 2>&1; then
  u=$(systemctl show -p UnitPath 2>/dev/null); case $u in UnitPath=*) u=${u#UnitPath=};; *) u=;; esac
  set --
  for ud in $u; do
    for uf in "$ud"/*.service; do [ -f "$uf" ] && set -- "$@" "$uf"; done
  done
  [ $# -eq 0 ] || H=$H awk 'FNR == 1 { hit = 0 } !hit && /^[ \t\r\f\v]*(ExecStart|WorkingDirectory|PIDFile|EnvironmentFile)[ \t\r\f\v]*=/ && index($0, ENVIRON["H"]) { hit = 1; n = FILENAME; sub(/.*\//, "", n); print "unit:" n }' "$@" 2>/dev/null
fi
`
}

// serviceFacts reads the probe's service lines and warns about a unit
// that runs home behind a script node's back, and about a systemd unit
// that does not load the node's environment file.
func serviceFacts(f *Facts, out string, n *inventory.Node, prod Product) {
	s := &ServiceFacts{Manager: n.Service.Manager, Unit: n.Service.Unit}
	f.Service = s
	for _, line := range strings.Split(out, "\n") {
		if u, ok := strings.CutPrefix(line, "unit:"); ok {
			if u = strings.TrimSpace(u); u != "" && !slices.Contains(s.HomeUnits, u) {
				s.HomeUnits = append(s.HomeUnits, u)
			}
			continue
		}
		kv, ok := strings.CutPrefix(line, "svc:")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		v = strings.TrimSpace(v)
		switch k {
		case "ActiveState":
			s.ActiveState = v
		case "LoadState":
			s.LoadState = v
		case "MainPID":
			s.MainPID, _ = strconv.Atoi(v)
		case "EnvironmentFiles":
			// "/path (ignore_errors=yes)"; one line per file.
			if p, _, _ := strings.Cut(v, " "); p != "" {
				s.EnvironmentFiles = append(s.EnvironmentFiles, p)
			}
		}
	}
	if !n.Service.Systemd() {
		if len(s.HomeUnits) > 0 {
			f.Warnings = append(f.Warnings, fmt.Sprintf(
				"systemd unit %s runs %s, but the inventory says service manager \"script\": drover would start and stop the server behind the unit's back (and the unit may start it again). Set service { manager = \"systemd\", unit = %q } for this node",
				strings.Join(s.HomeUnits, ", "), n.Home, s.HomeUnits[0]))
		}
		return
	}
	switch {
	case s.LoadState == "" && s.ActiveState == "":
		f.Warnings = append(f.Warnings, fmt.Sprintf("systemctl show %s printed nothing: is systemd running on the node, and may the SSH user (or become) query it?", n.Service.Unit))
	case s.LoadState == "not-found":
		f.Warnings = append(f.Warnings, fmt.Sprintf("systemd unit %s does not exist on the node; install it (see the README's \"Running under systemd\") or fix service.unit", n.Service.Unit))
	}
	if prod == nil || !slices.ContainsFunc(n.Files, func(x inventory.File) bool { return x.Generated != "" }) {
		return
	}
	rel, _, _, err := prod.EnvFile(n)
	if err != nil || rel == "" {
		return
	}
	want := path.Join(n.Home, rel)
	if !slices.Contains(s.EnvironmentFiles, want) {
		f.Warnings = append(f.Warnings, fmt.Sprintf(
			"systemd unit %s does not load %s, so the node's jvm and env settings would not reach the server: add EnvironmentFile=-%s to its [Service] section and run systemctl daemon-reload",
			n.Service.Unit, want, want))
	}
}
