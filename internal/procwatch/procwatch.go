// Package procwatch watches the gateway process's own resources: its open
// file descriptors against its open-file limit (RLIMIT_NOFILE), so that the
// log and GET /health say when the gateway nears the limit before requests
// fail with "too many open files", and the memory a burst of client
// connections leaves behind, which it hands back to the operating system
// once the burst is over.
//
// A Watcher does its work in Run, one round every Options.Every; Check runs
// one round at once (tests, and Run itself). Nothing here starts a
// goroutine: the caller owns Run.
package procwatch

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

// Defaults of Options.
const (
	DefaultEvery       = 5 * time.Second
	DefaultThreshold   = 0.8
	DefaultReleaseDrop = 1000
	DefaultReleaseGap  = 30 * time.Second
)

// Options configure a Watcher. The zero value watches this process with
// the defaults noted on each field.
type Options struct {
	// Clock paces Run and stamps releases; nil means clock.Real.
	Clock clock.Clock
	// Logger gets the warning when descriptors cross Threshold, the note
	// when they fall back, and a debug line per memory release; nil
	// discards.
	Logger *slog.Logger
	// Every is the time between two rounds of Run. Zero means 5s: counting
	// /proc/self/fd at 10,000 descriptors takes about a millisecond.
	Every time.Duration
	// Threshold is the share of the limit at which descriptors are "near
	// the limit". Zero means 0.8. The warning clears below 0.9 of it, so a
	// count that hovers at the threshold logs once, not every round.
	Threshold float64
	// Descriptors returns the open descriptors and the limit. Nil counts
	// the entries of /proc/self/fd and reads RLIMIT_NOFILE's soft limit.
	Descriptors func() (open, limit int, err error)
	// Conns returns the client connections open now; the memory release
	// follows it. Nil means the count TrackConn keeps.
	Conns func() int64
	// Release returns freed memory to the operating system. Nil means
	// two collections (the first moves what sync.Pools hold, net/http's
	// per-connection bufio buffers among them, to their victim caches;
	// the second frees it) and then every free page given back
	// (debug.FreeOSMemory). At 10,000 streams' worth of idle buffers that
	// is about 25 MB the pools would otherwise keep.
	Release func()
	// ReleaseDrop is how far the open connections must fall from their
	// high-water mark (and to at most half of it) before memory is
	// released, in that round and once more in the next. Zero means 1000;
	// a negative value never releases.
	ReleaseDrop int64
	// ReleaseGap is the least time between two releases. Zero means 30s.
	ReleaseGap time.Duration
}

// Descriptors is the descriptor reading GET /health shows.
type Descriptors struct {
	Open  int `json:"open"`
	Limit int `json:"limit"`
	// Warning is set while Open is at or above the threshold share of
	// Limit, and says what to do.
	Warning string `json:"warning,omitempty"`
}

// Watcher watches one process. Create it with New; the zero value is not
// usable. It is safe for concurrent use.
type Watcher struct {
	o     Options
	conns atomic.Int64 // kept by TrackConn

	mu       sync.Mutex // protects following
	last     Descriptors
	read     bool // last holds a reading
	near     bool // the warning is up
	high     int64
	released time.Time
	again    bool // release once more in the next round
}

// New returns a Watcher with o's zero fields at their defaults.
func New(o Options) *Watcher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Threshold <= 0 || o.Threshold > 1 {
		o.Threshold = DefaultThreshold
	}
	if o.Descriptors == nil {
		o.Descriptors = selfDescriptors
	}
	if o.Release == nil {
		o.Release = freeOSMemory
	}
	if o.ReleaseDrop == 0 {
		o.ReleaseDrop = DefaultReleaseDrop
	}
	if o.ReleaseGap <= 0 {
		o.ReleaseGap = DefaultReleaseGap
	}
	w := &Watcher{o: o}
	if w.o.Conns == nil {
		w.o.Conns = w.conns.Load
	}
	return w
}

// Run checks every Options.Every until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	for {
		w.Check()
		t := w.o.Clock.NewTimer(w.o.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// Check runs one round: it reads the descriptors, logs a crossing of the
// threshold (either way), and releases memory if the open connections
// fell far from their high-water mark.
func (w *Watcher) Check() {
	open, limit, err := w.o.Descriptors()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && limit > 0 {
		w.checkDescriptorsLocked(open, limit)
	}
	w.releaseLocked()
}

func (w *Watcher) checkDescriptorsLocked(open, limit int) {
	d := Descriptors{Open: open, Limit: limit}
	share := float64(open) / float64(limit)
	switch {
	case share >= w.o.Threshold:
		d.Warning = fmt.Sprintf("%d of %d file descriptors are open (%.0f%%): at the limit new client connections and upstream dials fail with \"too many open files\"; raise the open-file limit (LimitNOFILE, ulimit -n), use protocol h2c or h2 to upstreams so that streams share connections, or spread the load over more replicas",
			open, limit, 100*share)
		if !w.near {
			w.near = true
			w.o.Logger.Warn("the gateway is near its open-file limit", "open", open, "limit", limit,
				"hint", "raise LimitNOFILE / ulimit -n, or use providers.X.protocol h2c (or h2 over TLS) so streams share upstream connections")
		}
	case w.near && share < 0.9*w.o.Threshold:
		w.near = false
		w.o.Logger.Info("open file descriptors are back below the warning threshold", "open", open, "limit", limit)
	case w.near:
		// Between the threshold and the hysteresis: still warned.
		d.Warning = fmt.Sprintf("%d of %d file descriptors are open (%.0f%%), recently over %.0f%%", open, limit, 100*share, 100*w.o.Threshold)
	}
	w.last, w.read = d, true
}

func (w *Watcher) releaseLocked() {
	if w.o.ReleaseDrop < 0 {
		return
	}
	if w.again {
		// The round after a release releases once more: what the burst's
		// last handlers still held then, and the buffers sync.Pools keep
		// for one more collection, are free only now.
		w.again = false
		w.o.Release()
		return
	}
	n := w.o.Conns()
	w.high = max(w.high, n)
	if w.high-n < w.o.ReleaseDrop || n > w.high/2 {
		return
	}
	now := w.o.Clock.Now()
	if !w.released.IsZero() && now.Sub(w.released) < w.o.ReleaseGap {
		return
	}
	w.o.Logger.Debug("client connections fell from their high-water mark: returning freed memory to the OS",
		"high", w.high, "open", n)
	w.o.Release()
	w.released, w.high, w.again = now, n, true
}

// Descriptors is the last reading, with its warning; a zero Descriptors
// before the first Check or when the platform cannot count them.
func (w *Watcher) Descriptors() Descriptors {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// NearLimit reports whether the warning is up.
func (w *Watcher) NearLimit() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.near
}

// TrackConn counts open client connections; set it as an http.Server's
// ConnState.
func (w *Watcher) TrackConn(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		w.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		w.conns.Add(-1)
	}
}

// Conns is the number of client connections open now, as TrackConn saw.
func (w *Watcher) Conns() int64 { return w.conns.Load() }

func freeOSMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
