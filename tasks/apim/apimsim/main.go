package apimsim

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: apimsim <command> --home <product home> [args]

commands (normally run by the product's bin/ scripts):
  server         the server, detached (what "api-manager.sh start" launches)
  run            the server process itself (started by "server")
  profile-setup  bin/profileSetup.sh
  update         bin/wso2update_linux
  layout         write a product: layout --home <dir> --version 4.4.0 [--distribution D] --level N
  pack           write a product zip: pack --out <zip> --version 4.4.0 [--distribution D] --level N
`

// Main is the apimsim binary: it returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "server":
		return superviseServer(rest)
	case "run":
		return runServer(rest)
	case "layout", "pack":
		return makeCmd(sub, rest, stderr)
	}
	if len(rest) < 2 || rest[0] != "--home" {
		fmt.Fprint(stderr, usage)
		return 1
	}
	home := rest[1]
	switch sub {
	case "profile-setup":
		return profileSetup(home, rest[2:], stdout, stderr)
	case "update":
		return updateTool(home, rest[2:], stdin, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return 1
}

func makeCmd(sub string, args []string, stderr io.Writer) int {
	s := Spec{Version: "4.4.0"}
	target := ""
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--home", "--out":
			target = args[i+1]
		case "--version":
			s.Version = args[i+1]
		case "--distribution":
			s.Distribution = args[i+1]
		case "--level":
			fmt.Sscan(args[i+1], &s.Level)
		}
	}
	exe, err := os.Executable()
	if self := os.Getenv("APIMSIM_SELF"); self != "" {
		exe = self // run through a wrapper (drover lab sim): the scripts exec the wrapper
	}
	if err != nil || target == "" {
		fmt.Fprint(stderr, usage)
		return 1
	}
	s.SimBin = exe
	if sub == "layout" {
		err = Layout(target, s)
	} else {
		err = BuildPack(target, s)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
