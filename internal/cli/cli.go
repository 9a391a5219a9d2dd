// Package cli is llmgate's command line: one file per subcommand. All wiring
// of concrete parts (codecs, stores, breakers) happens here.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Version is set at build time with -ldflags "-X github.com/llmgate/llmgate/internal/cli.Version=v1.2.3".
var Version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1 // the command ran and found a problem (invalid config, failed serve)
	exitUsage   = 2 // the command line itself is wrong
)

// Env is what a command sees of its process: arguments aside.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the gateway", runServe},
		{"validate", "check a config file and build everything without listening", runValidate},
		{"mock", "run a fault-injecting mock provider (OpenAI, Anthropic, Gemini endpoints)", runMock},
		{"logs", "show recent requests from the request log", runLogs},
		{"keys", "create, list, show, update, revoke and delete virtual keys", runKeys},
		{"teams", "create, list, show and update teams (shared budgets and limits)", runTeams},
		{"topup", "add to a virtual key's prepaid balance", runTopUp},
		{"usage", "report spend and tokens by key, team, model, provider or day", runUsage},
		{"tokens", "count the tokens of a prompt or request for a model, offline", runTokens},
		{"version", "print the version", runVersion},
	}
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "llmgate: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `llmgate %s: a gateway for LLM APIs (OpenAI, Anthropic, Gemini and OpenAI-compatible providers)

Usage: llmgate <command> [flags]

Commands:
`, Version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "llmgate <command> --help" for a command's flags.

Environment:
  OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or GOOGLE_API_KEY),
  DEEPSEEK_API_KEY, MISTRAL_API_KEY, GROQ_API_KEY
                       provider keys for zero-config mode (no --config)
  LLMGATE_CONFIG       config file when --config is not given
  LLMGATE_LISTEN       listen address in zero-config mode (default 127.0.0.1:8766)
  LLMGATE_MASTER_KEY   the gateway's own key (required from clients when listening beyond loopback)
  LLMGATE_LOG_LEVEL    debug, info, warn or error (default info)
  LLMGATE_DATA_DIR     where the embedded SQLite store lives (default ~/.llmgate)
`)
}

// newFlagSet returns a FlagSet that prints its usage with a summary line.
func newFlagSet(env Env, name, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("llmgate "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: llmgate %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; it returns a non-negative exit code when the command
// should stop (help asked: 0; bad flags: 2).
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return exitUsage
	}
	return -1
}

func runVersion(_ context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "version", "Print the version.")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintf(env.Stdout, "llmgate %s\n", Version)
	return exitOK
}

// configPath picks --config, else $LLMGATE_CONFIG.
func configPath(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	return getenv("LLMGATE_CONFIG")
}

// osEnv is the real process environment.
func osEnv() Env { return Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv} }
