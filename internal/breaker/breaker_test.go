package breaker

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type transition struct{ from, to State }

// fixture is a breaker on a fake clock that records its transitions.
type fixture struct {
	*Breaker
	clk  *clock.Fake
	mu   sync.Mutex
	seen []transition
}

func newFixture(s Settings) *fixture {
	f := &fixture{clk: clock.NewFake(t0)}
	if s.Rand == nil {
		s.Rand = func() float64 { return 0 } // no jitter unless a test asks
	}
	s.OnStateChange = func(name string, from, to State) {
		if name != "dep" {
			panic("wrong name " + name)
		}
		f.mu.Lock()
		f.seen = append(f.seen, transition{from, to})
		f.mu.Unlock()
	}
	f.Breaker = New("dep", s, f.clk)
	return f
}

// do runs one request through the breaker and reports its outcome.
func (f *fixture) do(t *testing.T, o Outcome) {
	t.Helper()
	done, err := f.Allow()
	if err != nil {
		t.Fatalf("Allow = %v in state %v", err, f.State())
	}
	done(o)
}

func (f *fixture) wantState(t *testing.T, want State) {
	t.Helper()
	if got := f.State(); got != want {
		t.Fatalf("State = %v, want %v", got, want)
	}
}

func (f *fixture) wantAllowErr(t *testing.T, want error) {
	t.Helper()
	done, err := f.Allow()
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("Allow = %v, want %v", err, want)
	}
	if err != nil {
		done(Failure) // a refused request's done must be harmless
	}
}

func TestOpensOnFailureThreshold(t *testing.T) {
	tests := []struct {
		name     string
		s        Settings
		outcomes []Outcome
		want     State
	}{
		{"default 5 consecutive failures eject", Settings{}, []Outcome{Failure, Failure, Failure, Failure, Failure}, Open},
		{"4 failures stay closed", Settings{}, []Outcome{Failure, Failure, Failure, Failure}, Closed},
		{"a success resets the streak", Settings{}, []Outcome{Failure, Failure, Failure, Failure, Success, Failure, Failure, Failure, Failure}, Closed},
		{"ignore does not break the streak", Settings{}, []Outcome{Failure, Failure, Ignore, Failure, Failure, Ignore, Failure}, Open},
		{"custom threshold", Settings{Failures: 1}, []Outcome{Failure}, Open},
		{"ratio below min requests", Settings{Failures: -1, Ratio: 0.5, MinRequests: 4}, []Outcome{Failure, Failure, Success}, Closed},
		{"ratio reached", Settings{Failures: -1, Ratio: 0.5, MinRequests: 4}, []Outcome{Failure, Success, Success, Failure}, Open},
		{"ratio not reached", Settings{Failures: -1, Ratio: 0.5, MinRequests: 4}, []Outcome{Failure, Success, Success, Success, Failure, Success}, Closed},
		{"ignored requests are not in the ratio", Settings{Failures: -1, Ratio: 0.5, MinRequests: 2}, []Outcome{Ignore, Ignore, Ignore, Success, Failure}, Open},
		{"streak rule still applies with ratio", Settings{Failures: 2, Ratio: 0.9, MinRequests: 100}, []Outcome{Success, Failure, Failure}, Open},
		{"both rules disabled", Settings{Failures: -1, Ratio: -1}, []Outcome{Failure, Failure, Failure, Failure, Failure, Failure, Failure}, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.s)
			for _, o := range tt.outcomes {
				f.do(t, o)
			}
			f.wantState(t, tt.want)
		})
	}
}

func TestOpenHalfOpenClosedCycle(t *testing.T) {
	f := newFixture(Settings{Failures: 2, EjectionTime: time.Minute, MaxEjectionTime: 10 * time.Minute})
	f.do(t, Failure)
	f.do(t, Failure)
	f.wantState(t, Open)
	f.wantAllowErr(t, ErrOpen)

	f.clk.Advance(time.Minute - time.Nanosecond)
	f.wantAllowErr(t, ErrOpen)
	f.clk.Advance(time.Nanosecond)
	f.wantState(t, HalfOpen)

	probe, err := f.Allow()
	if err != nil {
		t.Fatalf("probe refused: %v", err)
	}
	f.wantAllowErr(t, ErrTooManyProbes)
	f.wantAllowErr(t, ErrOpen) // ErrTooManyProbes is an ErrOpen
	probe(Success)
	f.wantState(t, Closed)
	f.wantAllowErr(t, nil)

	// The failures from before are forgotten: it takes 2 new ones.
	f.do(t, Failure)
	f.wantState(t, Closed)

	want := []transition{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Closed}}
	if !equal(f.seen, want) {
		t.Errorf("transitions = %v, want %v", f.seen, want)
	}
}

func TestProbeFailureReopens(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute, MaxEjectionTime: 10 * time.Minute})
	f.do(t, Failure)
	f.clk.Advance(time.Minute)
	f.do(t, Failure) // the probe
	f.wantState(t, Open)
	if s := f.Snapshot(); !s.OpenedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("OpenedAt = %v, want the time of the failed probe", s.OpenedAt)
	}
	// The second ejection in a row lasts twice as long, counted from the
	// failed probe.
	f.clk.Advance(2*time.Minute - time.Second)
	f.wantAllowErr(t, ErrOpen)
	f.clk.Advance(time.Second)
	f.wantState(t, HalfOpen)

	want := []transition{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Open}, {Open, HalfOpen}}
	if !equal(f.seen, want) {
		t.Errorf("transitions = %v, want %v", f.seen, want)
	}
}

func TestEjectionGrowsIsCappedAndResets(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: 5 * time.Second, MaxEjectionTime: 30 * time.Second})
	wantEjection := func(d time.Duration) {
		t.Helper()
		s := f.Snapshot()
		if got := s.EjectedUntil.Sub(f.clk.Now()); s.State != Open || got != d {
			t.Fatalf("ejected for %v (state %v), want %v", got, s.State, d)
		}
	}
	f.do(t, Failure)
	wantEjection(5 * time.Second)
	for _, d := range []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second} {
		f.clk.Advance(f.Snapshot().EjectedUntil.Sub(f.clk.Now()))
		f.do(t, Failure) // the probe fails
		wantEjection(d)
	}
	// Recovered, then healthy for MaxEjectionTime: the next ejection is
	// short again.
	f.clk.Advance(30 * time.Second)
	f.do(t, Success)
	f.wantState(t, Closed)
	f.clk.Advance(29 * time.Second)
	f.do(t, Failure)
	wantEjection(30 * time.Second) // not healthy for long enough
	f.clk.Advance(30 * time.Second)
	f.do(t, Success)
	f.clk.Advance(30 * time.Second)
	f.do(t, Failure)
	wantEjection(5 * time.Second)
}

func TestEjectionJitter(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: 10 * time.Second, Rand: func() float64 { return 0.999 }})
	f.do(t, Failure)
	got := f.Snapshot().EjectedUntil.Sub(t0)
	if got <= 10*time.Second || got > 12*time.Second {
		t.Fatalf("jittered ejection = %v, want in (10s, 12s]", got)
	}
}

func TestRefusalSaysWhen(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: 7 * time.Second})
	f.do(t, Failure)
	_, err := f.Allow()
	var r *Refusal
	if !errors.As(err, &r) || !errors.Is(err, ErrOpen) || !r.ReadyAt().Equal(t0.Add(7*time.Second)) {
		t.Fatalf("Allow = %v, want a Refusal for ErrOpen ready at +7s", err)
	}
	f.Cooldown(t0.Add(20 * time.Second))
	f.clk.Advance(7 * time.Second)
	_, err = f.Allow()
	if !errors.As(err, &r) || !errors.Is(err, ErrCoolingDown) || !r.ReadyAt().Equal(t0.Add(20*time.Second)) {
		t.Fatalf("Allow = %v, want a Refusal for ErrCoolingDown ready at +20s", err)
	}
}

func TestForce(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute})
	f.do(t, Failure)
	f.wantState(t, Open)
	f.Force()(Failure) // a forced failure does not lengthen the ejection
	if s := f.Snapshot(); s.Ejections != 1 || !s.EjectedUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a forced failure: %+v", s)
	}
	f.Force()(Ignore)
	f.wantState(t, Open)
	f.Force()(Success) // it works again: closed at once
	f.wantState(t, Closed)
	f.wantAllowErr(t, nil)
	want := []transition{{Closed, Open}, {Open, Closed}}
	if !equal(f.seen, want) {
		t.Errorf("transitions = %v, want %v", f.seen, want)
	}
}

func TestThirtyPercentFailuresNeverEjectOnRatio(t *testing.T) {
	// 30% failures spread evenly: the default ratio rule (50% of >= 20)
	// never trips, and no streak reaches 5.
	f := newFixture(Settings{})
	for i := range 1000 {
		o := Success
		if i%10 < 3 {
			o = Failure
		}
		f.do(t, o)
		f.clk.Advance(10 * time.Millisecond)
	}
	f.wantState(t, Closed)
}

func TestSeveralProbesMustAllSucceed(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute, MaxEjectionTime: 10 * time.Minute, HalfOpenRequests: 3})
	f.do(t, Failure)
	f.clk.Advance(time.Minute)

	var probes []func(Outcome)
	for range 3 {
		done, err := f.Allow()
		if err != nil {
			t.Fatalf("probe refused: %v", err)
		}
		probes = append(probes, done)
	}
	f.wantAllowErr(t, ErrTooManyProbes)

	probes[0](Success)
	f.wantState(t, HalfOpen)
	f.wantAllowErr(t, ErrTooManyProbes) // a succeeded probe keeps its slot
	probes[1](Ignore)                   // a canceled probe frees its slot
	probes[2](Success)
	f.wantState(t, HalfOpen)
	f.do(t, Success)
	f.wantState(t, Closed)
}

func TestIgnoredProbeFreesSlot(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute, MaxEjectionTime: 10 * time.Minute})
	f.do(t, Failure)
	f.clk.Advance(time.Minute)
	f.do(t, Ignore)
	f.wantState(t, HalfOpen)
	f.do(t, Success)
	f.wantState(t, Closed)
}

func TestLeakedProbeIsGivenUp(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute, MaxEjectionTime: time.Minute})
	f.do(t, Failure)
	f.clk.Advance(time.Minute)
	leaked, _ := f.Allow() // never reported in time
	f.clk.Advance(time.Minute - time.Second)
	f.wantAllowErr(t, ErrTooManyProbes)
	f.clk.Advance(time.Second)
	probe, err := f.Allow()
	if err != nil {
		t.Fatalf("new probe refused after the old one leaked: %v", err)
	}
	leaked(Failure) // a report from the abandoned round changes nothing
	f.wantState(t, HalfOpen)
	probe(Success)
	f.wantState(t, Closed)
}

func TestStaleOutcomesAreDropped(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute, MaxEjectionTime: 10 * time.Minute})
	slow, _ := f.Allow() // admitted while closed
	f.do(t, Failure)
	f.wantState(t, Open)
	f.clk.Advance(time.Minute)
	f.wantState(t, HalfOpen)
	slow(Success) // must not count as a probe success
	f.wantState(t, HalfOpen)

	probe, _ := f.Allow()
	probe(Success)
	f.wantState(t, Closed)
	slow(Failure) // from two generations ago
	f.wantState(t, Closed)
}

func TestFailuresSlideOutOfWindow(t *testing.T) {
	f := newFixture(Settings{Failures: -1, Ratio: 0.5, MinRequests: 3, Window: time.Minute})
	f.do(t, Failure)
	f.clk.Advance(30 * time.Second)
	f.do(t, Failure)
	if s := f.Snapshot(); s.Failures != 2 || s.Requests != 2 {
		t.Fatalf("Snapshot = %+v, want 2 failures in 2 requests", s)
	}
	// 66s after the first failure, it has slid out (window slides in 6s steps).
	f.clk.Advance(36 * time.Second)
	if s := f.Snapshot(); s.Failures != 1 {
		t.Fatalf("Failures = %d, want 1 after the first slid out", s.Failures)
	}
	f.do(t, Failure)
	f.wantState(t, Closed)
	f.do(t, Failure)
	f.wantState(t, Open)
}

func TestCooldown(t *testing.T) {
	f := newFixture(Settings{Failures: 1})
	f.Cooldown(t0.Add(-time.Second)) // in the past: nothing
	f.wantAllowErr(t, nil)

	f.Cooldown(t0.Add(30 * time.Second))
	f.Cooldown(t0.Add(10 * time.Second)) // does not shorten
	_, err := f.Allow()
	if !errors.Is(err, ErrCoolingDown) || errors.Is(err, ErrOpen) {
		t.Fatalf("Allow = %v, want ErrCoolingDown and not ErrOpen", err)
	}
	s := f.Snapshot()
	if s.State != Closed || !s.CoolingUntil.Equal(t0.Add(30*time.Second)) || s.Failures != 0 {
		t.Fatalf("Snapshot = %+v, want closed, no failures, cooling until +30s", s)
	}
	f.clk.Advance(30*time.Second - time.Nanosecond)
	f.wantAllowErr(t, ErrCoolingDown)
	f.clk.Advance(time.Nanosecond)
	f.wantAllowErr(t, nil)
	if s := f.Snapshot(); !s.CoolingUntil.IsZero() {
		t.Errorf("CoolingUntil = %v after the cooldown", s.CoolingUntil)
	}
	if len(f.seen) != 0 {
		t.Errorf("cooldown caused transitions %v", f.seen)
	}
}

func TestCooldownWhileHalfOpenHoldsProbes(t *testing.T) {
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute, MaxEjectionTime: 10 * time.Minute})
	f.do(t, Failure)
	f.Cooldown(t0.Add(90 * time.Second))
	f.clk.Advance(time.Minute)
	f.wantAllowErr(t, ErrCoolingDown)
	f.clk.Advance(30 * time.Second)
	f.do(t, Success)
	f.wantState(t, Closed)
}

func TestNames(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", HalfOpen: "half-open", Open: "open", 9: "State(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
	for o, want := range map[Outcome]string{Ignore: "ignore", Success: "success", Failure: "failure", 9: "Outcome(9)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", o, o.String(), want)
		}
	}
	if New("x", Settings{}, nil).Name() != "x" {
		t.Error("Name mismatch")
	}
}

func TestConcurrent(t *testing.T) {
	clk := clock.NewFake(t0)
	b := New("dep", Settings{Failures: 5, Window: time.Second, EjectionTime: 100 * time.Millisecond, HalfOpenRequests: 2}, clk)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for range 2000 {
				done, err := b.Allow()
				if err != nil {
					if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrCoolingDown) {
						t.Errorf("unexpected error %v", err)
						return
					}
					continue
				}
				done(Outcome(r.IntN(3)))
			}
		})
	}
	wg.Go(func() {
		for i := range 500 {
			clk.Advance(10 * time.Millisecond)
			if i%100 == 0 {
				b.Cooldown(clk.Now().Add(20 * time.Millisecond))
			}
			_ = b.Snapshot()
		}
	})
	wg.Wait()
	s := b.Snapshot()
	if s.State == Closed && s.Failures >= 5 {
		t.Errorf("closed with %d failures in window", s.Failures)
	}
}

func equal(a, b []transition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkAllowDoneClosed(b *testing.B) {
	br := New("dep", Settings{}, clock.Real{})
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(Success)
	}
}

func BenchmarkAllowDoneClosedParallel(b *testing.B) {
	br := New("dep", Settings{}, clock.Real{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, _ := br.Allow()
			done(Success)
		}
	})
}

func TestLocalChangesAndRemoteOnes(t *testing.T) {
	type change struct {
		to    State
		until time.Time
	}
	var got []change
	f := newFixture(Settings{Failures: 1, EjectionTime: time.Minute,
		OnLocalChange: func(_ string, to State, until time.Time) { got = append(got, change{to, until}) }})
	f.do(t, Failure) // local ejection: reported
	f.clk.Advance(time.Minute)
	f.do(t, Success) // local recovery: reported
	f.Eject(t0.Add(3 * time.Minute))
	f.wantAllowErr(t, ErrOpen)
	if s := f.Snapshot(); !s.EjectedUntil.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("remote ejection until %v, want +3m", s.EjectedUntil)
	}
	f.Eject(t0.Add(2 * time.Minute)) // shorter: kept as it was
	if s := f.Snapshot(); !s.EjectedUntil.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("a shorter remote ejection changed it to %v", s.EjectedUntil)
	}
	f.Reset()
	f.wantAllowErr(t, nil)
	want := []change{{Open, t0.Add(time.Minute)}, {Closed, t0.Add(time.Minute)}}
	if len(got) != len(want) || got[0] != want[0] || got[1].to != Closed {
		t.Errorf("local changes %v, want %v (remote ones not reported)", got, want)
	}
}
