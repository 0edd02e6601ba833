package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// versionInfo is what `drover version` prints; --json gives the same fields.
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`      // "" when not built from a git checkout
	CommitTime string `json:"commit_time"` // RFC 3339, "" when unknown
	Modified   bool   `json:"modified"`    // the tree had uncommitted changes
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"` // GOOS/GOARCH
}

// buildInfo reads the vcs.* settings the Go toolchain stamps into the binary.
func buildInfo(read func() (*debug.BuildInfo, bool)) versionInfo {
	v := versionInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := read()
	if !ok {
		return v
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v versionInfo) String() string {
	s := "drover " + v.Version + "\n"
	if v.Commit == "" {
		s += "commit:   unknown (not built from a git checkout)\n"
	} else {
		tree := "clean tree"
		if v.Modified {
			tree = "modified tree"
		}
		s += fmt.Sprintf("commit:   %s (%s, %s)\n", v.Commit, dashIfEmpty(v.CommitTime), tree)
	}
	return s + fmt.Sprintf("go:       %s %s\n", v.GoVersion, v.Platform)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "date unknown"
	}
	return s
}

func (e *env) newVersionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the commit it was built from and the Go version",
		Description: "Prints drover's version, the git commit it was built from with the commit's date and\n" +
			"whether the tree had uncommitted changes (from the Go build info), and the Go version.\n" +
			"--json prints the same fields as one object.",
		Action: func(c *cli.Context) error {
			g, err := e.globals(c)
			if err != nil {
				return err
			}
			v := buildInfo(debug.ReadBuildInfo)
			if g.json {
				return json.NewEncoder(e.stdout).Encode(v)
			}
			_, err = fmt.Fprint(e.stdout, v)
			return err
		},
	}
}
