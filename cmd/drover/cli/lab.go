package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/drover-sh/drover/tasks/apim/catalog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/transport"
	"github.com/urfave/cli/v2"
)

const defaultLabDir = "drover-lab"

func (e *env) newLabCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Value: defaultLabDir, Usage: "the lab's `DIR`"}
	return &cli.Command{
		Name:  "lab",
		Usage: "start / stop a local lab cluster of simulated API Manager nodes reached over SSH",
		Description: "`lab up` makes, in DIR, a cluster of simulated API Manager nodes (default: 2 control planes,\n" +
			"2 traffic managers, 2 gateways), each behind its own SSH server on 127.0.0.1 with its own host\n" +
			"key and product directory, running an older update level; an inventory (drover.hcl), a client\n" +
			"key, a known_hosts file with the nodes' keys, and an updated pack one level higher. Nothing is\n" +
			"installed and no root is needed. The lab runs until `lab down`, which stops every server and\n" +
			"SSH listener the lab started, and nothing else. `lab up` on a lab that is down starts it again.",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return e.unknownCommand("drover lab", c.Args().First(), c.Command.Subcommands)
			}
			cli.ShowSubcommandHelp(c)
			return &silentError{ExitUsage}
		},
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "create (or restart) a lab and start it",
				Description: "Makes a lab in DIR (or starts the one there again, at whatever level its nodes run) and starts\n" +
					"API Manager on every node, " + strconv.Itoa(lab.StartParallel) + " at a time.\n\n" +
					"What a node costs (measured on 2 cores, 150 and 200 nodes): about 8 MiB of memory (two\n" +
					"processes, the simulated server and its startup loop, 30 MiB RSS of which most is the shared\n" +
					"drover binary) and up to 0.2 MiB in the lab daemon that hosts the SSH servers; 0.4% of one\n" +
					"core while idle (the server keeps writing its databases and index), and about 0.1 s of the\n" +
					"machine to start. 150 nodes come up in about 15 s and take 1.1 to 1.3 GiB and two thirds of\n" +
					"a core; a plan on them takes 10 to 20 s. At most " + strconv.Itoa(lab.MaxNodes) + " nodes.",
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "release", Value: "4.4.0", Usage: "the API Manager `RELEASE` the nodes run: " + strings.Join(catalog.Versions(), ", ") + " (4.5.0 and later on the split packs)"},
					&cli.StringFlag{Name: "nodes", Usage: "the nodes per profile: cp (control-plane), km (the release's key manager), pub and dev (3.x-4.1), aio (4.5+ all-in-one), tm, gw; `SPEC` such as cp=2,tm=2,km=2,gw=144; KEY/PACK=N runs those nodes on another 4.5+ pack, e.g. tm/all-in-one=2 (default: km=1,tm=1,pub=1,dev=1,gw=2 for 3.x, cp=2,tm=2,gw=2 for 4.0-4.4, cp=2,tm=2,gw=3 from 4.5)"},
				},
				Action: func(c *cli.Context) error {
					return e.runLabUp(c.Context, c.String("dir"), c.String("release"), c.String("nodes"), c.Bool("json"))
				},
			},
			{
				Name:   "down",
				Usage:  "stop a lab's SSH servers and simulated API Manager servers",
				Flags:  []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error { return e.runLabDown(c.String("dir"), c.Bool("json")) },
			},
			{
				Name: "serve", Hidden: true, Flags: []cli.Flag{dirFlag, &cli.IntFlag{Name: "listen-fds"}},
				Action: func(c *cli.Context) error { return e.runLabServe(c.Context, c.String("dir"), c.Int("listen-fds")) },
			},
			{
				Name: "sim", Hidden: true, SkipFlagParsing: true,
				Action: func(c *cli.Context) error {
					if code := apimsim.Main(c.Args().Slice(), e.stdin, e.stdout, e.stderr); code != 0 {
						return &silentError{code}
					}
					return nil
				},
			},
		},
	}
}

func labPIDFile(dir string) string { return filepath.Join(dir, "lab.pid") }

func (e *env) runLabUp(ctx context.Context, dir, release, nodesSpec string, jsonOut bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if pid := labDaemon(dir); pid > 0 {
		return refused(fmt.Errorf("the lab in %s is already up (pid %d); take it down with: drover lab down --dir %s", dir, pid, dir))
	}
	l, err := lab.Load(dir)
	if err != nil {
		rel, perr := catalog.Lookup(release)
		if perr != nil {
			return usageErrorf("lab up --release: %v", perr)
		}
		if nodesSpec == "" {
			nodesSpec = lab.DefaultNodesSpec(rel.Version)
		}
		nodes, perr := lab.ParseNodesFor(nodesSpec, rel.Version)
		if perr != nil {
			return usageErrorf("%v", perr)
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		sim := filepath.Join(dir, "bin", "apimsim")
		fmt.Fprintf(e.stderr, "creating a lab of %d nodes in %s...\n", len(nodes), dir)
		if l, err = lab.Create(lab.Spec{Dir: dir, Version: rel.Version, Nodes: nodes, SimBin: sim}); err != nil {
			return err
		}
		// The simulated API Manager of the lab lives in drover itself.
		wrapper := "#!/bin/sh\nAPIMSIM_SELF=" + transport.Quote(sim) + " exec " + transport.Quote(exe) + " lab sim \"$@\"\n"
		if err := os.MkdirAll(filepath.Dir(sim), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(sim, []byte(wrapper), 0o755); err != nil {
			l.CloseListeners()
			return err
		}
	} else {
		// A lab that was down: its ports bound again here (a port taken
		// meanwhile is replaced, in the inventory and known_hosts too).
		moved, err := l.Bind()
		if err != nil {
			return err
		}
		if len(moved) > 0 {
			fmt.Fprintf(e.stderr, "lab: another program took the SSH port of %s since the lab went down; it listens on a new port (inventory and known_hosts updated)\n", strings.Join(moved, ", "))
		}
	}
	// The SSH ports are bound already: the daemon gets them as they are, so
	// nothing can take one in between.
	err = e.startLabDaemon(dir, l)
	l.CloseListeners()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "starting API Manager on every node (%d at a time)...\n", lab.StartParallel)
	sctx, cancel := context.WithTimeout(ctx, lab.StartBudget(len(l.Nodes)))
	defer cancel()
	if err := l.StartProducts(sctx); err != nil {
		return fmt.Errorf("%w; take the lab down with: drover lab down --dir %s", err, dir)
	}
	if jsonOut { // the lab's manifest (lab.json): dir, inventory, keys, pack, nodes
		return json.NewEncoder(e.stdout).Encode(l)
	}
	rel, _ := filepath.Rel(mustWD(), l.Inventory)
	if rel == "" || strings.HasPrefix(rel, "..") {
		rel = l.Inventory
	}
	fmt.Fprintf(e.stdout, "lab up in %s: %d API Manager %s nodes at %s, each behind its own SSH server\n", dir, len(l.Nodes), l.Version, l.LevelSummary())
	for _, n := range l.Nodes {
		fmt.Fprintf(e.stdout, "  %-6s %-26s ssh 127.0.0.1:%d  offset %d  %s\n", n.Name, n.Profile, n.SSHPort, n.Offset, n.Home)
	}
	if len(l.Packs) > 1 {
		fmt.Fprintf(e.stdout, "inventory %s, packs (level %d):\n", l.Inventory, l.Level+1)
		for _, d := range catalog.Split() {
			if pk := l.Packs[d]; pk != "" {
				fmt.Fprintf(e.stdout, "  %-18s %s\n", d, pk)
			}
		}
		fmt.Fprintf(e.stdout, "\ntry next:\n")
	} else {
		fmt.Fprintf(e.stdout, "inventory %s, pack %s (level %d)\n\ntry next:\n", l.Inventory, l.Pack, l.Level+1)
	}
	for _, c := range []string{"status", "plan", "apply", "status"} {
		fmt.Fprintf(e.stdout, "  %s -i %s %s\n", e.program(), rel, c)
	}
	fmt.Fprintf(e.stdout, "  %s lab down --dir %s\n", e.program(), dir)
	return nil
}

// startLabDaemon starts `drover lab serve` in its own session, handing it
// the SSH listeners l holds open, and waits until its SSH servers listen.
func (e *env) startLabDaemon(dir string, l *lab.Lab) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	files, err := l.ListenerFiles()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	logf, err := os.OpenFile(filepath.Join(dir, "lab.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	ready := filepath.Join(dir, "lab.ready")
	os.Remove(ready)
	cmd := exec.Command(exe, "lab", "serve", "--dir", dir, "--listen-fds", strconv.Itoa(len(files)))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = files // fds 3, 4, ...: one per node, in lab.json order
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("lab: start the SSH servers: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	budget := 30*time.Second + time.Duration(len(l.Nodes))*100*time.Millisecond
	deadline := time.After(budget)
	for {
		if _, err := os.Stat(ready); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "lab.log"))
			return fmt.Errorf("lab: the SSH servers exited (%v): %s", err, lastLine(string(b)))
		case <-deadline:
			return fmt.Errorf("lab: the SSH servers did not come up within %v; see %s", budget, filepath.Join(dir, "lab.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runLabServe is the lab's daemon: it hosts the nodes' SSH servers until
// it is told to stop, then stops the simulated servers and exits.
func (e *env) runLabServe(ctx context.Context, dir string, listenFDs int) error {
	l, err := lab.Load(dir)
	if err != nil {
		return err
	}
	if listenFDs > 0 {
		files := make([]*os.File, listenFDs)
		for i := range files {
			files[i] = os.NewFile(uintptr(3+i), "ssh-listener-"+strconv.Itoa(i))
		}
		if err := l.InheritListeners(files); err != nil {
			return err
		}
	}
	srv, err := l.Serve()
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	os.WriteFile(labPIDFile(dir), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "lab.ready"), nil, 0o644)
	fmt.Fprintf(e.stderr, "lab: serving %d nodes (pid %d)\n", len(l.Nodes), os.Getpid())
	select {
	case <-sigs:
	case <-ctx.Done():
	}
	l.StopProducts()
	srv.Close()
	os.Remove(filepath.Join(dir, "lab.ready"))
	os.Remove(labPIDFile(dir))
	fmt.Fprintln(e.stderr, "lab: stopped")
	return nil
}

// labDaemon returns the PID of a running lab daemon for dir, or 0.
func labDaemon(dir string) int {
	b, err := os.ReadFile(labPIDFile(dir))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "serve") {
		return 0
	}
	return pid
}

func (e *env) runLabDown(dir string, jsonOut bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l, err := lab.Load(dir)
	if err != nil {
		return err
	}
	if pid := labDaemon(dir); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Whatever the daemon left (or a daemon that was killed) is stopped too.
	l.StopProducts()
	os.Remove(labPIDFile(dir))
	if jsonOut {
		return json.NewEncoder(e.stdout).Encode(struct {
			Dir     string `json:"dir"`
			Stopped int    `json:"stopped"`
		}{dir, len(l.Nodes)})
	}
	fmt.Fprintf(e.stdout, "lab down: %d nodes stopped; the files stay in %s (remove the folder to start afresh)\n", len(l.Nodes), dir)
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func mustWD() string {
	wd, _ := os.Getwd()
	return wd
}
