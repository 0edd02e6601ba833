package tasks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// TestProbeReadsEveryFact probes a node, over SSH, whose files are written
// the awkward ways a node has them (no final line break, CRLF, JSON over
// several lines, a PID file with junk, a lock without its owner file, no
// journal), and checks every fact the one round trip gathers: those of
// Facts and those the steps' probes take from it (persisted sizes, the log
// health checks, template drift's sums).
func TestProbeReadsEveryFact(t *testing.T) {
	t.Parallel()
	srv := sshtest.NewServer(t)
	dir := srv.Dir()
	home := filepath.Join(dir, "opt", "wso2am-4.4.0")
	p := NewPaths(home)
	const cur = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// A process whose command line names home stands in for the server.
	server := exec.Command("/bin/sh", "-c", "sleep 600", "server", home)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	files := map[string]string{
		home + "/updates/product.txt":                          "wso2am-4.4.0", // no final line break
		home + "/updates/config.json":                          "{\r\n  \"update-level\": 7\r\n}\r\n",
		home + "/wso2carbon.pid":                               " " + strconv.Itoa(server.Process.Pid) + "\r\n",
		home + "/repository/logs/wso2carbon.log":               "INFO - WSO2 Carbon started in 12 sec\n",
		home + "/repository/conf/deployment.toml":              "[server]\noffset = 3\n",
		home + "/repository/conf/log4j2.properties":            "mine\n",
		home + "/solr/data/index/seg1":                         strings.Repeat("x", 10<<10),
		p.Current():                                            "{\n  \"pack\": \"x\",\n\"done\": true}\n",
		p.StagedState():                                        `{"pack":"abc","level":8,"configured":"d1"}`,
		p.Previous() + "/updates/config.json":                  `{"update-level": 6}`,
		p.Previous() + "/updates/product.txt":                  "wso2am-4.4.0\n",
		p.Pristine(cur) + "/repository/conf/log4j2.properties": "pristine\n",
		p.Pristine(cur) + "/repository/conf/security/a.xml":    "<a/>\n",
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{p.Lock(), p.Staged()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	c, err := transport.Dial(ctx, srv.ClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := &inventory.Node{Name: "n1", Profile: "gateway-worker", Host: "127.0.0.1", Home: home,
		Health: []inventory.HealthCheck{
			{Kind: inventory.HealthLog, Pattern: "WSO2 Carbon started in"},
			{Kind: inventory.HealthTCP, Port: 1},
			{Kind: inventory.HealthLog, Pattern: "never (written|logged)"},
		},
		Files: []inventory.File{{Path: "repository/conf/deployment.toml", Content: []byte("[server]\noffset = 3\n")}, {Path: "absent.xml"}},
	}
	opts := ProbeOptions{persist: []string{"solr/data", "repository/database"}, healthLog: true,
		carried: []string{"repository/conf/log4j2.properties", "repository/conf/security/a.xml", "nowhere.txt"}}

	f := Probe(ctx, c, nil, n, opts)
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	check("reachable", f.Reachable, true)
	check("home", f.HomeExists, true)
	check("product", f.Product, "wso2am-4.4.0")
	check("level", f.UpdateLevel, 7)
	check("pid", f.PID, server.Process.Pid)
	check("running", f.Running, true)
	check("pending lock", f.Lock != nil && f.Lock.Pending, true)
	check("current", f.Current+" "+strconv.FormatBool(f.CurrentDone), "x true")
	check("staged", f.Staged != nil && f.Staged.Exists && f.Staged.Pack == "abc" && f.Staged.Level == 8, true)
	check("previous", f.Previous, true)
	check("previous level", f.PreviousLvl, 6)
	check("previous product", f.PreviousProduct, "wso2am-4.4.0")
	check("same filesystem", f.SameFS, true)
	check("free disk", f.DiskFreeBytes > 0, true)
	check("missing tools", len(f.MissingCmd), 0)
	check("last run (no journal)", f.LastRun == nil, true)
	check("managed sum", f.managed["repository/conf/deployment.toml"].Sum, sumBytes([]byte("[server]\noffset = 3\n")))
	check("managed mode", f.managed["repository/conf/deployment.toml"].Mode, uint32(0o640))
	check("managed absent", f.managed["absent.xml"].Sum, "")
	check("persisted paths measured", len(f.persistSizes), 1)
	check("solr/data size", f.persistSizes["solr/data"] >= 10<<10, true)
	check("log check found", f.logHits[0], true)
	check("log check not found", f.logHits[2], false)
	check("no verdict for a tcp check", len(f.logHits), 2)
	// current.json here names no pack of hex digits: no pristine sums.
	check("no pristine sums", f.pristine == nil, true)

	// With current.json naming a pack whose pristine copies are kept.
	if err := os.WriteFile(p.Current(), []byte(`{"pack":"`+cur+`","level":7,"done":true}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(p.Lock()); err != nil {
		t.Fatal(err)
	}
	f = Probe(ctx, c, nil, n, opts)
	check("lock", f.Lock == nil, true)
	out, ok := f.pristine.lines(cur, opts.carried)
	want := "sum\trepository/conf/log4j2.properties\t" + sumBytes([]byte("pristine\n")) + "\t" + sumBytes([]byte("mine\n")) + "\n" +
		"sum\trepository/conf/security/a.xml\t" + sumBytes([]byte("<a/>\n")) + "\tabsent\n" +
		"sum\tnowhere.txt\tabsent\tabsent\n"
	check("pristine sums read", ok, true)
	check("pristine sums", out, want)
	if _, ok := f.pristine.lines(strings.Repeat("f", 64), opts.carried); ok {
		t.Error("sums of another pack's pristine copies were taken for the current pack's")
	}
	if _, ok := f.pristine.lines(cur, append(opts.carried, "more.txt")); ok {
		t.Error("a file the probe did not hash was taken as read")
	}

	// Without the pristine copies, templateDrift is told there are none.
	if err := os.RemoveAll(p.Pristine(cur)); err != nil {
		t.Fatal(err)
	}
	f = Probe(ctx, c, nil, n, opts)
	out, ok = f.pristine.lines(cur, opts.carried)
	check("no pristine copies", out+strconv.FormatBool(ok), "nopristine\ntrue")

	// Not asked, none of it is gathered; a node that is down is not running.
	server.Process.Kill()
	server.Wait()
	f = Probe(ctx, c, nil, n, ProbeOptions{})
	check("sizes not measured", f.persistSizes == nil, true)
	check("log checks not run", f.logHits == nil, true)
	check("sums not read", f.pristine == nil, true)
	check("running after kill", f.Running, false)
}
