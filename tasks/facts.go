package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
)

// Facts is what a read-only probe learns about a node. The JSON field names
// of the first block are fixed by the contract (facts --json, status --json).
type Facts struct {
	Node          string   `json:"node"`
	Profile       string   `json:"profile"`
	Host          string   `json:"host"`
	Reachable     bool     `json:"reachable"`
	Error         string   `json:"error"`
	Version       string   `json:"version"`
	UpdateLevel   int      `json:"update_level"`
	Running       bool     `json:"running"`
	Healthy       bool     `json:"healthy"`
	DiskFreeBytes int64    `json:"disk_free_bytes"`
	Lock          *Lock    `json:"lock"`
	LastRun       *LastRun `json:"last_run"`

	// Fields added after the contract's first set.
	Product    string `json:"product"`
	HomeExists bool   `json:"home_exists"`
	PID        int    `json:"pid,omitempty"`
	// Distribution is the pack home holds ("all-in-one", "universal-gateway", ...).
	Distribution string `json:"distribution,omitempty"`
	Previous     bool   `json:"previous_kept"`
	PreviousLvl  int    `json:"previous_level,omitempty"`
	// PreviousProduct is the kept previous release's updates/product.txt.
	PreviousProduct string `json:"previous_product,omitempty"`
	// Current is the pack drover last switched in ("" when none).
	Current string `json:"current_pack,omitempty"`
	// CurrentDone says the update that switched Current in completed:
	// the release passed its health gate and its after_healthy hooks ran.
	CurrentDone bool `json:"current_done,omitempty"`
	// Staged describes the release being prepared beside home.
	Staged     *StagedState `json:"staged,omitempty"`
	SameFS     bool         `json:"same_filesystem"`
	MissingCmd []string     `json:"missing_tools,omitempty"`
	// UnhealthyBecause says which default check failed.
	UnhealthyBecause string `json:"unhealthy_because,omitempty"`
	// UpdateConflicts is an in-place update the update tool stopped on
	// conflicts, waiting for the operator's <file>.final merges.
	UpdateConflicts *UpdateConflicts `json:"update_conflicts,omitempty"`
	// Service is how the node's server is run: the inventory's manager and,
	// for systemd, the unit's state.
	Service *ServiceFacts `json:"service,omitempty"`
	// Warnings are problems the probe found that do not stop a run.
	Warnings []string `json:"warnings,omitempty"`

	// Drift lists the managed files that differ from their rendering.
	Drift []Drift `json:"drift,omitempty"`

	journal []Record
	// managed is what the probe read of the node's managed files.
	managed map[string]managedFile
	// err is why the probe failed, for errors.As.
	err error

	// Answers the probe gathered for the steps' probes (ProbeOptions): the
	// persisted paths' sizes in bytes (nil when not measured), the log
	// health checks' verdicts by index in the node's checks, and the sums
	// templateDrift compares.
	persistSizes map[string]int64
	logHits      map[int]bool
	pristine     *pristineSums
}

// pristineSums are the sha256 sums of the carried files templateDrift
// compares, as the probe read them: the pristine copies kept for pack and
// home's (by path: pristine, home; "absent" when there is no such file).
// none: the node keeps no pristine copies of pack.
type pristineSums struct {
	pack string
	none bool
	sums map[string][2]string
	// dir and home are the pristine copies' folder and home, as the
	// script names them.
	dir, home string
}

// ServiceFacts is what the probe learns of the service that runs the node's
// server.
type ServiceFacts struct {
	// Manager is the inventory's: "script" or "systemd".
	Manager string `json:"manager"`
	Unit    string `json:"unit,omitempty"`
	// ActiveState and LoadState are systemctl show's ("active", "inactive",
	// "failed", ...; "loaded", "not-found").
	ActiveState string `json:"active_state,omitempty"`
	LoadState   string `json:"load_state,omitempty"`
	MainPID     int    `json:"main_pid,omitempty"`
	// EnvironmentFiles are the unit's EnvironmentFile= paths.
	EnvironmentFiles []string `json:"environment_files,omitempty"`
	// HomeUnits are units whose unit file names home in ExecStart,
	// WorkingDirectory, PIDFile or EnvironmentFile (looked for on script
	// nodes).
	HomeUnits []string `json:"home_units,omitempty"`
}

// StagedState is <state>/staged.json: how far the staged release got.
type StagedState struct {
	Pack       string `json:"pack"`
	Level      int    `json:"level"`
	Configured string `json:"configured,omitempty"` // digest of the configuration written
	Optimized  bool   `json:"optimized,omitempty"`
	Persisted  bool   `json:"persisted,omitempty"`
	// PreCopied says the data was copied while the old server ran; the
	// persist step then copies again only what changed since.
	PreCopied bool `json:"precopied,omitempty"`
	// DataPaths are the paths of the staged tree that hold the running
	// release's data (pre-copied or persisted) instead of the pack's own
	// files: a staged release whose inventory no longer persists one of
	// them is staged again.
	DataPaths []string `json:"data_paths,omitempty"`
	// PersistedFrom fingerprints the data the copy was taken from; a
	// server that ran since changes it, and the copy is taken again.
	PersistedFrom string `json:"persisted_from,omitempty"`
	// CarriedFrom fingerprints, per carried path, the running release's
	// files when they were carried; an operator's edit since changes it.
	CarriedFrom map[string]string `json:"carried_from,omitempty"`
	Exists      bool              `json:"-"`
}

// Fingerprint is what a plan file keeps of a node's facts: apply refuses
// the plan when any of it changed.
func (f *Facts) Fingerprint() map[string]string {
	fp := map[string]string{
		"reachable":    strconv.FormatBool(f.Reachable),
		"product":      f.Product,
		"update_level": strconv.Itoa(f.UpdateLevel),
		"running":      strconv.FormatBool(f.Running),
		"current_pack": f.Current,
	}
	if f.Lock != nil {
		fp["lock"] = f.Lock.ID
	} else {
		fp["lock"] = ""
	}
	if len(f.managed) > 0 {
		// A managed file edited on the node since the plan makes it stale.
		paths := make([]string, 0, len(f.managed))
		for p := range f.managed {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		h := sha256.New()
		for _, p := range paths {
			fmt.Fprintf(h, "%s %s %o\n", p, f.managed[p].Sum, f.managed[p].Mode)
		}
		fp["managed_files"] = hex.EncodeToString(h.Sum(nil))[:16]
	}
	return fp
}

// requiredTools are the commands the procedure runs on a node.
var requiredTools = []string{"unzip", "sha256sum", "find", "cp", "mv", "df", "du", "tail", "grep", "sort", "xargs", "stat"}

// probeScript prints key=value lines, then the tail of the journal after
// a "journal:" line, in one round trip. It reads files with the shell's own
// read (probeReaders) rather than cat, head and tr: a plan on a thousand
// nodes runs it a thousand times, and every process it starts is a fork
// and an exec on the node.
func probeScript(p Paths, n *inventory.Node, opts ProbeOptions) string {
	H, S := q(p.Home), q(p.State)
	var b strings.Builder
	fmt.Fprintf(&b, "H=%s; S=%s\n", H, S)
	b.WriteString(probeReaders)
	b.WriteString(`[ -d "$H" ] && echo home=1 || echo home=0
line "$H/updates/product.txt"; printf 'product=%s\n' "$v"
joined "$H/updates/config.json"; printf 'config=%s\n' "$v"
joined "$H/wso2carbon.pid"; case $v in *[!0-9]*) pid=$(printf '%s' "$v" | tr -dc '0-9');; *) pid=$v;; esac
echo "pid=$pid"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { [ ! -r "/proc/$pid/cmdline" ] || tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$H"; }; then echo running=1; else echo running=0; fi
case $H in */*) d=${H%/*}; [ -n "$d" ] || d=/;; *) d=.;; esac
set -f; set -- $(LC_ALL=C df -Pk "$d" 2>/dev/null); set +f; echo "free=${11}"
if [ -d "$S/lock" ]; then joined "$S/lock/owner.json"; [ -n "$v" ] || v='{}'; printf 'lock=%s\n' "$v"; else echo lock=; fi
joined "$S/current.json"; cur=$v; printf 'current=%s\n' "$v"
joined "$S/staged.json"; printf 'staged=%s\n' "$v"
[ -d "$S/staged" ] && echo stageddir=1 || echo stageddir=0
if [ -d "$S/previous" ]; then joined "$S/previous/updates/config.json"; printf 'previous=%s\n' "$v"; else echo previous=; fi
line "$S/previous/updates/product.txt"; printf 'prevproduct=%s\n' "$v"
if [ -d "$S" ]; then sd=$S; else sd=$d; fi
set -- $(stat -c %d "$d" "$sd" 2>/dev/null)
[ "$1" = "$2" ] && echo samefs=1 || echo samefs=0
missing=""
`)
	fmt.Fprintf(&b, "for t in %s; do command -v \"$t\" >/dev/null 2>&1 || missing=\"$missing $t\"; done\n", strings.Join(requiredTools, " "))
	b.WriteString("echo \"missing=$missing\"\n")
	b.WriteString(serviceProbeScript(n))
	b.WriteString(managedProbe(n))
	if opts.persist != nil {
		// The persisted data's sizes, for the disk space check and the
		// plan (persistSizes).
		fmt.Fprintf(&b, "echo psizes=1\nif [ -d \"$H\" ]; then for p in %s; do [ -e \"$H/$p\" ] || continue; s=$(du -sk -- \"$H/$p\" 2>/dev/null); printf 'psize:%%s\\t%%s\\n' \"$p\" \"${s%%%%[!0-9]*}\"; done; fi\n",
			transport.QuoteAll(opts.persist...))
	}
	if opts.healthLog {
		// The log health checks at offset 0, as checkOnce runs them.
		for i, c := range n.Health {
			if c.Kind == inventory.HealthLog {
				fmt.Fprintf(&b, "grep -qE -- %s \"$H/repository/logs/wso2carbon.log\" 2>/dev/null && echo hlog:%d=1 || echo hlog:%d=0\n", q(c.Pattern), i, i)
			}
		}
	}
	if len(opts.carried) > 0 && sumsPlain(append([]string{p.State, p.Home}, opts.carried...)...) {
		// The sums templateDrift compares: the running release's pristine
		// copies (of the pack current.json names) and home's, every file in
		// one sha256sum.
		fmt.Fprintf(&b, `k='"pack":"'; qq='"'; r=${cur#*"$k"}; r=${r%%%%"$qq"*}
case $r in ''|*[!0-9a-f]*) ;; *)
  R="$S/pristine/$r"
  if [ -d "$R" ]; then
    echo "tdrift=$r"
    set --
    for p in %s; do
      a=0; [ ! -f "$R/$p" ] || { a=1; set -- "$@" "$R/$p"; }
      b=0; [ ! -f "$H/$p" ] || { b=1; set -- "$@" "$H/$p"; }
      printf 't:%%s\t%%s\t%%s\n' "$p" "$a" "$b"
    done
    echo sums:; [ $# -eq 0 ] || sha256sum -- "$@" 2>/dev/null; echo endsums:
  else echo "tdrift=$r none"; fi;;
esac
`, transport.QuoteAll(opts.carried...))
	}
	fmt.Fprintf(&b, "echo journal:\ntail -n %d %s 2>/dev/null || :\n", journalTail, q(p.Journal()))
	return b.String()
}

// sumsPlain reports whether sha256sum prints the paths under these as
// given: it escapes names with a backslash or a line break.
func sumsPlain(paths ...string) bool {
	for _, p := range paths {
		if strings.ContainsAny(p, "\\\n\r") {
			return false
		}
	}
	return true
}

// probeReaders are the probe's file readers, shell builtins only: line
// sets v to a file's first line, joined to the file with its line breaks
// removed; v is empty when the file cannot be read.
const probeReaders = `line() { v=; IFS= read -r v < "$1" || :; } 2>/dev/null
joined() { v=; while IFS= read -r l || [ -n "$l" ]; do v=$v$l; done < "$1"; } 2>/dev/null
`

// ProbeOptions tune Probe.
type ProbeOptions struct {
	// Health runs the node's default health checks once when it runs.
	Health bool
	// Product names the release and distribution the node's product file
	// denotes (left empty without one).
	Product Product

	// What the steps' probes would otherwise each ask the node for in a
	// round trip of their own, gathered by the probe's one:
	// persist are the paths whose sizes persistSizes reports (nil: none
	// measured), healthLog runs the log health checks (checkOnce at
	// offset 0 uses the answers), carried are the files templateDrift
	// compares.
	persist   []string
	healthLog bool
	carried   []string
}

// Probe reads a node's facts without changing anything.
func Probe(ctx context.Context, c Conn, inv *inventory.Inventory, n *inventory.Node, opts ProbeOptions) *Facts {
	f := &Facts{Node: n.Name, Profile: n.Profile, Host: n.Host}
	p := NewPaths(n.Home)
	if opts.Health {
		opts.healthLog = true
	}
	out, err := sh(ctx, c, probeScript(p, n, opts))
	if err != nil {
		f.Error, f.err = err.Error(), err
		return f
	}
	f.Reachable = true
	parseProbe(f, out, p)
	f.Drift = driftOf(n, f)
	serviceFacts(f, out, n, opts.Product)
	if rec := conflictsIn(f.journal); rec != nil {
		f.UpdateConflicts, _ = conflictState(ctx, c, p.Home, rec)
	}
	if opts.Product != nil {
		f.Version, f.Distribution = opts.Product.Identify(f.Product)
	}
	if opts.Health && f.Running {
		h := &healthRun{conn: c, node: n, paths: p, logHits: f.logHits}
		if reason := h.checkOnce(ctx, n.Health, 0); reason == "" {
			f.Healthy = true
		} else {
			f.UnhealthyBecause = reason
		}
	}
	return f
}

func parseProbe(f *Facts, out string, p Paths) {
	out, journal, _ := strings.Cut(out, "\njournal:\n")
	var sums map[string]string // sha256sum's lines: sum by path
	var carried [][3]string    // t: lines: path, pristine and home copy exists
	inSums := false
	for _, line := range strings.Split(out, "\n") {
		if inSums {
			if line == "endsums:" {
				inSums = false
			} else if len(line) > 66 && line[64:66] == "  " {
				sums[line[66:]] = line[:64]
			}
			continue
		}
		if line == "sums:" {
			inSums, sums = true, map[string]string{}
			continue
		}
		if m, ok := strings.CutPrefix(line, "m:"); ok {
			parseManaged(f, m)
			continue
		}
		if m, ok := strings.CutPrefix(line, "psize:"); ok {
			p, kb, _ := strings.Cut(m, "\t")
			var n int64
			fmt.Sscan(kb, &n)
			if f.persistSizes == nil {
				f.persistSizes = map[string]int64{}
			}
			f.persistSizes[p] = n * 1024
			continue
		}
		if m, ok := strings.CutPrefix(line, "hlog:"); ok {
			i, hit, _ := strings.Cut(m, "=")
			if f.logHits == nil {
				f.logHits = map[int]bool{}
			}
			k, _ := strconv.Atoi(i)
			f.logHits[k] = hit == "1"
			continue
		}
		if m, ok := strings.CutPrefix(line, "t:"); ok {
			if t := strings.Split(m, "\t"); len(t) == 3 {
				carried = append(carried, [3]string{t[0], t[1], t[2]})
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "home":
			f.HomeExists = v == "1"
		case "psizes":
			if f.persistSizes == nil {
				f.persistSizes = map[string]int64{}
			}
		case "tdrift":
			sha, none := strings.CutSuffix(v, " none")
			f.pristine = &pristineSums{pack: sha, none: none, sums: map[string][2]string{}, dir: p.Pristine(sha), home: p.Home}
		case "product":
			f.Product = strings.TrimSpace(v)
		case "prevproduct":
			f.PreviousProduct = strings.TrimSpace(v)
		case "config":
			f.UpdateLevel = levelOf(strings.ReplaceAll(v, "\r", ""))
		case "pid":
			f.PID, _ = strconv.Atoi(v)
		case "running":
			f.Running = v == "1"
		case "free":
			kb, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			f.DiskFreeBytes = kb * 1024
		case "lock":
			if v != "" {
				var lk Lock
				if json.Unmarshal([]byte(v), &lk) == nil && lk.ID != "" {
					f.Lock = &lk
				} else {
					f.Lock = pendingLock()
				}
			}
		case "current":
			var cur struct {
				Pack string
				Done bool
			}
			if json.Unmarshal([]byte(v), &cur) == nil {
				f.Current, f.CurrentDone = cur.Pack, cur.Done
			}
		case "staged":
			var st StagedState
			if v != "" && json.Unmarshal([]byte(v), &st) == nil {
				f.Staged = &st
			}
		case "stageddir":
			if f.Staged != nil {
				f.Staged.Exists = v == "1"
			} else if v == "1" {
				f.Staged = &StagedState{Exists: true}
			}
		case "previous":
			if v != "" {
				f.Previous, f.PreviousLvl = true, levelOf(strings.ReplaceAll(v, "\r", ""))
			}
		case "samefs":
			f.SameFS = v == "1"
		case "missing":
			f.MissingCmd = strings.Fields(v)
		}
	}
	if ps := f.pristine; ps != nil && !ps.none {
		// A file that exists and sha256sum could not read has an empty sum,
		// as templateDrift's own script gives it.
		sum := func(exists, path string) string {
			if exists != "1" {
				return "absent"
			}
			return sums[path]
		}
		for _, c := range carried {
			ps.sums[c[0]] = [2]string{sum(c[1], ps.dir+"/"+c[0]), sum(c[2], ps.home+"/"+c[0])}
		}
	}
	f.journal = ParseJournal(journal)
	f.LastRun = LastRunOf(f.journal)
}

// levelOf reads "update-level" from the text of updates/config.json.
func levelOf(config string) int {
	var c map[string]any
	if json.Unmarshal([]byte(config), &c) != nil {
		return 0
	}
	switch v := c["update-level"].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// CheckHealth runs the node's health checks once when its server runs and
// records the verdict in the job's facts.
func (j *Job) CheckHealth(ctx context.Context) {
	f := j.facts
	if f == nil || !f.Running {
		return
	}
	h := &healthRun{conn: j.Conn, node: j.Node, paths: j.Paths, logHits: f.logHits}
	if reason := h.checkOnce(ctx, j.Node.Health, 0); reason == "" {
		f.Healthy, f.UnhealthyBecause = true, ""
	} else {
		f.Healthy, f.UnhealthyBecause = false, reason
	}
}

// OutOfService says why a node does not serve, or "" when it does: it is
// reachable, not locked by another run than run, not in the middle of an
// update with its before_stop hooks run (drained), running and healthy.
// Health must have been probed.
func OutOfService(f *Facts, run string) string {
	switch {
	case f == nil || !f.Reachable:
		return "unreachable"
	case f.Lock != nil && (f.Lock.Pending || f.Lock.ID == ""):
		return "locked by " + f.Lock.Owner
	case f.Lock != nil && f.Lock.ID != run:
		return "locked by run " + f.Lock.ID
	case f.LastRun != nil && f.LastRun.Outcome == OutcomeInterrupted && f.Drained():
		step := f.LastRun.Step
		if step == "" {
			step = "its start"
		}
		return fmt.Sprintf("mid-update: drained by run %s, which stopped at %s", f.LastRun.ID, step)
	case !f.Running:
		return "not running"
	case !f.Healthy:
		if f.UnhealthyBecause != "" {
			return "unhealthy: " + f.UnhealthyBecause
		}
		return "unhealthy"
	}
	return ""
}
