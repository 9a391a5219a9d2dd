// Package reqlog is llmgate's request log on the request path: a Ring of the
// most recent records in memory, a Writer that persists records in batches
// off the request path, and a Log that puts the two together and answers
// queries (GET /logs, llmgate logs) from memory when it can.
package reqlog

import (
	"sort"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// DefaultRingSize is the Ring size when none is configured.
const DefaultRingSize = 1000

// Ring holds the most recent records in a fixed, preallocated buffer; each
// Add overwrites the oldest once it is full. It is safe for concurrent use.
// Create it with NewRing; the zero value is not usable.
type Ring struct {
	mu sync.Mutex
	// protects following
	buf     []store.Record
	next    int       // slot the next Add writes
	n       int       // records held, <= len(buf)
	evicted bool      // some record was overwritten
	horizon time.Time // the newest Time among overwritten records
}

// NewRing returns a Ring that keeps the last size records (DefaultRingSize
// when size <= 0).
func NewRing(size int) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &Ring{buf: make([]store.Record, size)}
}

// Cap returns how many records the ring keeps.
func (r *Ring) Cap() int { return len(r.buf) }

// Len returns how many records the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Add stores rec, overwriting the oldest record when the ring is full. It
// copies rec into a preallocated slot and allocates nothing.
func (r *Ring) Add(rec store.Record) {
	r.mu.Lock()
	slot := &r.buf[r.next]
	if r.n == len(r.buf) {
		if !r.evicted || slot.Time.After(r.horizon) {
			r.horizon = slot.Time
		}
		r.evicted = true
	} else {
		r.n++
	}
	*slot = rec
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
	}
	r.mu.Unlock()
}

// Query returns the records in the ring that f selects, newest first (by
// Time, then by the order they were added), at most f.EffectiveLimit() of
// them. The slice is never nil. It does not validate f; an unknown
// f.Status matches every record.
func (r *Ring) Query(f store.Filter) []store.Record {
	out, _ := r.query(f, time.Time{}, false)
	return out
}

// query is Query that also reports whether the result is complete: whether
// no record outside the ring could be among the answers, given that records
// never added to the ring (older ones, kept elsewhere) have Time <= before
// when hasBefore is set.
func (r *Ring) query(f store.Filter, before time.Time, hasBefore bool) (out []store.Record, complete bool) {
	limit := f.EffectiveLimit()
	out = []store.Record{}
	r.mu.Lock()
	// Newest added first: a stable sort by Time then keeps the add order
	// for equal times.
	for i, idx := 0, r.next; i < r.n; i++ {
		idx--
		if idx < 0 {
			idx = len(r.buf) - 1
		}
		if f.Match(&r.buf[idx]) {
			out = append(out, r.buf[idx])
		}
	}
	if r.evicted && (!hasBefore || r.horizon.After(before)) {
		before, hasBefore = r.horizon, true
	}
	r.mu.Unlock()

	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > limit {
		out = out[:limit]
	}
	switch {
	case !hasBefore:
		// Nothing ever left the ring and nothing predates it.
		complete = true
	case !f.Since.IsZero() && f.Since.After(before):
		// Every record the filter can select is newer than any outside.
		complete = true
	case len(out) == limit && out[limit-1].Time.After(before):
		// A full page, all newer than any record outside the ring.
		complete = true
	}
	return out, complete
}
