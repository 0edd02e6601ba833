package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drover-sh/drover/transport"
)

// Lock is the lock a run holds on a node while it works on it.
type Lock struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
	// Pending is a lock whose owner file could not be read: another run
	// took the lock a moment ago and is still writing it (or died right
	// then). Its ID is empty.
	Pending bool `json:"pending,omitempty"`
}

// lockPendingOwner is what a pending lock says of its owner.
const lockPendingOwner = "another run that is still writing its lock"

// pendingLock is the lock of a run caught between taking the lock and
// writing its owner file.
func pendingLock() *Lock { return &Lock{Pending: true, Owner: lockPendingOwner} }

// LockTTL is how long a lock lasts without being refreshed. A run refreshes
// its locks well within it; a lock left by a dead run expires, but drover
// still asks for `unlock --force` before taking it over, since the run may
// only be slow.
const LockTTL = 30 * time.Minute

// LockedError reports a node locked by another run.
type LockedError struct {
	Node string
	Held Lock
	// Dir is the lock directory on the node, when known.
	Dir string
}

func (e *LockedError) Error() string {
	if e.Held.Pending || e.Held.ID == "" {
		where := "the lock directory beside home (.drover/<home>/lock)"
		if e.Dir != "" {
			where = e.Dir
		}
		return fmt.Sprintf("%s is locked by %s; try again in a moment (if the lock stays without an owner, that run died while taking it: make sure no drover run is active, then remove %s on the node)",
			e.Node, lockPendingOwner, where)
	}
	return fmt.Sprintf("%s is locked by run %s (%s, since %s); if that run is dead, break the lock with: drover unlock %s --force",
		e.Node, e.Held.ID, e.Held.Owner, e.Held.Since.Format(time.RFC3339), e.Held.ID)
}

// Refused marks a held lock as "refused before changing anything".
func (e *LockedError) Refused() bool { return true }

// lockWaitTries is how many times (about 0.1s apart) Acquire looks again
// for the owner file of a lock another run has just taken.
const lockWaitTries = 30

// Acquire takes the node's lock for lk.ID. Taking a lock the same run
// already holds refreshes it. mkdir is the atomic test-and-set: two
// controllers racing for one node cannot both win. The loser may find the
// lock directory before the winner wrote its owner file: it looks again
// for a few seconds (taking the lock if the winner let go meanwhile), then
// reports a pending lock, never an unreadable id.
func Acquire(ctx context.Context, c Conn, node string, p Paths, lk Lock) error {
	body, _ := json.Marshal(lk)
	script := fmt.Sprintf(`mkdir -p %[1]s || exit 3
i=0
while :; do
  if mkdir %[2]s 2>/dev/null; then printf '%%s\n' %[3]s > %[4]s.tmp && mv %[4]s.tmp %[4]s && echo acquired; exit 0; fi
  [ -s %[4]s ] && break
  i=$((i+1))
  [ "$i" -ge %[5]d ] && break
  sleep 0.1 2>/dev/null || sleep 1
done
cat %[4]s 2>/dev/null || echo '{}'`, q(p.State), q(p.Lock()), q(string(body)), q(p.LockOwner()), lockWaitTries)
	out, err := sh(ctx, c, script)
	if err != nil {
		return fmt.Errorf("tasks: lock %s: %w", node, err)
	}
	if strings.TrimSpace(out) == "acquired" {
		return nil
	}
	var held Lock
	_ = json.Unmarshal([]byte(strings.TrimSpace(out)), &held)
	if held.ID == lk.ID {
		return refreshLock(ctx, c, p, lk)
	}
	if held.ID == "" {
		held = *pendingLock()
	}
	return &LockedError{Node: node, Held: held, Dir: p.Lock()}
}

func refreshLock(ctx context.Context, c Conn, p Paths, lk Lock) error {
	body, _ := json.Marshal(lk)
	_, err := sh(ctx, c, fmt.Sprintf("printf '%%s\\n' %s > %s.tmp && mv %s.tmp %s",
		q(string(body)), q(p.LockOwner()), q(p.LockOwner()), q(p.LockOwner())))
	return err
}

// Release drops the lock if id holds it; a lock held by anyone else is left
// alone.
func Release(ctx context.Context, c Conn, p Paths, id string) error {
	_, err := unlockIf(ctx, c, p, id)
	return err
}

// Break removes the lock if id holds it, and reports whether it did.
func Break(ctx context.Context, c Conn, p Paths, id string) (bool, error) {
	return unlockIf(ctx, c, p, id)
}

func unlockIf(ctx context.Context, c Conn, p Paths, id string) (bool, error) {
	idJSON, _ := json.Marshal(id)
	script := fmt.Sprintf(`[ -d %[1]s ] || exit 0
if grep -qF %[2]s %[3]s 2>/dev/null; then rm -rf %[1]s && echo removed; fi`,
		q(p.Lock()), q(`"id":`+string(idJSON)), q(p.LockOwner()))
	out, err := sh(ctx, c, script)
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		return false, fmt.Errorf("tasks: unlock: %w", err)
	}
	return strings.TrimSpace(out) == "removed", err
}
