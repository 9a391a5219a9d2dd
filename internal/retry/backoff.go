// Package retry holds the pure parts of llmgate's retry decisions: how long
// to back off (Policy), how long an upstream asked us to wait
// (ParseRetryAfter), and whether retrying is still affordable (Budget).
//
// Nothing here sleeps or sends requests; the gateway pipeline owns the loop
// and waits with clock.Sleep.
package retry

import (
	"math"
	"time"
)

// Default values used for zero fields of Policy. They match the
// resilience.retry defaults of the configuration.
const (
	DefaultBase       = 250 * time.Millisecond
	DefaultCap        = 8 * time.Second
	DefaultMultiplier = 2.0
)

// Policy is exponential backoff with full jitter. The zero value uses
// DefaultBase, DefaultCap and DefaultMultiplier. A Policy is a plain value
// and safe to share.
type Policy struct {
	// Base is the ceiling of the first backoff (attempt 0). Zero means
	// DefaultBase.
	Base time.Duration
	// Cap bounds every backoff. Zero means DefaultCap.
	Cap time.Duration
	// Multiplier grows the ceiling per attempt. Zero means
	// DefaultMultiplier; values below 1 are treated as 1 (no growth).
	Multiplier float64
}

// Backoff returns the wait before retry number attempt (0 for the first
// retry): rnd * min(Cap, Base * Multiplier^attempt). rnd is a uniform random
// number in [0, 1) supplied by the caller (e.g. rand.Float64()); values
// outside [0, 1] are clamped, NaN counts as 0. Full jitter spreads retries
// of many clients evenly instead of synchronising them.
func (p Policy) Backoff(attempt int, rnd float64) time.Duration {
	base, capD, mult := p.Base, p.Cap, p.Multiplier
	if base <= 0 {
		base = DefaultBase
	}
	if capD <= 0 {
		capD = DefaultCap
	}
	if mult == 0 {
		mult = DefaultMultiplier
	} else if mult < 1 || math.IsNaN(mult) {
		mult = 1
	}
	if attempt < 0 {
		attempt = 0
	}
	if !(rnd > 0) { // also catches NaN
		return 0
	}
	if rnd > 1 {
		rnd = 1
	}
	ceil := float64(base) * math.Pow(mult, float64(attempt))
	if !(ceil < float64(capD)) { // also catches +Inf
		ceil = float64(capD)
	}
	return time.Duration(rnd * ceil)
}
