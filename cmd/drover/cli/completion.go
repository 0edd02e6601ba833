package cli

import (
	"fmt"
	"github.com/drover-sh/drover/tasks/apim"
	"slices"
	"sort"
	"strings"

	"github.com/drover-sh/drover/inventory"
	"github.com/urfave/cli/v2"
)

// completeCommand is the hidden command the completion scripts call:
// "drover __complete WORD... CUR" prints, one a line, the candidates for
// CUR after the words typed so far. Node names and profile: selectors come
// from the inventory file alone: it never connects to a node.
const completeCommand = "__complete"

func (e *env) newCompletionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "Prints a script that completes drover's commands, options, node names and profile:\n" +
			"selectors (after -l/--limit and for recover NODE, read from the inventory of -i,\n" +
			"$DROVER_INVENTORY or ./drover.hcl; no node is contacted) and file names after -i, -o, --dir.\n\n" +
			"bash: add `source <(drover completion bash)` to ~/.bashrc.\n" +
			"zsh:  add `source <(drover completion zsh)` to ~/.zshrc (after compinit), or write it to\n" +
			"      a file named _drover in a directory of $fpath.\n" +
			"fish: drover completion fish > ~/.config/fish/completions/drover.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("completion takes one shell: bash, zsh or fish")
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return usageErrorf("completion: unknown shell %q (want bash, zsh or fish)", c.Args().First())
			}
			_, err := fmt.Fprint(e.stdout, script)
			return err
		},
	}
}

func (e *env) newCompleteCommand() *cli.Command {
	return &cli.Command{
		Name:            completeCommand,
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				args = []string{""}
			}
			for _, s := range e.candidates(c.App, args[:len(args)-1], args[len(args)-1]) {
				fmt.Fprintln(e.stdout, s)
			}
			return nil
		},
	}
}

// candidates are the completions of cur after words (the words typed
// after "drover", cur excluded), filtered by cur's prefix.
func (e *env) candidates(app *cli.App, words []string, cur string) []string {
	prev := ""
	if len(words) > 0 {
		prev = words[len(words)-1]
	}
	// The command path: the words that name a command and its subcommand.
	var cmd *cli.Command
	cmds := app.Commands
	afterDashes := false
	for i, w := range words {
		if w == "--" {
			afterDashes = true
			break
		}
		if strings.HasPrefix(w, "-") {
			continue
		}
		if i > 0 && valueFlags[words[i-1]] { // the value of -i, -l, --parallel
			continue
		}
		if sub := findCommand(cmds, w); sub != nil {
			cmd, cmds = sub, sub.Subcommands
			continue
		}
		if cmd != nil && len(cmd.Subcommands) == 0 {
			break // a positional argument
		}
	}
	var out []string
	switch {
	case afterDashes:
		return nil // exec's remote command
	case prev == "-l" || prev == "--limit":
		return limitCandidates(e.completionInventory(words), cur)
	case valueFlags[prev] || prev == "-o" || prev == "--out" || prev == "--dir" || prev == "--nodes" || prev == "--timeout":
		return nil // files or free values: the script falls back to the shell's own
	case strings.HasPrefix(cur, "-"):
		flags := app.Flags
		if cmd != nil {
			flags = append(append([]cli.Flag{}, cmd.Flags...), flags...)
		}
		out = flagNames(flags)
	case cmd == nil:
		out = slices.DeleteFunc(commandNames(app.Commands), func(n string) bool { return n == "h" })
	case len(cmd.Subcommands) > 0:
		out = commandNames(cmd.Subcommands)
	case cmd.Name == "completion":
		out = []string{"bash", "fish", "zsh"}
	case cmd.Name == "recover" || cmd.Name == "history":
		if inv := e.completionInventory(words); inv != nil {
			for _, n := range inv.Nodes {
				out = append(out, n.Name)
			}
		}
	}
	return withPrefix(out, cur)
}

// findCommand returns the visible command named (or aliased) name.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if !c.Hidden && slices.Contains(c.Names(), name) {
			return c
		}
	}
	return nil
}

// limitCandidates are the --limit selectors: node names and profile:NAME.
// In a comma-separated list, the terms before the last comma are kept.
func limitCandidates(inv *inventory.Inventory, cur string) []string {
	if inv == nil {
		return nil
	}
	head := ""
	if i := strings.LastIndexByte(cur, ','); i >= 0 {
		head, cur = cur[:i+1], cur[i+1:]
	}
	var out []string
	profiles := map[string]bool{}
	for _, n := range inv.Ordered() {
		out = append(out, n.Name)
		profiles[n.Profile] = true
	}
	var ps []string
	for p := range profiles {
		ps = append(ps, "profile:"+p)
	}
	sort.Strings(ps)
	chosen := strings.Split(head, ",")
	var res []string
	for _, c := range withPrefix(append(out, ps...), cur) {
		if !slices.Contains(chosen, c) {
			res = append(res, head+c)
		}
	}
	return res
}

// completionInventory loads the inventory named by -i in words, else
// $DROVER_INVENTORY, else ./drover.hcl, quietly: nil when it cannot be read.
func (e *env) completionInventory(words []string) *inventory.Inventory {
	path := e.getenv("DROVER_INVENTORY")
	for i, w := range words {
		if (w == "-i" || w == "--inventory") && i+1 < len(words) {
			path = words[i+1]
		} else if v, ok := strings.CutPrefix(w, "--inventory="); ok {
			path = v
		}
	}
	if path == "" {
		path = "drover.hcl"
	}
	l := inventory.NewLoader()
	l.Getenv = e.getenv
	l.EnvFile = apim.Product{}.EnvFile // the jvm and env settings' file
	inv, _ := l.Load(path)
	return inv
}

func withPrefix(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// completionScripts call "drover __complete WORD... CUR" and fall back to
// file names after the options that take one.
var completionScripts = map[string]string{
	"bash": `# bash completion for drover; load it with: source <(drover completion bash)
_drover() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="" prev
    local -a words
    read -ra words <<< "$line"
    if [[ -n "$line" && "${line: -1}" != [[:space:]] ]]; then
        cur="${words[${#words[@]}-1]}"
        unset 'words[${#words[@]}-1]'
    fi
    prev="${words[${#words[@]}-1]}"
    case "$prev" in
        -i|--inventory|-o|--out|--dir)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0 ;;
    esac
    local IFS=$'\n'
    local -a cands=($(command drover __complete "${words[@]:1}" "$cur" 2>/dev/null))
    # bash splits words at ':' (COMP_WORDBREAKS): reply with what follows it.
    if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
        local colon="${cur%"${cur##*:}"}"
        cands=("${cands[@]#"$colon"}")
    fi
    COMPREPLY=("${cands[@]}")
}
complete -o default -F _drover drover
`,
	"zsh": `#compdef drover
# zsh completion for drover; load it with: source <(drover completion zsh)
# (after compinit), or save it as _drover in a directory of $fpath.
_drover() {
    local cur="${words[CURRENT]}"
    case "${words[CURRENT-1]}" in
        -i|--inventory|-o|--out|--dir) _files; return ;;
    esac
    local -a cands
    cands=("${(@f)$(command drover __complete "${(@)words[2,CURRENT-1]}" "$cur" 2>/dev/null)}")
    cands=(${cands:#})
    (( ${#cands} )) && compadd -Q -- "${cands[@]}"
}
if [[ "${funcstack[1]}" == "_drover" ]]; then
    _drover "$@"
else
    compdef _drover drover
fi
`,
	"fish": `# fish completion for drover; install it with:
#   drover completion fish > ~/.config/fish/completions/drover.fish
function __drover_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    switch "$words[-1]"
        case -i --inventory -o --out --dir
            __fish_complete_path "$cur"
            return
    end
    command drover __complete $words[2..-1] "$cur" 2>/dev/null
end
complete -c drover -f -a '(__drover_complete)'
`,
}
