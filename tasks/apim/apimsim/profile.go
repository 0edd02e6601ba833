package apimsim

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ProfileFailedMarker is what profileSetup.sh prints (with exit status 0) for a bad profile.
const ProfileFailedMarker = "Profile is not specified properly, please try again"

// ProfileDoneMarker ends the output of a successful profileSetup.sh run.
const ProfileDoneMarker = "Finished the optimizations"

// skipFlag is profileSetup.sh's option to leave deployment.toml alone (3.1.0+; anywhere after the profile).
const skipFlag = "--skipConfigOptimization"

// swapStep is a step that puts a profile's variant of a file onto the live name: the live file is
// moved to backup (a name in the same directory), then src is moved or copied (release.swapOp) onto
// the live name. Nothing happens when src is gone (a rerun on 4.0.0 and older).
type swapStep struct {
	live, backup, src string
}

var swapSteps = map[string]swapStep{
	"replaceAxis2File":               {axis2Dir + "/axis2.xml", "axis2.xml.backup", ""},
	"replaceTenantAxis2File":         {axis2Dir + "/tenant-axis2.xml", "tenant-axis2.xml.backup", ""},
	"replaceAxis2TemplateFile":       {axis2TmplDir + "/axis2.xml.j2", "axis2.xml.j2.backup", ""},
	"replaceTenantAxis2TemplateFile": {axis2TmplDir + "/tenant-axis2.xml.j2", "tenant-axis2.xml.j2.backup", ""},
	"replaceRegistryXMLFile":         {"repository/conf/registry.xml", "registryBackup.xml", "repository/conf/registry_TM.xml"},
	"replaceRegistryXMLTemplateFile": {confTemplates + "/conf/registry.xml.j2", "registry.backup", confTemplates + "/conf/registry_TM.xml.j2"},
	"replaceTomcatCarbonWEBINFWebXmlTemplateFile": {confTemplates + "/conf/tomcat/carbon/WEB-INF/web.xml.j2", "web.xml.j2.backup",
		confTemplates + "/conf/tomcat/carbon/WEB-INF/web_TM_GW.xml.j2"},
}

// removeSteps delete the files they name (when present) and say so.
var removeSteps = map[string][]string{
	"removeAxis2BlockingClientXMLFile":         {axis2Dir + "/axis2_blocking_client.xml"},
	"removeAxis2BlockingClientXMLTemplateFile": {axis2TmplDir + "/axis2_blocking_client.xml.j2"},
	"removeAuthenticationAndAccountRecoveryEndpointWEBINFWebXmlTemplateFiles": {
		confTemplates + "/deployment/server/webapps/authenticationendpoint/WEB-INF/web.xml.j2",
		confTemplates + "/deployment/server/webapps/accountrecoveryendpoint/WEB-INF/web.xml.j2",
	},
}

// xmllintSteps edit repository/conf/api-manager.xml with xmllint (3.0.0). The simulated host, like
// the one the facts were recorded on, has no xmllint: the script says so on stderr and edits nothing.
var xmllintSteps = map[string]bool{
	"disableDataPublisher": true, "disableJMSConnectionDetails": true,
	"disablePolicyDeployer": true, "disableBlockConditionRetriever": true,
}

// knownStep reports whether runStep implements step (the release table names only known steps).
func knownStep(step string) bool {
	fn, _, _ := strings.Cut(step, " ")
	_, sw := swapSteps[fn]
	_, rm := removeSteps[fn]
	switch fn {
	case "disableTransportSenderWS", "disableTransportSenderWSS", "disableIndexingConfiguration",
		"removeWebSocketInboundEndpoint", "removeSecureWebSocketInboundEndpoint", "removeSynapseConfigs",
		"replaceDeploymentConfiguration":
		return true
	}
	return sw || rm || xmllintSteps[fn]
}

// profileSetup is bin/profileSetup.sh: it always exits 0; failure shows only in its output.
// -Dprofile=<name> must be the first argument; --skipConfigOptimization may be anywhere (3.1.0+).
func profileSetup(home string, args []string, stdout, stderr io.Writer) int {
	rel, err := readProduct(home)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 0
	}
	if !rel.profileSetup {
		fmt.Fprintf(stderr, "sh: 0: cannot open profileSetup.sh: No such file (%s has no profileSetup.sh)\n", rel.product)
		return 2
	}
	var prof *profileRule
	if len(args) > 0 {
		if name, ok := strings.CutPrefix(args[0], "-Dprofile="); ok {
			prof = rel.profile(name)
		}
	}
	if prof == nil {
		fmt.Fprintln(stdout, ProfileFailedMarker)
		return 0
	}
	s := &setup{home: home, rel: rel, prof: prof, out: stdout, errw: stderr,
		skip: rel.skipFlag && slices.Contains(args[1:], skipFlag)}
	s.run()
	return 0
}

type setup struct {
	home      string
	rel       *release
	prof      *profileRule
	skip      bool
	out, errw io.Writer
}

func (s *setup) info(format string, a ...any) {
	fmt.Fprintf(s.out, "[%s] INFO - %s\n", time.Now().Format("2006-01-02 15:04:05"), fmt.Sprintf(format, a...))
}

func (s *setup) abs(p string) string { return filepath.Join(s.home, filepath.FromSlash(p)) }

func (s *setup) exists(p string) bool {
	_, err := os.Lstat(s.abs(p))
	return err == nil
}

// legacy: the 3.0.0 script (no --skipConfigOptimization, different messages).
func (s *setup) legacy() bool { return !s.rel.skipFlag }

func (s *setup) run() {
	if s.legacy() {
		// The 3.0.0 script calls xmllint on every run; the simulated host, like the one the facts
		// were recorded on, has none: dash reports it once and the api-manager.xml edits are skipped.
		fmt.Fprintln(s.errw, "profileSetup.sh: 1: xmllint: not found")
		fmt.Fprintf(s.out, "Starting to optimize API Manager for the %s profile\n", s.prof.label)
	} else {
		if s.skip {
			s.info("Passed 'skipConfigOptimization' Option: true. So going to run Profile Optimization without doing the config optimizations")
		}
		s.info("Starting to optimize API Manager for the %s profile", s.prof.label)
	}
	for _, st := range s.prof.steps {
		s.step(st)
	}
	s.webapps()
	s.jaggeryapps()
	fmt.Fprintln(s.out, ProfileDoneMarker)
}

func (s *setup) step(st string) {
	fn, arg, _ := strings.Cut(st, " ")
	if sw, ok := swapSteps[fn]; ok {
		if arg != "" {
			sw.src = arg
		}
		s.swap(sw)
		return
	}
	for _, p := range removeSteps[fn] {
		if !s.exists(p) {
			continue
		}
		if err := os.RemoveAll(s.abs(p)); err != nil {
			fmt.Fprintln(s.errw, err)
			continue
		}
		if s.legacy() {
			s.info("Removed the %s file from ../%s", path.Base(p), p)
		} else {
			s.info("Removed the file ../%s", p)
		}
	}
	switch {
	case xmllintSteps[fn]:
		// no xmllint on the host: nothing is edited (see run)
	case fn == "disableTransportSenderWS" || fn == "disableTransportSenderWSS":
		name := strings.ToLower(strings.TrimPrefix(fn, "disableTransportSender"))
		s.edit(axis2Dir+"/axis2.xml", func(text string) string {
			line := `<transportSender name="` + name + `" class="org.wso2.carbon.websocket.transport.WebsocketTransportSender"/>`
			if strings.Contains(text, "<!--"+line+"-->") {
				return text
			}
			return strings.Replace(text, line, "<!--"+line+"-->", 1)
		})
	case fn == "disableIndexingConfiguration":
		if s.edit("repository/conf/registry.xml", func(text string) string {
			text = strings.Replace(text, "<indexingConfiguration>", "<!--indexingConfiguration>", 1)
			return strings.Replace(text, "</indexingConfiguration>", "</indexingConfiguration-->", 1)
		}) {
			s.info("Disabled the <indexingConfiguration> from registry.xml file")
		}
	case fn == "removeWebSocketInboundEndpoint" || fn == "removeSecureWebSocketInboundEndpoint":
		name := "WebSocketInboundEndpoint.xml"
		if fn == "removeSecureWebSocketInboundEndpoint" {
			name = "Secure" + name
		}
		// rm -f, then the message: it is printed whether or not the file was there
		os.Remove(s.abs(synapseDir + "/inbound-endpoints/" + name))
		s.info("Removed the %s file from ../%s/inbound-endpoints/", name, synapseDir)
		if s.rel.wsTemplateLines {
			os.Remove(s.abs(wsTemplateDir + "/" + name + ".j2"))
			s.info("Removed the %s.j2 file from ../%s/", name, wsTemplateDir)
		}
	case fn == "removeSynapseConfigs":
		entries, _ := os.ReadDir(s.abs(synapseDir))
		var files []string
		for _, e := range entries {
			if e.IsDir() {
				s.removeSaying(synapseDir+"/"+e.Name(), "Removed the %s directory from ../%s", e.Name(), synapseDir)
			} else if e.Name() != "synapse.xml" {
				files = append(files, e.Name())
			}
		}
		for _, f := range files {
			s.removeSaying(synapseDir+"/"+f, "Removed the %s file from ../%s", f, synapseDir)
		}
	case fn == "replaceDeploymentConfiguration":
		s.deploymentToml(arg)
	}
}

func (s *setup) removeSaying(p, format string, a ...any) {
	if err := os.RemoveAll(s.abs(p)); err != nil {
		fmt.Fprintln(s.errw, err)
		return
	}
	s.info(format, a...)
}

// edit rewrites the file at p with f, keeping it when absent; it reports whether p exists.
func (s *setup) edit(p string, f func(string) string) bool {
	data, err := os.ReadFile(s.abs(p))
	if err != nil {
		return false
	}
	if out := f(string(data)); out != string(data) {
		if err := os.WriteFile(s.abs(p), []byte(out), 0o644); err != nil {
			fmt.Fprintln(s.errw, err)
		}
	}
	return true
}

// swap moves the live file to its backup name and puts src on the live name (mv or cp).
func (s *setup) swap(sw swapStep) {
	if !s.exists(sw.src) {
		return
	}
	if s.exists(sw.live) {
		if err := os.Rename(s.abs(sw.live), s.abs(path.Dir(sw.live)+"/"+sw.backup)); err != nil {
			fmt.Fprintln(s.errw, err)
			return
		}
		s.info("Renamed the existing ../%s file as %s", sw.live, sw.backup)
	}
	var err error
	if s.rel.swapOp == "cp" {
		err = copyFile(s.abs(sw.src), s.abs(sw.live))
	} else {
		err = os.Rename(s.abs(sw.src), s.abs(sw.live))
	}
	if err != nil {
		fmt.Fprintln(s.errw, err)
		return
	}
	s.info("Renamed the existing ../%s file as %s", sw.src, path.Base(sw.live))
}

// deploymentToml is replaceDeploymentConfiguration: without --skipConfigOptimization (and always on
// 3.0.0) deployment.toml goes to deployment.toml.backup and the profile's template is copied in.
func (s *setup) deploymentToml(profile string) {
	const conf = "repository/conf/deployment.toml"
	tmpl := templateDir + "/" + profile + ".toml"
	if s.skip {
		s.info("Config optimizations in deployment.toml skipped since the option %s is passed", skipFlag)
		return
	}
	if !s.legacy() {
		s.info("Starting to optimize configs in deployment.toml")
	}
	if s.exists(conf) {
		if err := os.Rename(s.abs(conf), s.abs(conf+".backup")); err != nil {
			fmt.Fprintln(s.errw, err)
			return
		}
		s.info("Renamed the existing ../%s file as deployment.toml.backup", conf)
	}
	if err := copyFile(s.abs(tmpl), s.abs(conf)); err != nil {
		fmt.Fprintf(s.errw, "cp: cannot stat '../%s': No such file or directory\n", tmpl)
		return
	}
	if s.legacy() {
		s.info("Renamed the existing ../%s file as deployment.toml", tmpl)
	} else {
		s.info("Copied the existing ../%s file as ../%s", tmpl, conf)
	}
}

// webapps deletes the top-level entries of webapps/ the profile does not keep (a deleted war's
// exploded directory goes with it). Keep patterns match names only: an exploded directory is an
// entry of its own and goes unless a pattern names it.
func (s *setup) webapps() {
	entries, err := os.ReadDir(s.abs(webappsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !s.prof.webapps.deletes(name) || !s.exists(webappsDir+"/"+name) {
			continue
		}
		s.removeSaying(webappsDir+"/"+name, "Removed the %s file from ../%s", name, webappsDir)
		if dir, ok := strings.CutSuffix(name, ".war"); ok {
			os.RemoveAll(s.abs(webappsDir + "/" + dir))
		}
	}
}

// jaggeryapps deletes the sub-directories of jaggeryapps/ the profile does not keep; plain files stay.
func (s *setup) jaggeryapps() {
	entries, err := os.ReadDir(s.abs(jaggeryDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && s.prof.jaggery.deletes(e.Name()) {
			s.removeSaying(jaggeryDir+"/"+e.Name(), "Removed %s directory from ../%s", e.Name(), jaggeryDir)
		}
	}
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
