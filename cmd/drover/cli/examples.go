package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// examples are the invocations each command's --help shows, keyed by the
// command's path below drover ("" is drover itself). Every visible command
// has two to four; a test runs their flags through the command's own.
var examples = map[string][]string{
	"": {
		"drover lab up --dir /tmp/lab && export DROVER_INVENTORY=/tmp/lab/drover.hcl",
		"drover status",
		"drover plan -l profile:gateway-worker",
		"drover apply --yes",
	},
	"validate": {
		"drover validate",
		"drover validate -i inventories/prod/",
		"drover validate --json -i prod.hcl",
	},
	"inventory": {
		"drover inventory",
		"drover inventory -l 'gw-*' --json",
	},
	"facts": {
		"drover facts",
		"drover facts -l profile:gateway-worker",
		"drover facts --json -l gw-1,gw-2",
	},
	"exec": {
		"drover exec -l 'gw-*' -- uptime",
		"drover exec --timeout 30s -- df -h /opt/wso2",
		"drover exec --become -l cp-1 -- systemctl status wso2am",
		"drover exec --json -- cat /opt/wso2/wso2am-4.4.0/updates/config.json",
	},
	"plan": {
		"drover plan",
		"drover plan --compact -l profile:gateway-worker",
		"drover plan -o plan.json",
	},
	"apply": {
		"drover apply",
		"drover apply plan.json",
		"drover apply --yes --json > events.jsonl",
	},
	"status": {
		"drover status",
		"drover status -l 'gw-*'",
		"drover status --json",
	},
	"recover": {
		"drover recover gw-1 --resume",
		"drover recover gw-1 --rollback --yes",
	},
	"unlock": {
		"drover unlock 20261123T160047-baa136 --force",
		"drover unlock 20261123T160047-baa136 --force -l 'gw-*'",
	},
	"lab": {
		"drover lab up --dir /tmp/lab",
		"drover lab up --dir /tmp/lab --nodes cp=1,tm=1,km=1,gw=4",
		"drover lab down --dir /tmp/lab",
	},
	"lab up": {
		"drover lab up --dir /tmp/lab",
		"drover lab up --dir /tmp/lab --nodes cp=2,tm=2,gw=8",
		"drover lab up --dir /tmp/lab47 --release 4.7.0",
		"drover lab up --dir /tmp/lab --json",
	},
	"lab down": {
		"drover lab down --dir /tmp/lab",
		"drover lab down --json",
	},
	"history": {
		"drover history",
		"drover history gw-1 --last 0",
		"drover history -l profile:gateway-worker --json",
	},
	"runs": {
		"drover runs",
		"drover runs show 20261130T180744",
		"drover runs --json",
	},
	"runs show": {
		"drover runs show 20261130T180744-baa136",
		"drover runs show .drover/runs/20261130T180744-baa136.json --width 160",
		"drover runs show 20261130 --limit 'gw-*' --json",
	},
	"completion": {
		"source <(drover completion bash)",
		"drover completion zsh > \"${fpath[1]}/_drover\"",
		"drover completion fish > ~/.config/fish/completions/drover.fish",
	},
	"version": {
		"drover version",
		"drover version --json",
	},
}

// examplesHelp renders the EXAMPLES section of a command path.
func examplesHelp(path string) string {
	ex := examples[path]
	if len(ex) == 0 {
		return ""
	}
	return "\nEXAMPLES:\n   " + strings.Join(ex, "\n   ") + "\n"
}

// setHelp gives cmd and its subcommands (path is cmd's path below drover)
// their help template: the usual one, then EXAMPLES and EXIT STATUS. A
// command with subcommands lists them.
func setHelp(cmd *cli.Command, path string) {
	tmpl := cli.CommandHelpTemplate
	if len(cmd.Subcommands) > 0 {
		tmpl = cli.SubcommandHelpTemplate
	}
	cmd.CustomHelpTemplate = tmpl + examplesHelp(path) + "\n" + exitCodesHelp
	for _, sub := range cmd.Subcommands {
		setHelp(sub, path+" "+sub.Name)
	}
}
