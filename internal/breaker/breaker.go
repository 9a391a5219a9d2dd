// Package breaker is a circuit breaker per upstream deployment: after
// repeated upstream failures it stops sending traffic there for a while,
// then lets a few probe requests test whether the deployment recovered.
// It also holds a separate rate-limit cooldown, so that a 429 takes a
// deployment out of rotation until its reset time without counting as a
// failure.
//
// The design follows sony/gobreaker's two-step Allow/done, which fits
// streams whose outcome is known only at the end, with an injected clock
// and a time-bucketed sliding window.
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

// Errors returned by Allow.
var (
	// ErrOpen means the breaker is open: the deployment failed recently and
	// gets no traffic until RecoveryTimeout has passed.
	ErrOpen = errors.New("circuit breaker open")
	// ErrTooManyProbes means the breaker is half-open and all its probe
	// slots are taken. It wraps ErrOpen: errors.Is(err, ErrOpen) holds.
	ErrTooManyProbes = fmt.Errorf("%w: half-open probes in flight", ErrOpen)
	// ErrCoolingDown means the deployment reported a rate limit and is
	// resting until its reset time. It is not ErrOpen.
	ErrCoolingDown = errors.New("deployment cooling down after a rate limit")
)

// State is the state of a breaker.
type State int32

// The states of a breaker.
const (
	// Closed lets every request through and counts failures.
	Closed State = iota
	// HalfOpen lets HalfOpenRequests probes through to test recovery.
	HalfOpen
	// Open lets nothing through until RecoveryTimeout has passed.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Outcome is what became of an admitted request, as the breaker counts it.
type Outcome uint8

// The outcomes of a request. The zero Outcome is Ignore.
const (
	// Ignore counts for nothing: the client canceled, the request was the
	// client's own fault (4xx other than rate limits), or the upstream
	// answered 429 (report that with Cooldown instead).
	Ignore Outcome = iota
	// Success is a request the deployment served.
	Success
	// Failure is an upstream fault: 5xx, overload, timeout, connection
	// error. Failures open the breaker.
	Failure
)

// String returns "ignore", "success" or "failure".
func (o Outcome) String() string {
	switch o {
	case Ignore:
		return "ignore"
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Settings configure a Breaker. The zero value gives the defaults noted on
// each field.
type Settings struct {
	// Failures within Window that open the breaker. Zero means 3; a
	// negative value disables this rule (use with Ratio).
	Failures int
	// Ratio of failures to counted requests within Window that opens the
	// breaker once at least MinRequests were counted. Like the Failures
	// rule it is checked when a failure is reported. Zero disables the
	// rule.
	Ratio float64
	// MinRequests is the least number of counted requests (successes and
	// failures) in Window before Ratio applies. Zero means 10.
	MinRequests int
	// Window is the sliding window over which failures are counted. It
	// slides in tenths. Zero means 60s.
	Window time.Duration
	// RecoveryTimeout is how long the breaker stays open before letting
	// probes through. Zero means 5m.
	RecoveryTimeout time.Duration
	// HalfOpenRequests is how many probes go through when half-open; all of
	// them must succeed to close the breaker, and any failure reopens it.
	// Probes that report nothing for RecoveryTimeout are given up and new
	// ones are let through. Zero means 1.
	HalfOpenRequests int
	// OnStateChange, if set, is called on every transition with the
	// breaker's name. It runs synchronously while the breaker is locked, so
	// it must be quick and must not call the Breaker.
	OnStateChange func(name string, from, to State)
}

func (s Settings) withDefaults() Settings {
	if s.Failures == 0 {
		s.Failures = 3
	}
	if s.MinRequests <= 0 {
		s.MinRequests = 10
	}
	if s.Window <= 0 {
		s.Window = time.Minute
	}
	if s.RecoveryTimeout <= 0 {
		s.RecoveryTimeout = 5 * time.Minute
	}
	if s.HalfOpenRequests <= 0 {
		s.HalfOpenRequests = 1
	}
	return s
}

// numBuckets is how many slices the sliding window is cut into.
const numBuckets = 10

// Breaker guards one deployment. Create it with New; the zero value is not
// usable. A Breaker is safe for concurrent use.
//
// Allow costs one mutex round trip and no allocation: the done function it
// returns is made once per state change, not per call, and outcomes
// reported for an earlier state (a request admitted while closed that
// finishes after the breaker opened) are dropped.
type Breaker struct {
	name  string
	s     Settings
	clk   clock.Clock
	width time.Duration // of one bucket
	base  time.Time     // bucket epochs count widths since base

	mu        sync.Mutex // protects following
	state     State
	gen       uint64        // bumped on every transition
	done      func(Outcome) // reports into generation gen
	openedAt  time.Time
	changedAt time.Time // of the last transition
	coolUntil time.Time // zero when not cooling
	probes    int       // half-open probes in flight
	probeOK   int       // half-open probes that succeeded
	buckets   [numBuckets]bucket
}

type bucket struct {
	epoch      int64
	ok, failed int64
}

// noop is the done function returned with an error; calling it is harmless.
func noop(Outcome) {}

// New returns a closed Breaker for the deployment called name (used in
// OnStateChange and Snapshot). Zero fields of s take their defaults; a nil
// clk means clock.Real.
func New(name string, s Settings, clk clock.Clock) *Breaker {
	if clk == nil {
		clk = clock.Real{}
	}
	s = s.withDefaults()
	b := &Breaker{
		name:  name,
		s:     s,
		clk:   clk,
		width: max(s.Window/numBuckets, 1),
		base:  clk.Now(),
	}
	b.resetBucketsLocked()
	b.done = b.makeDone(b.gen)
	return b
}

// Name returns the name given to New.
func (b *Breaker) Name() string { return b.name }

// Allow asks to send one request to the deployment. On success it returns
// done, which the caller must call exactly once with the request's
// Outcome when it is known (for a stream: at its end). On refusal it
// returns ErrOpen, ErrTooManyProbes (which wraps ErrOpen) or
// ErrCoolingDown, with a done that does nothing.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Closed && b.coolUntil.IsZero() { // hot path: no clock read
		return b.done, nil
	}
	now := b.clk.Now()
	b.refreshLocked(now)
	if b.state == Open {
		return noop, ErrOpen
	}
	if !b.coolUntil.IsZero() {
		if now.Before(b.coolUntil) {
			return noop, ErrCoolingDown
		}
		b.coolUntil = time.Time{}
	}
	if b.state == HalfOpen {
		if b.probes+b.probeOK >= b.s.HalfOpenRequests {
			if now.Sub(b.changedAt) < b.s.RecoveryTimeout {
				return noop, ErrTooManyProbes
			}
			// Probes that never reported for a whole RecoveryTimeout:
			// start a fresh half-open round instead of staying stuck.
			b.setStateLocked(HalfOpen, now)
		}
		b.probes++
	}
	return b.done, nil
}

// Cooldown keeps the deployment out of rotation until the given time,
// typically the reset time of a 429. Allow returns ErrCoolingDown until
// then. A cooldown never shortens an earlier, longer one, does not change
// the State and does not count as a failure: report the 429 request itself
// as Ignore.
func (b *Breaker) Cooldown(until time.Time) {
	now := b.clk.Now()
	if !until.After(now) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.coolUntil) {
		b.coolUntil = until
	}
}

// State returns the current state. An open breaker whose RecoveryTimeout
// has passed reports HalfOpen.
func (b *Breaker) State() State {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshLocked(now)
	return b.state
}

// Snapshot is a breaker's state for /health and metrics.
type Snapshot struct {
	Name  string
	State State
	// Failures and Requests are the failures and the counted requests
	// (successes + failures) in the current window while Closed; they
	// restart from zero on every transition.
	Failures, Requests int
	// OpenedAt is when the breaker last opened (zero if never).
	OpenedAt time.Time
	// CoolingUntil is the end of the current rate-limit cooldown, zero if
	// none.
	CoolingUntil time.Time
}

// Snapshot returns the breaker's current state and counters.
func (b *Breaker) Snapshot() Snapshot {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshLocked(now)
	failed, total := b.countLocked(b.epoch(now))
	s := Snapshot{
		Name:     b.name,
		State:    b.state,
		Failures: int(failed),
		Requests: int(total),
		OpenedAt: b.openedAt,
	}
	if b.coolUntil.After(now) {
		s.CoolingUntil = b.coolUntil
	}
	return s
}

// makeDone returns the done function of generation gen.
func (b *Breaker) makeDone(gen uint64) func(Outcome) {
	return func(o Outcome) { b.record(gen, o) }
}

// record applies the outcome of a request admitted in generation gen.
// Unknown Outcome values count as Ignore.
func (b *Breaker) record(gen uint64, o Outcome) {
	var now time.Time
	if o == Success || o == Failure {
		now = b.clk.Now() // read before locking to keep the lock short
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return // admitted under an earlier state
	}
	switch b.state {
	case Closed:
		switch o {
		case Success:
			b.bucketLocked(b.epoch(now)).ok++
		case Failure:
			b.bucketLocked(b.epoch(now)).failed++
			if b.shouldTripLocked(now) {
				b.setStateLocked(Open, now)
			}
		}
	case HalfOpen:
		b.probes--
		switch o {
		case Success:
			b.probeOK++
			if b.probeOK >= b.s.HalfOpenRequests {
				b.setStateLocked(Closed, now)
			}
		case Failure:
			b.setStateLocked(Open, now)
		}
	}
}

func (b *Breaker) shouldTripLocked(now time.Time) bool {
	failed, total := b.countLocked(b.epoch(now))
	if b.s.Failures > 0 && failed >= int64(b.s.Failures) {
		return true
	}
	return b.s.Ratio > 0 && total >= int64(b.s.MinRequests) &&
		float64(failed) >= b.s.Ratio*float64(total)
}

// refreshLocked moves an open breaker to half-open once its recovery
// timeout has passed.
func (b *Breaker) refreshLocked(now time.Time) {
	if b.state == Open && now.Sub(b.openedAt) >= b.s.RecoveryTimeout {
		b.setStateLocked(HalfOpen, now)
	}
}

func (b *Breaker) setStateLocked(to State, now time.Time) {
	from := b.state
	b.state = to
	b.changedAt = now
	b.gen++
	b.probes, b.probeOK = 0, 0
	b.resetBucketsLocked()
	if to == Open {
		b.openedAt = now
		b.done = noop
	} else {
		b.done = b.makeDone(b.gen)
	}
	if b.s.OnStateChange != nil && from != to {
		b.s.OnStateChange(b.name, from, to)
	}
}

func (b *Breaker) epoch(now time.Time) int64 { return int64(now.Sub(b.base) / b.width) }

func (b *Breaker) resetBucketsLocked() {
	for i := range b.buckets {
		b.buckets[i] = bucket{epoch: -numBuckets} // older than any window
	}
}

// bucketLocked returns the bucket of epoch e, emptied if it held an older
// epoch.
func (b *Breaker) bucketLocked(e int64) *bucket {
	x := &b.buckets[((e%numBuckets)+numBuckets)%numBuckets]
	if x.epoch != e {
		*x = bucket{epoch: e}
	}
	return x
}

// countLocked returns the failures and counted requests of the window
// ending in epoch e.
func (b *Breaker) countLocked(e int64) (failed, total int64) {
	for i := range b.buckets {
		if x := &b.buckets[i]; x.epoch > e-numBuckets && x.epoch <= e {
			failed += x.failed
			total += x.ok + x.failed
		}
	}
	return failed, total
}
