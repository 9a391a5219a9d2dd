package reqlog

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Enqueuer takes records to persist without blocking; *Writer is one.
type Enqueuer interface {
	Enqueue(r store.Record) bool
}

// LogOptions configures a Log.
type LogOptions struct {
	// Ring keeps recent records in memory. Default NewRing(DefaultRingSize).
	Ring *Ring
	// Writer persists records; nil keeps them in memory only.
	Writer Enqueuer
	// Reader answers queries the ring cannot; nil answers from the ring
	// alone.
	Reader store.RecordReader
	// Start is when this process began logging: the Reader may hold records
	// from before it (earlier runs) that the ring never saw. Default: the
	// time NewLog is called.
	Start time.Time
	// Shared says the Reader also holds other replicas' records (a shared
	// PostgreSQL), so every query consults it and merges the ring's newest
	// records in.
	Shared bool
	// LedgerOnly sends the Writer only the records that are billing: those
	// of a virtual key or with charges (store.Record.Charges), without
	// their prompt and completion. The others stay in the ring alone
	// (request_log.persist: false).
	LedgerOnly bool
}

// Log is the request log: every record goes into the in-memory ring and to
// the writer, and queries are answered from the ring when it holds every
// record that could answer them, else from the reader merged with the ring
// (which also covers records still queued for writing). It is safe for
// concurrent use. Create it with NewLog; the zero value is not usable.
type Log struct {
	ring   *Ring
	writer Enqueuer
	reader store.RecordReader
	start  time.Time
	shared bool
	ledger bool // LedgerOnly
}

// NewLog returns a Log configured by o.
func NewLog(o LogOptions) *Log {
	if o.Ring == nil {
		o.Ring = NewRing(DefaultRingSize)
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	return &Log{ring: o.Ring, writer: o.Writer, reader: o.Reader, start: o.Start, shared: o.Shared, ledger: o.LedgerOnly}
}

// Record logs r: it adds it to the ring and enqueues it for writing. A
// record without an ID gets store.NewID(), so the ring's copy and the
// stored one are the same record. It never blocks.
func (l *Log) Record(r store.Record) {
	if r.ID == "" {
		r.ID = store.NewID()
	}
	l.ring.Add(r)
	if l.writer == nil {
		return
	}
	if l.ledger {
		if r.KeyID == "" && len(r.Charges) == 0 {
			return
		}
		r.Prompt, r.Completion = "", ""
	}
	l.writer.Enqueue(r)
}

// Query returns the records f selects, newest first, from the ring when it
// holds all of them, else from the reader merged with the ring. It returns
// an error wrapping store.ErrInvalidQuery for a bad filter.
func (l *Log) Query(ctx context.Context, f store.Filter) ([]store.Record, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	// Records the reader may hold that the ring never saw predate start.
	before := l.start.Add(-time.Nanosecond)
	recent, complete := l.ring.query(f, before, l.reader != nil)
	if l.reader == nil || (complete && !l.shared) {
		return recent, nil
	}
	stored, err := l.reader.Records(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("reqlog: query store: %w", err)
	}
	return merge(recent, stored, f.EffectiveLimit()), nil
}

// merge returns the newest limit records of a and b, both newest first,
// each ID once (a's copy wins).
func merge(a, b []store.Record, limit int) []store.Record {
	seen := make(map[string]struct{}, len(a))
	out := make([]store.Record, 0, min(len(a)+len(b), limit))
	out = append(out, a...)
	for i := range a {
		seen[a[i].ID] = struct{}{}
	}
	for i := range b {
		if _, dup := seen[b[i].ID]; !dup {
			out = append(out, b[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
