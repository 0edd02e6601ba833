package apimsim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// deploymentToml returns the pack's deployment.toml (profile "") or a profile template.
func deploymentToml(r *release, profile string) string {
	role := "default"
	if profile != "" {
		role = profile
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# deployment.toml of %s %s", r.name, r.version)
	if profile != "" {
		fmt.Fprintf(&b, " (template for the %s profile)", profile)
	}
	b.WriteString("\n\n[server]\nhostname = \"localhost\"\n#offset = 0\noffset = 0\n")
	b.WriteString("base_path = \"${carbon.protocol}://${carbon.host}:${carbon.management.port}\"\n")
	fmt.Fprintf(&b, "server_role = %q\n\n", role)
	b.WriteString(`[super_admin]
username = "admin"
password = "admin"
create_admin_account = true

[user_store]
type = "database_unique_id"

[database.apim_db]
type = "h2"
url = "jdbc:h2:./repository/database/WSO2AM_DB;DB_CLOSE_ON_EXIT=FALSE"
username = "wso2carbon"
password = "wso2carbon"

[database.shared_db]
type = "h2"
url = "jdbc:h2:./repository/database/WSO2SHARED_DB;DB_CLOSE_ON_EXIT=FALSE"
username = "wso2carbon"
password = "wso2carbon"

[keystore.tls]
file_name = "wso2carbon.jks"
type = "JKS"
password = "wso2carbon"
alias = "wso2carbon"
key_password = "wso2carbon"

[truststore]
file_name = "client-truststore.jks"
type = "JKS"
password = "wso2carbon"
`)
	if profile == "" || profile == gatewayProfile {
		b.WriteString(`
[[apim.gateway.environment]]
name = "Default"
type = "hybrid"
display_in_api_console = true
service_url = "https://localhost:${mgt.transport.https.port}/services/"
ws_endpoint = "ws://localhost:9099"
wss_endpoint = "wss://localhost:8099"
http_endpoint = "http://localhost:${http.nio.port}"
https_endpoint = "https://localhost:${https.nio.port}"
`)
	}
	b.WriteString(`
[apim.throttling]
enable_data_publishing = true
enable_policy_deploy = true
enable_blacklist_condition = true

[apim.cors]
allow_origins = "*"
allow_methods = ["GET","PUT","POST","DELETE","PATCH","OPTIONS"]
allow_credentials = false
`)
	return b.String()
}

const log4j2Properties = `# log4j2.properties (simulated)
appenders = CARBON_CONSOLE, CARBON_LOGFILE
appender.CARBON_LOGFILE.type = RollingFile
appender.CARBON_LOGFILE.fileName = ${sys:carbon.home}/repository/logs/wso2carbon.log
appender.CARBON_LOGFILE.layout.pattern = [%d] %5p {%c} - %m%ex%n
rootLogger.level = INFO
`

var offsetLine = regexp.MustCompile(`^offset\s*=\s*"?(-?\d+)"?\s*(#.*)?$`)

// ReadOffset returns the [server] offset of home's repository/conf/deployment.toml (0 when unset).
func ReadOffset(home string) (int, error) {
	data, err := os.ReadFile(filepath.Join(home, "repository", "conf", "deployment.toml"))
	if err != nil {
		return 0, fmt.Errorf("apimsim: read offset: %w", err)
	}
	return parseOffset(data)
}

func parseOffset(data []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.TrimSpace(strings.Trim(line, "[]"))
			continue
		}
		if section != "server" {
			continue
		}
		if m := offsetLine.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil || n < 0 || n > 65535-9763 {
				return 0, fmt.Errorf("apimsim: invalid [server] offset %q", m[1])
			}
			return n, nil
		}
	}
	return 0, nil
}

// SetOffset rewrites the [server] offset of home's deployment.toml (adding it when missing),
// the way an operator edits the file.
func SetOffset(home string, offset int) error {
	p := filepath.Join(home, "repository", "conf", "deployment.toml")
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("apimsim: set offset: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	section, done := "", false
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			section = strings.TrimSpace(strings.Trim(t, "[]"))
			out = append(out, l)
			if section == "server" && !done {
				out = append(out, fmt.Sprintf("offset = %d", offset))
				done = true
			}
			continue
		}
		if section == "server" && offsetLine.MatchString(t) {
			continue
		}
		out = append(out, l)
	}
	if !done {
		out = append([]string{"[server]", fmt.Sprintf("offset = %d", offset), ""}, out...)
	}
	return os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644)
}

// ReadLevel returns the update level of home (updates/config.json "update-level").
func ReadLevel(home string) (int, error) {
	cfg, err := readUpdateConfig(home)
	if err != nil {
		return 0, err
	}
	return cfg.Level, nil
}
