package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"golang.org/x/sync/errgroup"
)

// FormatVersion is the version of the plan file format.
const FormatVersion = 1

// Node actions in a plan.
const (
	ActionUpdate      = "update"
	ActionResume      = "resume"
	ActionSkip        = "up-to-date"
	ActionUnreachable = "unreachable"
	ActionLocked      = "locked"
	ActionBlocked     = "blocked"
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
	TargetLevel     int       `json:"target_level"`
	Waves           []Wave    `json:"waves"`
	Summary         Summary   `json:"summary"`
	Warnings        []string  `json:"warnings"`
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
}

// Summary counts a plan.
type Summary struct {
	Update      int `json:"update"`
	UpToDate    int `json:"up_to_date"`
	Unreachable int `json:"unreachable"`
	Blocked     int `json:"blocked"`
	Waves       int `json:"waves"`
	Batches     int `json:"batches"`
}

// Options are what planning and applying need besides the inventory.
type Options struct {
	Inv      *inventory.Inventory
	Nodes    []*inventory.Node // selected, in rollout order
	Pack     *tasks.Pack       // side-by-side; nil for in-place
	Conns    *Conns
	Parallel int
	Run      string
	Owner    string
	Sink     tasks.Sink
	Poll     time.Duration
}

func (o *Options) job(n *inventory.Node, c tasks.Conn) *tasks.Job {
	return &tasks.Job{Inv: o.Inv, Node: n, Conn: c, Paths: tasks.NewPaths(n.Home), Pack: o.Pack,
		Run: o.Run, Owner: o.Owner, Sink: o.Sink, Poll: o.Poll}
}

// Probe plans every selected node in parallel (read-only). A node that
// cannot be reached or probed is reported in its NodePlan, never as an
// error of the whole plan.
func Probe(ctx context.Context, o *Options) []NodePlan {
	out := make([]NodePlan, len(o.Nodes))
	var g errgroup.Group
	g.SetLimit(max(o.Parallel, 1))
	for i, n := range o.Nodes {
		g.Go(func() error {
			out[i] = probeNode(ctx, o, n)
			return nil
		})
	}
	g.Wait()
	return out
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
	}
	np.Fingerprint = np.Facts.Fingerprint()
	switch {
	case err != nil && !np.Facts.Reachable:
		np.Action, np.Reason = ActionUnreachable, err.Error()
	case np.Facts.Lock != nil && np.Facts.Lock.ID != o.Run:
		np.Action = ActionLocked
		np.Reason = (&tasks.LockedError{Node: n.Name, Held: *np.Facts.Lock}).Error()
	case err != nil:
		np.Action, np.Reason = ActionBlocked, err.Error()
	case j.UpToDate():
		np.Action, np.Reason = ActionSkip, fmt.Sprintf("already at level %d", np.Facts.UpdateLevel)
	default:
		np.Action, np.Steps = ActionUpdate, steps
		if lr := np.Facts.LastRun; lr != nil && lr.Outcome == tasks.OutcomeInterrupted {
			np.Action, np.Reason = ActionResume, fmt.Sprintf("run %s was interrupted at %s", lr.ID, lr.Step)
		}
	}
	return np
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
	if o.Pack != nil {
		p.Pack = &PackInfo{Path: o.Pack.Path, SHA256: o.Pack.SHA256, Size: o.Pack.Size, Product: o.Pack.Product, Level: o.Pack.Level}
		p.TargetLevel = o.Pack.Level
	}
	byProfile := map[string][]NodePlan{}
	for _, np := range probed {
		byProfile[np.Profile] = append(byProfile[np.Profile], np)
	}
	for _, prof := range inv.Rollout.Order {
		nodes := byProfile[prof]
		if len(nodes) == 0 {
			continue
		}
		w := Wave{Number: len(p.Waves) + 1, Profile: prof, MaxUnavailable: inv.MaxUnavailable(prof)}
		var todo []NodePlan
		down := 0
		for _, np := range nodes {
			switch np.Action {
			case ActionUpdate, ActionResume:
				todo = append(todo, np)
			default:
				w.Skipped = append(w.Skipped, np)
				if np.Action != ActionSkip {
					down++
				}
			}
		}
		slots := w.MaxUnavailable - down
		if len(todo) > 0 && slots < 1 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("profile %s: %d node(s) already down or blocked and max_unavailable is %d: no node of it can be taken down safely", prof, down, w.MaxUnavailable))
			for _, np := range todo {
				np.Action, np.Reason = ActionBlocked, "no capacity: other nodes of the profile are down"
				w.Skipped = append(w.Skipped, np)
			}
			todo = nil
		}
		for _, b := range Batches(len(todo), max(slots, 1)) {
			w.Batches = append(w.Batches, Batch{Number: len(w.Batches) + 1, Nodes: todo[b[0]:b[1]]})
		}
		if total := len(inv.NodesOf(prof)); total == 1 && len(todo) == 1 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("profile %s has a single node: updating %s means an outage of that profile while it restarts", prof, todo[0].Node))
		}
		p.Waves = append(p.Waves, w)
	}
	for _, w := range p.Waves {
		p.Summary.Batches += len(w.Batches)
		for _, b := range w.Batches {
			p.Summary.Update += len(b.Nodes)
		}
		for _, s := range w.Skipped {
			switch s.Action {
			case ActionSkip:
				p.Summary.UpToDate++
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s is already at level %d: skipped", s.Node, s.Facts.UpdateLevel))
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
		for k, v := range n.Fingerprint {
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
