package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/transport"
)

// NoSpaceError reports a node whose disk filled up while drover wrote to
// it. Staging cleans up after itself, so Free is what the node has once the
// partial copy is gone.
type NoSpaceError struct {
	Node string
	Op   string // what drover was doing: "push the pack", "unpack the pack"
	Path string // where on the node
	Need int64  // bytes the operation needed
	Free int64  // bytes free there after the failure; -1 when unknown
	// Said is the tool's own last words, when they tell more ("" for
	// SFTP, whose status says nothing useful).
	Said string
	Err  error
}

func (e *NoSpaceError) Error() string {
	free := "an unknown amount"
	if e.Free >= 0 {
		free = HumanBytes(e.Free)
	}
	s := fmt.Sprintf("no space left on the node %s to %s into %s: it needs %s and %s is free on that filesystem; free some space there and run again",
		e.Node, e.Op, e.Path, HumanBytes(e.Need), free)
	if e.Said != "" {
		s += " (" + e.Said + ")"
	}
	return s
}

func (e *NoSpaceError) Unwrap() error { return e.Err }

// noSpace turns the failure of a write to the node into a NoSpaceError
// when the disk is full: the error says so (ENOSPC, unzip's "disk full"),
// or what is free where it wrote is less than it needed (OpenSSH's SFTP
// server reports ENOSPC as a bare "Failure"). Other errors pass unchanged.
// target is what drover wrote; dir the directory whose filesystem it fills.
func (j *Job) noSpace(ctx context.Context, err error, op, target, dir string, need int64, said string) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	var ce *transport.ConnError
	if errors.As(err, &ce) {
		return err
	}
	text := strings.ToLower(err.Error())
	full := strings.Contains(text, "no space left") || strings.Contains(text, "disk full") || strings.Contains(text, "quota exceeded")
	free := j.freeBytes(ctx, dir)
	if !full && (free < 0 || free >= need) {
		return err
	}
	return &NoSpaceError{Node: j.Node.Name, Op: op, Path: target, Need: need, Free: free, Said: said, Err: err}
}

// freeBytes is the space free to drover in dir on the node, -1 when df
// cannot tell.
func (j *Job) freeBytes(ctx context.Context, dir string) int64 {
	out, err := sh(ctx, j.Conn, fmt.Sprintf("df -Pk %s 2>/dev/null | awk 'NR==2{print $4}'", q(dir)))
	if err != nil {
		return -1
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return -1
	}
	return kb * 1024
}
