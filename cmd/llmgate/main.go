// Command llmgate is a gateway for LLM APIs: see the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmgate/llmgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
