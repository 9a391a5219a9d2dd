package config

// TimeoutsFor returns the timeouts for an attempt at model on provider:
// resilience.timeouts, overridden by the provider's non-zero timeouts, then
// by the model's. Unknown names simply add nothing.
func (c *Config) TimeoutsFor(provider, model string) Timeouts {
	t := c.Resilience.Timeouts
	if p := c.Providers[provider]; p != nil && p.Timeouts != nil {
		overlayTimeouts(&t, p.Timeouts)
	}
	if m := c.Models[model]; m != nil && m.Timeouts != nil {
		overlayTimeouts(&t, m.Timeouts)
	}
	return t
}

func overlayTimeouts(t, o *Timeouts) {
	overlay(&t.Connect, o.Connect)
	overlay(&t.ResponseHeader, o.ResponseHeader)
	overlay(&t.FirstToken, o.FirstToken)
	overlay(&t.Idle, o.Idle)
	overlay(&t.Total, o.Total)
}

// BreakerFor returns the breaker settings for provider: resilience.breaker
// overridden by the provider's non-zero breaker fields.
func (c *Config) BreakerFor(provider string) Breaker {
	b := c.Resilience.Breaker
	if p := c.Providers[provider]; p != nil && p.Breaker != nil {
		o := p.Breaker
		overlay(&b.Failures, o.Failures)
		overlay(&b.Ratio, o.Ratio)
		overlay(&b.MinRequests, o.MinRequests)
		overlay(&b.Window, o.Window)
		overlay(&b.EjectionTime, o.RecoveryTimeout)
		overlay(&b.EjectionTime, o.EjectionTime)
		overlay(&b.MaxEjectionTime, o.MaxEjectionTime)
		overlay(&b.HalfOpenRequests, o.HalfOpenRequests)
	}
	return b
}

func overlay[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
