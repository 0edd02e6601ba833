package inventory

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

const redactSrc = header44 + `
profile "gateway-worker" {
  file "repository/conf/deployment.toml" { template = "templates/gw.toml" }
  hook "before_stop" { local = "./lb.sh drain ${env("LB_TOKEN")}" }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
`

const redactTemplate = "[database]\npassword = \"${env(\"DB_PASS\")}\"\nregion = \"${env(\"REGION\")}\"\nqueue = \"main\"\n"

func loadWithEnv(t *testing.T, dir string, env map[string]string) *Inventory {
	t.Helper()
	l := NewLoader()
	l.Home = "/home/tester"
	l.Getenv = func(k string) string { return env[k] }
	inv, diags := l.Load(filepath.Join(dir, "drover.hcl"))
	if diags.HasErrors() {
		t.Fatalf("load: %s", diagsString(diags))
	}
	return inv
}

// TestRedactEnvValues: the values env() resolved and the secrets drover
// reads from its environment are replaced by "(env NAME)" in any text
// (JSON text too), a managed file's Shown content holds placeholders only,
// and the digest changes when an env() value does.
func TestRedactEnvValues(t *testing.T) {
	dir := writeFiles(t, map[string]string{"drover.hcl": redactSrc, "templates/gw.toml": redactTemplate})
	env := map[string]string{"DB_PASS": `pa"ss\word-1`, "REGION": "eu", "DROVER_SUDO_PASSWORD": "sudo-pw-9", "UPDATE_TOOL_PASSWORD": "tool-pw-7"}
	inv := loadWithEnv(t, dir, env)
	f := inv.Node("gw-1").Files[0]
	if !strings.Contains(string(f.Content), `pa"ss\word-1`) {
		t.Fatalf("Content does not hold the real value:\n%s", f.Content)
	}
	wantShown := "[database]\npassword = \"(env DB_PASS)\"\nregion = \"(env REGION)\"\nqueue = \"main\"\n"
	if string(f.Shown) != wantShown {
		t.Errorf("Shown =\n%s\nwant\n%s", f.Shown, wantShown)
	}
	if got := inv.Redact(string(f.Content)); got != wantShown {
		t.Errorf("Redact(Content) =\n%s\nwant\n%s", got, wantShown)
	}
	text := `sudo: sudo-pw-9; tool tool-pw-7; db pa"ss\word-1 in eu, not in queue or Europe`
	want := `sudo: (env DROVER_SUDO_PASSWORD); tool (env UPDATE_TOOL_PASSWORD); db (env DB_PASS) in (env REGION), not in queue or Europe`
	if got := inv.Redact(text); got != want {
		t.Errorf("Redact(%q) =\n%q\nwant\n%q", text, got, want)
	}
	js, _ := json.Marshal(map[string]string{"error": text})
	if got := inv.Redact(string(js)); strings.Contains(got, "word-1") || strings.Contains(got, "sudo-pw-9") || !strings.Contains(got, "(env DB_PASS)") {
		t.Errorf("Redact of JSON text: %s", got)
	}

	// The digest follows env() values, not the secrets of drover's own
	// environment.
	env2 := map[string]string{}
	for k, v := range env {
		env2[k] = v
	}
	env2["DROVER_SUDO_PASSWORD"] = "another"
	if d := loadWithEnv(t, dir, env2).Digest; d != inv.Digest {
		t.Errorf("the sudo password changed the digest")
	}
	env2["LB_TOKEN"] = "token-2" // used in a hook only
	if d := loadWithEnv(t, dir, env2).Digest; d == inv.Digest {
		t.Errorf("a new LB_TOKEN left the digest as it was")
	}
	env2["DB_PASS"] = "rotated"
	if d := loadWithEnv(t, dir, env2).Digest; d == inv.Digest {
		t.Errorf("a new DB_PASS left the digest as it was")
	}
	if strings.Contains(inv.Digest, "word-1") {
		t.Errorf("digest %s holds the value", inv.Digest)
	}
	var nilInv *Inventory
	if nilInv.Redact("x") != "x" {
		t.Error("a nil inventory redacts")
	}
}
