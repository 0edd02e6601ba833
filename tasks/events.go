package tasks

import "time"

// Event types. The names are part of `apply --json` output: add, never rename.
const (
	EventRunStarted   = "run_started"
	EventRunFinished  = "run_finished"
	EventWaveStarted  = "wave_started"
	EventWaveDone     = "wave_done"
	EventBatchStarted = "batch_started"
	EventBatchDone    = "batch_done"
	EventNodeStarted  = "node_started"
	EventNodeDone     = "node_done"
	EventNodeFailed   = "node_failed"
	EventNodeSkipped  = "node_skipped"
	EventStepStarted  = "step_started"
	EventStepDone     = "step_done"
	EventStepSkipped  = "step_skipped"
	EventStepFailed   = "step_failed"
	EventProgress     = "progress"
	EventWarning      = "warning"
	EventRollback     = "rollback_started"
	EventRolledBack   = "rolled_back"
)

// Event is one thing that happened during a run. The engine emits events;
// renderers (terminal, plain log, JSON lines) print them.
type Event struct {
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	Run     string    `json:"run,omitempty"`
	Node    string    `json:"node,omitempty"`
	Profile string    `json:"profile,omitempty"`
	Step    string    `json:"step,omitempty"`
	Wave    int       `json:"wave,omitempty"`
	Batch   int       `json:"batch,omitempty"`
	Message string    `json:"message,omitempty"`
	Error   string    `json:"error,omitempty"`
	// Done and Total are bytes for progress events.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
	// Elapsed is set on *_done and *_failed events.
	ElapsedMS int64 `json:"elapsed_ms,omitempty"`
}

// Sink receives events. It must be safe for concurrent use and must not
// block for long.
type Sink func(Event)

// Emit sends an event, stamping its time.
func (s Sink) Emit(e Event) {
	if s == nil {
		return
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	s(e)
}
