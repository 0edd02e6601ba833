package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"golang.org/x/sync/errgroup"
)

// FormatVersion is the version of the plan file format.
const FormatVersion = 1

// Node actions in a plan.
const (
	ActionUpdate = "update"
	ActionResume = "resume"
	// ActionReconfigure is a node whose release is current and whose
	// managed configuration drifted: it is converged by the light
	// reconfiguration procedure.
	ActionReconfigure = "reconfigure"
	ActionSkip        = "up-to-date"
	ActionUnreachable = "unreachable"
	ActionLocked      = "locked"
	ActionBlocked     = "blocked"
	// ActionOutside is a node of a selected profile that --limit leaves
	// out: probed read-only, because capacity is judged on the whole
	// profile.
	ActionOutside = "outside-limit"
)

// Plan is what apply will do, probed and computed without changing anything.
// Its JSON is the plan file: fields are added, never renamed.
type Plan struct {
	FormatVersion   int       `json:"format_version"`
	CreatedAt       time.Time `json:"created_at"`
	Cluster         string    `json:"cluster"`
	Version         string    `json:"version"`
	Inventory       string    `json:"inventory"`
	InventoryDigest string    `json:"inventory_digest"`
	Strategy        string    `json:"strategy"`
	Pack            *PackInfo `json:"pack,omitempty"`
	// ProfilePacks are the packs of profiles that name their own (split
	// distributions), by profile.
	ProfilePacks map[string]*PackInfo `json:"profile_packs,omitempty"`
	TargetLevel  int                  `json:"target_level"`
	Waves        []Wave               `json:"waves"`
	Summary      Summary              `json:"summary"`
	Warnings     []string             `json:"warnings"`
}

// PackInfo is the pack a plan was made with.
type PackInfo struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Product string `json:"product"`
	Level   int    `json:"level"`
}

// Wave is one profile's part of the rollout.
type Wave struct {
	Number         int        `json:"number"`
	Profile        string     `json:"profile"`
	MaxUnavailable int        `json:"max_unavailable"`
	Batches        []Batch    `json:"batches"`
	Skipped        []NodePlan `json:"skipped,omitempty"`
	// Outside are the profile's nodes that --limit leaves out; they count
	// for capacity all the same.
	Outside []NodePlan `json:"outside,omitempty"`
	// OutOfService counts the profile's nodes out of service when the plan
	// was made, selected or not.
	OutOfService int `json:"out_of_service"`
}

// Batch is a set of nodes updated at once.
type Batch struct {
	Number int        `json:"number"`
	Nodes  []NodePlan `json:"nodes"`
}

// NodePlan is one node in a plan.
type NodePlan struct {
	Node        string            `json:"node"`
	Profile     string            `json:"profile"`
	Host        string            `json:"host"`
	Action      string            `json:"action"`
	Reason      string            `json:"reason,omitempty"`
	Fingerprint map[string]string `json:"fingerprint"`
	Facts       *tasks.Facts      `json:"facts"`
	Steps       []tasks.StepPlan  `json:"steps,omitempty"`
	// Down says why the node is out of service now ("" when it serves).
	Down string `json:"out_of_service,omitempty"`
	// NoRestart marks a reconfiguration that writes files without
	// restarting the server: it costs no capacity.
	NoRestart bool `json:"no_restart,omitempty"`
}

// Summary counts a plan.
type Summary struct {
	// Update counts every node the plan changes (updates, resumes and
	// reconfigurations); Reconfigure those of them only reconfigured.
	Update      int `json:"update"`
	Reconfigure int `json:"reconfigure"`
	UpToDate    int `json:"up_to_date"`
	Unreachable int `json:"unreachable"`
	Blocked     int `json:"blocked"`
	Waves       int `json:"waves"`
	Batches     int `json:"batches"`
}

// Options are what planning and applying need besides the inventory.
type Options struct {
	Inv   *inventory.Inventory
	Nodes []*inventory.Node // selected, in rollout order
	Pack  *tasks.Pack       // side-by-side; nil for in-place
	// ProfilePacks override Pack for the nodes of a profile.
	ProfilePacks map[string]*tasks.Pack
	// Product knows the releases of the product rolled out.
	Product  tasks.Product
	Conns    *Conns
	Parallel int
	Run      string
	Owner    string
	Sink     tasks.Sink
	Poll     time.Duration
}

// PackFor is the pack a node of the profile is updated with.
func (o *Options) PackFor(profile string) *tasks.Pack {
	if p := o.ProfilePacks[profile]; p != nil {
		return p
	}
	return o.Pack
}

func (o *Options) job(n *inventory.Node, c tasks.Conn) *tasks.Job {
	return &tasks.Job{Inv: o.Inv, Node: n, Conn: c, Paths: tasks.NewPaths(n.Home), Pack: o.PackFor(n.Profile), Product: o.Product,
		Run: o.Run, Owner: o.Owner, Sink: o.Sink, Poll: o.Poll}
}

// Probe plans every selected node in parallel (read-only). A node that
// cannot be reached or probed is reported in its NodePlan, never as an
// error of the whole plan.
//
// The nodes of the selected profiles that --limit leaves out are probed
// too, read-only, and returned after the selected ones with the action
// ActionOutside: capacity is judged on the whole profile.
func Probe(ctx context.Context, o *Options) []NodePlan {
	peers := o.Peers()
	out := make([]NodePlan, len(o.Nodes)+len(peers))
	var g errgroup.Group
	g.SetLimit(max(o.Parallel, 1))
	for i, n := range o.Nodes {
		g.Go(func() error {
			out[i] = probeNode(ctx, o, n)
			return nil
		})
	}
	for i, n := range peers {
		g.Go(func() error {
			out[len(o.Nodes)+i] = probePeer(ctx, o, n)
			return nil
		})
	}
	g.Wait()
	return out
}

// Peers returns the nodes of the selected profiles that are not selected:
// probed read-only, because capacity is judged on the whole profile.
func (o *Options) Peers() []*inventory.Node {
	selected := map[string]bool{}
	profiles := map[string]bool{}
	for _, n := range o.Nodes {
		selected[n.Name], profiles[n.Profile] = true, true
	}
	var out []*inventory.Node
	for _, n := range o.Inv.Nodes {
		if profiles[n.Profile] && !selected[n.Name] {
			out = append(out, n)
		}
	}
	return out
}

// serviceState probes a node read-only, health included, and says why it
// is out of service ("" when it serves).
func serviceState(ctx context.Context, o *Options, n *inventory.Node) (*tasks.Facts, string) {
	c, err := o.Conns.Get(ctx, n)
	if err != nil {
		f := &tasks.Facts{Node: n.Name, Profile: n.Profile, Host: n.Host, Error: err.Error()}
		return f, "unreachable: " + err.Error()
	}
	f := tasks.Probe(ctx, c, o.Inv, n, tasks.ProbeOptions{Health: true, Product: o.Product})
	return f, tasks.OutOfService(f, o.Run)
}

func probePeer(ctx context.Context, o *Options, n *inventory.Node) NodePlan {
	f, down := serviceState(ctx, o, n)
	np := NodePlan{Node: n.Name, Profile: n.Profile, Host: n.Host, Action: ActionOutside, Facts: f, Down: down}
	np.Fingerprint = f.Fingerprint()
	np.Reason = "left out by --limit"
	if down != "" {
		np.Reason += "; out of service: " + down
	}
	return np
}

func probeNode(ctx context.Context, o *Options, n *inventory.Node) NodePlan {
	np := NodePlan{Node: n.Name, Profile: n.Profile, Host: n.Host}
	c, err := o.Conns.Get(ctx, n)
	if err != nil {
		np.Action, np.Reason = ActionUnreachable, err.Error()
		np.Facts = &tasks.Facts{Node: n.Name, Profile: n.Profile, Host: n.Host, Error: err.Error()}
		np.Fingerprint = np.Facts.Fingerprint()
		return np
	}
	j := o.job(n, c)
	steps, err := j.PlanNode(ctx)
	np.Facts = j.Facts()
	if np.Facts == nil {
		np.Facts = &tasks.Facts{Node: n.Name, Profile: n.Profile, Host: n.Host}
	} else if np.Facts.Reachable {
		j.CheckHealth(ctx)
	}
	np.Fingerprint = np.Facts.Fingerprint()
	np.Down = tasks.OutOfService(np.Facts, o.Run)
	switch {
	case err != nil && !np.Facts.Reachable:
		np.Action, np.Reason = ActionUnreachable, err.Error()
	case np.Facts.Lock != nil && np.Facts.Lock.ID != o.Run:
		np.Action = ActionLocked
		np.Reason = (&tasks.LockedError{Node: n.Name, Held: *np.Facts.Lock, Dir: tasks.NewPaths(n.Home).Lock()}).Error()
	case j.Reconfigure() && err == nil:
		np.Action, np.Steps, np.NoRestart = ActionReconfigure, steps, !j.RestartNeeded()
		var why []string
		for _, d := range np.Facts.Drift {
			why = append(why, d.Path+" "+d.Why())
		}
		np.Reason = "configuration drifted: " + strings.Join(why, "; ")
		if lr := np.Facts.LastRun; j.Interrupted() {
			np.Action, np.Reason = ActionResume, fmt.Sprintf("resume the reconfiguration at %s (run %s was interrupted)", resumeStep(steps, lr.Step), lr.ID)
		} else if len(why) == 0 {
			np.Reason = fmt.Sprintf("finish the reconfiguration run %s began", lr.ID)
		}
	case j.UpToDate():
		np.Action, np.Reason = ActionSkip, fmt.Sprintf("already at level %d", np.Facts.UpdateLevel)
	case err != nil:
		np.Action, np.Reason = ActionBlocked, err.Error()
	default:
		np.Action, np.Steps = ActionUpdate, steps
		if lr := np.Facts.LastRun; j.Interrupted() {
			np.Action, np.Reason = ActionResume, fmt.Sprintf("resume at %s (run %s was interrupted)", resumeStep(steps, lr.Step), lr.ID)
		} else if c := np.Facts.UpdateConflicts; c != nil {
			np.Action, np.Reason = ActionResume, fmt.Sprintf("resume at %s (the update tool stopped on conflicts in run %s; every file has its .final)", resumeStep(steps, "update"), c.Run)
		}
	}
	return np
}

// resumeStep is the first step a resumed node still has to run, or the
// step its run was interrupted at when every step probes as done.
func resumeStep(steps []tasks.StepPlan, interrupted string) string {
	for _, s := range steps {
		if !s.Done && s.Name != "preflight" {
			return s.Name
		}
	}
	if interrupted == "" {
		return "the start"
	}
	return interrupted
}

// Make builds the plan from probed nodes: waves in rollout.order, batches
// of at most the profile's max_unavailable, less the nodes of the profile
// that are already down.
func Make(o *Options, probed []NodePlan) *Plan {
	inv := o.Inv
	p := &Plan{
		FormatVersion: FormatVersion, CreatedAt: time.Now().UTC(), Cluster: inv.Cluster.Name,
		Version: inv.Cluster.Version.String(), Inventory: inv.Path, InventoryDigest: inv.Digest,
		Strategy: inv.Update.Strategy, TargetLevel: inv.Update.Level, Warnings: []string{},
	}
	info := func(k *tasks.Pack) *PackInfo {
		return &PackInfo{Path: k.Path, SHA256: k.SHA256, Size: k.Size, Product: k.Product, Level: k.Level}
	}
	if o.Pack != nil {
		p.Pack = info(o.Pack)
		p.TargetLevel = o.Pack.Level
	}
	for prof, k := range o.ProfilePacks {
		if p.ProfilePacks == nil {
			p.ProfilePacks = map[string]*PackInfo{}
		}
		p.ProfilePacks[prof] = info(k)
		if p.Pack == nil {
			p.TargetLevel = max(p.TargetLevel, k.Level)
		}
	}
	byProfile := map[string][]NodePlan{}
	for _, np := range probed {
		byProfile[np.Profile] = append(byProfile[np.Profile], np)
		if np.Facts != nil {
			for _, w := range np.Facts.Warnings { // the service manager's (preflight)
				p.Warnings = append(p.Warnings, np.Node+": "+w)
			}
		}
	}
	for _, prof := range inv.Rollout.Order {
		if w, ok := makeWave(inv, prof, byProfile[prof], len(p.Waves)+1, &p.Warnings); ok {
			p.Waves = append(p.Waves, w)
		}
	}
	for _, w := range p.Waves {
		p.Summary.Batches += len(w.Batches)
		for _, b := range w.Batches {
			p.Summary.Update += len(b.Nodes)
			for _, np := range b.Nodes {
				if np.Action == ActionReconfigure {
					p.Summary.Reconfigure++
				}
			}
		}
		for _, s := range w.Skipped {
			switch s.Action {
			case ActionSkip:
				p.Summary.UpToDate++ // said by the plan's summary, not a warning
				if s.Down != "" {
					p.Warnings = append(p.Warnings, fmt.Sprintf("%s is up to date but out of service (%s): it counts against max_unavailable", s.Node, s.Down))
				}
			case ActionUnreachable:
				p.Summary.Unreachable++
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s is unreachable: %s", s.Node, s.Reason))
			default:
				p.Summary.Blocked++
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s is %s: %s", s.Node, s.Action, s.Reason))
			}
		}
	}
	p.Summary.Waves = len(p.Waves)
	return p
}

// sortWave starts one profile's wave: the nodes outside --limit, those
// skipped, the queue of those to update, and which nodes are out of
// service already (down). ok is false when no node of the profile is
// selected.
func sortWave(inv *inventory.Inventory, prof string, nodes []NodePlan, number int) (w Wave, down map[string]string, queue []NodePlan, ok bool) {
	w = Wave{Number: number, Profile: prof, MaxUnavailable: inv.MaxUnavailable(prof)}
	down = map[string]string{}
	selected := 0
	for _, np := range nodes {
		if np.Down == "" && (np.Action == ActionUnreachable || np.Action == ActionLocked) {
			np.Down = np.Action
		}
		if np.Down != "" {
			w.OutOfService++
			down[np.Node] = np.Down
		}
		switch np.Action {
		case ActionOutside:
			w.Outside = append(w.Outside, np)
			continue
		case ActionUpdate, ActionResume, ActionReconfigure:
			queue = append(queue, np)
		default:
			w.Skipped = append(w.Skipped, np)
		}
		selected++
	}
	return w, down, queue, selected > 0
}

// makeWave orders one profile's nodes into batches under the capacity
// rule: at no moment more than max_unavailable nodes of the profile out of
// service, counting every node of it that is out of service already
// (stopped, crashed, unhealthy, unreachable, locked, drained mid-update),
// selected or not. Nodes that need the update and are out of service
// already go first, all at once: they cost no capacity; interrupted nodes
// come next, then the rest, in batches of what capacity is left. When none
// is left, they are blocked. Apply makes the same choice again before
// each batch, from a fresh look at the profile.
func makeWave(inv *inventory.Inventory, prof string, nodes []NodePlan, number int, warnings *[]string) (Wave, bool) {
	w, down, queue, ok := sortWave(inv, prof, nodes, number)
	if !ok {
		return w, false
	}
	for first := true; len(queue) > 0; first = false {
		var batch, rest []NodePlan
		var why string
		if room := w.MaxUnavailable - len(down); !first && room > 0 {
			// What the first pick left serves (the nodes out of service and
			// those changed without a restart all went first), in pick's
			// order, and the nodes out of service are none of it: pick would
			// take the next room nodes every time. Taking them here keeps a
			// wave of a thousand nodes from costing a million steps.
			k := min(room, len(queue))
			batch, rest = queue[:k:k], queue[k:]
		} else {
			batch, rest, why = pick(queue, down, w.MaxUnavailable)
		}
		if len(batch) == 0 {
			*warnings = append(*warnings, fmt.Sprintf("profile %s: %s; bring them back (or finish them: drover apply --limit NODE) before updating %s", prof, why, NodeNames(rest)))
			for _, np := range rest {
				np.Action, np.Reason = ActionBlocked, why
				w.Skipped = append(w.Skipped, np)
			}
			break
		}
		w.Batches = append(w.Batches, Batch{Number: len(w.Batches) + 1, Nodes: batch})
		for _, np := range batch {
			delete(down, np.Node) // back in service when its batch is done
		}
		queue = rest
	}
	if total := len(inv.NodesOf(prof)); total == 1 && len(w.Batches) == 1 && len(w.Batches[0].Nodes) == 1 {
		*warnings = append(*warnings, fmt.Sprintf("profile %s has a single node: updating %s means an outage of that profile while it restarts", prof, w.Batches[0].Nodes[0].Node))
	}
	return w, true
}

// pick chooses the next batch of a wave from queue under the capacity
// rule, given why each node of the profile is out of service (down, by
// node name; absent when it serves). Queued nodes already out of service
// all go (they cost nothing); then interrupted ones, then the rest, while
// fewer than max nodes of the profile would be out. When nothing can go,
// why says which nodes hold the capacity.
func pick(queue []NodePlan, down map[string]string, max int) (batch, rest []NodePlan, why string) {
	queued := map[string]bool{}
	for _, np := range queue {
		queued[np.Node] = true
	}
	var others []string
	for name, reason := range down {
		if !queued[name] {
			others = append(others, name+" ("+reason+")")
		}
	}
	slices.Sort(others)
	var resumes, updates []NodePlan
	for _, np := range queue {
		switch {
		case down[np.Node] != "", np.NoRestart:
			// Out of service already, or a change written without a
			// restart: neither costs capacity.
			batch = append(batch, np)
		case np.Action == ActionResume:
			resumes = append(resumes, np)
		default:
			updates = append(updates, np)
		}
	}
	room := max - len(others)
	for _, np := range batch {
		if !np.NoRestart || down[np.Node] != "" {
			room-- // an out-of-service node counts; a change without a restart does not
		}
	}
	for _, np := range append(resumes, updates...) {
		if room > 0 {
			batch = append(batch, np)
			room--
		} else {
			rest = append(rest, np)
		}
	}
	if len(batch) == 0 {
		why = fmt.Sprintf("no capacity: max_unavailable is %d and %d other node(s) of the profile are out of service: %s", max, len(others), strings.Join(others, ", "))
	}
	return batch, rest, why
}

// Batches splits n nodes into consecutive batches of at most size nodes:
// [start, end) index pairs.
func Batches(n, size int) [][2]int {
	if size < 1 {
		size = 1
	}
	var out [][2]int
	for i := 0; i < n; i += size {
		out = append(out, [2]int{i, min(i+size, n)})
	}
	return out
}

// Nodes returns every node the plan updates, in order.
func (p *Plan) Nodes() []NodePlan {
	var out []NodePlan
	for _, w := range p.Waves {
		for _, b := range w.Batches {
			out = append(out, b.Nodes...)
		}
	}
	return out
}

// RefusedError is a plan that apply refuses before changing anything:
// some selected node cannot be updated safely now.
type RefusedError struct{ Reasons []string }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refusing to start: %d node(s) cannot be updated safely, so nothing was changed on any node:\n  %s",
		len(e.Reasons), strings.Join(e.Reasons, "\n  "))
}
func (e *RefusedError) Refused() bool { return true }

// Refusal returns why the plan must be refused before anything changes,
// naming every node that is unreachable, locked by another run or blocked
// (preflight failed, no capacity), or nil.
func (p *Plan) Refusal() error {
	var reasons []string
	for _, w := range p.Waves {
		for _, n := range w.Skipped {
			switch n.Action {
			case ActionUnreachable, ActionLocked, ActionBlocked:
				reason := n.Reason
				if !strings.HasPrefix(reason, n.Node+" ") && !strings.HasPrefix(reason, n.Node+":") {
					reason = n.Node + ": " + reason
				}
				reasons = append(reasons, reason)
			}
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return &RefusedError{Reasons: reasons}
}

// fingerprintOrder lists a fingerprint's keys: the known ones most telling
// first, then any others in name order.
func fingerprintOrder(fp map[string]string) []string {
	known := []string{"reachable", "product", "update_level", "running", "current_pack", "lock"}
	var out []string
	for _, k := range known {
		if _, ok := fp[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(fp)) {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	return out
}

// DriftError reports a plan whose nodes changed since it was made.
type DriftError struct{ Changes []string }

func (e *DriftError) Error() string {
	return fmt.Sprintf("the plan is stale: %s; make a new plan", joinSemi(e.Changes))
}
func (e *DriftError) Refused() bool { return true }

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// Drift compares a saved plan with a fresh one.
func Drift(saved, fresh *Plan) error {
	var changes []string
	if saved.FormatVersion != FormatVersion {
		changes = append(changes, fmt.Sprintf("plan format %d, this drover writes %d", saved.FormatVersion, FormatVersion))
	}
	if saved.InventoryDigest != fresh.InventoryDigest {
		changes = append(changes, "the inventory (or a managed file it names) changed")
	}
	if (saved.Pack == nil) != (fresh.Pack == nil) || (saved.Pack != nil && saved.Pack.SHA256 != fresh.Pack.SHA256) {
		changes = append(changes, "the pack changed")
	}
	for prof, k := range fresh.ProfilePacks {
		if s := saved.ProfilePacks[prof]; s == nil || s.SHA256 != k.SHA256 {
			changes = append(changes, "the pack of "+prof+" changed")
		}
	}
	for prof := range saved.ProfilePacks {
		if fresh.ProfilePacks[prof] == nil {
			changes = append(changes, "the pack of "+prof+" changed")
		}
	}
	freshBy := map[string]NodePlan{}
	for _, w := range fresh.Waves {
		for _, b := range w.Batches {
			for _, n := range b.Nodes {
				freshBy[n.Node] = n
			}
		}
		for _, n := range w.Skipped {
			freshBy[n.Node] = n
		}
	}
	each := func(n NodePlan) {
		f, ok := freshBy[n.Node]
		if !ok {
			changes = append(changes, fmt.Sprintf("%s is no longer selected", n.Node))
			return
		}
		// A node that cannot be probed now has no facts to compare: say
		// why, rather than report the zero values of a failed probe.
		if f.Facts == nil || !f.Facts.Reachable {
			if n.Facts != nil && !n.Facts.Reachable {
				return // unreachable when planned too
			}
			why := f.Reason
			if f.Facts != nil && f.Facts.Error != "" {
				why = f.Facts.Error
			}
			if why == "" {
				why = "no answer"
			}
			changes = append(changes, fmt.Sprintf("%s cannot be probed now: %s", n.Node, why))
			return
		}
		// In a fixed order, most telling first, so the same drift reads the
		// same every time.
		for _, k := range fingerprintOrder(n.Fingerprint) {
			v := n.Fingerprint[k]
			if f.Fingerprint[k] != v {
				changes = append(changes, fmt.Sprintf("%s: %s was %q, now %q", n.Node, k, v, f.Fingerprint[k]))
			}
		}
	}
	for _, w := range saved.Waves {
		for _, b := range w.Batches {
			for _, n := range b.Nodes {
				each(n)
			}
		}
		for _, n := range w.Skipped {
			each(n)
		}
	}
	if len(changes) > 0 {
		return &DriftError{Changes: changes}
	}
	return nil
}
