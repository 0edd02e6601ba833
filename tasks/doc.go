// Package tasks is what drover does on one node: the steps of an update,
// each with a read-only probe for plans, an apply and an undo; the journal
// and the lock that live beside the product directory; the health gate; and
// the rollback that puts the previous release back.
//
// Every remote change is recorded in the node's journal before and after it
// happens, so an interrupted update can be resumed or undone from any
// controller. The engine that orders nodes into waves and batches lives in
// tasks/rollout; this package never prints, it reports Events.
package tasks
