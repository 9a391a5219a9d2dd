package pacer

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Learn updates the buckets from an upstream response's rate-limit
// headers; now is when the response arrived. It reads OpenAI's
// x-ratelimit-{limit,remaining,reset}-{requests,tokens} (resets are Go
// durations) or else Anthropic's anthropic-ratelimit-{requests,tokens}-
// {limit,remaining,reset} (resets are RFC 3339 times; input-tokens-* stand
// in when tokens-* are absent).
//
// Rules, chosen to be safe with what upstreams actually send:
//   - remaining 0 with a reset blocks that bucket until the reset (for
//     Anthropic, an exhausted input- or output-tokens bucket blocks the
//     token bucket too). This is what turns a certain 429 into a wait.
//   - Without configured limits, a reported limit makes the bucket pace at
//     limit per minute (OpenAI and Anthropic limits are per minute; Groq's
//     request limit is per day, where the remaining-0 rule still applies)
//     with remaining available now. A remaining without a limit is ignored.
//   - With configured RPM/TPM, Learn never raises capacity: it lowers the
//     available level to remaining and applies the remaining-0 rule.
//
// Unparsable or negative values (Azure sends -1) are ignored.
func (p *Pacer) Learn(h http.Header, now time.Time) {
	if p == nil {
		return
	}
	req := openAIObs(h, oaRequests)
	tok := openAIObs(h, oaTokens)
	var extra [2]obs // Anthropic per-direction token buckets, only to block
	if !req.ok || !tok.ok {
		if !req.ok {
			req = anthropicObs(h, anRequests, now)
		}
		if !tok.ok {
			tok = anthropicObs(h, anTokens, now)
			if !tok.ok {
				tok = anthropicObs(h, anInput, now)
			}
		}
		for i, k := range [...]headerKeys{anInput, anOutput} {
			if o := anthropicObs(h, k, now); o.ok && o.remaining == 0 && o.hasReset {
				extra[i] = obs{ok: true, hasReset: true, reset: o.reset}
			}
		}
	}
	if !req.ok && !tok.ok && !extra[0].ok && !extra[1].ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.req.learn(req, now)
	p.tok.learn(tok, now)
	p.tok.learn(extra[0], now)
	p.tok.learn(extra[1], now)
	p.active.Store(true)
	p.recheckLocked(now)
	p.wakeHeadLocked()
}

// obs is what one response said about one bucket.
type obs struct {
	ok        bool // remaining was reported
	remaining float64
	limit     float64 // 0 if not reported
	hasReset  bool
	reset     time.Duration // until the bucket is full again
}

func (b *bucket) learn(o obs, now time.Time) {
	if !o.ok {
		return
	}
	if !b.fixed && o.limit > 0 {
		if !b.limited {
			b.limited, b.level, b.at = true, o.limit, now
		}
		b.burst = o.limit
		b.rate = o.limit / 60
	}
	if o.remaining == 0 && o.hasReset {
		end := now.Add(o.reset)
		if end.After(b.until) {
			b.until = end
		}
		if b.limited { // full again at the reset
			b.level, b.at = b.burst, b.until
		}
		return
	}
	if !b.limited {
		return
	}
	if b.fixed {
		if !b.at.After(now) && o.remaining < b.levelAt(now) {
			b.level, b.at = o.remaining, now
		}
		return
	}
	b.level, b.at = min(o.remaining, b.burst), now
}

// headerKeys are one bucket's header names, in canonical form so lookups
// neither canonicalise nor allocate.
type headerKeys struct{ remaining, limit, reset string }

var (
	oaRequests = headerKeys{"X-Ratelimit-Remaining-Requests", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Reset-Requests"}
	oaTokens   = headerKeys{"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Reset-Tokens"}
	anRequests = anthropicKeys("Requests")
	anTokens   = anthropicKeys("Tokens")
	anInput    = anthropicKeys("Input-Tokens")
	anOutput   = anthropicKeys("Output-Tokens")
)

func anthropicKeys(kind string) headerKeys {
	p := "Anthropic-Ratelimit-" + kind
	return headerKeys{p + "-Remaining", p + "-Limit", p + "-Reset"}
}

func header(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func openAIObs(h http.Header, k headerKeys) obs {
	o, ok := counts(header(h, k.remaining), header(h, k.limit))
	if !ok {
		return obs{}
	}
	if d, err := time.ParseDuration(strings.TrimSpace(header(h, k.reset))); err == nil && d >= 0 {
		o.hasReset, o.reset = true, d
	}
	return o
}

func anthropicObs(h http.Header, k headerKeys, now time.Time) obs {
	o, ok := counts(header(h, k.remaining), header(h, k.limit))
	if !ok {
		return obs{}
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(header(h, k.reset))); err == nil {
		o.hasReset, o.reset = true, max(t.Sub(now), 0)
	}
	return o
}

// counts parses a remaining and an optional limit header.
func counts(remaining, limit string) (obs, bool) {
	r, ok := nonNegative(remaining)
	if !ok {
		return obs{}, false
	}
	o := obs{ok: true, remaining: r}
	if l, ok := nonNegative(limit); ok && l > 0 {
		o.limit = l
	}
	return o, true
}

func nonNegative(v string) (float64, bool) {
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
