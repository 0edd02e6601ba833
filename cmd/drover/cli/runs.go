package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/drover-sh/drover/tasks/rollout"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func (e *env) newRunsCommand() *cli.Command {
	return &cli.Command{
		Name:      "runs",
		Usage:     "the run records kept on the controller; show draws one run as a per-node timeline",
		ArgsUsage: "[show ID]",
		Description: "Every apply writes a run record to .drover/runs/<run>.json beside the inventory. runs lists\n" +
			"them, newest first: when, how long, how many nodes and how they ended. `runs show ID` draws one\n" +
			"run as a per-node timeline (see `drover runs show --help`). Reads only files on the controller.",
		Subcommands: []*cli.Command{e.newRunsShowCommand()},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			if c.Args().Present() {
				return usageErrorf("unknown runs subcommand %q; try drover runs show ID", c.Args().First())
			}
			return e.runRunsList(g)
		},
	}
}

func (e *env) newRunsShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "draw one run as a per-node timeline, with wall time, downtime and time per wave",
		ArgsUsage: "ID",
		Description: "One row per node, the steps drawn on a shared time axis (each step a letter, see the\n" +
			"legend) and the downtime, from the start of the stop to the end of the health gate (or of the\n" +
			"rollback), highlighted: red with colour, '#' without (--no-color, NO_COLOR, or not a\n" +
			"terminal). The chart fits the terminal's width; when stdout is not a terminal, $COLUMNS or 100\n" +
			"columns (--width overrides). Then the totals: wall time, mean and worst downtime, time per\n" +
			"wave. ID is a run id, a unique prefix of one, or the path of a run record. --limit narrows the\n" +
			"rows (names, globs, profile:NAME). --json prints the same data as one document.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "width", Usage: "draw the chart in `N` columns"},
		},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			args, width, err := trailingInt(c, "width")
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErrorf("runs show takes one run id; drover runs lists them")
			}
			return e.runRunsShow(g, args[0], width)
		},
	}
}

// runsDir is where apply keeps run records: .drover/runs beside the
// inventory (the inventory's folder, or the inventory when it is one).
func runsDir(inventoryPath string) string {
	dir := inventoryPath
	if st, err := os.Stat(inventoryPath); err != nil || !st.IsDir() {
		dir = filepath.Dir(inventoryPath)
	}
	return filepath.Join(dir, ".drover", "runs")
}

// runSummary is one line of `drover runs` (and one object of --json).
type runSummary struct {
	Run         string         `json:"run"`
	Cluster     string         `json:"cluster"`
	Owner       string         `json:"owner"`
	Started     string         `json:"started"`
	WallMS      int64          `json:"wall_ms"`
	Nodes       int            `json:"nodes"`
	Outcomes    map[string]int `json:"outcomes"`
	Halted      bool           `json:"halted"`
	Interrupted bool           `json:"interrupted"`
	Path        string         `json:"path"`
}

func (e *env) runRunsList(g globals) error {
	dir := runsDir(g.inventory)
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	slices.Sort(paths)
	slices.Reverse(paths) // run ids sort by time: newest first
	out := []runSummary{}
	for _, p := range paths {
		rep, err := readRunRecord(p)
		if err != nil {
			fmt.Fprintf(e.stderr, "warning: %v\n", err)
			continue
		}
		s := runSummary{Run: rep.Run, Cluster: rep.Cluster, Owner: rep.Owner, Started: rep.Started.UTC().Format("2006-01-02T15:04:05Z"),
			WallMS: rep.Finished.Sub(rep.Started).Milliseconds(), Nodes: len(rep.Nodes), Outcomes: map[string]int{},
			Halted: rep.Halted, Interrupted: rep.Interrupted, Path: p}
		for _, n := range rep.Nodes {
			s.Outcomes[n.Outcome]++
		}
		out = append(out, s)
	}
	if g.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintf(e.stderr, "no run records in %s (apply writes one per run)\n", dir)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tWALL\tNODES\tOUTCOME")
	for _, s := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Run, s.Started, dur(s.WallMS), s.Nodes, outcomeText(s))
	}
	return tw.Flush()
}

func outcomeText(s runSummary) string {
	var parts []string
	for _, k := range []string{rollout.OutcomeDone, rollout.OutcomeSkipped, rollout.OutcomeRolledBack, rollout.OutcomeFailed,
		rollout.OutcomeStopped, rollout.OutcomeNotStarted} {
		if s.Outcomes[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", s.Outcomes[k], strings.ReplaceAll(k, "_", " ")))
		}
	}
	text := dash(strings.Join(parts, ", "))
	switch {
	case s.Interrupted:
		text += " (interrupted)"
	case s.Halted:
		text += " (halted)"
	}
	return text
}

func readRunRecord(p string) (*rollout.Report, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var rep rollout.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("run record %s: %w", p, err)
	}
	return &rep, nil
}

// findRunRecord resolves ID: a record's path, a run id, or a unique prefix.
func findRunRecord(dir, id string) (string, error) {
	if strings.HasSuffix(id, ".json") || strings.ContainsRune(id, filepath.Separator) {
		if _, err := os.Stat(id); err != nil {
			return "", usageErrorf("no run record %s", id)
		}
		return id, nil
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var match []string
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		if name == id {
			return p, nil
		}
		if strings.HasPrefix(name, id) {
			match = append(match, name)
		}
	}
	switch len(match) {
	case 0:
		return "", usageErrorf("no run %q in %s; drover runs lists them", id, dir)
	case 1:
		return filepath.Join(dir, match[0]+".json"), nil
	}
	return "", usageErrorf("run %q is ambiguous: %s", id, strings.Join(match, ", "))
}

func (e *env) runRunsShow(g globals, id string, width int) error {
	p, err := findRunRecord(runsDir(g.inventory), id)
	if err != nil {
		return err
	}
	rep, err := readRunRecord(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("%v", err)
		}
		return err
	}
	if len(g.limits) > 0 {
		if rep.Nodes, err = limitReport(rep.Nodes, g.limits); err != nil {
			return err
		}
	}
	tl := rollout.TimelineOf(rep)
	if g.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tl)
	}
	if width <= 0 {
		width = e.width()
	}
	renderTimeline(e.stdout, tl, width, g.color && e.isTerminal(e.stdout))
	return nil
}

// width is the terminal's width when stdout is one, else $COLUMNS, else 100.
func (e *env) width() int {
	if f, ok := e.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(e.getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 100
}

// limitReport keeps the nodes a --limit selects: names, globs, profile:NAME.
func limitReport(nodes []rollout.NodeReport, limits []string) ([]rollout.NodeReport, error) {
	var out []rollout.NodeReport
	for _, n := range nodes {
		for _, sel := range limits {
			if slices.ContainsFunc(strings.Split(sel, ","), func(term string) bool { return selects(strings.TrimSpace(term), n) }) {
				out = append(out, n)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("--limit %s selects no node of this run", strings.Join(limits, ","))
	}
	return out, nil
}

func selects(term string, n rollout.NodeReport) bool {
	if p, ok := strings.CutPrefix(term, "profile:"); ok {
		m, _ := path.Match(p, n.Profile)
		return m
	}
	m, _ := path.Match(term, n.Node)
	return m
}

// trailingInt reads an int flag given after the arguments too ("runs show
// ID --width 60"), which the flag parser leaves among the arguments.
func trailingInt(c *cli.Context, name string) ([]string, int, error) {
	v := c.Int(name)
	var args []string
	in := c.Args().Slice()
	for i := 0; i < len(in); i++ {
		a := in[i]
		flag, val, hasVal := strings.Cut(a, "=")
		if flag != "-"+name && flag != "--"+name {
			args = append(args, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(in) {
				return nil, 0, usageErrorf("flag needs an argument: %s", a)
			}
			i++
			val = in[i]
		}
		n, err := strconv.Atoi(val)
		if err != nil {
			return nil, 0, usageErrorf("invalid value %q for flag %s: give a number", val, flag)
		}
		v = n
	}
	return args, v, nil
}
