// Package rollout turns the node procedure of package tasks into a rolling
// update of a whole cluster: it probes the selected nodes, plans waves (one
// per profile, in rollout.order) and batches (at most max_unavailable nodes
// of a profile at once), and applies the plan behind health gates, rolling
// failed nodes back and halting past the failure budget.
//
// The engine never prints: it reports tasks.Events to a Sink.
package rollout
