package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Fake is a Clock for tests: time stands still until Advance or Set moves
// it, and timers fire only then. BlockUntil lets a test wait until the code
// under test has started its timers, so tests never need to sleep.
//
// Create one with NewFake; the zero value is not usable. A Fake is safe for
// concurrent use.
type Fake struct {
	mu       sync.Mutex // protects following
	now      time.Time
	timers   []*fakeTimer // pending timers, unordered
	blockers []blocker
}

var _ Clock = (*Fake)(nil)

type blocker struct {
	n    int
	done chan struct{}
}

// NewFake returns a Fake clock whose time is start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
// A d <= 0 fires at once and is never pending.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, when: f.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- f.now
		return t
	}
	t.pending = true
	f.timers = append(f.timers, t)
	f.notifyLocked()
	return t
}

// Advance moves the fake time forward by d and fires, in order of their
// deadlines, every timer that is then due. A negative d is ignored.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the fake time to t and fires every timer due by then. Setting
// a time before Now moves the clock back without firing anything.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(t)
}

// Pending returns how many timers are waiting to fire.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// BlockUntil blocks until at least n timers are pending. Use it after
// starting a goroutine that waits on the clock and before calling Advance.
func (f *Fake) BlockUntil(n int) {
	_ = f.BlockUntilContext(context.Background(), n)
}

// BlockUntilContext is BlockUntil that gives up when ctx ends, returning
// ctx.Err().
func (f *Fake) BlockUntilContext(ctx context.Context, n int) error {
	f.mu.Lock()
	if len(f.timers) >= n {
		f.mu.Unlock()
		return nil
	}
	b := blocker{n: n, done: make(chan struct{})}
	f.blockers = append(f.blockers, b)
	f.mu.Unlock()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		f.blockers = slices.DeleteFunc(f.blockers, func(x blocker) bool { return x.done == b.done })
		f.mu.Unlock()
		return ctx.Err()
	}
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	var due []*fakeTimer
	f.timers = slices.DeleteFunc(f.timers, func(x *fakeTimer) bool {
		if x.when.After(t) {
			return false
		}
		due = append(due, x)
		return true
	})
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.when.Compare(b.when) })
	for _, x := range due {
		x.pending = false
		select {
		case x.ch <- t:
		default:
		}
	}
}

// notifyLocked releases the BlockUntil callers whose count is reached.
func (f *Fake) notifyLocked() {
	f.blockers = slices.DeleteFunc(f.blockers, func(b blocker) bool {
		if len(f.timers) < b.n {
			return false
		}
		close(b.done)
		return true
	})
}

type fakeTimer struct {
	f       *Fake
	when    time.Time
	ch      chan time.Time
	pending bool // guarded by f.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if !t.pending {
		return false
	}
	t.pending = false
	t.f.timers = slices.DeleteFunc(t.f.timers, func(x *fakeTimer) bool { return x == t })
	return true
}
