package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Unknown commands and flags: drover suggests the nearest known name, and
// the usage error points at the --help of the command concerned (see
// helpPath).

// nearest returns the candidate closest to typed, or "" when none is close
// enough to be what was meant: a prefix either way, or within an edit
// distance of a third of the name (at least 1, at most 3). One or two
// letters are too little to guess from.
func nearest(typed string, candidates []string) string {
	if len(typed) < 3 {
		return ""
	}
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		if c == "" || c == typed {
			continue
		}
		d := editDistance(typed, c)
		if len(typed) >= 2 && (strings.HasPrefix(c, typed) || strings.HasPrefix(typed, c)) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist > min(3, max(1, len(typed)/3)) {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance of a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// commandNames are the names and aliases of the visible commands.
func commandNames(cmds []*cli.Command) []string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	return names
}

// flagNames are the visible flags' names with their dashes.
func flagNames(flags []cli.Flag) []string {
	var names []string
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				names = append(names, "-"+n)
			} else {
				names = append(names, "--"+n)
			}
		}
	}
	return names
}

// unknownCommand is the usage error of an unknown (sub)command under
// parent ("drover" or "drover lab"), suggesting the nearest one.
func (e *env) unknownCommand(parent, typed string, cmds []*cli.Command) error {
	msg := fmt.Sprintf("unknown command %q", typed)
	if parent != "drover" {
		msg += " for " + parent
	}
	e.helpFor = parent
	if s := nearest(typed, commandNames(cmds)); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
		e.helpFor = parent + " " + s
	}
	return usageErrorf("%s", msg)
}

// onUsageError turns a flag parsing error into a usage error that suggests
// the nearest flag of the command (or a global one) and points at the
// command's own --help.
func (e *env) onUsageError(c *cli.Context, err error, _ bool) error {
	path := "drover"
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		path = c.Command.HelpName
		flags = append(append([]cli.Flag{}, c.Command.Flags...), flags...)
	}
	e.helpFor = path
	msg := err.Error()
	const undefined = "flag provided but not defined: "
	if typed, ok := strings.CutPrefix(msg, undefined); ok {
		msg = fmt.Sprintf("%s: unknown option %s", path, typed)
		name := strings.TrimLeft(typed, "-")
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		var plain []string
		for _, f := range flagNames(flags) {
			plain = append(plain, strings.TrimLeft(f, "-"))
		}
		if s := nearest(name, plain); s != "" {
			if len(s) == 1 {
				s = "-" + s
			} else {
				s = "--" + s
			}
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
	}
	return usageErrorf("%s", msg)
}

// remember records the command that runs, so that a usage error it returns
// points at its own --help; it wraps the actions of cmd and its
// subcommands.
func (e *env) remember(cmd *cli.Command) {
	cmd.OnUsageError = e.onUsageError
	if act := cmd.Action; act != nil {
		cmd.Action = func(c *cli.Context) error {
			e.helpFor = c.Command.HelpName
			return act(c)
		}
	}
	for _, sub := range cmd.Subcommands {
		e.remember(sub)
	}
}

// helpPath is the command whose --help a usage error points at.
func (e *env) helpPath() string {
	if e.helpFor == "" {
		return "drover"
	}
	return e.helpFor
}
