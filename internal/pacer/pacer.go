// Package pacer keeps requests to one upstream deployment under its rate
// limits, so that the gateway waits a little instead of collecting a 429.
//
// A Pacer holds two token buckets, requests and tokens, filled either from
// configured RPM/TPM or from what the upstream reports in its rate-limit
// headers (Learn). Callers Wait for capacity in FIFO order, then Settle the
// token estimate once the real usage is known.
package pacer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

var (
	// ErrQueueFull is returned by Wait when Settings.MaxQueue callers are
	// already waiting.
	ErrQueueFull = errors.New("pacer: too many requests waiting for rate-limit capacity")
	// ErrWouldExceedWait is returned (wrapped in a *WaitError) when the
	// capacity would come later than the caller is willing to wait.
	ErrWouldExceedWait = errors.New("pacer: rate-limit wait would exceed the allowed time")
)

// WaitError reports that capacity would come too late. errors.Is(err,
// ErrWouldExceedWait) holds for it.
type WaitError struct {
	// Wait is the estimated wait from the time of the failure; a client
	// can be told to retry after it. It is math.MaxInt64 if capacity would
	// never return.
	Wait time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("%v (need %v)", ErrWouldExceedWait, e.Wait)
}

// Unwrap returns ErrWouldExceedWait.
func (e *WaitError) Unwrap() error { return ErrWouldExceedWait }

// DefaultMaxQueue bounds the waiters of a Pacer when Settings.MaxQueue is 0.
const DefaultMaxQueue = 1000

// Settings configure a Pacer. The zero value paces nothing until the
// upstream reports limits.
type Settings struct {
	// RPM paces requests to this many per minute, spread evenly: the
	// request bucket holds one second's worth (at least 1), so RPM 60
	// admits one request per second. Zero means no configured limit.
	RPM int
	// TPM paces tokens to this many per minute; the token bucket holds a
	// full minute's worth. Zero means no configured limit.
	TPM int
	// MaxQueue bounds how many callers may wait at once; more get
	// ErrQueueFull. Zero means DefaultMaxQueue.
	MaxQueue int
}

// Pacer paces the requests to one deployment. Create it with New; a nil
// *Pacer admits everything at once. A Pacer is safe for concurrent use.
//
// With no configured limits and nothing learned, Wait returns at once
// without locking or allocating. Otherwise an admission that need not wait
// costs one mutex round trip and no allocation.
type Pacer struct {
	clk      clock.Clock
	maxQueue int
	active   atomic.Bool // some bucket may constrain; false: Wait returns at once

	mu           sync.Mutex // protects following
	req, tok     bucket
	head, tail   *waiter // FIFO of callers waiting in Wait
	queued       int
	queuedTokens float64
}

// waiter is one caller blocked in Wait. Only its own goroutine admits it,
// once it is at the head of the queue.
type waiter struct {
	tokens     float64
	limit      time.Time     // admission later than this fails
	wake       chan struct{} // cap 1: capacity changed or now at the head
	next, prev *waiter
	queued     bool  // guarded by Pacer.mu
	err        error // guarded by Pacer.mu; set when the queue gives up on it
}

// New returns a Pacer for s. A nil clk means clock.Real.
func New(s Settings, clk clock.Clock) *Pacer {
	if clk == nil {
		clk = clock.Real{}
	}
	p := &Pacer{clk: clk, maxQueue: s.MaxQueue}
	if p.maxQueue <= 0 {
		p.maxQueue = DefaultMaxQueue
	}
	now := clk.Now()
	if s.RPM > 0 {
		rate := float64(s.RPM) / 60
		p.req = bucket{fixed: true, limited: true, rate: rate, burst: max(1, math.Ceil(rate)), at: now}
		p.req.level = p.req.burst
	}
	if s.TPM > 0 {
		p.tok = bucket{fixed: true, limited: true, rate: float64(s.TPM) / 60, burst: float64(s.TPM), at: now}
		p.tok.level = p.tok.burst
	}
	p.active.Store(s.RPM > 0 || s.TPM > 0)
	return p
}

// Reservation is capacity granted by Wait. Settle it once the request's
// real token usage is known. The zero Reservation settles to nothing.
type Reservation struct {
	p       *Pacer
	tokens  int  // the estimate charged
	charged bool // the token bucket was limited at admission
}

// Settle reconciles the token estimate charged by Wait with the tokens the
// upstream reported: an overestimate is given back (and may admit waiters
// at once), an underestimate is taken too (and delays later requests).
// Call it at most once; calling it is optional when the estimate was
// right. Settling a request that failed before the upstream counted it
// with 0 returns the whole estimate.
func (r Reservation) Settle(actualTokens int) {
	if !r.charged {
		return
	}
	delta := float64(max(actualTokens, 0) - r.tokens)
	if delta == 0 {
		return
	}
	p := r.p
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tok.add(now, -delta)
	if delta > 0 {
		p.recheckLocked(now)
	}
	p.wakeHeadLocked()
}

// Waiting returns how many callers are waiting in Wait.
func (p *Pacer) Waiting() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued
}

// Wait blocks until one request of about estTokens tokens may be sent,
// behind every caller already waiting (FIFO). It fails at once, without
// waiting, with ErrQueueFull when Settings.MaxQueue callers wait already,
// and with a *WaitError (ErrWouldExceedWait) when the estimated wait is
// longer than maxWait or than ctx's deadline (compared with the Pacer's
// clock); a maxWait <= 0 admits only without waiting. If capacity shrinks while waiting (Learn, Settle) so
// that maxWait would be passed, it fails then. It returns ctx.Err() if ctx
// ends first.
func (p *Pacer) Wait(ctx context.Context, estTokens int, maxWait time.Duration) (Reservation, error) {
	if err := ctx.Err(); err != nil {
		return Reservation{}, err
	}
	if p == nil || !p.active.Load() {
		return Reservation{}, nil
	}
	n := float64(max(estTokens, 0))
	now := p.clk.Now()
	p.mu.Lock()
	if p.head == nil {
		if ready, ok := p.readyLocked(now, 1, p.tok.need(n)); ok && !ready.After(now) {
			r := p.takeLocked(now, estTokens)
			p.mu.Unlock()
			return r, nil
		}
	}
	if p.queued >= p.maxQueue {
		p.mu.Unlock()
		return Reservation{}, ErrQueueFull
	}
	limit := now.Add(max(maxWait, 0))
	if dl, ok := ctx.Deadline(); ok && dl.Before(limit) {
		limit = dl
	}
	ready, ok := p.readyLocked(now, float64(p.queued+1), p.queuedTokens+p.tok.need(n))
	if !ok || ready.After(limit) {
		p.mu.Unlock()
		return Reservation{}, waitError(now, ready, ok)
	}
	w := &waiter{tokens: n, limit: limit, wake: make(chan struct{}, 1)}
	p.pushLocked(w)
	p.mu.Unlock()
	return p.wait(ctx, w, estTokens)
}

// wait blocks w until it is at the head of the queue and capacity allows.
func (p *Pacer) wait(ctx context.Context, w *waiter, estTokens int) (Reservation, error) {
	for {
		var d time.Duration
		p.mu.Lock()
		if w.err != nil {
			p.mu.Unlock()
			return Reservation{}, w.err
		}
		if p.head == w {
			now := p.clk.Now()
			ready, ok := p.readyLocked(now, 1, p.tok.need(w.tokens))
			switch {
			case ok && !ready.After(now):
				p.removeLocked(w)
				r := p.takeLocked(now, estTokens)
				p.mu.Unlock()
				return r, nil
			case !ok || ready.After(w.limit):
				p.removeLocked(w)
				p.mu.Unlock()
				return Reservation{}, waitError(now, ready, ok)
			}
			d = ready.Sub(now)
		}
		p.mu.Unlock()

		var timer clock.Timer
		var fire <-chan time.Time
		if d > 0 { // only the head waits on the clock
			timer = p.clk.NewTimer(d)
			fire = timer.C()
		}
		select {
		case <-fire:
		case <-w.wake:
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			p.mu.Lock()
			if w.queued {
				p.removeLocked(w)
			}
			p.mu.Unlock()
			return Reservation{}, ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func waitError(now, ready time.Time, ok bool) error {
	if !ok {
		return &WaitError{Wait: math.MaxInt64}
	}
	return &WaitError{Wait: ready.Sub(now)}
}

// readyLocked returns when reqs requests and toks tokens will be available.
func (p *Pacer) readyLocked(now time.Time, reqs, toks float64) (time.Time, bool) {
	r, ok := p.req.readyAt(now, reqs)
	if !ok {
		return r, false
	}
	t, ok := p.tok.readyAt(now, toks)
	if !ok {
		return t, false
	}
	if t.After(r) {
		return t, true
	}
	return r, true
}

func (p *Pacer) takeLocked(now time.Time, estTokens int) Reservation {
	p.req.add(now, -1)
	p.tok.add(now, -float64(max(estTokens, 0)))
	return Reservation{p: p, tokens: max(estTokens, 0), charged: p.tok.limited}
}

func (p *Pacer) pushLocked(w *waiter) {
	w.queued = true
	w.prev = p.tail
	if p.tail != nil {
		p.tail.next = w
	} else {
		p.head = w
	}
	p.tail = w
	p.queued++
	p.queuedTokens += w.tokens
}

// removeLocked takes w out of the queue and, if it was the head, wakes the
// new head.
func (p *Pacer) removeLocked(w *waiter) {
	wasHead := p.head == w
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		p.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		p.tail = w.prev
	}
	w.next, w.prev, w.queued = nil, nil, false
	p.queued--
	p.queuedTokens -= w.tokens
	if p.queued == 0 {
		p.queuedTokens = 0 // no float drift
	}
	if wasHead {
		p.wakeHeadLocked()
	}
}

func (p *Pacer) wakeHeadLocked() {
	if p.head != nil {
		select {
		case p.head.wake <- struct{}{}:
		default:
		}
	}
}

// recheckLocked fails the waiters that, after capacity shrank, could no
// longer be admitted within their limit.
func (p *Pacer) recheckLocked(now time.Time) {
	var reqs, toks float64
	for w := p.head; w != nil; {
		next := w.next
		ready, ok := p.readyLocked(now, reqs+1, toks+p.tok.need(w.tokens))
		if !ok || ready.After(w.limit) {
			w.err = waitError(now, ready, ok)
			p.removeLocked(w)
			select {
			case w.wake <- struct{}{}:
			default:
			}
		} else {
			reqs++
			toks += w.tokens
		}
		w = next
	}
}

// bucket is a token bucket that may run into debt. The zero bucket is
// unlimited and never blocks.
type bucket struct {
	fixed   bool    // rate and burst come from Settings; Learn only lowers the level
	limited bool    // rate, burst and level apply
	rate    float64 // units per second
	burst   float64
	level   float64   // available at time at; negative is debt
	at      time.Time // may be in the future while blocked
	until   time.Time // nothing is admitted before this
}

// levelAt returns the units available at t (t not before b.at, or the
// level at b.at).
func (b *bucket) levelAt(t time.Time) float64 {
	if !t.After(b.at) {
		return b.level
	}
	return min(b.burst, b.level+b.rate*t.Sub(b.at).Seconds())
}

// need is how much of the bucket a demand of n must find available: all
// of it, or a full bucket for a request larger than the bucket (which then
// leaves the bucket in debt).
func (b *bucket) need(n float64) float64 {
	if b.limited {
		return min(n, b.burst)
	}
	return n
}

// readyAt returns when demand units will be available. ok is false if
// never.
func (b *bucket) readyAt(now time.Time, demand float64) (time.Time, bool) {
	t := now
	if b.until.After(t) {
		t = b.until
	}
	if !b.limited || demand <= 0 {
		return t, true
	}
	lv := b.levelAt(t)
	if lv >= demand {
		return t, true
	}
	if b.rate <= 0 {
		return time.Time{}, false
	}
	secs := (demand - lv) / b.rate
	if secs >= float64(math.MaxInt64/int64(time.Second)) {
		return time.Time{}, false
	}
	return t.Add(time.Duration(math.Ceil(secs * float64(time.Second)))), true
}

// add changes the level by n (negative takes), capped at burst.
func (b *bucket) add(now time.Time, n float64) {
	if !b.limited {
		return
	}
	if b.at.After(now) {
		b.level = min(b.burst, b.level+n)
		return
	}
	b.level = min(b.burst, b.levelAt(now)+n)
	b.at = now
}
