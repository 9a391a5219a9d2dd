package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/breaker"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/fleet"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/pacer"
	"github.com/llmgate/llmgate/internal/retry"
)

// breakerGuard adapts a circuit breaker to the gateway's Guard. With a
// fleet bus, its 429 cooldowns are shared with the other replicas.
type breakerGuard struct {
	b   *breaker.Breaker
	bus *fleet.Bus // nil: this replica only
}

func (g breakerGuard) Allow() (func(gateway.Outcome), error) {
	done, err := g.b.Allow()
	if err != nil {
		return nil, err
	}
	return adapt(done), nil
}

func adapt(done func(breaker.Outcome)) func(gateway.Outcome) {
	return func(o gateway.Outcome) {
		switch o {
		case gateway.OutcomeSuccess:
			done(breaker.Success)
		case gateway.OutcomeFailure:
			done(breaker.Failure)
		default:
			done(breaker.Ignore)
		}
	}
}

// Force admits an attempt through an ejected breaker (panic mode).
func (g breakerGuard) Force() func(gateway.Outcome) { return adapt(g.b.Force()) }

func (g breakerGuard) Cooldown(until time.Time) {
	g.b.Cooldown(until)
	if g.bus != nil {
		g.bus.Publish(fleet.Event{Kind: fleet.Cool, Deployment: g.b.Name(), Until: until.UnixMilli()})
	}
}

// ReadyAt is when the deployment takes traffic again (zero: now).
func (g breakerGuard) ReadyAt() time.Time { return g.b.ReadyAt() }

// CoolingDown reports whether it is resting after a 429.
func (g breakerGuard) CoolingDown() bool { return !g.b.Snapshot().CoolingUntil.IsZero() }

// StateName is the breaker state for /health and metrics.
func (g breakerGuard) StateName() string {
	s := g.b.Snapshot()
	switch {
	case s.State == breaker.Open:
		return "open"
	case s.State == breaker.HalfOpen:
		return "half_open"
	case !s.CoolingUntil.IsZero():
		return "cooling"
	}
	return "closed"
}

// pacerAdapter adapts a pacer to the gateway's Pacer. With a fleet bus,
// the rate limits it learns from upstream headers are shared with the
// other replicas, at most once a second per deployment.
type pacerAdapter struct {
	p    *pacer.Pacer
	bus  *fleet.Bus // nil: this replica only
	name string
	last *atomic.Int64 // Unix ms of the last share
}

func (a pacerAdapter) Wait(ctx context.Context, est int, maxWait time.Duration) (func(int), error) {
	r, err := a.p.Wait(ctx, est, maxWait)
	if err != nil {
		var we *pacer.WaitError
		if errors.As(err, &we) {
			return nil, waitErr{we}
		}
		return nil, err
	}
	return r.Settle, nil
}

func (a pacerAdapter) Learn(h http.Header, now time.Time) {
	a.p.Learn(h, now)
	if a.bus == nil {
		return
	}
	if ms := now.UnixMilli(); ms-a.last.Load() >= 1000 {
		if lim := rateLimitHeaders(h); lim != nil && a.last.CompareAndSwap(a.last.Load(), ms) {
			a.bus.Publish(fleet.Event{Kind: fleet.Limits, Deployment: a.name, Header: lim})
		}
	}
}

// rateLimitHeaders picks the headers pacing learns from; nil if none.
func rateLimitHeaders(h http.Header) map[string]string {
	var out map[string]string
	for k, v := range h {
		lk := strings.ToLower(k)
		if len(v) > 0 && (strings.HasPrefix(lk, "x-ratelimit-") || strings.HasPrefix(lk, "anthropic-ratelimit-")) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v[0]
		}
	}
	return out
}

// waitErr tells the gateway how long pacing would have made it wait.
type waitErr struct{ *pacer.WaitError }

func (w waitErr) Unwrap() error { return w.WaitError }

func (w waitErr) RetryAfter() time.Duration {
	if w.Wait <= 0 || w.Wait > 24*time.Hour {
		return 0
	}
	return w.Wait
}

// newSetup gives each deployment its breaker (with the provider's settings,
// logging every transition), retry budget and pacer.
func newSetup(cfg *config.Config, clk clock.Clock, logger *slog.Logger, bus *fleet.Bus) func(d *gateway.Deployment) {
	guard := newGuardFactory(cfg, clk, logger, bus)
	rc := cfg.Resilience.Retry
	return func(d *gateway.Deployment) {
		d.Guard = guard(d.Upstream, d.Name)
		d.Budget = retry.NewBudget(rc.BudgetRatio, 3, 10*time.Second, clk)
		p := cfg.Providers[d.Upstream.Name]
		d.Pacer = pacerAdapter{p: pacer.New(pacer.Settings{RPM: p.RPM, TPM: p.TPM}, clk), bus: bus, name: d.Name, last: new(atomic.Int64)}
	}
}

func newGuardFactory(cfg *config.Config, clk clock.Clock, logger *slog.Logger, bus *fleet.Bus) func(u *gateway.Upstream, name string) gateway.Guard {
	return func(u *gateway.Upstream, name string) gateway.Guard {
		bc := cfg.BreakerFor(u.Name)
		s := breaker.Settings{
			Failures:         bc.Failures,
			Ratio:            bc.Ratio,
			MinRequests:      bc.MinRequests,
			Window:           bc.Window,
			EjectionTime:     bc.EjectionTime,
			MaxEjectionTime:  bc.MaxEjectionTime,
			HalfOpenRequests: bc.HalfOpenRequests,
			OnStateChange: func(name string, from, to breaker.State) {
				logger.Warn("circuit breaker changed state", "deployment", name, "from", from.String(), "to", to.String())
			},
		}
		if bus != nil {
			s.OnLocalChange = func(name string, to breaker.State, until time.Time) {
				switch to {
				case breaker.Open:
					bus.Publish(fleet.Event{Kind: fleet.Eject, Deployment: name, Until: until.UnixMilli()})
				case breaker.Closed:
					bus.Publish(fleet.Event{Kind: fleet.Close, Deployment: name})
				}
			}
		}
		return breakerGuard{breaker.New(name, s, clk), bus}
	}
}

// applyRemote applies another replica's event to this replica's
// deployment of the same name (made on first use).
func applyRemote(router func() *gateway.Router, clk clock.Clock) func(fleet.Event) {
	return func(e fleet.Event) {
		d := router().Deployment(e.Deployment)
		if d == nil {
			return
		}
		if g, ok := d.Guard.(breakerGuard); ok {
			switch e.Kind {
			case fleet.Eject:
				g.b.Eject(e.UntilTime())
			case fleet.Close:
				g.b.Reset()
			case fleet.Cool:
				g.b.Cooldown(e.UntilTime())
			}
		}
		if p, ok := d.Pacer.(pacerAdapter); ok && e.Kind == fleet.Limits {
			h := http.Header{}
			for k, v := range e.Header {
				h.Set(k, v)
			}
			p.p.Learn(h, clk.Now())
		}
	}
}
