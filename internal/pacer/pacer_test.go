package pacer

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

var t0 = time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)

const long = time.Hour // a maxWait that never matters

type result struct {
	r   Reservation
	err error
	at  time.Time
}

// fixture is a Pacer on a fake clock.
type fixture struct {
	*Pacer
	clk *clock.Fake
}

func newFixture(s Settings) fixture {
	clk := clock.NewFake(t0)
	return fixture{New(s, clk), clk}
}

// now admits one request that must not wait.
func (f fixture) now(t *testing.T, tokens int) Reservation {
	t.Helper()
	r, err := f.Wait(context.Background(), tokens, 0)
	if err != nil {
		t.Fatalf("Wait at %v = %v, want immediate admission", f.clk.Now().Sub(t0), err)
	}
	return r
}

// start calls Wait in a goroutine and returns once the call is queued.
func (f fixture) start(t *testing.T, ctx context.Context, tokens int, maxWait time.Duration) <-chan result {
	t.Helper()
	before := f.Waiting()
	ch := make(chan result, 1)
	go func() {
		r, err := f.Wait(ctx, tokens, maxWait)
		ch <- result{r, err, f.clk.Now()}
	}()
	f.waitFor(t, func() bool { return f.Waiting() > before })
	return ch
}

// waitFor yields until cond holds; the goroutines under test never sleep
// on real time, so this ends quickly.
func (f fixture) waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		runtime.Gosched()
	}
}

// advanceUntil moves the clock in steps until ch delivers.
func (f fixture) advanceUntil(t *testing.T, ch <-chan result, step time.Duration) result {
	t.Helper()
	for range 10000 {
		f.waitFor(t, func() bool { return len(ch) > 0 || f.clk.Pending() > 0 })
		if len(ch) > 0 {
			return <-ch
		}
		f.clk.Advance(step)
	}
	t.Fatal("waiter never returned")
	return result{}
}

// pending reports whether the waiter behind ch has not returned yet.
func pending(ch <-chan result) bool { return len(ch) == 0 }

func TestNoLimitsAdmitsAtOnceWithoutAllocating(t *testing.T) {
	f := newFixture(Settings{})
	for range 100 {
		f.now(t, 1_000_000)
	}
	allocs := testing.AllocsPerRun(100, func() {
		r, _ := f.Wait(context.Background(), 500, 0)
		r.Settle(700)
	})
	if allocs != 0 {
		t.Errorf("Wait without limits allocated %v times", allocs)
	}
	var nilPacer *Pacer
	if _, err := nilPacer.Wait(context.Background(), 1, 0); err != nil {
		t.Errorf("nil Pacer Wait = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Wait(ctx, 1, long); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a canceled context = %v", err)
	}
}

func TestRPMSteadyAndBurst(t *testing.T) {
	f := newFixture(Settings{RPM: 60})
	for range 5 { // one per second goes straight through
		f.now(t, 0)
		f.clk.Advance(time.Second)
	}
	f.now(t, 0)
	ctx := context.Background()
	a := f.start(t, ctx, 0, long)
	b := f.start(t, ctx, 0, long)
	c := f.start(t, ctx, 0, long)

	for i, ch := range []<-chan result{a, b, c} {
		f.clk.BlockUntil(1)
		f.clk.Advance(999 * time.Millisecond)
		runtime.Gosched()
		if !pending(ch) {
			t.Fatalf("waiter %d admitted before its second", i)
		}
		f.clk.Advance(time.Millisecond)
		r := <-ch
		if r.err != nil {
			t.Fatalf("waiter %d: %v", i, r.err)
		}
		if want := t0.Add(time.Duration(6+i) * time.Second); !r.at.Equal(want) {
			t.Errorf("waiter %d admitted at %v, want %v", i, r.at.Sub(t0), want.Sub(t0))
		}
	}
}

func TestBurstOfHigherRPM(t *testing.T) {
	f := newFixture(Settings{RPM: 600}) // 10/s, bucket of 10
	for range 10 {
		f.now(t, 0)
	}
	if _, err := f.Wait(context.Background(), 0, 0); !errors.Is(err, ErrWouldExceedWait) {
		t.Fatalf("11th request in the same instant: %v, want ErrWouldExceedWait", err)
	}
	f.clk.Advance(100 * time.Millisecond)
	f.now(t, 0)
}

func TestMaxWaitFailsFast(t *testing.T) {
	f := newFixture(Settings{RPM: 60})
	f.now(t, 0)
	_, err := f.Wait(context.Background(), 0, 500*time.Millisecond)
	var we *WaitError
	if !errors.As(err, &we) || !errors.Is(err, ErrWouldExceedWait) {
		t.Fatalf("Wait = %v, want a *WaitError", err)
	}
	if we.Wait != time.Second {
		t.Errorf("WaitError.Wait = %v, want 1s", we.Wait)
	}
	if f.clk.Pending() != 0 || f.Waiting() != 0 {
		t.Error("a failed Wait left a timer or a waiter behind")
	}

	// A context deadline shorter than the wait fails fast too. Context
	// deadlines are wall-clock times, so this pacer's fake clock starts now.
	clk := clock.NewFake(time.Now())
	slow := New(Settings{RPM: 1}, clk)
	if _, err := slow.Wait(context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(30*time.Second))
	defer cancel()
	if _, err := slow.Wait(ctx, 0, long); !errors.Is(err, ErrWouldExceedWait) {
		t.Errorf("Wait past the context deadline = %v, want ErrWouldExceedWait", err)
	}

	// The queue counts: the third in line would wait 3s.
	a := f.start(t, context.Background(), 0, long)
	b := f.start(t, context.Background(), 0, long)
	if _, err := f.Wait(context.Background(), 0, 2500*time.Millisecond); !errors.As(err, &we) || we.Wait != 3*time.Second {
		t.Errorf("third in line: %v, want a 3s WaitError", err)
	}
	for _, ch := range []<-chan result{a, b} {
		if r := f.advanceUntil(t, ch, time.Second); r.err != nil {
			t.Fatal(r.err)
		}
	}
}

func TestQueueBound(t *testing.T) {
	f := newFixture(Settings{RPM: 60, MaxQueue: 2})
	f.now(t, 0)
	a := f.start(t, context.Background(), 0, long)
	b := f.start(t, context.Background(), 0, long)
	if _, err := f.Wait(context.Background(), 0, long); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third waiter: %v, want ErrQueueFull", err)
	}
	for _, ch := range []<-chan result{a, b} {
		if r := f.advanceUntil(t, ch, time.Second); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if New(Settings{}, nil).maxQueue != DefaultMaxQueue {
		t.Error("zero MaxQueue is not the default")
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	f := newFixture(Settings{RPM: 60})
	f.now(t, 0)
	ctxA, cancelA := context.WithCancel(context.Background())
	a := f.start(t, ctxA, 0, long)
	ctxB, cancelB := context.WithCancel(context.Background())
	b := f.start(t, ctxB, 0, long)
	c := f.start(t, context.Background(), 0, long)

	cancelB() // in the middle of the queue
	if r := <-b; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", r.err)
	}
	f.clk.BlockUntil(1)
	cancelA() // the head, waiting on its timer
	if r := <-a; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled head: %v", r.err)
	}
	// c moved up and gets the slot at 1s that a gave up.
	r := f.advanceUntil(t, c, time.Second)
	if r.err != nil || !r.at.Equal(t0.Add(time.Second)) {
		t.Fatalf("c = %v at %v, want admission at 1s", r.err, r.at.Sub(t0))
	}
	if f.Waiting() != 0 {
		t.Errorf("Waiting = %d", f.Waiting())
	}
}

func TestTokensAndSettle(t *testing.T) {
	f := newFixture(Settings{TPM: 600}) // 10 tokens/s, bucket of 600
	r := f.now(t, 600)
	w := f.start(t, context.Background(), 100, long) // needs 10s
	f.clk.BlockUntil(1)
	r.Settle(100) // the first used only 100: 500 come back
	if res := <-w; res.err != nil || !res.at.Equal(t0) {
		t.Fatalf("waiter = %v at %v, want admission at once after Settle", res.err, res.at.Sub(t0))
	} else {
		res.r.Settle(300) // used more: the extra 200 are taken too
	}
	// Level is now 500 - 100 - 200 = 200: 300 tokens need 10s.
	_, err := f.Wait(context.Background(), 300, 5*time.Second)
	var we *WaitError
	if !errors.As(err, &we) || we.Wait != 10*time.Second {
		t.Fatalf("Wait(300) = %v, want a 10s WaitError", err)
	}
	f.clk.Advance(10 * time.Second)
	f.now(t, 300)
}

func TestOversizedRequestWaitsForFullBucket(t *testing.T) {
	f := newFixture(Settings{TPM: 600})
	f.now(t, 1000) // a full bucket admits it, leaving 400 of debt
	_, err := f.Wait(context.Background(), 100, 0)
	var we *WaitError
	if !errors.As(err, &we) || we.Wait != 50*time.Second {
		t.Fatalf("after debt: %v, want a 50s WaitError", err)
	}
}

func TestSettleShrinkingCapacityFailsLateWaiters(t *testing.T) {
	f := newFixture(Settings{TPM: 600})
	r := f.now(t, 500)
	w := f.start(t, context.Background(), 200, 15*time.Second) // needs 10s now
	r.Settle(700)                                              // 200 more: now 30s
	res := <-w
	if !errors.Is(res.err, ErrWouldExceedWait) {
		t.Fatalf("waiter = %v, want ErrWouldExceedWait once capacity shrank", res.err)
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestLearnOpenAI(t *testing.T) {
	f := newFixture(Settings{})
	// protocols.md §2: plenty left, nothing to wait for.
	f.Learn(hdr(
		"x-ratelimit-limit-requests", "10000",
		"x-ratelimit-limit-tokens", "2000000",
		"x-ratelimit-remaining-requests", "9998",
		"x-ratelimit-remaining-tokens", "1998765",
		"x-ratelimit-reset-requests", "12ms",
		"x-ratelimit-reset-tokens", "36ms",
	), f.clk.Now())
	f.now(t, 5000)

	// Requests exhausted for 6m: later requests wait until the reset.
	f.Learn(hdr(
		"x-ratelimit-limit-requests", "10000",
		"x-ratelimit-remaining-requests", "0",
		"x-ratelimit-reset-requests", "6m0s",
	), f.clk.Now())
	_, err := f.Wait(context.Background(), 10, time.Minute)
	var we *WaitError
	if !errors.As(err, &we) || we.Wait != 6*time.Minute {
		t.Fatalf("Wait = %v, want a 6m WaitError", err)
	}
	w := f.start(t, context.Background(), 10, 10*time.Minute)
	f.clk.BlockUntil(1)
	f.clk.Advance(6*time.Minute - time.Millisecond)
	if !pending(w) {
		t.Fatal("admitted before the reset")
	}
	f.clk.BlockUntil(1)
	f.clk.Advance(time.Millisecond)
	if r := <-w; r.err != nil {
		t.Fatal(r.err)
	}
}

func TestLearnResetWithoutLimit(t *testing.T) {
	f := newFixture(Settings{})
	f.Learn(hdr("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1.5s"), f.clk.Now())
	w := f.start(t, context.Background(), 0, time.Minute)
	r := f.advanceUntil(t, w, 500*time.Millisecond)
	if r.err != nil || !r.at.Equal(t0.Add(1500*time.Millisecond)) {
		t.Fatalf("Wait = %v at %v, want admission at the 1.5s reset", r.err, r.at.Sub(t0))
	}
	// After the reset nothing is known, so nothing is paced.
	for range 10 {
		f.now(t, 0)
	}
}

func TestLearnOpenAITokensPaces(t *testing.T) {
	f := newFixture(Settings{})
	f.Learn(hdr(
		"x-ratelimit-limit-tokens", "6000", // 100 tokens/s
		"x-ratelimit-remaining-tokens", "1000",
		"x-ratelimit-reset-tokens", "50s",
	), f.clk.Now())
	f.now(t, 1000)
	_, err := f.Wait(context.Background(), 500, time.Second)
	var we *WaitError
	if !errors.As(err, &we) || we.Wait != 5*time.Second {
		t.Fatalf("Wait = %v, want a 5s WaitError", err)
	}
}

func TestLearnAnthropic(t *testing.T) {
	f := newFixture(Settings{})
	ok := []string{ // protocols.md §4.9
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
	}
	f.Learn(hdr(ok...), f.clk.Now())
	f.now(t, 4000)

	tests := []struct {
		name     string
		set      []string
		wantWait time.Duration
	}{
		{"requests exhausted", []string{"anthropic-ratelimit-requests-remaining", "0"}, 4 * time.Second},
		{"tokens exhausted", []string{"anthropic-ratelimit-tokens-remaining", "0"}, 5 * time.Second},
		{"output tokens exhausted", []string{"anthropic-ratelimit-output-tokens-remaining", "0"}, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(Settings{})
			h := hdr(ok...)
			h.Set(tt.set[0], tt.set[1])
			f.Learn(h, f.clk.Now())
			_, err := f.Wait(context.Background(), 100, time.Second)
			var we *WaitError
			if !errors.As(err, &we) || we.Wait != tt.wantWait {
				t.Fatalf("Wait = %v, want a %v WaitError", err, tt.wantWait)
			}
			f.clk.Advance(tt.wantWait)
			f.now(t, 100)
		})
	}
}

func TestLearnWakesAndFailsWaiters(t *testing.T) {
	f := newFixture(Settings{RPM: 60})
	f.now(t, 0)
	w := f.start(t, context.Background(), 0, 5*time.Second)
	f.clk.BlockUntil(1)
	f.Learn(hdr("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "30s"), f.clk.Now())
	if r := <-w; !errors.Is(r.err, ErrWouldExceedWait) {
		t.Fatalf("waiter = %v, want ErrWouldExceedWait after the upstream reported 30s", r.err)
	}
}

func TestLearnNeverRaisesConfiguredLimits(t *testing.T) {
	f := newFixture(Settings{RPM: 60})
	f.now(t, 0)
	f.Learn(hdr("x-ratelimit-limit-requests", "10000", "x-ratelimit-remaining-requests", "9999"), f.clk.Now())
	if _, err := f.Wait(context.Background(), 0, 0); !errors.Is(err, ErrWouldExceedWait) {
		t.Fatalf("Wait = %v: a generous upstream raised the configured RPM", err)
	}
}

func TestLearnIgnoresJunk(t *testing.T) {
	tests := []struct {
		name string
		h    []string
	}{
		{"azure -1", []string{"x-ratelimit-remaining-requests", "-1", "x-ratelimit-reset-requests", "1m"}},
		{"remaining without limit", []string{"x-ratelimit-remaining-tokens", "3"}},
		{"garbage", []string{"x-ratelimit-remaining-requests", "lots", "anthropic-ratelimit-tokens-remaining", "NaN"}},
		{"none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(Settings{})
			f.Learn(hdr(tt.h...), f.clk.Now())
			for range 10 {
				f.now(t, 1000)
			}
		})
	}
}

func FuzzLearn(f *testing.F) {
	f.Add("10000", "0", "6m0s", "2000", "0", "2026-03-02T09:15:04Z", 100)
	f.Add("-1", "-1", "-3s", "x", "1e400", "yesterday", -5)
	f.Add("1e308", "1e308", "2540400h10m10.000000000s", "", "0", "9999-12-31T23:59:59Z", 1<<30)
	f.Fuzz(func(t *testing.T, limit, remaining, reset, aLimit, aRemaining, aReset string, tokens int) {
		clk := clock.NewFake(t0)
		p := New(Settings{RPM: 60}, clk)
		p.Learn(hdr(
			"x-ratelimit-limit-tokens", limit,
			"x-ratelimit-remaining-tokens", remaining,
			"x-ratelimit-reset-tokens", reset,
			"anthropic-ratelimit-requests-limit", aLimit,
			"anthropic-ratelimit-requests-remaining", aRemaining,
			"anthropic-ratelimit-requests-reset", aReset,
		), clk.Now())
		// Must return without blocking: maxWait 0 admits or fails at once.
		r, err := p.Wait(context.Background(), tokens, 0)
		if err != nil && !errors.Is(err, ErrWouldExceedWait) {
			t.Fatalf("Wait = %v", err)
		}
		var we *WaitError
		if errors.As(err, &we) && we.Wait <= 0 {
			t.Fatalf("WaitError with wait %v", we.Wait)
		}
		r.Settle(tokens / 2)
	})
}

func TestConcurrent(t *testing.T) {
	f := newFixture(Settings{RPM: 6000, TPM: 600000, MaxQueue: 50})
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var advancer sync.WaitGroup
	advancer.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				f.clk.Advance(10 * time.Millisecond)
				if f.clk.Now().Sub(t0)%time.Second == 0 {
					f.Learn(hdr("x-ratelimit-remaining-requests", "50"), f.clk.Now())
				}
				runtime.Gosched()
			}
		}
	})
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				wctx, cancel := context.WithCancel(ctx)
				if j%7 == i%7 {
					cancel()
				}
				r, err := f.Wait(wctx, 100+j, time.Minute)
				cancel()
				switch {
				case err == nil:
					r.Settle(50 + j)
				case errors.Is(err, ErrQueueFull), errors.Is(err, context.Canceled), errors.Is(err, ErrWouldExceedWait):
				default:
					t.Errorf("Wait = %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	advancer.Wait()
	if f.Waiting() != 0 {
		t.Errorf("Waiting = %d after all returned", f.Waiting())
	}
}

func BenchmarkWaitNoLimits(b *testing.B) {
	p := New(Settings{}, clock.Real{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, _ := p.Wait(ctx, 1000, time.Second)
		r.Settle(900)
	}
}

func BenchmarkWaitAmpleLimits(b *testing.B) {
	clk := clock.NewFake(t0)
	p := New(Settings{RPM: 1 << 30, TPM: 1 << 40}, clk)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clk.Advance(time.Millisecond)
		r, _ := p.Wait(ctx, 1000, time.Second)
		r.Settle(900)
	}
}
