package apimsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Faults are the knobs a test sets on one node, stored as JSON at FaultsPath(home), outside
// home so they survive drover's release switch. The server reads them when it starts, the
// update tool when it runs.
type Faults struct {
	OnlyLevel  int    `json:"only_level,omitempty"`  // 0: always; else only when the running release has this update level
	FailStart  bool   `json:"fail_start,omitempty"`  // server exits shortly after start with an ERROR in the log, never healthy
	SlowStart  string `json:"slow_start,omitempty"`  // duration added before "started" (e.g. "5s")
	CrashAfter string `json:"crash_after,omitempty"` // exits this long after becoming healthy (no clean shutdown)
	HangStop   bool   `json:"hang_stop,omitempty"`   // ignores SIGTERM (needs SIGKILL)
	Unhealthy  bool   `json:"unhealthy,omitempty"`   // starts, logs started, but the health endpoints return 503

	// Conflicts lists files (relative to home) the operator customised that the next update
	// also changes: the update tool writes <file>.original and <file>.new and exits 3.
	Conflicts []string `json:"conflicts,omitempty"`
	// DiskFull makes the update tool fail for lack of space (exit 1) before changing anything;
	// transports that simulate a node may consult it for "no space left on device" too.
	DiskFull bool `json:"disk_full,omitempty"`
	// LatestLevel is the newest update level the update tool can reach (0: current level + 1).
	LatestLevel int `json:"latest_level,omitempty"`

	// Timings (not gated by OnlyLevel). The environment variables APIMSIM_START_DELAY and
	// APIMSIM_STOP_DELAY win over these; defaults 1.5s and 1s.
	StartDelay string `json:"start_delay,omitempty"`
	StopDelay  string `json:"stop_delay,omitempty"`
}

// WriteFaults stores f for the node at home (creating the state directory).
func WriteFaults(home string, f Faults) error {
	for _, d := range []string{f.SlowStart, f.CrashAfter, f.StartDelay, f.StopDelay} {
		if _, err := parseDelay(d); err != nil {
			return fmt.Errorf("apimsim: write faults: %w", err)
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("apimsim: write faults: %w", err)
	}
	p := FaultsPath(home)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("apimsim: write faults: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("apimsim: write faults: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("apimsim: write faults: %w", err)
	}
	return nil
}

// ReadFaults returns the knobs of the node at home (zero Faults when none are set).
func ReadFaults(home string) (Faults, error) {
	var f Faults
	data, err := os.ReadFile(FaultsPath(home))
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	} else if err != nil {
		return f, fmt.Errorf("apimsim: read faults: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("apimsim: read faults %s: %w", FaultsPath(home), err)
	}
	return f, nil
}

// active returns f with its fault knobs cleared when OnlyLevel excludes level.
func (f Faults) active(level int) Faults {
	if f.OnlyLevel == 0 || f.OnlyLevel == level {
		return f
	}
	return Faults{StartDelay: f.StartDelay, StopDelay: f.StopDelay}
}

// parseDelay accepts a Go duration ("1.5s") or plain seconds ("2", "0.2"); "" is zero.
func parseDelay(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("invalid duration %q", s)
}

// timing picks the environment variable, then the faults file value, then def.
func timing(env, file string, def time.Duration) time.Duration {
	for _, s := range []string{os.Getenv(env), file} {
		if d, err := parseDelay(s); err == nil && strings.TrimSpace(s) != "" {
			return d
		}
	}
	return def
}
