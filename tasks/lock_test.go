package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/transport"
	"github.com/drover-sh/drover/transport/sshtest"
)

// TestAcquireLockRace: a run that finds the lock directory of another run
// that has not written its owner file yet waits for it briefly: it names
// that run once the file appears, takes the lock when the other run lets
// go, and otherwise says the lock is being taken; it never reports an
// unreadable lock id.
func TestAcquireLockRace(t *testing.T) {
	t.Parallel()
	srv := sshtest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := transport.Dial(ctx, srv.ClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mine := tasks.Lock{ID: "run-mine", Owner: "test", Since: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC()}
	other := tasks.Lock{ID: "run-other", Owner: "ops@elsewhere pid 7", Since: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC()}

	tests := []struct {
		name string
		// meanwhile is what the other run does 300ms after it made the
		// lock directory.
		meanwhile func(p tasks.Paths) error
		check     func(t *testing.T, p tasks.Paths, err error)
	}{
		{
			name: "owner written meanwhile",
			meanwhile: func(p tasks.Paths) error {
				b, _ := json.Marshal(other)
				return os.WriteFile(p.LockOwner(), b, 0o644)
			},
			check: func(t *testing.T, p tasks.Paths, err error) {
				var le *tasks.LockedError
				if !errors.As(err, &le) || le.Held.ID != other.ID || !strings.Contains(err.Error(), "drover unlock run-other --force") {
					t.Fatalf("Acquire = %v, want the lock of run-other", err)
				}
			},
		},
		{
			name:      "released meanwhile",
			meanwhile: func(p tasks.Paths) error { return os.Remove(p.Lock()) },
			check: func(t *testing.T, p tasks.Paths, err error) {
				if err != nil {
					t.Fatalf("Acquire after the other run let go: %v", err)
				}
				b, _ := os.ReadFile(p.LockOwner())
				if !strings.Contains(string(b), mine.ID) {
					t.Fatalf("owner file %q, want run-mine", b)
				}
			},
		},
		{
			name:      "never written",
			meanwhile: func(tasks.Paths) error { return nil },
			check: func(t *testing.T, p tasks.Paths, err error) {
				var le *tasks.LockedError
				if !errors.As(err, &le) || !le.Held.Pending || !le.Refused() {
					t.Fatalf("Acquire = %v, want a pending lock, refused", err)
				}
				for _, want := range []string{"still writing its lock", p.Lock()} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%q does not say %q", err, want)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tasks.NewPaths(filepath.Join(srv.Dir(), strings.ReplaceAll(tt.name, " ", "-"), "wso2am-4.4.0"))
			if err := os.MkdirAll(p.Lock(), 0o755); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				time.Sleep(300 * time.Millisecond)
				done <- tt.meanwhile(p)
			}()
			err := tasks.Acquire(ctx, c, "gw-1", p, mine)
			if merr := <-done; merr != nil {
				t.Fatal(merr)
			}
			if err != nil && strings.Contains(err.Error(), "unreadable") {
				t.Errorf("%v", err)
			}
			tt.check(t, p, err)
		})
	}
}
