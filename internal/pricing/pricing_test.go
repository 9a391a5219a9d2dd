package pricing_test

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/pricing"
	"github.com/llmgate/llmgate/internal/provider"
)

var _ gateway.Pricer = (*pricing.Table)(nil)

func table(unknown string, prices map[string]config.Price, log *bytes.Buffer) *pricing.Table {
	var l *slog.Logger
	if log != nil {
		l = slog.New(slog.NewTextHandler(log, nil))
	}
	return pricing.New(config.Governance{UnknownPrice: unknown, Prices: prices}, l)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestCost(t *testing.T) {
	tb := table(pricing.Record, map[string]config.Price{
		"gpt-4o-mini":             {Input: 1, Output: 2},     // overrides the catalog
		"groq/llama-3.3-70b":      {Input: 0.5, Output: 0.5}, // one provider's copy
		"my-local-llama":          {},                        // free, but priced
		"claude-sonnet-4-5":       {Input: 3, Output: 15, CacheWrite: 3.75, CachedInput: 0.3},
		"gemini-2.5-flash":        {Input: 0.3, Output: 2.5},
		"ollama/gemini-2.5-flash": {Input: 0, Output: 0},
	}, nil)
	u := provider.Usage{InputTokens: 1_000_000, OutputTokens: 500_000}
	for _, tc := range []struct {
		name, provider, model string
		usage                 provider.Usage
		want                  float64
		priced                bool
	}{
		{"catalog price", "openai", "gpt-4o", u, 2.5 + 5, true},
		{"catalog price of a dated snapshot", "openai", "gpt-4o-2024-08-06", u, 2.5 + 5, true},
		{"override by model", "openai", "gpt-4o-mini", u, 1 + 1, true},
		{"override applies to snapshots of the model", "openai", "gpt-4o-mini-2024-07-18", u, 1 + 1, true},
		{"override by provider and model", "groq", "llama-3.3-70b", u, 0.5 + 0.25, true},
		{"provider override does not leak to others", "other", "llama-3.3-70b", u, 0, false},
		{"zero override is a price", "ollama", "my-local-llama", u, 0, true},
		{"provider override wins over model override", "ollama", "gemini-2.5-flash", u, 0, true},
		{"gemini resource name", "gemini", "models/gemini-2.5-flash", u, 0.3 + 1.25, true},
		{"cache reads and writes", "anthropic", "claude-sonnet-4-5",
			provider.Usage{InputTokens: 1_000_000, CachedTokens: 500_000, CacheWriteTokens: 250_000, OutputTokens: 0},
			0.25*3 + 0.5*0.3 + 0.25*3.75, true},
		{"unknown model", "x", "no-such-model", u, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, priced := tb.Cost(tc.provider, tc.model, tc.usage)
			if priced != tc.priced || !near(got, tc.want) {
				t.Errorf("Cost(%s, %s) = %v, %v; want %v, %v", tc.provider, tc.model, got, priced, tc.want, tc.priced)
			}
		})
	}
	if !tb.Known("gpt-4o") || tb.Known("no-such-model") || !tb.Known("my-local-llama") {
		t.Error("Known disagrees with Price")
	}
}

func TestUnpricedWarnsOncePerModel(t *testing.T) {
	var log bytes.Buffer
	tb := table("", nil, &log)
	n := 0
	tb.OnUnpriced = func() { n++ }
	for range 3 {
		tb.Cost("p", "mystery-1", provider.Usage{InputTokens: 10})
		tb.Cost("p", "mystery-2", provider.Usage{InputTokens: 10})
	}
	if got := strings.Count(log.String(), "model has no price"); got != 2 {
		t.Errorf("%d warnings for 2 unpriced models, want 2:\n%s", got, log.String())
	}
	if !strings.Contains(log.String(), "governance.prices") {
		t.Errorf("the warning does not say where to add a price:\n%s", log.String())
	}
	if n != 6 {
		t.Errorf("OnUnpriced called %d times, want 6", n)
	}
}

func TestCheck(t *testing.T) {
	record := table(pricing.Record, nil, nil)
	block := table(pricing.Block, map[string]config.Price{"house-model": {Input: 1}}, nil)
	for _, tc := range []struct {
		name  string
		tb    *pricing.Table
		model string
		ok    bool
	}{
		{"record lets unpriced through", record, "mystery", true},
		{"block lets priced through", block, "gpt-4o", true},
		{"block lets overridden through", block, "house-model", true},
		{"block refuses unpriced", block, "mystery", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tb.Check("p", tc.model)
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%s) = %v, want ok=%v", tc.model, err, tc.ok)
			}
			if err == nil {
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.HTTPStatus() != 403 {
				t.Fatalf("Check error %v is not a 403 *provider.Error", err)
			}
			for _, want := range []string{`"mystery"`, "governance.prices", "no price"} {
				if !strings.Contains(pe.Message, want) {
					t.Errorf("message %q lacks %q", pe.Message, want)
				}
			}
		})
	}
	var zero *pricing.Table
	if zero.Check("p", "x") != nil || zero.Known("gpt-4o") {
		t.Error("a nil table should price nothing and block nothing")
	}
}
