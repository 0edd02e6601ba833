package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/drover-sh/drover/tasks"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"
)

func (e *env) newUnlockCommand() *cli.Command {
	return &cli.Command{
		Name:      "unlock",
		Usage:     "break a lock left by a dead run",
		ArgsUsage: "LOCK_ID",
		Description: "Removes the lock LOCK_ID from every selected node that holds it, and only that lock. Use it\n" +
			"when the run that took it is dead (drover killed, controller lost); `drover status` shows lock\n" +
			"ids. --force is required: breaking the lock of a live run lets two runs change one node.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "really break the lock"}},
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			args, set := trailingFlags(c, "force")
			if len(args) != 1 {
				return usageErrorf("unlock takes exactly one LOCK_ID (see drover status)")
			}
			if !set["force"] {
				return usageErrorf("unlock breaks the lock of run %s only with --force; make sure that run is dead first", args[0])
			}
			return e.runUnlock(c.Context, g, args[0])
		},
	}
}

func (e *env) runUnlock(ctx context.Context, g globals, id string) error {
	cl, err := e.openCluster(g)
	if err != nil {
		return err
	}
	defer cl.close()
	var mu sync.Mutex
	var removed, failed []string
	var eg errgroup.Group
	eg.SetLimit(g.parallel)
	for _, n := range cl.nodes {
		eg.Go(func() error {
			c, err := cl.conns.Get(ctx, n)
			ok := false
			if err == nil {
				ok, err = tasks.Break(ctx, c, tasks.NewPaths(n.Home), id)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && cl.dials.hostKey(n.Name) == nil { // refused host keys are told below, with their fix
				failed = append(failed, fmt.Sprintf("%s: %v", n.Name, err))
			} else if ok {
				removed = append(removed, n.Name)
			}
			return nil
		})
	}
	eg.Wait()
	sort.Strings(removed)
	if g.json {
		json.NewEncoder(e.stdout).Encode(struct {
			Lock    string   `json:"lock"`
			Removed []string `json:"removed"` // the nodes the lock was removed from
		}{id, append([]string{}, removed...)})
	}
	for _, n := range removed {
		if !g.json {
			fmt.Fprintf(e.stdout, "%s: lock %s removed\n", n, id)
		}
	}
	for _, f := range failed {
		fmt.Fprintln(e.stderr, f)
	}
	cl.dials.writeHints(e.stderr)
	if err := cl.dials.refusal(); err != nil {
		return err
	}
	switch {
	case len(failed) > 0:
		return &exitError{ExitFailed, fmt.Errorf("could not check %d node(s)", len(failed))}
	case len(removed) == 0:
		return &exitError{ExitFailed, fmt.Errorf("no selected node holds lock %s", id)}
	}
	return nil
}

// trailingFlags returns the positional arguments and which of the named
// bool flags are set, whether they were given before the arguments (parsed
// by the flag set) or after them ("drover unlock ID --force"), which the
// flag package would leave as arguments.
func trailingFlags(c *cli.Context, names ...string) ([]string, map[string]bool) {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = c.Bool(n)
	}
	var args []string
	for _, a := range c.Args().Slice() {
		name := strings.TrimLeft(a, "-")
		if _, ok := set[name]; ok && strings.HasPrefix(a, "-") {
			set[name] = true
			continue
		}
		args = append(args, a)
	}
	return args, set
}
