package rollout

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/drover-sh/drover/inventory"
	"github.com/drover-sh/drover/tasks"
	"golang.org/x/sync/errgroup"
)

func (o *Options) lock() tasks.Lock {
	now := time.Now().UTC()
	return tasks.Lock{ID: o.Run, Owner: o.Owner, Since: now, Expires: now.Add(tasks.LockTTL)}
}

// lockAll takes every target node's lock before the first change. If any
// is held by another run, the locks taken are given back and nothing
// changes.
func lockAll(ctx context.Context, o *Options, targets []NodePlan, nodes map[string]*inventory.Node) error {
	lk := o.lock()
	var mu sync.Mutex
	var errs []error
	var g errgroup.Group
	g.SetLimit(max(o.Parallel, 1))
	for _, np := range targets {
		n := nodes[np.Node]
		g.Go(func() error {
			c, err := o.Conns.Get(ctx, n)
			if err == nil {
				err = tasks.Acquire(ctx, c, n.Name, tasks.NewPaths(n.Home), lk)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	if len(errs) > 0 {
		unlockAll(context.WithoutCancel(ctx), o, targets, nodes)
		return &LockError{errors.Join(errs...)}
	}
	return nil
}

// LockError reports nodes whose locks could not be taken; nothing changed.
type LockError struct{ Err error }

func (e *LockError) Error() string { return "rollout: cannot lock every node: " + e.Err.Error() }
func (e *LockError) Unwrap() error { return e.Err }
func (e *LockError) Refused() bool { return true }

func unlockAll(ctx context.Context, o *Options, targets []NodePlan, nodes map[string]*inventory.Node) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(max(o.Parallel, 1))
	for _, np := range targets {
		n := nodes[np.Node]
		g.Go(func() error {
			if c, err := o.Conns.Get(ctx, n); err == nil {
				if err := tasks.Release(ctx, c, tasks.NewPaths(n.Home), o.Run); err != nil {
					o.Sink.Emit(tasks.Event{Type: tasks.EventWarning, Node: n.Name, Message: "could not release the lock: " + err.Error()})
				}
			}
			return nil
		})
	}
	g.Wait()
}

// refreshLocks renews the locks well within their expiry until stopped.
func refreshLocks(ctx context.Context, o *Options, targets []NodePlan, nodes map[string]*inventory.Node) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(tasks.LockTTL / 6)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				lk := o.lock()
				for _, np := range targets {
					n := nodes[np.Node]
					if c, err := o.Conns.Get(ctx, n); err == nil {
						tasks.Acquire(ctx, c, n.Name, tasks.NewPaths(n.Home), lk)
					}
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
