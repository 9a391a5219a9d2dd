package retry

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

var now = time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)

func TestBackoff(t *testing.T) {
	p := Policy{Base: 500 * time.Millisecond, Cap: 8 * time.Second, Multiplier: 2}
	tests := []struct {
		name    string
		p       Policy
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{"first retry full", p, 0, 1, 500 * time.Millisecond},
		{"first retry half", p, 0, 0.5, 250 * time.Millisecond},
		{"grows", p, 2, 1, 2 * time.Second},
		{"capped", p, 5, 1, 8 * time.Second},
		{"capped with jitter", p, 5, 0.25, 2 * time.Second},
		{"huge attempt stays capped", p, 10000, 0.5, 4 * time.Second},
		{"zero rnd", p, 3, 0, 0},
		{"NaN rnd", p, 3, math.NaN(), 0},
		{"rnd above 1 clamped", p, 0, 7, 500 * time.Millisecond},
		{"negative attempt is first", p, -3, 1, 500 * time.Millisecond},
		{"zero policy uses defaults", Policy{}, 1, 1, 500 * time.Millisecond},
		{"zero policy capped at 8s", Policy{}, 20, 1, 8 * time.Second},
		{"multiplier below 1 means no growth", Policy{Base: time.Second, Multiplier: 0.5}, 4, 1, time.Second},
		{"multiplier 3", Policy{Base: time.Second, Cap: time.Minute, Multiplier: 3}, 2, 1, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Backoff(tt.attempt, tt.rnd); got != tt.want {
				t.Errorf("Backoff(%d, %v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
			}
		})
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// anthropicOK is the header set of protocols.md §4.9 (nothing exhausted),
// with the clock of the test 4 and 5 seconds before the resets.
var anthropicOK = []string{
	"anthropic-ratelimit-requests-limit", "2000",
	"anthropic-ratelimit-requests-remaining", "1994",
	"anthropic-ratelimit-requests-reset", "2026-03-02T09:15:04Z",
	"anthropic-ratelimit-tokens-limit", "192000",
	"anthropic-ratelimit-tokens-remaining", "187500",
	"anthropic-ratelimit-tokens-reset", "2026-03-02T09:15:05Z",
	"anthropic-ratelimit-input-tokens-limit", "160000",
	"anthropic-ratelimit-input-tokens-remaining", "156200",
	"anthropic-ratelimit-input-tokens-reset", "2026-03-02T09:15:05Z",
	"anthropic-ratelimit-output-tokens-limit", "32000",
	"anthropic-ratelimit-output-tokens-remaining", "31300",
	"anthropic-ratelimit-output-tokens-reset", "2026-03-02T09:15:04Z",
	"request-id", "req_01Hk3VbT9wPzR2",
}

// openAIOK is the header set of protocols.md §2 (nothing exhausted).
var openAIOK = []string{
	"x-request-id", "req_5c1f0a9e7b2d4c31",
	"openai-processing-ms", "842",
	"x-ratelimit-limit-requests", "10000",
	"x-ratelimit-limit-tokens", "2000000",
	"x-ratelimit-remaining-requests", "9998",
	"x-ratelimit-remaining-tokens", "1998765",
	"x-ratelimit-reset-requests", "12ms",
	"x-ratelimit-reset-tokens", "36ms",
}

func with(base []string, kv ...string) []string {
	h := hdr(base...)
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	var out []string
	for k, v := range h {
		out = append(out, k, v[0])
	}
	return out
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		h      []string
		want   time.Duration
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"retry-after seconds", []string{"retry-after", "2"}, 2 * time.Second, true},
		{"retry-after fractional", []string{"Retry-After", "1.5"}, 1500 * time.Millisecond, true},
		{"retry-after-ms", []string{"retry-after-ms", "1450"}, 1450 * time.Millisecond, true},
		{"retry-after-ms fractional", []string{"retry-after-ms", "20.5"}, 20500 * time.Microsecond, true},
		{"retry-after-ms wins", []string{"retry-after-ms", "1450", "retry-after", "2"}, 1450 * time.Millisecond, true},
		{"bad ms falls back to seconds", []string{"retry-after-ms", "soon", "retry-after", "2"}, 2 * time.Second, true},
		{"NaN ms ignored", []string{"retry-after-ms", "NaN"}, 0, false},
		{"http date", []string{"retry-after", "Mon, 02 Mar 2026 09:15:30 GMT"}, 30 * time.Second, true},
		{"http date in the past", []string{"retry-after", "Mon, 02 Mar 2026 09:14:00 GMT"}, 0, true},
		{"negative seconds", []string{"retry-after", "-5"}, 0, true},
		{"huge seconds clamp", []string{"retry-after", "1e300"}, maxDuration, true},
		{"garbage", []string{"retry-after", "later"}, 0, false},
		{"openai headers, nothing exhausted", openAIOK, 0, false},
		{"openai requests exhausted", with(openAIOK, "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "6m0s"), 6 * time.Minute, true},
		{"openai tokens exhausted", with(openAIOK, "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "2m59.56s"), 2*time.Minute + 59560*time.Millisecond, true},
		{"openai both exhausted takes longest", with(openAIOK,
			"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1.5s",
			"x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "20ms"), 1500 * time.Millisecond, true},
		{"openai retry-after wins over reset", with(openAIOK, "retry-after", "2",
			"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "6m0s"), 2 * time.Second, true},
		{"openai bad reset ignored", with(openAIOK, "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "soon"), 0, false},
		{"azure -1 is not exhausted", with(openAIOK, "x-ratelimit-remaining-requests", "-1"), 0, false},
		{"anthropic headers, nothing exhausted", anthropicOK, 0, false},
		{"anthropic requests exhausted", with(anthropicOK, "anthropic-ratelimit-requests-remaining", "0"), 4 * time.Second, true},
		{"anthropic output tokens exhausted", with(anthropicOK, "anthropic-ratelimit-output-tokens-remaining", "0"), 4 * time.Second, true},
		{"anthropic longest of exhausted", with(anthropicOK,
			"anthropic-ratelimit-requests-remaining", "0",
			"anthropic-ratelimit-input-tokens-remaining", "0"), 5 * time.Second, true},
		{"anthropic 429 retry-after wins", with(anthropicOK, "retry-after", "7", "anthropic-ratelimit-tokens-remaining", "0"), 7 * time.Second, true},
		{"anthropic reset in the past", with(anthropicOK,
			"anthropic-ratelimit-requests-remaining", "0",
			"anthropic-ratelimit-requests-reset", "2026-03-02T09:14:00Z"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(hdr(tt.h...), now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("1450", "2", "0", "6m0s", "0", "2026-03-02T09:15:04Z")
	f.Add("", "Mon, 02 Mar 2026 09:15:30 GMT", "", "", "", "")
	f.Add("-1", "1e400", "0", "-3s", "0", "not a time")
	f.Fuzz(func(t *testing.T, ms, ra, oaiRemaining, oaiReset, antRemaining, antReset string) {
		h := http.Header{}
		h.Set("retry-after-ms", ms)
		h.Set("retry-after", ra)
		h.Set("x-ratelimit-remaining-requests", oaiRemaining)
		h.Set("x-ratelimit-reset-requests", oaiReset)
		h.Set("anthropic-ratelimit-tokens-remaining", antRemaining)
		h.Set("anthropic-ratelimit-tokens-reset", antReset)
		d, ok := ParseRetryAfter(h, now)
		if d < 0 {
			t.Errorf("negative wait %v", d)
		}
		if !ok && d != 0 {
			t.Errorf("no hint but wait %v", d)
		}
	})
}

func TestBudget(t *testing.T) {
	tests := []struct {
		name        string
		ratio       float64
		min         int
		requests    int
		wantRetries int
	}{
		{"idle upstream gets the minimum", 0.2, 3, 0, 3},
		{"ratio of traffic plus minimum", 0.2, 3, 100, 23},
		{"fraction rounds down", 0.2, 0, 9, 1},
		{"no minimum no traffic", 0.2, 0, 0, 0},
		{"ratio zero", 0, 2, 1000, 2},
		{"negative values are zero", -1, -1, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.ratio, tt.min, 10*time.Second, clock.NewFake(now))
			for range tt.requests {
				b.OnRequest()
			}
			got := 0
			for b.TryRetry() {
				got++
				if got > 10000 {
					t.Fatal("budget never ran out")
				}
			}
			if got != tt.wantRetries {
				t.Errorf("retries allowed = %d, want %d", got, tt.wantRetries)
			}
		})
	}
}

func TestBudgetWindowSlides(t *testing.T) {
	clk := clock.NewFake(now)
	b := NewBudget(0.5, 0, 10*time.Second, clk)
	for range 10 {
		b.OnRequest()
	}
	if !b.TryRetry() {
		t.Fatal("retry within budget refused")
	}
	clk.Advance(5 * time.Second)
	b.OnRequest()
	b.OnRequest()
	// 12 requests in the window allow 6 retries; 1 is spent.
	for i := range 5 {
		if !b.TryRetry() {
			t.Fatalf("retry %d within budget refused", i+2)
		}
	}
	if b.TryRetry() {
		t.Fatal("retry beyond budget allowed")
	}
	// 11s after the start the first 10 requests and their retry slid out;
	// the 2 requests at 5s allow 1 retry, but 5 were spent at 5s.
	clk.Advance(6 * time.Second)
	if b.TryRetry() {
		t.Fatal("retries spent in the window were forgotten")
	}
	// 16s: everything from 5s slid out too.
	clk.Advance(5 * time.Second)
	if b.TryRetry() {
		t.Fatal("retry allowed with no traffic and no minimum")
	}
	b.OnRequest()
	b.OnRequest()
	if !b.TryRetry() || b.TryRetry() {
		t.Fatal("2 fresh requests at ratio 0.5 should allow exactly 1 retry")
	}
}

func TestBudgetNil(t *testing.T) {
	var b *Budget
	b.OnRequest()
	if !b.TryRetry() {
		t.Error("nil Budget refused a retry")
	}
}

func TestBudgetConcurrent(t *testing.T) {
	b := NewBudget(0.1, 5, time.Minute, clock.NewFake(now))
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for range 16 {
		wg.Go(func() {
			for range 100 {
				b.OnRequest()
				if b.TryRetry() {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// Every TryRetry after a request: at most 5 + 0.1*1600 = 165.
	if got := allowed.Load(); got > 165 || got < 160 {
		t.Errorf("allowed %d retries, want 160..165", got)
	}
}

func BenchmarkBudgetTryRetry(b *testing.B) {
	bud := NewBudget(0.2, 3, 10*time.Second, clock.Real{})
	b.ReportAllocs()
	for b.Loop() {
		bud.OnRequest()
		bud.TryRetry()
	}
}
