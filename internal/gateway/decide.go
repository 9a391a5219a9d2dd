package gateway

import (
	"errors"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// action is what the pipeline does after an attempt.
type action uint8

const (
	// actStop ends the request with this attempt's result.
	actStop action = iota
	// actNext moves on to the next route; this one may be tried again
	// after a backoff.
	actNext
	// actDrop moves on and never comes back to this route for this
	// request: it cannot serve it.
	actDrop
	// actContext switches to the model's context_fallback chain.
	actContext
)

func (a action) String() string {
	return [...]string{"stop", "next", "drop", "context_fallback"}[a]
}

// verdict is everything the pipeline does about one attempt's result.
type verdict struct {
	act action
	// outcome is what the deployment's breaker counts.
	outcome Outcome
	// unhealthy records a failure in the provider's health.
	unhealthy bool
	// cooldown keeps the deployment out of rotation this long, for every
	// request (a 429).
	cooldown time.Duration
	// counted: the attempt reached (or tried to reach) the upstream, so it
	// counts toward resilience.max_attempts; attempts the gateway held
	// back before any call do not.
	counted bool
	// paced: held back by the route's own pacing.
	paced bool
}

// attemptState is what decide needs to know of the request besides the
// error.
type attemptState struct {
	committed   bool // the response has started: no retry can follow
	ended       bool // the request's context is done (client gone, deadline)
	usedContext bool // already on the context fallback chain
}

// defaultCooldown rests a deployment that answered 429 without saying for
// how long.
const defaultCooldown = time.Second

// decide is the pipeline's one decision table: from an attempt's error and
// the request's state to what happens next. It is a pure function; the
// table test in decide_test.go lists every row.
func decide(e *provider.Error, s attemptState) verdict {
	if e == nil {
		return verdict{act: actStop, outcome: OutcomeSuccess, counted: true}
	}
	switch {
	case errors.Is(e, errUnservable):
		// This route's format cannot express the request; no call was made.
		return verdict{act: actDrop, outcome: OutcomeIgnore}
	case errors.Is(e, errPaced):
		return verdict{act: actNext, outcome: OutcomeIgnore, paced: true}
	case e.Kind == provider.KindCanceled || s.ended:
		return verdict{act: actStop, outcome: OutcomeIgnore, counted: true}
	case errors.Is(e, errLocal):
		// The gateway's own resources ran out: not the upstream's fault.
		v := verdict{act: actNext, outcome: OutcomeIgnore, counted: true}
		if s.committed {
			v.act = actStop
		}
		return v
	}
	if errors.Is(e, errConnLost) && !s.committed {
		// Retried and shown in health, not counted by the breaker (see
		// errConnLost).
		return verdict{act: actNext, outcome: OutcomeIgnore, unhealthy: true, counted: true}
	}
	v := verdict{act: actStop, outcome: OutcomeIgnore, counted: true}
	upstream := e.UpstreamStatus != 0
	switch {
	case e.Kind == provider.KindRateLimited:
		// A 429 is not a failure: the deployment rests for the time it
		// asked, and the request moves on to another route at once.
		v.act, v.unhealthy = actNext, true
		v.cooldown = e.RetryAfter
		if v.cooldown <= 0 {
			v.cooldown = defaultCooldown
		}
	case e.Kind == provider.KindContextLength:
		v.act = actContext
		if s.usedContext {
			v.act = actStop
		}
	case e.Kind.Retryable():
		v.act, v.outcome, v.unhealthy = actNext, OutcomeFailure, true
	case e.Kind.Fallback():
		// Another route may take it (its key, its quota, its model); this
		// one will not, so it is not tried again.
		v.act, v.unhealthy = actDrop, upstream
	}
	if s.committed {
		v.act, v.cooldown = actStop, 0
	}
	return v
}
