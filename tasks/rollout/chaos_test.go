package rollout_test

// TestChaos hunts for violations of the rollout invariants (issue 10): each
// seed builds a small cluster, runs rollouts while injecting faults at random
// moments, recovers the way the README tells an operator to, and then checks
// from the nodes' own records that capacity was never exceeded, the data and
// the operator's configuration survived, hooks came in pairs, every node
// converged and no lock is left.
//
//	go test -run 'TestChaos$' ./tasks/rollout/                      the fixed seeds (make test)
//	DROVER_CHAOS_SEEDS=50 go test -run 'TestChaos$' ./tasks/rollout/  seeds 1..50 (make chaos SEEDS=50)
//	DROVER_CHAOS_SEED=123 go test -run 'TestChaos$' ./tasks/rollout/  one seed, to replay a failure
//
// DROVER_CHAOS_FIRST moves the start of the DROVER_CHAOS_SEEDS range.
//
// Faults, drawn from the seed (the scenario is logged with -v and on
// failure): a server stopped by hand before the run or during it; a new
// release that fails to start, never becomes healthy or crashes 150ms after
// starting (apimsim.Faults with OnlyLevel = the new level); per run, the
// controller interrupted by one Ctrl-C (soft), two (hard) or killed like
// kill -9 (connections cut, locks and journals left, no hook runs any more)
// at the start of a random step or up to 1.5s into it; a node's SSH server
// going away for 0.2-2.5s; the plan applied from its file form. Between runs
// the operator breaks the locks of dead runs (status, unlock), recovers one
// node (recover --resume or --rollback, only where that takes no capacity),
// edits deployment.toml, rebuilds the pack (same level, other bytes; or the
// next level), starts the servers they stopped. At the end every fault is
// cleared and apply runs until a plan has nothing left to do.
//
// Checks (chaos_check_test.go), from the simulator's lifecycle events, the
// load balancer log and the nodes' files, never from what drover reports:
//   - 1 capacity: whenever the engine takes a node out of service (drain,
//     or stopping a serving server), fewer than max_unavailable other nodes
//     of the profile are out of service (down, booting, unhealthy, stopped
//     by hand, drained). A node whose SSH server is away but whose product
//     serves is in service. A peer stopped by hand after the engine began
//     on the node is a race it cannot see and is not counted.
//   - 2 data: the journal's last persist sums equal the kept previous
//     release's data, which is whole (apimsim.VerifyData); no server of the
//     node ever recovered torn H2 files or an uncommitted index (unless one
//     of its servers crashed or was killed).
//   - 3 hooks: every drain is followed by an enable (the log ends with every
//     node enabled); no enable while the server is not up; no serving server
//     stopped without a drain first.
//   - 4 rollback: recover --rollback that reports success leaves the
//     previous release (by the node's own record) running.
//   - 5 every operator edit is in the running release (unless the node was
//     rolled back from the edited release); every node ends running, healthy,
//     at the pack's level.
//   - 6 no lock is left.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/rollout"
)

// chaosFixedSeeds run in `make test`: about a minute on a 2-core machine,
// chosen to cover every kind of fault: 2 (hard Ctrl-C, edit, plan file),
// 11 (unhealthy release, kill -9, SSH drop, pack rebuilt, recover
// --rollback), 14 (peer stopped before the run, kill -9, SSH drop, edit,
// recover --rollback), 22 (unhealthy release, kill -9, pack rebuilt, plan
// file, then Ctrl-C and an edit in a second run).
var chaosFixedSeeds = []uint64{2, 11, 14, 22}

func chaosSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("DROVER_CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DROVER_CHAOS_SEED=%q: %v", s, err)
		}
		return []uint64{n}
	}
	if s := os.Getenv("DROVER_CHAOS_SEEDS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DROVER_CHAOS_SEEDS=%q: %v", s, err)
		}
		first := uint64(1)
		if f := os.Getenv("DROVER_CHAOS_FIRST"); f != "" {
			if first, err = strconv.ParseUint(f, 10, 64); err != nil {
				t.Fatalf("DROVER_CHAOS_FIRST=%q: %v", f, err)
			}
		}
		var out []uint64
		for i := uint64(0); i < n; i++ {
			out = append(out, first+i)
		}
		return out
	}
	return chaosFixedSeeds
}

func replayCommand(seed uint64) string {
	return fmt.Sprintf("DROVER_CHAOS_SEED=%d go test -count=1 -v -run 'TestChaos$' ./tasks/rollout/", seed)
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the randomized fault test takes a minute; run without -short")
	}
	seeds := chaosSeeds(t)
	// Seeds run side by side, as many as go test's -parallel allows (make
	// chaos sets it with CHAOS_PARALLEL), each with its own lab: most of a
	// seed's time is spent waiting on simulated servers.
	var mu sync.Mutex
	var failed []string
	began := time.Now()
	// A cleanup, not a defer: parallel seeds finish after this function.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("%d seed(s) in %s; %d failed: %s", len(seeds), time.Since(began).Round(time.Second), len(failed), strings.Join(failed, " "))
	})
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					mu.Lock()
					failed = append(failed, strconv.FormatUint(seed, 10))
					mu.Unlock()
					t.Logf("seed %d failed; replay it with:\n  %s", seed, replayCommand(seed))
				}
			})
			for try := 1; ; try++ {
				clash := ""
				t.Run(fmt.Sprintf("try=%d", try), func(t *testing.T) { clash = chaosIteration(t, seed, try == 3) })
				if clash == "" || try == 3 {
					return
				}
				t.Logf("seed %d: a simulated server could not take its port (%s): another process on the machine holds it; trying the seed again", seed, clash)
			}
		})
	}
}

// ---- the scenario, drawn from the seed before anything runs ----

type runFaults struct {
	Controller string // none, soft, hard, kill
	CtlAt      int    // at the n-th step_started event of the run
	CtlDelay   time.Duration
	PlanFile   bool // apply a plan that went through its JSON form (apply PLANFILE)

	SSHNode  string
	SSHAt    int
	SSHDelay time.Duration
	SSHDown  time.Duration

	HandNode  string
	HandAt    int
	HandDelay time.Duration

	// between this run and the next
	Edits     []string
	Rebuild   string // "", same, newer
	Recover   string // "", resume, rollback: on one node, chosen at run time
	Restart   bool   // start the servers stopped by hand again
	SkipUnlck bool   // leave locks until the final recovery
}

type scenario struct {
	Seed     uint64
	Spec     string
	Settings chaosRolloutSettings
	PreStop  []string
	Release  map[string]string // node -> unhealthy, fail_start, crash
	Runs     []runFaults
}

func drawScenario(seed uint64) scenario {
	r := rand.New(rand.NewPCG(seed, 0x6472_6f76_6572))
	sc := scenario{Seed: seed, Release: map[string]string{}}
	all := []struct{ short, name string }{{"cp", "control-plane"}, {"tm", "traffic-manager"}, {"gw", "gateway-worker"}}
	var use []int
	switch r.IntN(4) {
	case 0:
		use = []int{0, 1, 2}
	case 1:
		use = []int{0, 2}
	case 2:
		use = []int{1, 2}
	default:
		use = []int{0, 1}
	}
	var parts []string
	var names []string
	for _, i := range use {
		// 1-5 nodes, small clusters more often: iterations stay short.
		n := pick(r, []int{1, 2, 2, 3, 3, 4, 5})
		parts = append(parts, fmt.Sprintf("%s=%d", all[i].short, n))
		sc.Settings.Profiles = append(sc.Settings.Profiles, all[i].name)
		for k := 1; k <= n; k++ {
			names = append(names, fmt.Sprintf("%s-%d", all[i].short, k))
		}
	}
	sc.Spec = strings.Join(parts, ",")
	sc.Settings.MaxUnavailable = pick(r, []string{"1", "1", "2", `"50%"`})
	sc.Settings.PerProfile = map[string]int{}
	for _, p := range sc.Settings.Profiles {
		if chance(r, 0.2) {
			sc.Settings.PerProfile[p] = 1 + r.IntN(2)
		}
	}
	sc.Settings.FailureBudget = r.IntN(3)

	if chance(r, 0.35) {
		sc.PreStop = append(sc.PreStop, pick(r, names))
	}
	if chance(r, 0.45) {
		for k := 1 + r.IntN(2); k > 0; k-- {
			sc.Release[pick(r, names)] = pick(r, []string{"unhealthy", "fail_start", "crash"})
		}
	}
	steps := 11 * len(names)
	nruns := 1
	if chance(r, 0.35) {
		nruns = 2
	}
	delay := func() time.Duration {
		if chance(r, 0.4) {
			return 0
		}
		return time.Duration(r.IntN(1500)) * time.Millisecond
	}
	for i := 0; i < nruns; i++ {
		rf := runFaults{Controller: pick(r, []string{"none", "soft", "hard", "kill", "kill"}), CtlAt: 1 + r.IntN(steps), CtlDelay: delay(), PlanFile: chance(r, 0.3)}
		if chance(r, 0.3) {
			rf.SSHNode, rf.SSHAt, rf.SSHDelay = pick(r, names), 1+r.IntN(steps), delay()
			rf.SSHDown = time.Duration(200+r.IntN(2300)) * time.Millisecond
		}
		if chance(r, 0.25) {
			rf.HandNode, rf.HandAt, rf.HandDelay = pick(r, names), 1+r.IntN(steps), delay()
		}
		if chance(r, 0.5) {
			for k := 1 + r.IntN(2); k > 0; k-- {
				rf.Edits = append(rf.Edits, pick(r, names))
			}
		}
		if chance(r, 0.3) {
			rf.Rebuild = pick(r, []string{"same", "newer"})
		}
		if chance(r, 0.35) {
			rf.Recover = pick(r, []string{"resume", "rollback"})
		}
		rf.Restart = chance(r, 0.5)
		rf.SkipUnlck = chance(r, 0.2)
		sc.Runs = append(sc.Runs, rf)
	}
	return sc
}

func (sc scenario) String() string {
	b, _ := json.MarshalIndent(sc, "  ", "  ")
	return string(b)
}

// ---- one iteration ----

// chaosIteration runs one seed. It returns a port clash it saw, which makes
// the result say nothing about drover (the caller tries again).
func chaosIteration(t *testing.T, seed uint64, lastTry bool) (clash string) {
	sc := drawScenario(seed)
	r := rand.New(rand.NewPCG(seed, 0x7275_6e74_696d)) // choices made while running
	began := time.Now()
	c := newChaosLab(t, sc.Spec, sc.Settings)
	old := c.l.Level
	inv := c.inventory()
	maxUn := map[string]int{}
	for _, p := range sc.Settings.Profiles {
		maxUn[p] = inv.MaxUnavailable(p)
	}
	t.Logf("seed %d: cluster %s, max_unavailable %v, failure_budget %d", seed, sc.Spec, maxUn, sc.Settings.FailureBudget)
	var violations []string
	defer func() {
		if clash = c.portClash(); clash != "" && !lastTry {
			t.Logf("seed %d: inconclusive, a simulated server could not listen: %s; what the checks said:\n  %s", seed, clash, strings.Join(violations, "\n  "))
			return
		}
		c.mu.Lock()
		t.Logf("seed %d scenario:\n  %s\nwhat happened:\n  %s", seed, sc, strings.Join(c.log, "\n  "))
		c.mu.Unlock()
		if len(violations) == 0 && !t.Failed() {
			t.Logf("seed %d: every invariant held (%s)", seed, time.Since(began).Round(time.Millisecond))
			return
		}
		for _, v := range violations {
			t.Errorf("seed %d: %s", seed, v)
		}
		t.Errorf("seed %d: replay with: %s", seed, replayCommand(seed))
	}()

	for _, name := range sc.PreStop {
		c.stopByHand(name)
	}
	for name, kind := range sc.Release {
		f := apimsim.Faults{OnlyLevel: old + 1}
		switch kind {
		case "unhealthy":
			f.Unhealthy = true
		case "fail_start":
			f.FailStart = true
		case "crash":
			f.CrashAfter = "150ms"
		}
		c.setFaults(name, f)
	}

	runN := 0
	for i, rf := range sc.Runs {
		runN++
		violations = append(violations, c.faultedRun(fmt.Sprintf("chaos-%d-%d", seed, runN), rf, r)...)
		c.restartAllSSH()
		if rf.Restart {
			c.restartHandStopped(r)
		}
		if !rf.SkipUnlck || i == len(sc.Runs)-1 {
			violations = append(violations, c.unlockDead()...)
		}
		if rf.Recover != "" {
			violations = append(violations, c.recoverOne(fmt.Sprintf("chaos-%d-recover-%d", seed, runN), rf.Recover, r, maxUn)...)
		}
		for k, name := range rf.Edits {
			c.editConfig(name, fmt.Sprintf("chaos-%d-edit-%d-%d", seed, runN, k))
		}
		switch rf.Rebuild {
		case "same":
			c.rebuildPack(false, fmt.Sprintf("r%d", runN))
		case "newer":
			c.rebuildPack(true, "")
		}
	}

	// Recovery: the faults are gone; the operator starts what they stopped,
	// breaks the locks of dead runs and runs apply until there is nothing
	// left to do.
	c.note("recovery: clear every fault, restart what was stopped by hand, unlock, apply until done")
	c.clearFaults()
	c.restartAllSSH()
	c.restartHandStopped(nil)
	violations = append(violations, c.unlockDead()...)
	converged := false
	var lastErr error
	for try := 1; try <= 4 && !converged; try++ {
		runN++
		ctl := c.newController(fmt.Sprintf("chaos-%d-%d", seed, runN))
		inv := c.inventory()
		o := c.options(ctl, inv, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		p := rollout.Make(o, rollout.Probe(ctx, o))
		violations = append(violations, checkPlan(o.Run, p)...)
		if p.Summary.Update == 0 && p.Summary.Blocked == 0 && p.Summary.Unreachable == 0 {
			converged = true
			c.note("recovery: plan %s has nothing left to do", o.Run)
		} else {
			c.note("recovery: run %s: %+v warnings %v", o.Run, p.Summary, p.Warnings)
			_, lastErr = rollout.Apply(ctx, ctx, o, p)
			c.note("recovery: run %s returned %v", o.Run, lastErr)
		}
		cancel()
		ctl.close()
		if !converged {
			violations = append(violations, c.unlockDead()...)
		}
	}
	if !converged {
		violations = append(violations, fmt.Sprintf("convergence: after every fault was cleared and locks broken, 4 runs of apply did not bring the cluster to a plan with nothing to do; last error: %v", lastErr))
	}

	// The checks.
	target := c.targetLevel()
	ctl := c.newController(fmt.Sprintf("chaos-%d-check", seed))
	defer ctl.close()
	// Every run and every fault is over: nothing else touches the records.
	violations = append(violations, c.checkCapacity(maxUn)...)
	violations = append(violations, c.checkHooksPaired()...)
	violations = append(violations, c.checkData(target)...)
	violations = append(violations, c.checkEdits(old)...)
	violations = append(violations, c.checkFinal(ctl, target, old)...)
	return ""
}

// faultedRun plans and applies once while the run's faults strike.
func (c *chaosLab) faultedRun(run string, rf runFaults, r *rand.Rand) []string {
	var out []string
	ctl := c.newController(run)
	defer ctl.close()
	inv := c.inventory()
	soft, cancelSoft := context.WithCancel(context.Background())
	hard, cancelHard := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelSoft()
	defer cancelHard()

	var async sync.WaitGroup
	later := func(d time.Duration, f func()) {
		if d == 0 {
			f()
			return
		}
		async.Add(1)
		go func() {
			defer async.Done()
			time.Sleep(d)
			f()
		}()
	}
	background := func(f func()) {
		async.Add(1)
		go func() { defer async.Done(); f() }()
	}
	var mu sync.Mutex
	stepN := 0
	trigger := func(e tasks.Event) {
		if e.Type != tasks.EventStepStarted {
			return
		}
		mu.Lock()
		stepN++
		n := stepN
		mu.Unlock()
		where := fmt.Sprintf("step %d (%s of %s)", n, e.Step, e.Node)
		if n == rf.CtlAt {
			switch rf.Controller {
			case "soft":
				later(rf.CtlDelay, func() {
					c.note("fault: Ctrl-C once (soft cancel) of %s, %s after %s", run, rf.CtlDelay, where)
					cancelSoft()
				})
			case "hard":
				later(rf.CtlDelay, func() {
					c.note("fault: Ctrl-C twice (hard cancel) of %s, %s after %s", run, rf.CtlDelay, where)
					cancelSoft()
					cancelHard()
				})
			case "kill":
				later(rf.CtlDelay, func() {
					c.note("fault: controller of %s killed (kill -9), %s after %s", run, rf.CtlDelay, where)
					ctl.kill()
					cancelSoft()
					cancelHard()
				})
			}
		}
		if rf.SSHNode != "" && n == rf.SSHAt {
			background(func() {
				time.Sleep(rf.SSHDelay)
				c.note("fault: %s after %s", rf.SSHDelay, where)
				c.mu.Lock()
				c.sshLost[run+" "+rf.SSHNode] = true
				c.mu.Unlock()
				c.dropSSH(rf.SSHNode)
				time.Sleep(rf.SSHDown)
				c.restartSSH(rf.SSHNode)
			})
		}
		if rf.HandNode != "" && n == rf.HandAt {
			background(func() {
				time.Sleep(rf.HandDelay)
				c.note("fault: %s after %s", rf.HandDelay, where)
				c.stopByHand(rf.HandNode)
			})
		}
	}
	o := c.options(ctl, inv, trigger)
	pctx, pcancel := context.WithTimeout(context.Background(), time.Minute)
	p := rollout.Make(o, rollout.Probe(pctx, o))
	pcancel()
	c.note("run %s: plan %+v warnings %v", run, p.Summary, p.Warnings)
	out = append(out, checkPlan(run, p)...)
	if rf.PlanFile {
		b, err := json.Marshal(p)
		if err != nil {
			c.t.Fatal(err)
		}
		var saved rollout.Plan
		if err := json.Unmarshal(b, &saved); err != nil {
			c.t.Fatal(err)
		}
		p = &saved
		c.note("run %s: applying the plan from its file form", run)
	}
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = rollout.Apply(soft, hard, o, p)
	}()
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		out = append(out, fmt.Sprintf("run %s: Apply did not return within 4 minutes", run))
		ctl.kill()
		cancelHard()
		<-done
	}
	c.note("run %s returned: %v", run, err)
	async.Wait()
	return out
}

// restartHandStopped starts again the servers the operator stopped by hand
// that are still down (each with even odds when r is set).
func (c *chaosLab) restartHandStopped(r *rand.Rand) {
	c.mu.Lock()
	seen := map[string]bool{}
	var names []string
	for _, h := range c.handStops {
		if !seen[h.Node] {
			seen[h.Node] = true
			names = append(names, h.Node)
		}
	}
	c.mu.Unlock()
	for _, name := range names {
		if _, alive := apimsim.PIDAlive(c.node(name).Home); alive {
			continue
		}
		if r != nil && !chance(r, 0.5) {
			c.note("operator: leaves %s stopped", name)
			continue
		}
		c.startByHand(name)
	}
}

// unlockDead is `drover status` then `drover unlock ID --force` for every
// lock a run left behind. Only a killed run may leave a lock: a lock of a
// run that ended on its own (done, failed, Ctrl-C) is an invariant 6 finding
// (and is broken too, so that the iteration can go on).
func (c *chaosLab) unlockDead() []string {
	var out []string
	ctl := c.newController("chaos-status")
	defer ctl.close()
	inv := c.inventory()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range inv.Ordered() {
		cn, err := ctl.conns.Get(ctx, n)
		if err != nil {
			c.note("status: %s unreachable: %v", n.Name, err)
			continue
		}
		f := tasks.Probe(ctx, cn, inv, n, tasks.ProbeOptions{})
		if f.Lock == nil {
			continue
		}
		c.mu.Lock()
		dead, lost := c.deadRuns[f.Lock.ID], c.sshLost[f.Lock.ID+" "+n.Name]
		c.mu.Unlock()
		if lost && !dead {
			c.note("check: run %s lost its connection to %s and could not give its lock back; not counted", f.Lock.ID, n.Name)
		}
		if !dead && !lost {
			out = append(out, fmt.Sprintf("invariant 6 (no lock left): run %s was not killed, yet its lock (owner %s, since %s) is still on %s after it ended", f.Lock.ID, f.Lock.Owner, f.Lock.Since.Local().Format("15:04:05.000"), n.Name))
		}
		ok, err := tasks.Break(ctx, cn, tasks.NewPaths(n.Home), f.Lock.ID)
		c.note("operator: unlock %s --force on %s: broken %v, err %v", f.Lock.ID, n.Name, ok, err)
	}
	return out
}

// recoverOne is `drover recover NODE --resume|--rollback` on one node the
// status shows interrupted (or, for rollback, any node with a previous
// release), when doing so takes no extra capacity from its profile.
func (c *chaosLab) recoverOne(run, how string, r *rand.Rand, maxUn map[string]int) []string {
	ctl := c.newController(run)
	defer ctl.close()
	inv := c.inventory()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := c.finalState()
	var cands []string
	facts := map[string]*tasks.Facts{}
	for _, n := range inv.Ordered() {
		cn, err := ctl.conns.Get(ctx, n)
		if err != nil {
			continue
		}
		f := tasks.Probe(ctx, cn, inv, n, tasks.ProbeOptions{})
		facts[n.Name] = f
		if f.Lock != nil {
			continue
		}
		interrupted := f.LastRun != nil && f.LastRun.Outcome == tasks.OutcomeInterrupted
		if how == "resume" && !interrupted {
			continue
		}
		if how == "rollback" && !f.Previous {
			continue
		}
		// Capacity: a node out of service costs nothing; a serving one
		// only when every other node of its profile serves.
		if st[n.Name].inService() {
			out := 0
			for _, m := range c.l.Nodes {
				if m.Profile == n.Profile && m.Name != n.Name && !st[m.Name].inService() {
					out++
				}
			}
			if out > 0 || maxUn[n.Profile] < 1 {
				continue
			}
		}
		cands = append(cands, n.Name)
	}
	if len(cands) == 0 {
		c.note("operator: no node to recover --%s", how)
		return nil
	}
	name := pick(r, cands)
	return c.recoverWith(ctx, ctl, run, how, name, facts[name])
}

// recoverWith is what `drover recover` does on one node: take its lock,
// then Job.Rollback or Job.Apply, then give the lock back. A rollback that
// reports success must leave the previous release running.
func (c *chaosLab) recoverWith(ctx context.Context, ctl *controller, run, how, name string, f *tasks.Facts) []string {
	inv := c.inventory()
	n := inv.Node(name)
	cn, err := ctl.conns.Get(ctx, n)
	if err != nil {
		return []string{fmt.Sprintf("recover %s: %v", name, err)}
	}
	pack, perr := tasks.OpenPack(inv.Update.Pack, inv.Update.SHA256)
	if perr != nil && how == "resume" {
		c.t.Fatal(perr)
	}
	c.note("operator: recover %s --%s (level %d, previous kept %v at level %d, current pack %.12s, last run %+v)", name, how, f.UpdateLevel, f.Previous, f.PreviousLvl, f.Current, f.LastRun)
	j := &tasks.Job{Inv: inv, Node: n, Conn: cn, Paths: tasks.NewPaths(n.Home), Pack: pack, Product: apim.Product{}, Run: run, Owner: "chaos",
		Sink: c.sink(run, nil), Poll: 150 * time.Millisecond}
	c.sink(run, nil).Emit(tasks.Event{Type: "recover_started", Node: name, Message: how})
	lk := tasks.Lock{ID: run, Owner: "chaos", Since: time.Now().UTC(), Expires: time.Now().UTC().Add(tasks.LockTTL)}
	if err := tasks.Acquire(ctx, cn, name, j.Paths, lk); err != nil {
		c.note("operator: recover %s: %v", name, err)
		return nil
	}
	defer tasks.Release(context.WithoutCancel(ctx), cn, j.Paths, run)
	if how == "rollback" {
		c.mu.Lock()
		c.rollbackBy[name] = append(c.rollbackBy[name], time.Now())
		c.mu.Unlock()
		err = j.Rollback(ctx)
	} else {
		err = j.Apply(ctx, inv.Rollout.AutoRollback)
	}
	c.note("operator: recover %s --%s returned %v", name, how, err)
	var out []string
	if how == "rollback" && err == nil && f.Current != "" && f.HomeExists {
		// Rolled back means the previous release runs again: the node's
		// own record says which level that is.
		lvl, _ := apimsim.ReadLevel(n.Home)
		_, alive := apimsim.PIDAlive(c.node(name).Home)
		if lvl != f.PreviousLvl || !alive {
			out = append(out, fmt.Sprintf("invariant 4 (rollback from the node's record): recover %s --rollback reported success, but the node runs level %d (alive %v); its record said level %d was switched in (pack %.12s) and level %d kept as previous; the inventory's pack is now %.12s",
				name, lvl, alive, f.UpdateLevel, f.Current, f.PreviousLvl, inv.Update.SHA256))
		}
	}
	if how == "rollback" && err != nil && !errors.Is(err, tasks.ErrNoWayBack) {
		out = append(out, fmt.Sprintf("invariant 4 (rollback): recover %s --rollback failed on a node with a kept previous release: %v", name, err))
	}
	return out
}
