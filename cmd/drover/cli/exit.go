package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/drover-sh/drover/inventory"
)

// Exit codes of every command; the contract fixes them.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitRefused = 3
	// ExitChanges is plan --detailed-exitcode's answer when the plan would
	// change something (an update, a resume or a reconfiguration).
	ExitChanges     = 4
	ExitInterrupted = 130
)

const exitCodesHelp = `EXIT STATUS:
   0    success
   1    failed while working: a node failed or a command failed on some node (the output says which)
   2    invalid usage or invalid inventory
   3    refused before changing anything: stale plan, lock held by another run,
        unknown or changed host key, preflight failed
   4    plan --detailed-exitcode only: the plan would change something (nothing failed)
   130  interrupted
`

// exitError carries an exit code with the error that caused it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports invalid usage (exit 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{ExitUsage, fmt.Errorf(format, args...)}
}

// refused marks an error as "refused before changing anything" (exit 3).
func refused(err error) error { return &exitError{ExitRefused, err} }

// silentError is an error whose message was already shown (diagnostics,
// per-node failures); only its exit code matters.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// refusedCause is implemented by errors that mean "refused before changing
// anything", such as an unknown or changed host key.
type refusedCause interface{ Refused() bool }

// ExitCode maps an error to the exit code of the contract. This is the only
// place that does.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	var se *silentError
	var sel *inventory.SelectError
	var rc refusedCause
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &sel):
		return ExitUsage
	case errors.As(err, &rc) && rc.Refused():
		return ExitRefused
	}
	return ExitFailed
}
