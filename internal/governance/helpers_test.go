package governance_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/pricing"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store/sqlite"
)

// t0 is a Friday afternoon, UTC.
var t0 = time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)

type env struct {
	g   *governance.Governor
	st  *sqlite.Store
	clk *clock.Fake
	dir string
}

type envOpt func(*governance.Options)

func shared(o *governance.Options) { o.Shared = true }

// newEnv builds a Governor over a new SQLite store with a fake clock.
func newEnv(t *testing.T, gc config.Governance, opts ...envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, clk: clock.NewFake(t0), dir: dir}
	e.g = e.open(t, gc, opts...)
	return e
}

// open builds another Governor over the same store (a restart).
func (e *env) open(t *testing.T, gc config.Governance, opts ...envOpt) *governance.Governor {
	t.Helper()
	o := governance.Options{Store: e.st, Config: gc, Prices: pricing.New(gc, nil), Clock: e.clk}
	for _, f := range opts {
		f(&o)
	}
	g, err := governance.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (e *env) key(t *testing.T, s governance.KeySpec) (governance.KeyInfo, string) {
	t.Helper()
	if s.Name == "" {
		s.Name = "test"
	}
	nk, err := e.g.CreateKey(context.Background(), s)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return nk.Key, nk.Secret
}

func (e *env) principal(t *testing.T, secret string) *gateway.Principal {
	t.Helper()
	p, err := e.g.Authenticate(context.Background(), secret)
	if err != nil || p == nil {
		t.Fatalf("Authenticate: %v, %v", p, err)
	}
	return p
}

// admission is a request for gpt-4o-mini ($0.15 in, $0.60 out per million)
// estimated at in input tokens and out output tokens, with no byte bound.
func admission(p *gateway.Principal, model string, in, out int) *gateway.Admission {
	return &gateway.Admission{Principal: p, Model: model, PriceModel: model, Provider: "openai",
		Tokens: &sized{in: in, out: out}}
}

// sized is a request's gateway.Tokens: bound input tokens from its bytes
// (none when bound is 0), in counted exactly, out as its output cap. It
// counts the exact counts asked for (each one a decode of the body in the
// gateway).
type sized struct {
	bound, in, out int
	counts         int
}

func (s *sized) InputBound() (int, bool) { return s.bound, s.bound > 0 }
func (s *sized) Input() int              { s.counts++; return s.in }
func (s *sized) MaxOutput() int          { return s.out }

// perr returns err as a *provider.Error with the given status, or fails.
func perr(t *testing.T, err error, status int) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *provider.Error", err)
	}
	if pe.HTTPStatus() != status {
		t.Fatalf("status %d (%s), want %d", pe.HTTPStatus(), pe.Message, status)
	}
	return pe
}

func ptr[T any](v T) *T { return &v }
