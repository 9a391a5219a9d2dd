package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/llmgate/llmgate/internal/breaker"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/pacer"
	"github.com/llmgate/llmgate/internal/retry"
)

// breakerGuard adapts a circuit breaker to the gateway's Guard.
type breakerGuard struct{ b *breaker.Breaker }

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

func (g breakerGuard) Cooldown(until time.Time) { g.b.Cooldown(until) }

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

// pacerAdapter adapts a pacer to the gateway's Pacer.
type pacerAdapter struct{ p *pacer.Pacer }

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

func (a pacerAdapter) Learn(h http.Header, now time.Time) { a.p.Learn(h, now) }

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
func newSetup(cfg *config.Config, clk clock.Clock, logger *slog.Logger) func(d *gateway.Deployment) {
	guard := newGuardFactory(cfg, clk, logger)
	rc := cfg.Resilience.Retry
	return func(d *gateway.Deployment) {
		d.Guard = guard(d.Upstream, d.Name)
		d.Budget = retry.NewBudget(rc.BudgetRatio, 3, 10*time.Second, clk)
		p := cfg.Providers[d.Upstream.Name]
		d.Pacer = pacerAdapter{pacer.New(pacer.Settings{RPM: p.RPM, TPM: p.TPM}, clk)}
	}
}

func newGuardFactory(cfg *config.Config, clk clock.Clock, logger *slog.Logger) func(u *gateway.Upstream, name string) gateway.Guard {
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
		return breakerGuard{breaker.New(name, s, clk)}
	}
}
