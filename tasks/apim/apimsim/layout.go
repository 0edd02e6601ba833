package apimsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// entry is one file or directory of the product, with a slash-separated path relative to home.
type entry struct {
	path string
	mode fs.FileMode // permission bits, plus fs.ModeDir for a directory
	data []byte
}

// Layout writes a complete product directory at home (which must not exist or be empty).
func Layout(home string, s Spec) error {
	entries, err := productFiles(s)
	if err != nil {
		return err
	}
	if names, err := os.ReadDir(home); err == nil && len(names) > 0 {
		return fmt.Errorf("apimsim: layout: %s exists and is not empty", home)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("apimsim: layout: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(home, filepath.FromSlash(e.path))
		if e.mode.IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("apimsim: layout: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("apimsim: layout: %w", err)
		}
		if err := os.WriteFile(p, e.data, e.mode.Perm()); err != nil {
			return fmt.Errorf("apimsim: layout: %w", err)
		}
	}
	return nil
}

// productFiles returns every file of the pack for s, sorted by path, with every directory listed.
func productFiles(s Spec) ([]entry, error) {
	r, err := lookup(s.Version, s.Distribution)
	if err != nil {
		return nil, err
	}
	if s.Level < 0 {
		return nil, fmt.Errorf("apimsim: negative update level %d", s.Level)
	}
	if s.SimBin == "" || !filepath.IsAbs(s.SimBin) {
		return nil, fmt.Errorf("apimsim: SimBin must be an absolute path, got %q", s.SimBin)
	}
	files := map[string]entry{}
	add := func(p string, mode fs.FileMode, data []byte) { files[p] = entry{path: p, mode: mode, data: data} }
	dir := func(p string) { files[p] = entry{path: p, mode: fs.ModeDir | 0o755} }

	for _, sc := range r.scripts {
		add("bin/"+sc, 0o755, []byte(startupScript(r, sc, s.SimBin)))
	}
	if r.profileSetup {
		add("bin/profileSetup.sh", 0o755, []byte(toolScript(r, s.SimBin, "profileSetup.sh", "profile-setup")))
	}
	add("bin/wso2update_linux", 0o755, []byte(toolScript(r, s.SimBin, "wso2update_linux", "update")))
	add("bin/version.txt", 0o644, []byte(r.name+" v"+r.version+"\n"))
	add("bin/wso2carbon-version.txt", 0o644, []byte("WSO2 Carbon Framework v"+r.kernel+"\n"))
	for _, b := range r.binFiles {
		b = strings.ReplaceAll(b, "${carbon.apimgt.version}", r.apimgt)
		if _, ok := files[b]; ok {
			continue
		}
		switch {
		case strings.HasSuffix(b, ".sh"):
			add(b, 0o755, []byte("#!/bin/sh\n# "+path.Base(b)+" of "+r.product+" (simulated by drover's apimsim: does nothing)\n"))
		case strings.HasSuffix(b, ".jar"):
			add(b, 0o644, fakeBinary(r.product+b, []byte("PK\x03\x04"), 2048))
		default:
			add(b, 0o644, []byte(path.Base(b)+" of "+r.product+" (simulated)\r\n"))
		}
	}
	add("LICENSE.txt", 0o644, []byte("Apache License, Version 2.0 (simulated pack; see http://www.apache.org/licenses/)\n"))
	add("README.txt", 0o644, []byte(r.name+" "+r.version+" (simulated by drover's apimsim)\n"))

	add("repository/conf/deployment.toml", 0o644, tagged("repository/conf/deployment.toml", deploymentToml(r, "")))
	add("repository/conf/log4j2.properties", 0o644, []byte(log4j2Properties))
	for _, p := range r.templates {
		t := templateDir + "/" + p + ".toml"
		add(t, 0o644, tagged(t, deploymentToml(r, p)))
	}
	for p, data := range levelFiles(r, s.Level) {
		add(p, 0o644, data)
	}
	add("repository/resources/security/wso2carbon.jks", 0o644, fakeBinary("wso2carbon.jks", []byte{0xfe, 0xed, 0xfe, 0xed}, 6144))
	add("repository/resources/security/client-truststore.jks", 0o644, fakeBinary("client-truststore.jks", []byte{0xfe, 0xed, 0xfe, 0xed}, 12288))
	dir("repository/components/lib")
	dir("repository/components/dropins")
	for _, j := range []string{"org.wso2.carbon.core_" + r.kernel + ".jar", "org.wso2.carbon.registry.core_" + r.kernel + ".jar", "h2_" + r.h2Engine + ".jar"} {
		add("repository/components/plugins/"+j, 0o644, fakeBinary(j, []byte("PK\x03\x04"), 8192))
	}
	for _, o := range r.osgiProfiles {
		add("repository/components/"+o+"/configuration/org.eclipse.equinox.simpleconfigurator/bundles.info", 0o644,
			[]byte("#version=1\n# OSGi profile "+o+" of "+r.product+" (simulated)\n"))
	}
	for p, data := range profileFiles(r) {
		add(p, 0o644, data)
	}
	dir("repository/tenants")
	dir("repository/logs")
	for _, db := range dbFiles {
		add("repository/database/"+db.name, 0o644, newH2(r.h2Format, db.name, db.size))
	}
	for name, data := range newIndex() {
		add("solr/data/index/"+name, 0o644, data)
	}
	add("updates/product.txt", 0o644, []byte(r.product+"\n"))

	// every parent directory gets its own entry, like a zip made by a build tool
	for p := range files {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := files[d]; !ok {
				dir(d)
			}
		}
	}
	out := make([]entry, 0, len(files))
	for _, e := range files {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// originTag starts every text file profileSetup can move, copy or edit: it names the file's path
// in the pristine pack, so a test can tell a swap (mv or cp) from an edit.
const originTag = "apimsim-origin: "

func tagged(p, body string) []byte {
	switch {
	case strings.HasSuffix(p, ".toml"):
		return []byte("# " + originTag + p + "\n" + body)
	default:
		return []byte("<!-- " + originTag + p + " -->\n" + body)
	}
}

// levelFiles are the files whose content depends on the update level; the update tool rewrites
// exactly these (plus re-introducing profile files).
func levelFiles(r *release, level int) map[string][]byte {
	cfg, _ := json.MarshalIndent(map[string]any{
		"update-level": level,
		"product":      r.product,
		"channel":      "full",
	}, "", "  ")
	return map[string][]byte{
		"updates/config.json": append(cfg, '\n'),
		"repository/components/plugins/" + fmt.Sprintf(r.coreJar, level): fakeBinary(
			fmt.Sprintf("core-%s-%d", r.product, level), []byte("PK\x03\x04"), 16384),
		carbonTemplate:  []byte(fmt.Sprintf("<!-- carbon.xml.j2 of %s, update level %d -->\n<Server xmlns=\"http://wso2.org/projects/carbon/carbon.xml\">\n  <Name>%s</Name>\n  <Version>%s</Version>\n  <Ports><Offset>{{server.offset}}</Offset></Ports>\n</Server>\n", r.product, level, r.name, r.version)),
		defaultJSONFile: []byte(fmt.Sprintf("{\n  \"server.offset\": 0,\n  \"apim.update_level\": %d,\n  \"apim.throttling.enable_data_publishing\": true\n}\n", level)),
	}
}

func init() {
	for _, r := range releaseTable {
		v := strings.Split(r.apimgt, ".")
		r.coreJar = "org.wso2.carbon.apimgt.core_" + v[0] + "." + v[1] + ".%d.jar"
	}
}

const (
	carbonTemplate  = confTemplates + "/conf/carbon.xml.j2"
	defaultJSONFile = "repository/resources/conf/default.json"
	templateDir     = "repository/resources/conf/deployment-templates"
	confTemplates   = "repository/resources/conf/templates/repository"
	synapseDir      = "repository/deployment/server/synapse-configs/default"
	webappsDir      = "repository/deployment/server/webapps"
	jaggeryDir      = "repository/deployment/server/jaggeryapps"
	axis2Dir        = "repository/conf/axis2"
	axis2TmplDir    = confTemplates + "/conf/axis2"
	wsTemplateDir   = confTemplates + "/deployment/server/synapse-configs/default/inbound-endpoints"
)

// wsInbound are the WebSocket inbound endpoints, deleted on non-gateway profiles.
var wsInbound = []string{"WebSocketInboundEndpoint.xml", "SecureWebSocketInboundEndpoint.xml"}

// profileFiles are the files some profiles delete, move or copy (and an update re-introduces):
// webapps, jaggery apps, synapse configs, and the conf files and templates profileSetup.sh names.
func profileFiles(r *release) map[string][]byte {
	out := map[string][]byte{}
	for _, w := range r.wars {
		out[webappsDir+"/"+w] = fakeBinary(r.product+w, []byte("PK\x03\x04"), 4096)
	}
	for _, d := range r.webappDirs {
		p := webappsDir + "/" + d + "/WEB-INF/web.xml"
		out[p] = tagged(p, "<web-app/>\n")
	}
	for _, f := range r.webappFiles {
		out[webappsDir+"/"+f] = []byte("{\"name\": \"" + f + "\", \"private\": true}\n")
	}
	for _, j := range r.jaggeryapps {
		if d, ok := strings.CutSuffix(j, "/"); ok {
			p := jaggeryDir + "/" + d + "/jaggery.conf"
			out[p] = []byte("{\"displayName\": \"" + d + "\"}\n")
		} else {
			out[jaggeryDir+"/"+j] = []byte("{\"name\": \"" + j + "\"}\n")
		}
	}
	for _, f := range r.synapse {
		p := synapseDir + "/" + f
		name := strings.TrimSuffix(path.Base(f), ".xml")
		var body string
		switch {
		case f == "synapse.xml":
			body = "<definitions xmlns=\"http://ws.apache.org/ns/synapse\"/>"
		case strings.HasPrefix(f, "inbound-endpoints/"):
			body = "<inboundEndpoint name=\"" + name + "\" protocol=\"ws\"/>"
		default:
			body = "<" + strings.TrimSuffix(path.Dir(f), "s") + " name=\"" + name + "\"/>"
		}
		out[p] = tagged(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+body+"\n")
	}
	for _, p := range r.wsTemplates {
		out[p] = tagged(p, "<inboundEndpoint name=\"{{name}}\" protocol=\"ws\"/>\n")
	}
	for _, p := range stepFiles(r) {
		body := "<config/>\n"
		if p == axis2Dir+"/axis2.xml" || p == axis2TmplDir+"/axis2.xml.j2" {
			body = "<axisconfig name=\"AxisJava2.0\">\n" + wsSenders + "</axisconfig>\n"
		}
		if path.Base(p) == "registry.xml" || path.Base(p) == "registry_TM.xml" {
			body = "<wso2registry>\n    <indexingConfiguration>\n    </indexingConfiguration>\n</wso2registry>\n"
		}
		if p == "repository/conf/api-manager.xml" {
			body = "<APIManager>\n    <DataPublisher><Enabled>true</Enabled></DataPublisher>\n    <JMSConnectionDetails><Enabled>true</Enabled></JMSConnectionDetails>\n    <PolicyDeployer><Enabled>true</Enabled></PolicyDeployer>\n    <BlockCondition><Enabled>true</Enabled></BlockCondition>\n</APIManager>\n"
		}
		out[p] = tagged(p, body)
	}
	return out
}

// wsSenders are the WebSocket transport senders of the default axis2.xml; the 3.0.0 script comments
// them out for the key manager, publisher and devportal profiles.
const wsSenders = "    <transportSender name=\"ws\" class=\"org.wso2.carbon.websocket.transport.WebsocketTransportSender\"/>\n" +
	"    <transportSender name=\"wss\" class=\"org.wso2.carbon.websocket.transport.WebsocketTransportSender\"/>\n"

// stepFiles are the conf files and templates the release's profileSetup.sh steps name: they are in
// the pristine pack.
func stepFiles(r *release) []string {
	set := map[string]bool{}
	for _, pr := range r.profiles {
		for _, st := range pr.steps {
			fn, arg, _ := strings.Cut(st, " ")
			if sw, ok := swapSteps[fn]; ok {
				src := sw.src
				if arg != "" {
					src = arg
				}
				set[sw.live], set[src] = true, true
				continue
			}
			for _, p := range removeSteps[fn] {
				set[p] = true
			}
			if xmllintSteps[fn] {
				set["repository/conf/api-manager.xml"] = true
			}
			if fn == "disableIndexingConfiguration" {
				set["repository/conf/registry.xml"] = true
			}
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// fakeBinary returns size deterministic pseudo-random bytes starting with magic.
func fakeBinary(seed string, magic []byte, size int) []byte {
	h := fnv.New64a()
	h.Write([]byte(seed))
	x := h.Sum64() | 1
	var b bytes.Buffer
	b.Write(magic)
	for b.Len() < size {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(byte(x))
	}
	return b.Bytes()[:size]
}
