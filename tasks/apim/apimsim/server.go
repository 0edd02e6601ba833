package apimsim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Default timings; APIMSIM_START_DELAY / APIMSIM_STOP_DELAY (or the faults file) override them.
const (
	defaultStartDelay = 1500 * time.Millisecond
	defaultStopDelay  = time.Second
	storeInterval     = 100 * time.Millisecond
	restartExitCode   = 121 // like the real script's loop: the server asked to be restarted
)

type serverArgs struct {
	home    string
	console bool
	profile string
	jvm     []string
	// memOpts and javaOpts are JVM_MEM_OPTS and JAVA_OPTS of the startup
	// script, split at blanks.
	memOpts, javaOpts []string
}

func parseServerArgs(args []string) (serverArgs, error) {
	var o serverArgs
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--home" && i+1 < len(args):
			o.home = args[i+1]
			i++
		case a == "--console":
			o.console = true
		case a == "--mem-opts" && i+1 < len(args):
			o.memOpts = strings.Fields(args[i+1])
			i++
		case a == "--java-opts" && i+1 < len(args):
			o.javaOpts = strings.Fields(args[i+1])
			i++
		default:
			if p, ok := strings.CutPrefix(a, "-Dprofile="); ok {
				o.profile = p
			}
			o.jvm = append(o.jvm, a)
		}
	}
	if o.home == "" {
		return o, errors.New("apimsim: server: --home is required")
	}
	h, err := filepath.Abs(o.home)
	o.home = h
	return o, err
}

// superviseServer is what the startup script launches: like the real script's shell loop around
// java, it runs the server process (whose PID goes into wso2carbon.pid), records a "killed"
// event when that process dies from a signal, and restarts it on exit code 121.
func superviseServer(args []string) int {
	o, err := parseServerArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !o.console {
		syscall.Setsid() // fails only if already a session leader: detached either way
	}
	signal.Ignore(syscall.SIGHUP)
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "apimsim: server:", err)
		return 1
	}
	if self := os.Getenv("APIMSIM_SELF"); self != "" {
		// The simulator is hosted by another program (drover's lab runs it as
		// `drover lab sim` behind a wrapper script): re-exec through that.
		exe = self
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		cmd := exec.Command(exe, append([]string{"run"}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "apimsim: server:", err)
			return 1
		}
		done := make(chan struct{})
		go func() {
			for {
				select {
				case s := <-sigs:
					cmd.Process.Signal(s)
				case <-done:
					return
				}
			}
		}()
		err := cmd.Wait()
		close(done)
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			level, _ := ReadLevel(o.home)
			appendEvent(o.home, Event{Event: EventKilled, PID: cmd.Process.Pid, Level: level, Home: o.home,
				Profile: o.profile, Detail: "signal: " + ws.Signal().String()})
			return 128 + int(ws.Signal())
		}
		if ws.ExitStatus() == restartExitCode {
			continue
		}
		if err != nil && ws.ExitStatus() < 0 {
			return 1
		}
		return ws.ExitStatus()
	}
}

// UnitEnv is set by the lab's simulated systemctl for the servers its units
// start: the unit's name.
const UnitEnv = "APIMSIM_UNIT"

// simEnv is the environment variables a test may set through drover's env
// settings to see them reach the server: those named APIMSIM_ENV_*.
func simEnv() map[string]string {
	var out map[string]string
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "APIMSIM_ENV_") {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// node is one running server process.
type node struct {
	o       serverArgs
	rel     *release
	log     *carbonLog
	pid     int
	level   int
	faults  Faults
	servlet *servlet
	dbs     []*h2Store
	index   *solrIndex

	mu      sync.Mutex // guards the stores between the store loop and shutdown
	closed  bool
	stopped chan struct{}
}

// runServer is the server process itself.
func runServer(args []string) int {
	o, err := parseServerArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lg, err := openCarbonLog(o.home, o.console)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apimsim: server:", err)
		return 1
	}
	defer lg.close()
	n := &node{o: o, log: lg, pid: os.Getpid(), stopped: make(chan struct{})}
	if err := os.Chdir(o.home); err != nil {
		lg.errorf(classBootstrap, "Cannot enter CARBON_HOME %s: %v", o.home, err)
		return 1
	}
	if err := os.WriteFile(PIDFile(o.home), []byte(strconv.Itoa(n.pid)), 0o644); err != nil {
		lg.errorf(classBootstrap, "Cannot write the PID file: %v", err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	return n.run(sigs)
}

const (
	classBootstrap = "org.wso2.carbon.bootstrap.Bootstrap"
	classCore      = "org.wso2.carbon.core.internal.CarbonCoreActivator"
	classFinalizer = "org.wso2.carbon.core.internal.StartupFinalizerServiceComponent"
	classServerMgr = "org.wso2.carbon.core.init.CarbonServerManager"
	classDatasrc   = "org.wso2.carbon.ndatasource.rdbms.RDBMSDataSourceReader"
	classSolr      = "org.wso2.carbon.registry.indexing.solr.SolrClient"
	classTomcat    = "org.apache.catalina.core.StandardService"
	classInbound   = "org.apache.synapse.deployers.InboundEndpointDeployer"
	classAPIM      = "org.wso2.carbon.apimgt.impl.internal.APIManagerComponent"
)

func (n *node) event(name, detail string) {
	if err := appendEvent(n.o.home, Event{Event: name, PID: n.pid, Level: n.level, Home: n.o.home, Profile: n.o.profile, Detail: detail}); err != nil {
		n.log.warnf(classCore, "cannot record the %s event: %v", name, err)
	}
}

// fail logs an ERROR, records a "failed" event, releases what was opened and exits 1.
func (n *node) fail(class, format string, a ...any) int {
	msg := fmt.Sprintf(format, a...)
	n.log.errorf(class, "%s", msg)
	n.event(EventFailed, msg)
	n.shutdown()
	return 1
}

func (n *node) run(sigs chan os.Signal) int {
	began := time.Now()
	home := n.o.home
	rel, err := readProduct(home)
	if err != nil {
		n.log.errorf(classBootstrap, "%v", err)
		return 1
	}
	n.rel = rel
	n.level, _ = ReadLevel(home)
	all, err := ReadFaults(home)
	if err != nil {
		n.log.warnf(classBootstrap, "%v", err)
	}
	n.faults = all.active(n.level)
	startDelay := timing("APIMSIM_START_DELAY", all.StartDelay, defaultStartDelay)
	slow, _ := parseDelay(n.faults.SlowStart)
	crashAfter, _ := parseDelay(n.faults.CrashAfter)
	appendEvent(home, Event{Event: EventStarting, PID: n.pid, Level: n.level, Home: home, Profile: n.o.profile, Detail: strings.Join(n.o.jvm, " "),
		JVM: append(append([]string{}, n.o.memOpts...), n.o.javaOpts...), JavaHome: os.Getenv("JAVA_HOME"), Unit: os.Getenv(UnitEnv), Env: simEnv()})
	n.log.infof(classCore, "Starting WSO2 Carbon...")
	n.log.infof(classCore, "Operating System : Linux, amd64")
	n.log.infof(classCore, "CARBON_HOME : %s", home)
	n.log.infof(classCore, "Java Version : 17.0.10 (simulated)")
	if n.o.profile != "" {
		// -Dprofile=<name> selects the OSGi profile repository/components/<name>; without it the
		// launcher has no bundles to start.
		if st, err := os.Stat(filepath.Join(home, "repository", "components", n.o.profile)); err != nil || !st.IsDir() {
			return n.fail(classBootstrap, "Cannot start the server: the OSGi profile %q does not exist (no directory repository/components/%s); %s ships the profiles: %s",
				n.o.profile, n.o.profile, rel.product, strings.Join(rel.osgiProfiles, ", "))
		}
		n.log.infof(classCore, "Starting with profile : %s", n.o.profile)
	}

	offset, err := ReadOffset(home)
	if err != nil {
		return n.fail(classBootstrap, "Error while reading the deployment.toml: %v", err)
	}
	if prof := rel.profile(n.o.profile); prof != nil && prof.has("removeWebSocketInboundEndpoint") {
		for _, f := range wsInbound {
			p := filepath.Join(home, filepath.FromSlash(synapseDir), "inbound-endpoints", f)
			if _, err := os.Stat(p); err == nil {
				return n.fail(classInbound, "Inbound Endpoint deployment from the file : %s : Failed. The %s profile does not run WebSocket inbound endpoints: the pack was not optimized for it (run bin/profileSetup.sh -Dprofile=%s after every update)", p, n.o.profile, n.o.profile)
			}
		}
	}
	for _, db := range dbFiles {
		p := filepath.Join(home, "repository", "database", db.name)
		if _, err := os.Stat(p); err != nil {
			return n.fail(classDatasrc, "Error in creating the data source %s: Table \"AM_SYSTEM_APPS\" not found: %v", strings.TrimSuffix(db.name, ".mv.db"), err)
		}
		s, recovered, err := openH2(p, rel.h2Format, rel.h2Engine)
		if err != nil {
			return n.fail(classDatasrc, "Database error: org.h2.jdbc.JdbcSQLNonTransientException: %v", err)
		}
		n.dbs = append(n.dbs, s)
		if recovered {
			n.log.warnf(classDatasrc, "Database %s was not closed properly; recovered from the last chunk", p)
		}
	}
	ix, recovered, err := openIndex(filepath.Join(home, "solr", "data"))
	if err != nil {
		return n.fail(classSolr, "Error while initializing the Solr index: %v", err)
	}
	n.index = ix
	if recovered {
		n.log.warnf(classSolr, "Solr index at %s was not committed cleanly (or is missing); re-indexing the registry", ix.dir)
	}

	_, gwErr := os.Stat(filepath.Join(home, filepath.FromSlash(webappsDir), gatewayWebapp))
	n.servlet = &servlet{
		unhealthy: n.faults.Unhealthy,
		gateway:   rel.gatewayHealth && gwErr == nil,
		product:   rel.name + "-" + rel.version,
	}
	if err := n.servlet.listen(offset); err != nil {
		return n.fail(classTomcat, "Failed to start the servlet transports (offset %d): %v", offset, err)
	}
	httpPort, httpsPort := Ports(offset)
	n.log.infof("org.apache.catalina.core.StandardService", "Starting service [Catalina]")
	n.log.infof("org.wso2.carbon.core.transports.http.HttpTransportListener", "HTTP Listener started on 127.0.0.1:%d", httpPort)
	n.log.infof("org.wso2.carbon.core.transports.http.HttpsTransportListener", "HTTPS Listener started on 127.0.0.1:%d", httpsPort)
	if err := explodeWars(home); err != nil {
		n.log.warnf(classTomcat, "Error expanding a web application archive: %v", err)
	}
	go n.storeLoop()

	select {
	case <-time.After(startDelay + slow):
	case <-sigs:
		return n.stop(sigs, "during startup")
	}
	if n.faults.FailStart {
		return n.fail(classAPIM, "Error while starting the API Manager component: simulated startup failure (fail_start)")
	}
	n.servlet.started.Store(true)
	n.log.infof(classFinalizer, "Server           :  %s-%s", rel.name, rel.version)
	n.log.infof(classFinalizer, "WSO2 Carbon started in %d sec", int(time.Since(began).Round(time.Second)/time.Second))
	n.log.infof("org.wso2.carbon.ui.internal.CarbonUIServiceComponent", "Mgt Console URL  : https://localhost:%d/carbon/", httpsPort)
	n.event(EventStarted, "")

	var crash <-chan time.Time
	if crashAfter > 0 {
		crash = time.After(crashAfter)
	}
	select {
	case <-sigs:
		return n.stop(sigs, "")
	case <-crash:
		// a crash: no shutdown hooks, stores left open, write.lock left behind
		n.log.errorf("org.wso2.carbon.core.init.JMXServerManager", "# A fatal error has been detected by the Java Runtime Environment: simulated crash (crash_after %s)", n.faults.CrashAfter)
		n.event(EventCrashed, "crash_after "+n.faults.CrashAfter)
		return 134
	}
}

// stop is the graceful shutdown on SIGTERM (or the hang of HangStop).
func (n *node) stop(sigs chan os.Signal, when string) int {
	n.log.infof(classServerMgr, "Shutdown hook triggered....")
	n.log.infof(classServerMgr, "Gracefully shutting down %s...", n.rel.name)
	if n.faults.HangStop {
		n.event(EventStopping, "hang_stop: shutdown never completes")
		for range sigs { // ignore every further SIGTERM; only SIGKILL ends this process
			n.log.warnf(classServerMgr, "Shutdown already in progress")
		}
	}
	n.event(EventStopping, when)
	all, _ := ReadFaults(n.o.home)
	time.Sleep(timing("APIMSIM_STOP_DELAY", all.StopDelay, defaultStopDelay))
	n.log.infof(classServerMgr, "Shutting down OSGi framework...")
	if err := n.shutdown(); err != nil {
		n.log.errorf(classServerMgr, "Error while shutting down: %v", err)
	}
	n.log.infof(classServerMgr, "Stopping CarbonServerManager...")
	n.log.infof(classServerMgr, "Halting JVM")
	n.event(EventStopped, when)
	return 0
}

// storeLoop keeps writing the H2 stores and the index while the server runs.
func (n *node) storeLoop() {
	t := time.NewTicker(storeInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stopped:
			return
		case <-t.C:
		}
		n.mu.Lock()
		if !n.closed {
			for _, s := range n.dbs {
				s.store(false)
			}
			n.index.touch()
		}
		n.mu.Unlock()
	}
}

// shutdown stops the store loop, closes the stores cleanly, commits the index (removing
// write.lock) and closes the transports.
func (n *node) shutdown() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	close(n.stopped)
	var errs []error
	for _, s := range n.dbs {
		errs = append(errs, s.close())
	}
	if n.index != nil {
		errs = append(errs, n.index.commit())
	}
	if n.servlet != nil {
		n.servlet.close()
	}
	return errors.Join(errs...)
}

// readProduct finds the release and distribution from updates/product.txt.
func readProduct(home string) (*release, error) {
	data, err := os.ReadFile(filepath.Join(home, "updates", "product.txt"))
	if err != nil {
		return nil, fmt.Errorf("apimsim: cannot identify the product: %w", err)
	}
	return lookupProduct(strings.TrimSpace(string(data)))
}

// explodeWars unpacks every war of home's webapps/ that has no directory yet, as Tomcat does
// when it deploys them; it returns the first error.
func explodeWars(home string) error {
	dir := filepath.Join(home, filepath.FromSlash(webappsDir))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var first error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".war")
		if !ok || e.IsDir() {
			continue
		}
		x := filepath.Join(dir, name)
		if _, err := os.Lstat(x); err == nil {
			continue
		}
		manifest := filepath.Join(x, "META-INF", "MANIFEST.MF")
		err := os.MkdirAll(filepath.Dir(manifest), 0o755)
		if err == nil {
			err = os.WriteFile(manifest, []byte("Manifest-Version: 1.0\nCreated-By: apimsim (exploded from "+e.Name()+")\n"), 0o644)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// PIDAlive reports whether the PID in home's wso2carbon.pid belongs to a live (non-zombie)
// process, and returns that PID.
func PIDAlive(home string) (int, bool) {
	data, err := os.ReadFile(PIDFile(home))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return pid, false
	}
	// a zombie (exited, not yet reaped by its parent) is not running
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
				return pid, false
			}
		}
	}
	return pid, true
}
