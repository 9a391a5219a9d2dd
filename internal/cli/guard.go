package cli

import (
	"log/slog"
	"time"

	"github.com/llmgate/llmgate/internal/breaker"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
)

// breakerGuard adapts a circuit breaker to the gateway's Guard.
type breakerGuard struct{ b *breaker.Breaker }

func (g breakerGuard) Allow() (func(gateway.Outcome), error) {
	done, err := g.b.Allow()
	if err != nil {
		return nil, err
	}
	return func(o gateway.Outcome) {
		switch o {
		case gateway.OutcomeSuccess:
			done(breaker.Success)
		case gateway.OutcomeFailure:
			done(breaker.Failure)
		default:
			done(breaker.Ignore)
		}
	}, nil
}

func (g breakerGuard) Cooldown(until time.Time) { g.b.Cooldown(until) }

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

// newGuardFactory makes one breaker per deployment with the provider's
// breaker settings, logging every transition.
func newGuardFactory(cfg *config.Config, clk clock.Clock, logger *slog.Logger) func(u *gateway.Upstream, name string) gateway.Guard {
	return func(u *gateway.Upstream, name string) gateway.Guard {
		bc := cfg.BreakerFor(u.Name)
		s := breaker.Settings{
			Failures:         bc.Failures,
			Ratio:            bc.Ratio,
			MinRequests:      bc.MinRequests,
			Window:           bc.Window,
			RecoveryTimeout:  bc.RecoveryTimeout,
			HalfOpenRequests: bc.HalfOpenRequests,
			OnStateChange: func(name string, from, to breaker.State) {
				logger.Warn("circuit breaker changed state", "deployment", name, "from", from.String(), "to", to.String())
			},
		}
		return breakerGuard{breaker.New(name, s, clk)}
	}
}
