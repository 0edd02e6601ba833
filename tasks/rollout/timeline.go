package rollout

import (
	"slices"
	"time"
)

// Timeline is a run record laid out in time: per node its steps and its
// downtime, per wave its span, and the totals an operator reads after a
// rollout or in a postmortem. `drover runs show` draws it.
type Timeline struct {
	Run         string         `json:"run"`
	Owner       string         `json:"owner"`
	Cluster     string         `json:"cluster"`
	Start       time.Time      `json:"start"`
	End         time.Time      `json:"end"`
	WallMS      int64          `json:"wall_ms"`
	Halted      bool           `json:"halted"`
	Interrupted bool           `json:"interrupted"`
	Nodes       []NodeTimeline `json:"nodes"`
	Waves       []WaveTimeline `json:"waves"`
	Downtime    DowntimeStats  `json:"downtime"`
	// Timed is false for a record written before step timings were kept.
	Timed bool `json:"timed"`
}

// NodeTimeline is one node's row.
type NodeTimeline struct {
	NodeReport
	// DownStart..DownEnd is when the node was out of service: from the
	// start of its stop to the end of its health gate (or its rollback).
	// DownEnd is zero when the node never came back during the run.
	DownStart  time.Time `json:"down_start,omitzero"`
	DownEnd    time.Time `json:"down_end,omitzero"`
	DowntimeMS int64     `json:"downtime_ms"`
}

// WaveTimeline is one wave's span: from its first node's start to its last
// node's end.
type WaveTimeline struct {
	Wave      int       `json:"wave"`
	Profile   string    `json:"profile"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	ElapsedMS int64     `json:"elapsed_ms"`
	Nodes     int       `json:"nodes"`
}

// DowntimeStats are over the nodes that went out of service.
type DowntimeStats struct {
	Nodes     int    `json:"nodes"`
	MeanMS    int64  `json:"mean_ms"`
	WorstMS   int64  `json:"worst_ms"`
	WorstNode string `json:"worst_node,omitempty"`
}

// steps after which the node is out of service, when the stop itself was
// skipped (a resumed node that was stopped already).
var downSteps = map[string]bool{"persist": true, "switch": true, "start": true, "health": true, "backup": true, "update": true}

// TimelineOf lays a run record out in time.
func TimelineOf(r *Report) *Timeline {
	tl := &Timeline{Run: r.Run, Owner: r.Owner, Cluster: r.Cluster, Start: r.Started, End: r.Finished,
		WallMS: r.Finished.Sub(r.Started).Milliseconds(), Halted: r.Halted, Interrupted: r.Interrupted}
	waves := map[int]*WaveTimeline{}
	var worst int64 = -1
	var total int64
	for _, nr := range r.Nodes {
		nt := NodeTimeline{NodeReport: nr}
		if len(nr.Steps) > 0 || !nr.Start.IsZero() {
			tl.Timed = true
		}
		nt.DownStart, nt.DownEnd = downtime(nr)
		if !nt.DownStart.IsZero() {
			end := nt.DownEnd
			if end.IsZero() {
				end = nodeEnd(nr, r.Finished)
			}
			nt.DowntimeMS = end.Sub(nt.DownStart).Milliseconds()
			tl.Downtime.Nodes++
			total += nt.DowntimeMS
			if nt.DowntimeMS > worst {
				worst, tl.Downtime.WorstMS, tl.Downtime.WorstNode = nt.DowntimeMS, nt.DowntimeMS, nr.Node
			}
		}
		tl.Nodes = append(tl.Nodes, nt)
		if nr.Wave == 0 || nr.Start.IsZero() {
			continue
		}
		w := waves[nr.Wave]
		if w == nil {
			w = &WaveTimeline{Wave: nr.Wave, Profile: nr.Profile, Start: nr.Start}
			waves[nr.Wave] = w
		}
		w.Nodes++
		if nr.Start.Before(w.Start) {
			w.Start = nr.Start
		}
		if e := nodeEnd(nr, r.Finished); e.After(w.End) {
			w.End = e
		}
	}
	if tl.Downtime.Nodes > 0 {
		tl.Downtime.MeanMS = total / int64(tl.Downtime.Nodes)
	}
	for _, w := range waves {
		w.ElapsedMS = w.End.Sub(w.Start).Milliseconds()
		tl.Waves = append(tl.Waves, *w)
	}
	slices.SortFunc(tl.Waves, func(a, b WaveTimeline) int { return a.Wave - b.Wave })
	return tl
}

// nodeEnd is when the node's part of the run ended: its end, else its last
// step's end, else the run's.
func nodeEnd(nr NodeReport, runEnd time.Time) time.Time {
	if !nr.End.IsZero() {
		return nr.End
	}
	var last time.Time
	for _, s := range nr.Steps {
		if s.End.After(last) {
			last = s.End
		}
	}
	if last.IsZero() {
		return runEnd
	}
	return last
}

// downtime returns when the node went out of service and when it served
// again (zero when it did not during the run).
func downtime(nr NodeReport) (from, until time.Time) {
	nodeStart := nr.Start
	for _, s := range nr.Steps {
		if s.Outcome == StepSkipped {
			continue
		}
		switch {
		case s.Step == "stop" && from.IsZero():
			from = s.Start
		case downSteps[s.Step] && from.IsZero():
			// Stopped already (a resume): out of service from the start.
			from = nodeStart
			if from.IsZero() {
				from = s.Start
			}
		}
		if from.IsZero() {
			continue
		}
		if (s.Step == "health" || s.Step == "rollback") && s.Outcome == StepDone {
			until = s.End
		}
	}
	return from, until
}
