// Package cli implements drover's commands. Run is the whole program: it
// parses arguments, runs one command and returns the exit status, without
// ever calling os.Exit, so tests drive it in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/drover-sh/drover/inventory"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "v0.1.0-dev"

// env is what commands read and write besides their options.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// promptMu serialises passphrase prompts of parallel dials.
	promptMu sync.Mutex
	// inv is the inventory the command loaded, if any: its Redact hides
	// env() values and secrets in the error drover ends with.
	inv *inventory.Inventory
	// verbosity is 1 for -v (connections and commands on stderr), 2 for
	// -vv (and the commands' output); see trace.go.
	verbosity int
	traceMu   sync.Mutex
	// helpFor is the command ("drover status") whose --help a usage error
	// points at; see suggest.go.
	helpFor string
	// needsUpdate names the command that rolls an update ("plan", "apply",
	// "recover --resume"), whose inventory needs an update block and a pack;
	// "" for every other command.
	needsUpdate string
	// prog names drover in hints: see programName.
	prog string
}

func (e *env) isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Run runs drover with args (args[0] is the program name) and returns the
// exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return e.run(ctx, args)
}

func (e *env) run(ctx context.Context, args []string) int {
	if len(args) > 0 {
		e.prog = programName(args[0])
	}
	app := e.newApp()
	err := app.RunContext(ctx, hoistGlobals(args))
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	code := ExitCode(err)
	var se *silentError
	if err != nil && !errors.As(err, &se) {
		fmt.Fprintf(e.stderr, "drover: %s\n", namedAs(e.program(), e.inv.Redact(err.Error())))
		if hint := hintOf(err); hint != "" {
			fmt.Fprintf(e.stderr, "hint: %s\n", namedAs(e.program(), e.inv.Redact(hint)))
		}
		if code == ExitUsage && isUsage(err) {
			fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", e.program()+strings.TrimPrefix(e.helpPath(), "drover"))
		}
	}
	return code
}

func isUsage(err error) bool {
	var ee *exitError
	var ie *inventoryError
	return errors.As(err, &ee) && ee.code == ExitUsage && !errors.As(err, &ie)
}

func (e *env) newApp() *cli.App {
	app := &cli.App{
		Name:  "drover",
		Usage: "roll updates across WSO2 API Manager clusters over SSH",
		Description: "drover connects to every node of a distributed API Manager deployment over SSH and rolls\n" +
			"an updated release across it: staged beside the running one, Solr index and H2 databases\n" +
			"persisted after stop, configuration applied, profileSetup.sh re-run, nodes restarted in a\n" +
			"safe order behind health gates, and a failed node rolled back by itself.\n\n" +
			"Global options may be given before or after the command name.",
		Version:         Version,
		Writer:          e.stdout,
		ErrWriter:       e.stderr,
		Flags:           globalFlags(),
		HideVersion:     true,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    e.onUsageError,
		CommandNotFound: nil,
		Commands: []*cli.Command{
			e.newValidateCommand(),
			e.newInventoryCommand(),
			e.newFactsCommand(),
			e.newExecCommand(),
			e.newPlanCommand(),
			e.newApplyCommand(),
			e.newStatusCommand(),
			e.newRecoverCommand(),
			e.newUnlockCommand(),
			e.newHistoryCommand(),
			e.newRunsCommand(),
			e.newLabCommand(),
			e.newVersionCommand(),
			e.newCompletionCommand(),
			e.newCompleteCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return e.unknownCommand("drover", c.Args().First(), c.App.Commands)
			}
			cli.ShowAppHelp(c)
			return &silentError{ExitUsage}
		},
	}
	for _, cmd := range app.Commands {
		e.remember(cmd)
		setHelp(cmd, cmd.Name)
	}
	app.CustomAppHelpTemplate = cli.AppHelpTemplate + examplesHelp("") + "\n" + exitCodesHelp
	return app
}

func globalFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "an .hcl file or a directory of them (default ./drover.hcl)", EnvVars: []string{"DROVER_INVENTORY"}},
		&cli.StringSliceFlag{Name: "limit", Aliases: []string{"l"}, Usage: "restrict to nodes: a name, a glob (gw-*) or profile:NAME; comma-separated and repeatable"},
		&cli.BoolFlag{Name: "json", Usage: "machine output on stdout: one JSON document, or JSON lines for streams"},
		&cli.IntFlag{Name: "parallel", Value: 64, Usage: "most SSH connections at once"},
		&cli.BoolFlag{Name: "yes", Usage: "(apply, recover) do not ask for confirmation"},
		&cli.BoolFlag{Name: "no-color", Usage: "never colour the output (also NO_COLOR)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every SSH connection and remote command to stderr (-vv: and their output)"},
		&cli.BoolFlag{Name: "vv", Hidden: true, Usage: "-v, and the remote commands' output"},
	}
	return flags
}

var valueFlags = map[string]bool{"-i": true, "--inventory": true, "-l": true, "--limit": true, "--parallel": true}
var boolFlags = map[string]bool{"--json": true, "--yes": true, "--no-color": true, "-v": true, "--verbose": true, "-vv": true, "--vv": true}

// hoistGlobals moves global options found after the command name to before
// it, so that "drover inventory -l gw-1" works like "drover -l gw-1
// inventory". Nothing after a "--" is touched.
func hoistGlobals(args []string) []string {
	if len(args) < 2 || args[1] == completeCommand { // the completion scripts' words stay as typed
		return args
	}
	var globals, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(a, "=")
		switch {
		case boolFlags[name]: // also --json=false
			globals = append(globals, a)
		case valueFlags[name] && hasValue:
			globals = append(globals, a)
		case valueFlags[a] && i+1 < len(args):
			globals = append(globals, a, args[i+1])
			i++
		default:
			rest = append(rest, a)
		}
	}
	out := append([]string{args[0]}, globals...)
	return append(out, rest...)
}

// globals are the global options as one value.
type globals struct {
	inventory string
	limits    []string
	json      bool
	parallel  int
	yes       bool
	color     bool
	verbose   bool
}

func (e *env) globals(c *cli.Context) (globals, error) {
	g := globals{
		inventory: c.String("inventory"),
		limits:    c.StringSlice("limit"),
		json:      c.Bool("json"),
		parallel:  c.Int("parallel"),
		yes:       c.Bool("yes"),
		verbose:   c.Bool("verbose") || c.Bool("vv"),
	}
	switch {
	case c.Bool("vv"):
		e.verbosity = 2
	case g.verbose:
		e.verbosity = 1
	}
	if g.inventory == "" {
		g.inventory = "drover.hcl"
	}
	if g.parallel < 1 {
		return g, usageErrorf("--parallel %d: give at least 1", g.parallel)
	}
	g.color = !c.Bool("no-color") && e.getenv("NO_COLOR") == "" && e.isTerminal(e.stderr)
	return g, nil
}
