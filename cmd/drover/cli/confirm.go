package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
)

// confirm asks a yes/no question on the terminal. The answer is read in the
// background so that an interrupt (ctx cancelled by SIGINT) aborts the
// question at once: the error wraps context.Canceled, which is exit 130.
// The reader left behind blocks on the terminal until the process exits.
func (e *env) confirm(ctx context.Context, question string) (bool, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !e.isTerminal(f) {
		return false, usageErrorf("standard input is not a terminal, so drover cannot ask for confirmation; pass --yes to apply without asking")
	}
	if err := ctx.Err(); err != nil {
		return false, errPromptInterrupted(err)
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(f).ReadString('\n')
		answer <- line
	}()
	select {
	case line := <-answer:
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	case <-ctx.Done():
		fmt.Fprintln(e.stderr)
		return false, errPromptInterrupted(ctx.Err())
	}
}

// errPromptInterrupted is an interrupt at a confirmation: nothing was
// changed, and the exit status is 130.
func errPromptInterrupted(cause error) error {
	return fmt.Errorf("interrupted at the confirmation; nothing changed: %w", cause)
}
