package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestConfirmInterrupted: Ctrl-C (the context cancelled) while the question
// waits for an answer on a terminal returns at once with exit 130, and an
// answer typed before it is still read.
func TestConfirmInterrupted(t *testing.T) {
	master, slave := openPTY(t)
	var errOut bytes.Buffer
	e := &env{stdin: slave, stdout: &bytes.Buffer{}, stderr: &errOut, getenv: func(string) string { return "" }}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.confirm(ctx, "Apply?")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if code := ExitCode(err); code != ExitInterrupted {
			t.Fatalf("confirm after Ctrl-C: %v (exit %d), want exit 130", err, code)
		}
		if !strings.Contains(err.Error(), "nothing changed") {
			t.Errorf("error %q does not say that nothing changed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("confirm still waits for a line 5s after Ctrl-C")
	}

	// The reader left behind takes the next line; a new question gets its
	// own answer only after that. Here: a fresh terminal answers yes.
	master2, slave2 := openPTY(t)
	e.stdin = slave2
	go master2.Write([]byte("yes\n"))
	ok, err := e.confirm(context.Background(), "Apply?")
	if err != nil || !ok {
		t.Fatalf("confirm with answer yes: %v %v", ok, err)
	}
	_ = master
}
