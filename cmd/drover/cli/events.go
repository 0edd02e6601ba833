package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/tasks"
)

// jsonSink writes one JSON object per event (apply --json on stdout).
func jsonSink(w io.Writer) tasks.Sink {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(ev tasks.Event) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(ev)
	}
}

// lineSink writes one plain line per event, for logs and pipes. Progress
// events are thinned out so a transfer does not flood the log.
func lineSink(w io.Writer, color, verbose bool) tasks.Sink {
	var mu sync.Mutex
	lastProgress := map[string]time.Time{}
	started := map[string]string{}
	return func(ev tasks.Event) {
		mu.Lock()
		defer mu.Unlock()
		key := ev.Node + "/" + ev.Step
		switch ev.Type {
		case tasks.EventStepStarted:
			// Said once, when the step is done, with what it did.
			started[key] = ev.Message
			if !verbose {
				return
			}
		case tasks.EventStepDone:
			if !verbose {
				ev.Message = started[key]
			}
		case tasks.EventStepSkipped:
			if !verbose {
				return
			}
		}
		if ev.Type == tasks.EventProgress {
			if time.Since(lastProgress[key]) < 5*time.Second && (ev.Total == 0 || ev.Done < ev.Total) {
				return
			}
			lastProgress[key] = time.Now()
		}
		line := formatEvent(ev)
		if line == "" {
			return
		}
		if color {
			line = colorize(ev, line)
		}
		fmt.Fprintf(w, "%s %s\n", ev.At.Local().Format("15:04:05"), line)
	}
}

func formatEvent(ev tasks.Event) string {
	node := fmt.Sprintf("%-10s", ev.Node)
	switch ev.Type {
	case tasks.EventRunStarted:
		return fmt.Sprintf("run %s started: %s", ev.Run, ev.Message)
	case tasks.EventRunFinished:
		if ev.Error != "" {
			return fmt.Sprintf("run %s finished in %s: %s; %s", ev.Run, ms(ev.ElapsedMS), ev.Message, ev.Error)
		}
		return fmt.Sprintf("run %s finished in %s: %s", ev.Run, ms(ev.ElapsedMS), ev.Message)
	case tasks.EventWaveStarted:
		return fmt.Sprintf("wave %d (%s) started", ev.Wave, ev.Profile)
	case tasks.EventWaveDone:
		return fmt.Sprintf("wave %d (%s) done: every node healthy", ev.Wave, ev.Profile)
	case tasks.EventBatchStarted:
		return fmt.Sprintf("wave %d batch %d: %s", ev.Wave, ev.Batch, ev.Message)
	case tasks.EventBatchDone:
		return ""
	case tasks.EventNodeStarted:
		return node + " update started"
	case tasks.EventNodeDone:
		what := "updated"
		if ev.Message != "" {
			what = ev.Message
		}
		return fmt.Sprintf("%s %s in %s", node, what, ms(ev.ElapsedMS))
	case tasks.EventNodeFailed:
		return fmt.Sprintf("%s FAILED (%s): %s", node, strings.ReplaceAll(ev.Message, "_", " "), strings.TrimPrefix(ev.Error, ev.Node+": "))
	case tasks.EventNodeSkipped:
		return fmt.Sprintf("%s skipped: %s", node, ev.Message)
	case tasks.EventStepStarted:
		return fmt.Sprintf("%s %-13s %s", node, ev.Step, ev.Message)
	case tasks.EventStepDone:
		if ev.Message != "" {
			return fmt.Sprintf("%s %-13s %-6s %s", node, ev.Step, ms(ev.ElapsedMS), ev.Message)
		}
		return fmt.Sprintf("%s %-13s done (%s)", node, ev.Step, ms(ev.ElapsedMS))
	case tasks.EventStepSkipped:
		return fmt.Sprintf("%s %-13s skipped: %s", node, ev.Step, ev.Message)
	case tasks.EventStepFailed:
		return fmt.Sprintf("%s %-13s failed: %s", node, ev.Step, ev.Error)
	case tasks.EventProgress:
		if ev.Total > 0 {
			return fmt.Sprintf("%s %-13s %s / %s", node, ev.Step, tasks.HumanBytes(ev.Done), tasks.HumanBytes(ev.Total))
		}
		return fmt.Sprintf("%s %-13s %s", node, ev.Step, ev.Message)
	case tasks.EventWarning:
		if ev.Node != "" {
			return fmt.Sprintf("%s warning: %s", node, ev.Message)
		}
		return "warning: " + ev.Message
	case tasks.EventRollback:
		if ev.Message == tasks.RollbackConfiguration {
			return node + " rolling back to the previous configuration (the backed-up files)"
		}
		return node + " rolling back to the previous release"
	case tasks.EventRolledBack:
		if ev.Message == tasks.RollbackConfiguration {
			return fmt.Sprintf("%s rolled back in %s: the previous configuration serves again", node, ms(ev.ElapsedMS))
		}
		return fmt.Sprintf("%s rolled back in %s: the previous release serves again", node, ms(ev.ElapsedMS))
	}
	return ev.Type + " " + ev.Node + " " + ev.Message
}

func colorize(ev tasks.Event, line string) string {
	switch ev.Type {
	case tasks.EventNodeFailed, tasks.EventStepFailed:
		return "\x1b[31m" + line + "\x1b[0m"
	case tasks.EventWarning, tasks.EventRollback:
		return "\x1b[33m" + line + "\x1b[0m"
	case tasks.EventNodeDone, tasks.EventWaveDone, tasks.EventRolledBack:
		return "\x1b[32m" + line + "\x1b[0m"
	case tasks.EventStepSkipped, tasks.EventProgress:
		return "\x1b[2m" + line + "\x1b[0m"
	}
	return line
}

func ms(n int64) string {
	return (time.Duration(n) * time.Millisecond).Round(100 * time.Millisecond).String()
}
