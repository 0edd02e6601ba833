package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/tasks"
	"github.com/drover-sh/drover/tasks/apim/lab"
	"github.com/drover-sh/drover/tasks/apim/lab/labtest"
)

// syncBuffer is a bytes.Buffer safe to read while drover writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCtrlCAtPrompt: Ctrl-C while apply or recover waits for its
// confirmation on a terminal ends drover at once with exit 130, and nothing
// changed: every node at its level, no lock left, no run in any journal.
func TestCtrlCAtPrompt(t *testing.T) {
	nodes, _ := lab.ParseNodes("gw=2")
	l := labtest.New(t, lab.Spec{Nodes: nodes})
	t.Setenv("DROVER_INVENTORY", l.Inventory)
	t.Setenv("DROVER_SSH_CONFIG", "none")

	for _, args := range [][]string{{"apply"}, {"recover", "gw-1", "--resume"}} {
		_, slave := openPTY(t)
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut syncBuffer
		done := make(chan int, 1)
		go func() { done <- Run(ctx, append([]string{"drover"}, args...), slave, &out, &errOut) }()
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(errOut.String(), "[y/N]") {
			if time.Now().After(deadline) {
				t.Fatalf("drover %s never asked:\n%s\n%s", strings.Join(args, " "), out.String(), errOut.String())
			}
			select {
			case code := <-done:
				t.Fatalf("drover %s ended (exit %d) without asking:\n%s\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancel() // what SIGINT does to the context main gives Run
		select {
		case code := <-done:
			if code != ExitInterrupted || !strings.Contains(errOut.String(), "nothing changed") {
				t.Errorf("drover %s, Ctrl-C at the prompt: exit %d, want 130 saying nothing changed:\n%s", strings.Join(args, " "), code, errOut.String())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("drover %s still waits 5s after Ctrl-C at the prompt", strings.Join(args, " "))
		}
	}
	for _, n := range l.Nodes {
		p := tasks.NewPaths(n.Home)
		if lv := levelOf(t, n.Home); lv != l.Level {
			t.Errorf("%s at level %d, want %d", n.Name, lv, l.Level)
		}
		if _, err := os.Stat(p.Lock()); !os.IsNotExist(err) {
			t.Errorf("%s: a lock is left after Ctrl-C at a prompt (%v)", n.Name, err)
		}
		if j, _ := os.ReadFile(p.Journal()); len(j) > 0 {
			t.Errorf("%s's journal records a run:\n%s", n.Name, j)
		}
	}
}
