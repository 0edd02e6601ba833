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
	r, err := lookupRelease(s.Version)
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

	add("bin/"+r.script, 0o755, []byte(startupScript(r, s.SimBin)))
	add("bin/profileSetup.sh", 0o755, []byte(toolScript(r, s.SimBin, "profileSetup.sh", "profile-setup")))
	add("bin/wso2update_linux", 0o755, []byte(toolScript(r, s.SimBin, "wso2update_linux", "update")))
	add("bin/version.txt", 0o644, []byte("WSO2 API Manager v"+r.version+"\n"))
	add("bin/wso2carbon-version.txt", 0o644, []byte("WSO2 Carbon Framework v4.9.0\n"))
	add("LICENSE.txt", 0o644, []byte("Apache License, Version 2.0 (simulated pack; see http://www.apache.org/licenses/)\n"))
	add("README.txt", 0o644, []byte("WSO2 API Manager "+r.version+" (simulated by drover's apimsim)\n"))

	add("repository/conf/deployment.toml", 0o644, []byte(deploymentToml(r, "")))
	add("repository/conf/log4j2.properties", 0o644, []byte(log4j2Properties))
	for _, p := range r.profiles {
		add("repository/resources/conf/deployment-templates/"+p+".toml", 0o644, []byte(deploymentToml(r, p)))
	}
	for p, data := range levelFiles(r, s.Level) {
		add(p, 0o644, data)
	}
	add("repository/resources/security/wso2carbon.jks", 0o644, fakeBinary("wso2carbon.jks", []byte{0xfe, 0xed, 0xfe, 0xed}, 6144))
	add("repository/resources/security/client-truststore.jks", 0o644, fakeBinary("client-truststore.jks", []byte{0xfe, 0xed, 0xfe, 0xed}, 12288))
	dir("repository/components/lib")
	dir("repository/components/dropins")
	for _, j := range []string{"org.wso2.carbon.core_4.9.0.jar", "org.wso2.carbon.registry.core_4.9.0.jar", "h2_" + r.h2Engine + ".jar"} {
		add("repository/components/plugins/"+j, 0o644, fakeBinary(j, []byte("PK\x03\x04"), 8192))
	}
	for p, data := range profileFiles(r) {
		add(p, 0o644, data)
	}
	dir("repository/deployment/server/synapse-configs/default/local-entries")
	dir("repository/tenants")
	dir("repository/logs")
	for _, db := range dbFiles {
		add("repository/database/"+db.name, 0o644, newH2(r.h2Format, db.name, db.size))
	}
	for name, data := range newIndex() {
		add("solr/data/index/"+name, 0o644, data)
	}
	add("updates/product.txt", 0o644, []byte(ProductName(r.version)+"\n"))

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

// levelFiles are the files whose content depends on the update level; the update tool rewrites
// exactly these (plus re-introducing profile files).
func levelFiles(r *release, level int) map[string][]byte {
	cfg, _ := json.MarshalIndent(map[string]any{
		"update-level": level,
		"product":      ProductName(r.version),
		"channel":      "full",
	}, "", "  ")
	return map[string][]byte{
		"updates/config.json": append(cfg, '\n'),
		"repository/components/plugins/" + fmt.Sprintf(r.coreJar, level): fakeBinary(
			fmt.Sprintf("core-%s-%d", r.version, level), []byte("PK\x03\x04"), 16384),
		carbonTemplate:  []byte(fmt.Sprintf("<!-- carbon.xml.j2 of %s, update level %d -->\n<Server xmlns=\"http://wso2.org/projects/carbon/carbon.xml\">\n  <Name>WSO2 API Manager</Name>\n  <Version>%s</Version>\n  <Ports><Offset>{{server.offset}}</Offset></Ports>\n</Server>\n", ProductName(r.version), level, r.version)),
		defaultJSONFile: []byte(fmt.Sprintf("{\n  \"server.offset\": 0,\n  \"apim.update_level\": %d,\n  \"apim.throttling.enable_data_publishing\": true\n}\n", level)),
	}
}

const (
	carbonTemplate  = "repository/resources/conf/templates/repository/conf/carbon.xml.j2"
	defaultJSONFile = "repository/resources/conf/default.json"
	synapseDir      = "repository/deployment/server/synapse-configs/default"
	webappsDir      = "repository/deployment/server/webapps"
)

// synapseSubdirs are the synapse-config folders profileSetup deletes on non-gateway profiles.
var synapseSubdirs = []string{"api", "proxy-services", "sequences"}

// wsInbound are the WebSocket inbound endpoints, deleted on non-gateway profiles.
var wsInbound = []string{"WebSocketInboundEndpoint.xml", "SecureWebSocketInboundEndpoint.xml"}

// profileFiles are the files some profiles delete (and an update re-introduces): webapps,
// synapse-config subfolders and the WebSocket inbound endpoints.
func profileFiles(r *release) map[string][]byte {
	out := map[string][]byte{}
	for _, w := range r.webapps {
		out[webappsDir+"/"+w] = fakeBinary(r.version+w, []byte("PK\x03\x04"), 4096)
	}
	syn := map[string]string{
		"api/_TokenAPI_.xml":                         "<api name=\"_WSO2AMTokenAPI_\" context=\"/token\"/>",
		"api/_RevokeAPI_.xml":                        "<api name=\"_WSO2AMRevokeAPI_\" context=\"/revoke\"/>",
		"api/_AuthorizeAPI_.xml":                     "<api name=\"_WSO2AMAuthorizeAPI_\" context=\"/authorize\"/>",
		"api/_UserInfoAPI_.xml":                      "<api name=\"_WSO2AMUserInfoAPI_\" context=\"/userinfo\"/>",
		"proxy-services/WorkflowCallbackService.xml": "<proxy name=\"WorkflowCallbackService\"/>",
		"sequences/_auth_failure_handler_.xml":       "<sequence name=\"_auth_failure_handler_\"/>",
		"sequences/_cors_request_handler_.xml":       "<sequence name=\"_cors_request_handler_\"/>",
		"sequences/fault.xml":                        "<sequence name=\"fault\"/>",
		"sequences/main.xml":                         "<sequence name=\"main\"/>",
		"synapse.xml":                                "<definitions xmlns=\"http://ws.apache.org/ns/synapse\"/>",
	}
	for _, f := range wsInbound {
		syn["inbound-endpoints/"+f] = "<inboundEndpoint name=\"" + f[:len(f)-4] + "\" protocol=\"ws\"/>"
	}
	for p, body := range syn {
		out[synapseDir+"/"+p] = []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body + "\n")
	}
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
