package rollout_test

// The checks of a chaos iteration, made from what the nodes themselves
// recorded: the simulator's lifecycle events (apimsim.ReadEvents), the load
// balancer's log, the operator's own actions, the nodes' files and
// journals. Nothing here trusts what the engine says about itself.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/rollout"
)

// A transition on one node's time line.
type transition struct {
	At     time.Time
	Node   string
	Kind   string // a simulator event, "handstop", "drain", "enable"
	Level  int    // simulator events: the release's update level
	Run    string // lb lines: the run whose hook it was
	Detail string
}

// nodeState is what a node looks like from outside at one instant.
type nodeState struct {
	proc      string // down, starting, up, unhealthy
	procSince time.Time
	procWhy   string
	drained   bool
	drainedAt time.Time
	drainRun  string
}

func (s nodeState) inService() bool { return s.proc == "up" && !s.drained }

func (s nodeState) describe() string {
	var parts []string
	if s.proc != "up" {
		parts = append(parts, fmt.Sprintf("server %s since %s (%s)", s.proc, stamp(s.procSince), s.procWhy))
	}
	if s.drained {
		parts = append(parts, fmt.Sprintf("drained in the load balancer since %s (run %s)", stamp(s.drainedAt), s.drainRun))
	}
	return strings.Join(parts, ", ")
}

// lbLine is one request to the stand-in load balancer.
type lbLine struct {
	At                time.Time
	Action, Node, Run string
}

func (c *chaosLab) readLB() []lbLine {
	f, err := os.Open(filepath.Join(c.l.Dir, "lb.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []lbLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		sec, nsec, _ := strings.Cut(fs[0], ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		ns, err2 := strconv.ParseInt((nsec + "000000000")[:9], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		l := lbLine{At: time.Unix(s, ns), Action: fs[1], Node: fs[2]}
		if len(fs) > 3 {
			l.Run = fs[3]
		}
		out = append(out, l)
	}
	return out
}

func (c *chaosLab) simEvents(n *lab.Node) []apimsim.Event {
	evs, err := apimsim.ReadEvents(filepath.Join(n.Dir, "wso2"))
	if err != nil {
		c.t.Fatalf("%s: %v", n.Name, err)
	}
	return evs
}

// timeline merges every node's transitions in time order.
func (c *chaosLab) timeline() []transition {
	var tl []transition
	for _, n := range c.l.Nodes {
		for _, e := range c.simEvents(n) {
			tl = append(tl, transition{At: e.At, Node: n.Name, Kind: e.Event, Level: e.Level, Detail: e.Detail})
		}
	}
	for _, h := range c.handStops {
		tl = append(tl, transition{At: h.At, Node: h.Node, Kind: "handstop"})
	}
	for _, l := range c.readLB() {
		if l.Action == "drain" || l.Action == "enable" {
			tl = append(tl, transition{At: l.At, Node: l.Node, Kind: l.Action, Run: l.Run})
		}
	}
	sort.SliceStable(tl, func(i, j int) bool { return tl[i].At.Before(tl[j].At) })
	return tl
}

// apply moves a node's state over one transition.
func (c *chaosLab) step(s nodeState, tr transition) nodeState {
	switch tr.Kind {
	case apimsim.EventStarting:
		s.proc, s.procSince, s.procWhy = "starting", tr.At, fmt.Sprintf("level %d booting", tr.Level)
	case apimsim.EventStarted:
		f := c.faultsAt(tr.Node, tr.At)
		if f.Unhealthy && (f.OnlyLevel == 0 || f.OnlyLevel == tr.Level) {
			s.proc, s.procSince, s.procWhy = "unhealthy", tr.At, fmt.Sprintf("level %d started with the unhealthy fault", tr.Level)
		} else {
			s.proc, s.procSince, s.procWhy = "up", tr.At, ""
		}
	case apimsim.EventStopping, apimsim.EventStopped, apimsim.EventKilled, apimsim.EventFailed, apimsim.EventCrashed:
		if s.proc != "down" {
			s.proc, s.procSince, s.procWhy = "down", tr.At, fmt.Sprintf("%s at level %d", tr.Kind, tr.Level)
		}
	case "handstop":
		s.proc, s.procSince, s.procWhy = "down", tr.At, "stopped by hand"
	case "drain":
		if !s.drained {
			s.drained, s.drainedAt, s.drainRun = true, tr.At, tr.Run
		}
	case "enable":
		s.drained = false
	}
	return s
}

// nodeStartedBefore is when the engine last began work on a node at or
// before t (node_started of a run, or a recover job), zero when never.
func (c *chaosLab) nodeStartedBefore(node string, t time.Time) time.Time {
	var at time.Time
	for _, e := range c.engine {
		if e.Node == node && (e.Type == tasks.EventNodeStarted || e.Type == "recover_started") && !e.At.After(t) {
			at = e.At
		}
	}
	return at
}

// checkCapacity is invariant 1: whenever the engine takes a node of a
// profile out of service (drains it, or stops a serving server), fewer than
// max_unavailable other nodes of that profile may be out of service: down,
// booting, unhealthy, stopped by hand, or drained. Out of service is judged
// from the nodes' own records. A peer stopped by hand after the engine began
// work on the node is a race the engine cannot see and is not counted.
// The same walk checks the hook pairing's other half: an enable must find
// the server up (unless the operator stopped it by hand while the engine
// was at work on the node: the gate may have passed just before).
func (c *chaosLab) checkCapacity(maxUn map[string]int) []string {
	var out []string
	profile := map[string]string{}
	for _, n := range c.l.Nodes {
		profile[n.Name] = n.Profile
	}
	state := map[string]nodeState{}
	for _, n := range c.l.Nodes {
		state[n.Name] = nodeState{proc: "down", procWhy: "not started yet"}
	}
	handStopAt := map[string]time.Time{}
	for _, tr := range c.timeline() {
		before := state[tr.Node]
		after := c.step(before, tr)
		if tr.Kind == "handstop" {
			handStopAt[tr.Node] = tr.At
		}
		engineCaused := tr.Kind == "drain" || ((tr.Kind == apimsim.EventStopping) && before.proc == "up")
		if engineCaused && before.inService() && !after.inService() {
			began := c.nodeStartedBefore(tr.Node, tr.At)
			var others []string
			for _, n := range c.l.Nodes {
				if n.Name == tr.Node || n.Profile != profile[tr.Node] {
					continue
				}
				s := state[n.Name]
				if s.inService() {
					continue
				}
				if h, ok := handStopAt[n.Name]; ok && s.proc == "down" && s.procWhy == "stopped by hand" && !began.IsZero() && h.After(began) && !s.drained {
					continue // stopped by hand while the engine was already at work on this node
				}
				others = append(others, fmt.Sprintf("%s: %s", n.Name, s.describe()))
			}
			if m := maxUn[profile[tr.Node]]; len(others) >= m {
				how := "drained it in the load balancer"
				if tr.Kind != "drain" {
					how = fmt.Sprintf("stopped its serving server (level %d)", tr.Level)
				}
				who := c.runAround(tr.Node, tr.At)
				out = append(out, fmt.Sprintf("invariant 1 (capacity): profile %s, max_unavailable %d: at %s the engine (%s) took %s out of service (%s) while %d other node(s) of the profile were already out of service: %s",
					profile[tr.Node], m, stamp(tr.At), who, tr.Node, how, len(others), strings.Join(others, "; ")))
			}
		}
		if tr.Kind == apimsim.EventStopping && before.inService() {
			out = append(out, fmt.Sprintf("invariant 3 (hooks): at %s the serving server of %s (level %d) was stopped without a drain first (%s; before_stop must run before a serving node stops)",
				stamp(tr.At), tr.Node, tr.Level, c.runAround(tr.Node, tr.At)))
		}
		racedByHand := before.procWhy == "stopped by hand" && before.procSince.After(c.nodeStartedBefore(tr.Node, tr.At))
		if tr.Kind == "enable" && before.proc != "up" && !racedByHand {
			out = append(out, fmt.Sprintf("invariant 3 (hooks): at %s run %s enabled %s in the load balancer while its server was %s since %s (%s)",
				stamp(tr.At), tr.Run, tr.Node, before.proc, stamp(before.procSince), before.procWhy))
		}
		state[tr.Node] = after
	}
	return out
}

// runAround names the run that was working on a node at t.
func (c *chaosLab) runAround(node string, t time.Time) string {
	run := "no run on record"
	for _, e := range c.engine {
		if e.Node == node && !e.At.After(t) {
			run = "run " + e.Run
		}
	}
	return run
}

// finalState walks the whole time line and returns each node's state at its end.
func (c *chaosLab) finalState() map[string]nodeState {
	state := map[string]nodeState{}
	for _, n := range c.l.Nodes {
		state[n.Name] = nodeState{proc: "down", procWhy: "never started"}
	}
	for _, tr := range c.timeline() {
		state[tr.Node] = c.step(state[tr.Node], tr)
	}
	return state
}

// checkHooksPaired is invariant 3 on the load balancer log: it ends with
// every node enabled (every drain followed by an enable).
func (c *chaosLab) checkHooksPaired() []string {
	var out []string
	last := map[string]lbLine{}
	for _, l := range c.readLB() {
		if l.Action == "drain" || l.Action == "enable" {
			last[l.Node] = l
		}
	}
	for _, n := range c.l.Nodes {
		if l, ok := last[n.Name]; ok && l.Action == "drain" {
			out = append(out, fmt.Sprintf("invariant 3 (hooks): %s was drained at %s by run %s and never enabled again (the load balancer log ends with it drained)", n.Name, stamp(l.At), l.Run))
		}
	}
	return out
}

// checkFinal is invariants 5 and 6 and the convergence: every node running
// and healthy at the pack's level (after recovery every node must get
// there), no lock left, and the previous release kept.
func (c *chaosLab) checkFinal(ctl *controller, target, old int) []string {
	var out []string
	inv := c.inventory()
	st := c.finalState()
	for _, n := range c.l.Nodes {
		s := st[n.Name]
		lvl, lerr := apimsim.ReadLevel(n.Home)
		_, alive := apimsim.PIDAlive(n.Home)
		switch {
		case lerr != nil:
			out = append(out, fmt.Sprintf("invariant 5 (converged): %s has no readable release at its home: %v", n.Name, lerr))
		case lvl != target && lvl != old:
			out = append(out, fmt.Sprintf("invariant 5 (converged): %s runs level %d, neither the pack's %d nor the original %d", n.Name, lvl, target, old))
		case lvl != target:
			out = append(out, fmt.Sprintf("invariant 5 (converged): %s is still at level %d after recovery (the pack is level %d, every fault was cleared and apply was run again until it had nothing to do); its journal ends: %s", n.Name, lvl, target, c.journalSummary(n)))
		}
		if !alive || s.proc != "up" {
			out = append(out, fmt.Sprintf("invariant 5 (converged): %s is not running and healthy at the end: pid alive %v, server %s since %s (%s); its journal ends: %s", n.Name, alive, s.proc, stamp(s.procSince), s.procWhy, c.journalSummary(n)))
		} else if cn, err := ctl.conns.Get(context.Background(), inv.Node(n.Name)); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			f := tasks.Probe(ctx, cn, inv, inv.Node(n.Name), tasks.ProbeOptions{Health: true})
			cancel()
			if !f.Healthy {
				out = append(out, fmt.Sprintf("invariant 5 (converged): %s runs but is not healthy at the end: %s", n.Name, f.UnhealthyBecause))
			}
		}
		if _, err := os.Stat(filepath.Join(stateDir(n), "lock")); err == nil {
			b, _ := os.ReadFile(filepath.Join(stateDir(n), "lock", "owner.json"))
			out = append(out, fmt.Sprintf("invariant 6 (no lock left): %s is still locked: %s", n.Name, strings.TrimSpace(string(b))))
		}
	}
	return out
}

// checkData is invariant 2 (data): on every node running a release drover
// switched in, the data drover copied (the journal's last persist sums) is
// byte for byte the data the stopped server left in the kept previous
// release, that data is whole, and no server of the node ever had to
// recover torn H2 files or an uncommitted index, unless a server of the
// node crashed or was killed.
func (c *chaosLab) checkData(target int) []string {
	var out []string
	for _, n := range c.l.Nodes {
		crashed := false
		for _, e := range c.simEvents(n) {
			if e.Event == apimsim.EventCrashed || e.Event == apimsim.EventKilled {
				crashed = true
			}
		}
		if !crashed {
			for _, dir := range c.releases(n) {
				if w := recoveryWarnings(dir); w != "" {
					out = append(out, fmt.Sprintf("invariant 2 (data): %s: the server in %s started on data no server left cleanly (no server of the node crashed or was killed): %s", n.Name, rel(n, dir), w))
				}
			}
		}
		lvl, _ := apimsim.ReadLevel(n.Home)
		prev := filepath.Join(stateDir(n), "previous")
		if lvl != target {
			continue
		}
		if _, err := os.Stat(prev); err != nil {
			out = append(out, fmt.Sprintf("invariant 2 (data): %s runs level %d but no previous release is kept: %v", n.Name, lvl, err))
			continue
		}
		if err := apimsim.VerifyData(prev); err != nil {
			out = append(out, fmt.Sprintf("invariant 2 (data): %s: the kept previous release's data is not whole: %v; the node's servers: %s; its journal ends: %s", n.Name, err, c.serverSummary(n), c.journalSummary(n)))
		}
		b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
		if err != nil {
			out = append(out, fmt.Sprintf("invariant 2 (data): %s: no journal: %v", n.Name, err))
			continue
		}
		var sums map[string]string
		var at time.Time
		for _, r := range tasks.ParseJournal(string(b)) {
			if r.Step == "persist" && r.Phase == tasks.PhaseNote {
				sums, at = r.Sums, r.At
			}
		}
		if sums == nil {
			out = append(out, fmt.Sprintf("invariant 2 (data): %s runs level %d but its journal records no persist", n.Name, lvl))
			continue
		}
		for _, p := range []string{"solr/data", "repository/database"} {
			if want := treeSum(c.t, prev, p); sums[p] != want {
				out = append(out, fmt.Sprintf("invariant 2 (data): %s: %s was copied at %s with sum %.12s, but the stopped server left %.12s in the kept previous release (the old server ran again after the copy, or the copy is not the data the new release started with)", n.Name, p, stamp(at), sums[p], want))
			}
		}
	}
	return out
}

func rel(n *lab.Node, dir string) string {
	r, err := filepath.Rel(n.Dir, dir)
	if err != nil {
		return dir
	}
	return r
}

// releases are every release directory of a node: home, previous, failed ones.
func (c *chaosLab) releases(n *lab.Node) []string {
	out := []string{n.Home, filepath.Join(stateDir(n), "previous")}
	fs, _ := filepath.Glob(filepath.Join(stateDir(n), "failed", "*"))
	return append(out, fs...)
}

func recoveryWarnings(home string) string {
	b, err := os.ReadFile(apimsim.LogFile(home))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "was not closed properly") || strings.Contains(l, "was not committed cleanly") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// checkEdits is invariant 5 (configuration): every operator edit is in the
// running release's deployment.toml, unless the edit was made on an updated
// release that the node was later rolled back from (then losing it is what
// a rollback means).
func (c *chaosLab) checkEdits(old int) []string {
	var out []string
	for _, e := range c.edits {
		n := c.node(e.Node)
		b, _ := os.ReadFile(filepath.Join(n.Home, "repository", "conf", "deployment.toml"))
		if strings.Contains(string(b), e.Token) {
			continue
		}
		if e.Level != old && c.rolledBackAfter(e.Node, e.At) {
			c.note("check: %s's edit %s (made on level %d) is gone after a later rollback; not counted", e.Node, e.Token, e.Level)
			continue
		}
		lvl, _ := apimsim.ReadLevel(n.Home)
		out = append(out, fmt.Sprintf("invariant 5 (operator edits): the edit %q the operator made at %s to %s's deployment.toml (release at level %d) is missing from the running release (level %d); the node's journal: %s", e.Token, stamp(e.At), e.Node, e.Level, lvl, c.journalSummary(n, "configure", "switch", "rollback")))
	}
	return out
}

func (c *chaosLab) rolledBackAfter(node string, t time.Time) bool {
	for _, e := range c.engine {
		if e.Node == node && e.At.After(t) && (e.Type == tasks.EventRollback || e.Type == tasks.EventRolledBack) {
			return true
		}
	}
	return slices.ContainsFunc(c.rollbackBy[node], func(at time.Time) bool { return at.After(t) })
}

// journalSummary lists a node's journal records of the given steps, for
// failure messages: when each ran, in which run, how it ended.
func (c *chaosLab) journalSummary(n *lab.Node, steps ...string) string {
	b, err := os.ReadFile(filepath.Join(stateDir(n), "journal.jsonl"))
	if err != nil {
		return "(no journal: " + err.Error() + ")"
	}
	var out []string
	recs := tasks.ParseJournal(string(b))
	if len(steps) == 0 && len(recs) > 16 {
		recs = recs[len(recs)-16:] // the tail is what matters
	}
	for _, r := range recs {
		if len(steps) == 0 || slices.Contains(steps, r.Step) {
			out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s/%s %.24s %.160s", stamp(r.At.Local()), r.Run, r.Step, r.Phase, r.Target, r.Detail)))
		}
	}
	return strings.Join(out, "; ")
}

// serverSummary lists a node's server lifecycle events, for failure messages.
func (c *chaosLab) serverSummary(n *lab.Node) string {
	var out []string
	for _, e := range c.simEvents(n) {
		out = append(out, fmt.Sprintf("%s %s L%d pid %d", stamp(e.At), e.Event, e.Level, e.PID))
	}
	return strings.Join(out, "; ")
}

// checkPlan is invariant 2 on a plan: a node whose last run stopped before
// it finished (its journal says so) is never up to date.
func checkPlan(run string, p *rollout.Plan) []string {
	var out []string
	for _, w := range p.Waves {
		for _, np := range w.Skipped {
			if np.Action != rollout.ActionSkip || np.Facts == nil || np.Facts.LastRun == nil {
				continue
			}
			if lr := np.Facts.LastRun; lr.Outcome == tasks.OutcomeInterrupted {
				out = append(out, fmt.Sprintf("invariant 2 (journal): the plan of run %s calls %s up to date (%s) although its journal says run %s stopped at %s before finishing",
					run, np.Node, np.Reason, lr.ID, lr.Step))
			}
		}
	}
	return out
}
