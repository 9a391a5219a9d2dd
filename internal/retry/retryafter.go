package retry

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDuration is the longest time.Duration; parsed waits are clamped to it.
const maxDuration = time.Duration(math.MaxInt64)

// ParseRetryAfter returns how long the upstream asked the caller to wait
// before the next request, read from response headers, and whether any
// usable hint was present. now is the time the response arrived (HTTP dates
// and RFC 3339 reset times are made relative to it). Waits in the past
// become 0. The first source present and valid wins:
//
//  1. retry-after-ms: float milliseconds (sent by OpenAI; every Stainless
//     SDK prefers it).
//  2. Retry-After: float seconds or an HTTP date (RFC 9110).
//  3. OpenAI x-ratelimit-reset-requests / x-ratelimit-reset-tokens: Go
//     durations ("6m0s", "1.5s", "20ms").
//  4. Anthropic anthropic-ratelimit-{requests,tokens,input-tokens,
//     output-tokens}-reset: RFC 3339 times.
//
// The reset headers of 3 and 4 say when a bucket will be full again, not
// when the next request may go, and they are sent on every response. They
// are therefore used only for a bucket whose matching remaining header
// (x-ratelimit-remaining-requests, anthropic-ratelimit-tokens-remaining,
// ...) is exactly "0"; when several buckets are exhausted the longest
// reset is returned. They overestimate the wait (a bucket refills
// continuously), which is the safe side for a 429.
func ParseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, ok := parseFloat(v); ok {
			return floatDuration(ms * float64(time.Millisecond)), true
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, ok := parseFloat(v); ok {
			return floatDuration(s * float64(time.Second)), true
		}
		if t, err := http.ParseTime(strings.TrimSpace(v)); err == nil {
			return until(now, t), true
		}
	}
	var best time.Duration
	found := false
	for _, b := range [...]string{"requests", "tokens"} {
		if !exhausted(h.Get("X-Ratelimit-Remaining-" + b)) {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(h.Get("X-Ratelimit-Reset-" + b)))
		if err != nil {
			continue
		}
		best, found = max(best, max(d, 0)), true
	}
	if found {
		return best, true
	}
	for _, b := range [...]string{"requests", "tokens", "input-tokens", "output-tokens"} {
		if !exhausted(h.Get("Anthropic-Ratelimit-" + b + "-Remaining")) {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+b+"-Reset")))
		if err != nil {
			continue
		}
		best, found = max(best, until(now, t)), true
	}
	return best, found
}

// exhausted reports whether a remaining-capacity header says "0".
func exhausted(v string) bool { return strings.TrimSpace(v) == "0" }

// parseFloat parses a finite decimal number.
func parseFloat(v string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// floatDuration converts nanoseconds to a Duration clamped to [0, max].
func floatDuration(ns float64) time.Duration {
	switch {
	case ns <= 0:
		return 0
	case ns >= float64(maxDuration):
		return maxDuration
	}
	return time.Duration(ns)
}

// until returns t - now, never negative.
func until(now, t time.Time) time.Duration { return max(t.Sub(now), 0) }
