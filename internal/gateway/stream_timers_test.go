package gateway

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// The watchdog's timer is armed for an hour in these tests, so it never
// fires by itself: each case calls fire as the timer would, with stamps
// placed before or after now.
func TestWatchdogFire(t *testing.T) {
	const long = time.Hour
	cases := []struct {
		name    string
		setup   func(w *watchdog)
		timeout bool
	}{
		{name: "before the first deadline", setup: func(w *watchdog) {}},
		{name: "first deadline passed", setup: func(w *watchdog) { w.deadline = monoNow() - 1 }, timeout: true},
		{name: "a recent event keeps the stream alive past the first deadline",
			setup: func(w *watchdog) { w.deadline = monoNow() - 1; w.tick(monoNow()) }},
		{name: "the last event is older than idle",
			setup: func(w *watchdog) { w.tick(monoNow() - int64(2*long)) }, timeout: true},
		{name: "reset after events: the new deadline counts, not the events",
			setup: func(w *watchdog) {
				w.tick(monoNow())
				w.reset(long)
				w.deadline = monoNow() - 1
			}, timeout: true},
		{name: "stopped", setup: func(w *watchdog) { w.deadline = monoNow() - 1; w.stop() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newWatchdog(long, long, cancel)
			defer w.stop()
			tc.setup(w)
			w.fire()
			if got := w.timedOut.Load(); got != tc.timeout {
				t.Fatalf("timed out %v, want %v", got, tc.timeout)
			}
			if got := ctx.Err() != nil; got != tc.timeout {
				t.Fatalf("canceled %v, want %v", got, tc.timeout)
			}
		})
	}
}

// The first event after a reset re-arms the timer for idle when idle ends
// before the first-token deadline; later events leave it alone.
func TestWatchdogTickRearms(t *testing.T) {
	fired := make(chan struct{})
	w := newWatchdog(time.Hour, time.Millisecond, func() { close(fired) })
	defer w.stop()
	w.tick(monoNow())
	<-fired // within idle of the event, not after the hour
	if !w.timedOut.Load() {
		t.Fatal("canceled without timing out")
	}
}

// A deadline that moves later leaves the timer where it was: it fires at the
// earlier time, finds the deadline ahead and re-arms itself for it.
func TestWatchdogLaterDeadlineRearmsOnFire(t *testing.T) {
	w := newWatchdog(time.Millisecond, time.Hour, func() { t.Error("timed out before its deadline") })
	defer w.stop()
	w.reset(time.Hour)
	w.mu.Lock()
	deadline := w.deadline
	w.mu.Unlock()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		w.mu.Lock()
		when := w.when
		w.mu.Unlock()
		if when == deadline {
			break // fired early and re-armed for the hour
		}
		if time.Now().After(end) {
			t.Fatal("the timer did not fire and re-arm itself")
		}
	}
	if w.timedOut.Load() {
		t.Fatal("timed out")
	}
}

// The pinger writes a ping only when nothing was written for every: not
// after a recent flush, and not while writes wait for the next flush. The
// pinger's timer is armed for an hour; the cases call pingIfQuiet as it
// would.
func TestClientStreamPing(t *testing.T) {
	const every = time.Hour
	cases := []struct {
		name  string
		setup func(s *clientStream)
		ping  bool
	}{
		{name: "just committed", setup: func(s *clientStream) {}},
		{name: "quiet for longer than every", setup: func(s *clientStream) { s.last = monoNow() - int64(2*every) }, ping: true},
		{name: "flushed recently", setup: func(s *clientStream) {
			s.last = monoNow() - int64(2*every)
			_, _ = s.Write([]byte("data: x\n\n"))
			s.flush(monoNow())
		}},
		{name: "written, not flushed yet", setup: func(s *clientStream) {
			s.last = monoNow() - int64(2*every)
			_, _ = s.Write([]byte("data: x\n\n"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s := newClientStream(rec, provider.FormatOpenAI)
			defer s.stop()
			s.keepAlive(every)
			tc.setup(s)
			before := rec.Body.Len()
			s.pingIfQuiet()
			if got := rec.Body.Len() > before; got != tc.ping {
				t.Fatalf("pinged %v, want %v (body %q)", got, tc.ping, rec.Body.String())
			}
		})
	}
}
