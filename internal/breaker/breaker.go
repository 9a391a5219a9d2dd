// Package breaker is outlier ejection per upstream deployment: when a
// deployment fails too often it is ejected (gets no traffic) for a short,
// growing, jittered time, then a probe tests whether it recovered. It also
// holds a separate rate-limit cooldown, so that a 429 takes a deployment out
// of rotation until the time the upstream asked for without counting as a
// failure.
//
// A deployment is ejected on either rule, both over real upstream outcomes:
//   - Failures consecutive failures (default 5), or
//   - a failure Ratio (default 0.5) over at least MinRequests (default 20)
//     counted requests in the sliding Window (default 30s).
//
// The first ejection lasts EjectionTime (default 5s); each consecutive one
// doubles it, up to MaxEjectionTime (default 2m), plus up to 20% jitter so
// replicas and deployments do not probe in lockstep. A deployment that stays
// closed for MaxEjectionTime starts again from EjectionTime.
//
// The breaker never decides alone that a model is unavailable: the gateway
// may Force an attempt through an ejected deployment when no other route is
// left ("panic mode", as in Envoy's outlier detection), and a forced attempt
// that succeeds closes the breaker.
//
// The design follows sony/gobreaker's two-step Allow/done, which fits
// streams whose outcome is known only at the end, with an injected clock
// and a time-bucketed sliding window.
package breaker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

// Errors returned by Allow, wrapped in a *Refusal.
var (
	// ErrOpen means the deployment is ejected: it failed recently and gets
	// no traffic until its ejection ends.
	ErrOpen = errors.New("ejected after repeated failures")
	// ErrTooManyProbes means the breaker is half-open and all its probe
	// slots are taken. It wraps ErrOpen: errors.Is(err, ErrOpen) holds.
	ErrTooManyProbes = fmt.Errorf("%w: a probe is in flight", ErrOpen)
	// ErrCoolingDown means the deployment reported a rate limit and is
	// resting until its reset time. It is not ErrOpen.
	ErrCoolingDown = errors.New("cooling down after a rate limit")
)

// Refusal is the error Allow returns: why, and when the deployment may
// take traffic again (zero when unknown, as for probes in flight).
type Refusal struct {
	Err   error // ErrOpen, ErrTooManyProbes or ErrCoolingDown
	Until time.Time
}

func (r *Refusal) Error() string {
	if r.Until.IsZero() {
		return r.Err.Error()
	}
	return fmt.Sprintf("%v until %s", r.Err, r.Until.UTC().Format("15:04:05.000"))
}

// Unwrap returns the reason.
func (r *Refusal) Unwrap() error { return r.Err }

// ReadyAt is when the deployment may take traffic again.
func (r *Refusal) ReadyAt() time.Time { return r.Until }

// CoolingDown reports whether the refusal is a 429 cooldown (the
// upstream's own request to wait) rather than an ejection.
func (r *Refusal) CoolingDown() bool { return errors.Is(r.Err, ErrCoolingDown) }

// ReadyAt is when the deployment takes traffic again: the end of its
// ejection or cooldown, whichever is later; zero when it does now.
func (b *Breaker) ReadyAt() time.Time {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshLocked(now)
	var at time.Time
	if b.state == Open {
		at = b.openUntil
	}
	if b.coolUntil.After(now) && b.coolUntil.After(at) {
		at = b.coolUntil
	}
	return at
}

// State is the state of a breaker.
type State int32

// The states of a breaker.
const (
	// Closed lets every request through and counts outcomes.
	Closed State = iota
	// HalfOpen lets HalfOpenRequests probes through to test recovery.
	HalfOpen
	// Open (ejected) lets nothing through until the ejection ends, except
	// forced attempts.
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
	// client's own fault (4xx other than rate limits), the failure was the
	// gateway's own (out of file descriptors), or the upstream answered
	// 429 (report that with Cooldown instead).
	Ignore Outcome = iota
	// Success is a request the deployment served.
	Success
	// Failure is an upstream fault: 5xx, overload, timeout, connection
	// error. Failures eject the deployment.
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
	// Failures is how many consecutive failures eject the deployment.
	// Zero means 5; a negative value disables this rule.
	Failures int
	// Ratio of failures to counted requests within Window that ejects the
	// deployment once at least MinRequests were counted. Zero means 0.5; a
	// negative value disables this rule.
	Ratio float64
	// MinRequests is the least number of counted requests (successes and
	// failures) in Window before Ratio applies. Zero means 20.
	MinRequests int
	// Window is the sliding window of the Ratio rule. It slides in tenths.
	// Zero means 30s.
	Window time.Duration
	// EjectionTime is how long the first ejection lasts; each consecutive
	// ejection doubles it. Zero means 5s.
	EjectionTime time.Duration
	// MaxEjectionTime caps an ejection, and is how long a deployment must
	// stay closed before its next ejection starts from EjectionTime
	// again. It also bounds how long a probe may go unreported. Zero means
	// 2m.
	MaxEjectionTime time.Duration
	// HalfOpenRequests is how many probes go through when half-open; all of
	// them must succeed to close the breaker, and any failure ejects it
	// again. Zero means 1.
	HalfOpenRequests int
	// Rand returns a float in [0,1) for the ejection jitter; nil means
	// math/rand/v2.
	Rand func() float64
	// OnStateChange, if set, is called on every transition with the
	// breaker's name. It runs synchronously while the breaker is locked, so
	// it must be quick and must not call the Breaker.
	OnStateChange func(name string, from, to State)
	// OnLocalChange, if set, is called when this breaker's own outcomes
	// eject the deployment (to Open, with the ejection's end) or close it
	// again (to Closed), not when Eject or Reset applied another
	// replica's view. Like OnStateChange it runs under the breaker's lock.
	OnLocalChange func(name string, to State, until time.Time)
}

// Defaults are the settings the zero Settings stand for.
var Defaults = Settings{
	Failures: 5, Ratio: 0.5, MinRequests: 20, Window: 30 * time.Second,
	EjectionTime: 5 * time.Second, MaxEjectionTime: 2 * time.Minute, HalfOpenRequests: 1,
}

func (s Settings) withDefaults() Settings {
	if s.Failures == 0 {
		s.Failures = Defaults.Failures
	}
	if s.Ratio == 0 {
		s.Ratio = Defaults.Ratio
	}
	if s.MinRequests <= 0 {
		s.MinRequests = Defaults.MinRequests
	}
	if s.Window <= 0 {
		s.Window = Defaults.Window
	}
	if s.EjectionTime <= 0 {
		s.EjectionTime = Defaults.EjectionTime
	}
	if s.MaxEjectionTime <= 0 {
		s.MaxEjectionTime = max(Defaults.MaxEjectionTime, s.EjectionTime)
	}
	if s.MaxEjectionTime < s.EjectionTime {
		s.MaxEjectionTime = s.EjectionTime
	}
	if s.HalfOpenRequests <= 0 {
		s.HalfOpenRequests = Defaults.HalfOpenRequests
	}
	if s.Rand == nil {
		s.Rand = rand.Float64
	}
	return s
}

// numBuckets is how many slices the sliding window is cut into.
const numBuckets = 10

// jitter is the largest share added to an ejection time.
const jitter = 0.2

// Breaker guards one deployment. Create it with New; the zero value is not
// usable. A Breaker is safe for concurrent use.
//
// Allow costs one mutex round trip and no allocation while closed: the done
// function it returns is made once per state change, not per call, and
// outcomes reported for an earlier state (a request admitted while closed
// that finishes after the breaker opened) are dropped.
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
	forced    func(Outcome) // reports a forced attempt
	openedAt  time.Time
	openUntil time.Time // end of the current ejection
	closedAt  time.Time // when it last closed (zero: never opened)
	ejections int       // consecutive ejections
	changedAt time.Time // of the last transition
	coolUntil time.Time // zero when not cooling
	streak    int       // consecutive failures while closed
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
	b.forced = b.recordForced
	return b
}

// Name returns the name given to New.
func (b *Breaker) Name() string { return b.name }

// Allow asks to send one request to the deployment. On success it returns
// done, which the caller must call exactly once with the request's
// Outcome when it is known (for a stream: at its end). On refusal it
// returns a *Refusal wrapping ErrOpen, ErrTooManyProbes (which wraps
// ErrOpen) or ErrCoolingDown, with a done that does nothing.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Closed && b.coolUntil.IsZero() { // hot path: no clock read
		return b.done, nil
	}
	now := b.clk.Now()
	b.refreshLocked(now)
	if b.state == Open {
		return noop, &Refusal{Err: ErrOpen, Until: b.openUntil}
	}
	if !b.coolUntil.IsZero() {
		if now.Before(b.coolUntil) {
			return noop, &Refusal{Err: ErrCoolingDown, Until: b.coolUntil}
		}
		b.coolUntil = time.Time{}
	}
	if b.state == HalfOpen {
		if b.probes+b.probeOK >= b.s.HalfOpenRequests {
			if now.Sub(b.changedAt) < b.s.MaxEjectionTime {
				return noop, &Refusal{Err: ErrTooManyProbes}
			}
			// Probes that never reported for MaxEjectionTime: start a
			// fresh half-open round instead of staying stuck.
			b.setStateLocked(HalfOpen, now)
		}
		b.probes++
	}
	return b.done, nil
}

// Force admits one attempt whatever the state: the gateway's panic mode,
// when every route of a model is ejected and refusing would turn a partial
// outage into a total one. A forced attempt that succeeds closes the
// breaker (the deployment works again); one that fails changes nothing, so
// forced traffic never lengthens an ejection.
func (b *Breaker) Force() (done func(Outcome)) { return b.forced }

func (b *Breaker) recordForced(o Outcome) {
	if o != Success {
		return
	}
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Closed {
		b.setStateLocked(Closed, now)
		b.localLocked()
	}
}

// Cooldown keeps the deployment out of rotation until the given time,
// typically the reset time of a 429. Allow refuses with ErrCoolingDown
// until then. A cooldown never shortens an earlier, longer one, does not
// change the State and does not count as a failure: report the 429 request
// itself as Ignore.
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

// State returns the current state. An ejected breaker whose ejection has
// ended reports HalfOpen.
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
	// restart from zero on every transition. Streak is the current run of
	// consecutive failures.
	Failures, Requests, Streak int
	// OpenedAt is when the breaker last opened (zero if never), and
	// EjectedUntil when the current ejection ends (zero if not ejected).
	OpenedAt, EjectedUntil time.Time
	// Ejections counts consecutive ejections (it sets the next one's length).
	Ejections int
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
		Name:      b.name,
		State:     b.state,
		Failures:  int(failed),
		Requests:  int(total),
		Streak:    b.streak,
		OpenedAt:  b.openedAt,
		Ejections: b.ejections,
	}
	if b.state == Open {
		s.EjectedUntil = b.openUntil
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
			b.streak = 0
			b.bucketLocked(b.epoch(now)).ok++
		case Failure:
			b.streak++
			b.bucketLocked(b.epoch(now)).failed++
			if b.shouldTripLocked(now) {
				b.setStateLocked(Open, now)
				b.localLocked()
			}
		}
	case HalfOpen:
		b.probes--
		switch o {
		case Success:
			b.probeOK++
			if b.probeOK >= b.s.HalfOpenRequests {
				b.setStateLocked(Closed, now)
				b.localLocked()
			}
		case Failure:
			b.setStateLocked(Open, now)
			b.localLocked()
		}
	}
}

// localLocked reports a transition this breaker's own outcomes caused.
func (b *Breaker) localLocked() {
	if b.s.OnLocalChange != nil {
		b.s.OnLocalChange(b.name, b.state, b.openUntil)
	}
}

// Eject applies another replica's ejection of the same deployment: it
// stays out of rotation until until (a later local ejection may extend
// it). An ejection already lasting longer is kept.
func (b *Breaker) Eject(until time.Time) {
	now := b.clk.Now()
	if !until.After(now) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !until.After(b.openUntil) {
		return
	}
	b.setStateLocked(Open, now)
	b.openUntil = until
}

// Reset applies another replica's recovery: the deployment served a
// request there, so it is closed here too.
func (b *Breaker) Reset() {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Closed {
		b.setStateLocked(Closed, now)
	}
}

func (b *Breaker) shouldTripLocked(now time.Time) bool {
	if b.s.Failures > 0 && b.streak >= b.s.Failures {
		return true
	}
	if b.s.Ratio <= 0 {
		return false
	}
	failed, total := b.countLocked(b.epoch(now))
	return total >= int64(b.s.MinRequests) && float64(failed) >= b.s.Ratio*float64(total)
}

// refreshLocked moves an ejected breaker to half-open once its ejection
// has ended.
func (b *Breaker) refreshLocked(now time.Time) {
	if b.state == Open && !now.Before(b.openUntil) {
		b.setStateLocked(HalfOpen, now)
	}
}

// ejectionLocked is the length of the next ejection.
func (b *Breaker) ejectionLocked(now time.Time) time.Duration {
	if b.state == Closed && !b.closedAt.IsZero() && now.Sub(b.closedAt) >= b.s.MaxEjectionTime {
		b.ejections = 0 // healthy for long enough: start short again
	}
	b.ejections++
	d := b.s.EjectionTime
	for i := 1; i < b.ejections && d < b.s.MaxEjectionTime; i++ {
		d *= 2
	}
	d = min(d, b.s.MaxEjectionTime)
	return d + time.Duration(float64(d)*jitter*b.s.Rand())
}

func (b *Breaker) setStateLocked(to State, now time.Time) {
	from := b.state
	if to == Open {
		b.openUntil = now.Add(b.ejectionLocked(now))
		b.openedAt = now
	}
	if to == Closed && from != Closed {
		b.closedAt = now
	}
	b.state = to
	b.changedAt = now
	b.gen++
	b.probes, b.probeOK, b.streak = 0, 0, 0
	b.resetBucketsLocked()
	if to == Open {
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
