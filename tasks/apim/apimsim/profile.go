package apimsim

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ProfileFailedMarker is what profileSetup.sh prints (with exit status 0) for a bad profile.
const ProfileFailedMarker = "Profile is not specified properly, please try again"

// ProfileDoneMarker ends the output of a successful profileSetup.sh run.
const ProfileDoneMarker = "Finished the optimizations"

// profileSetup is bin/profileSetup.sh: it always exits 0; failure shows only in its output.
func profileSetup(home string, args []string, stdout io.Writer) int {
	rel, err := readProduct(home)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 0
	}
	profile, skipConf := "", false
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-Dprofile="):
			profile = strings.TrimPrefix(a, "-Dprofile=")
		case a == "--skipConfigOptimization" || a == "-skipConfigOptimization" || a == "skipConfigOptimization":
			skipConf = true
		}
	}
	if !slices.Contains(rel.profiles, profile) {
		fmt.Fprintln(stdout, ProfileFailedMarker)
		return 0
	}
	info := func(format string, a ...any) {
		fmt.Fprintf(stdout, "[%s] INFO - %s\n", time.Now().Format("2006-01-02 15:04:05"), fmt.Sprintf(format, a...))
	}
	info("Starting to optimize API Manager for the %s profile", profile)
	if skipConf {
		info("Passed skipConfigOptimization option: the deployment.toml is left as it is")
	} else {
		conf := filepath.Join(home, "repository", "conf", "deployment.toml")
		tmpl := filepath.Join(home, "repository", "resources", "conf", "deployment-templates", profile+".toml")
		if _, err := os.Stat(conf); err == nil {
			if err := os.Rename(conf, conf+".backup"); err != nil {
				info("Could not back up deployment.toml: %v", err)
			} else {
				info("Renamed the existing %s to %s", rel1(home, conf), rel1(home, conf)+".backup")
			}
		}
		if data, err := os.ReadFile(tmpl); err != nil {
			info("Could not read the %s template: %v", profile, err)
		} else if err := os.WriteFile(conf, data, 0o644); err != nil {
			info("Could not write deployment.toml: %v", err)
		} else {
			info("Copied the %s profile template to %s", profile, rel1(home, conf))
		}
	}
	keep := rel.keep[profile]
	for _, w := range rel.webapps {
		p := filepath.Join(home, filepath.FromSlash(webappsDir), w)
		if slices.Contains(keep, w) {
			continue
		}
		removeInfo(info, home, p)
		// an unpacked webapp folder goes too
		removeInfo(info, home, strings.TrimSuffix(p, ".war"))
	}
	if rel.dropSynapse[profile] {
		for _, d := range synapseSubdirs {
			removeInfo(info, home, filepath.Join(home, filepath.FromSlash(synapseDir), d))
		}
		for _, f := range wsInbound {
			removeInfo(info, home, filepath.Join(home, filepath.FromSlash(synapseDir), "inbound-endpoints", f))
		}
	}
	info(ProfileDoneMarker)
	return 0
}

// removeInfo deletes p (file or folder) and says so; a missing p is not an error (running the
// optimization twice is harmless).
func removeInfo(info func(string, ...any), home, p string) {
	if _, err := os.Lstat(p); err != nil {
		return
	}
	if err := os.RemoveAll(p); err != nil {
		info("Could not remove %s: %v", rel1(home, p), err)
		return
	}
	info("Removed %s", rel1(home, p))
}

func rel1(home, p string) string {
	if r, err := filepath.Rel(home, p); err == nil {
		return r
	}
	return p
}
