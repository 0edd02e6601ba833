package cli

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/drover-sh/drover/tasks/rollout"
)

// programName is how hints name drover, so that a command a hint prints can
// be copied and run as it stands. A relative path is kept as it was typed
// ("bin/drover", "./drover"): it runs again from the same directory, and the
// README's tour invokes drover so. Anything else is named by its base name:
// a bare "drover" was found on PATH, and an absolute path is mostly `go run`'s
// temporary binary or another program's exec, which nobody types.
func programName(arg0 string) string {
	if arg0 == "" {
		return "drover"
	}
	if strings.Contains(arg0, "/") && !filepath.IsAbs(arg0) {
		return arg0
	}
	if arg0 = filepath.Base(arg0); arg0 == "." || arg0 == "/" {
		return "drover"
	}
	return arg0
}

// commandInText finds "drover COMMAND" in messages written below the CLI
// (tasks, the lab), which cannot know how drover was invoked.
var commandInText = regexp.MustCompile("(^|[\\s(:'\"`])drover ((?:validate|inventory|facts|exec|plan|apply|status|recover|unlock|history|runs|lab|completion|version)\\b)")

// namedAs rewrites the drover commands in msg to name the program as prog.
func namedAs(prog, msg string) string {
	if prog == "drover" {
		return msg
	}
	return commandInText.ReplaceAllString(msg, "${1}"+strings.ReplaceAll(prog, "$", "$$")+" ${2}")
}

// program is e.prog, or "drover" for an env made without Run.
func (e *env) program() string {
	if e.prog == "" {
		return "drover"
	}
	return e.prog
}

// namePlan rewrites the hints in a plan's warnings and node reasons (a
// lock's "drover unlock ID --force") to name the program as prog.
func namePlan(prog string, p *rollout.Plan) {
	if p == nil || prog == "drover" {
		return
	}
	for i, w := range p.Warnings {
		p.Warnings[i] = namedAs(prog, w)
	}
	for w := range p.Waves {
		wv := &p.Waves[w]
		for b := range wv.Batches {
			for i := range wv.Batches[b].Nodes {
				wv.Batches[b].Nodes[i].Reason = namedAs(prog, wv.Batches[b].Nodes[i].Reason)
			}
		}
		for i := range wv.Skipped {
			wv.Skipped[i].Reason = namedAs(prog, wv.Skipped[i].Reason)
		}
	}
}
