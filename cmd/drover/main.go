// Command drover rolls updates across WSO2 API Manager clusters over SSH.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/drover-sh/drover/cmd/drover/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
