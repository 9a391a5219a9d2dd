package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
)

func runValidate(_ context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "validate", `Load a config file, report every problem with file:line:column and the field path, and build
every component without listening. Exit status: 0 valid, 1 invalid, 2 usage error.`)
	path := fs.String("config", "", "config file to check (default $LLMGATE_CONFIG)")
	fs.StringVar(path, "c", "", "shorthand for --config")
	quiet := fs.Bool("quiet", false, "print nothing when the config is valid")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	p := configPath(*path, env.Getenv)
	if p == "" {
		fmt.Fprintln(env.Stderr, "llmgate validate: give the file to check with --config FILE (or set LLMGATE_CONFIG)")
		return exitUsage
	}
	cfg, err := config.Load(p, env.Getenv)
	if err != nil {
		var ce *config.Errors
		if errors.As(err, &ce) {
			for _, pr := range ce.Problems {
				fmt.Fprintln(env.Stderr, pr.String())
			}
			fmt.Fprintf(env.Stderr, "%s: %d problem(s); the config is invalid\n", p, len(ce.Problems))
		} else {
			fmt.Fprintf(env.Stderr, "llmgate validate: %v\n", err)
		}
		return exitInvalid
	}
	parts, err := buildParts(cfg, nil, gateway.Options{}, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", p, err)
		return exitInvalid
	}
	if *quiet {
		return exitOK
	}
	fmt.Fprintf(env.Stdout, "%s: valid\n", p)
	fmt.Fprintf(env.Stdout, "  listen %s (clients must authenticate: %v)\n", cfg.Listen, cfg.AuthRequired())
	for _, u := range parts.router.Upstreams() {
		key := "key set"
		if !u.HasKey() {
			key = "no key"
			if u.RequiresKey {
				key += " (clients' own keys are passed through)"
			}
		}
		fmt.Fprintf(env.Stdout, "  provider %s: %s %s, %s\n", u.Name, u.Format, redactURL(u.Endpoint.BaseURL), key)
	}
	names := make([]string, 0, len(cfg.Models))
	for m := range cfg.Models {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		fmt.Fprintf(env.Stdout, "  model %s -> %s\n", m, strings.Join(cfg.Models[m].Route, " -> "))
	}
	for _, m := range parts.router.Unroutable() {
		fmt.Fprintf(env.Stdout, "  warning: route cannot work without client keys: %s\n", m)
	}
	return exitOK
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
