package apimsim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Lifecycle events the server records.
const (
	EventStarting = "starting"
	EventStarted  = "started"
	EventStopping = "stopping"
	EventStopped  = "stopped"
	EventKilled   = "killed"  // the server died from a signal it could not handle (SIGKILL)
	EventFailed   = "failed"  // the server gave up during startup (ERROR in the log)
	EventCrashed  = "crashed" // the server died after it had started (CrashAfter)
)

// Event is one line of the event log at EventsPath(home).
type Event struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"`
	PID     int       `json:"pid"`
	Level   int       `json:"level"`
	Home    string    `json:"home"`
	Profile string    `json:"profile,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Of a "starting" event: the JVM options the startup script passed
	// (JVM_MEM_OPTS, then JAVA_OPTS), JAVA_HOME, the systemd unit that
	// started the server ("" for the script run directly) and the
	// APIMSIM_ENV_* variables it saw.
	JVM      []string          `json:"jvm,omitempty"`
	JavaHome string            `json:"java_home,omitempty"`
	Unit     string            `json:"unit,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
}

// appendEvent appends e as one JSON line with a single write (O_APPEND keeps lines from many
// node processes whole).
func appendEvent(home string, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	p := EventsPath(home)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadEvents reads the event log of the nodes in dir: dir is the directory holding the homes
// (filepath.Dir(home)) or its .apimsim state directory. A missing log is no events.
func ReadEvents(dir string) ([]Event, error) {
	p := filepath.Join(dir, ".apimsim", "events.jsonl")
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join(dir, "events.jsonl")
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("apimsim: read events: %w", err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("apimsim: read events: %s:%d: %w", p, n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("apimsim: read events: %w", err)
	}
	return out, nil
}
