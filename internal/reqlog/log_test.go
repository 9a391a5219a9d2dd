package reqlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// fakeReader answers from a fixed slice with Filter.Match and counts calls.
type fakeReader struct {
	mu    sync.Mutex
	recs  []store.Record // newest first
	calls int
	err   error
}

func (r *fakeReader) Records(_ context.Context, f store.Filter) ([]store.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return nil, r.err
	}
	out := []store.Record{}
	for i := range r.recs {
		if f.Match(&r.recs[i]) && len(out) < f.EffectiveLimit() {
			out = append(out, r.recs[i])
		}
	}
	return out, nil
}

// fakeQueue is an Enqueuer that keeps what it is given.
type fakeQueue struct {
	mu   sync.Mutex
	recs []store.Record
}

func (q *fakeQueue) Enqueue(r store.Record) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.recs = append(q.recs, r)
	return true
}

func TestLogRecordFeedsRingAndWriter(t *testing.T) {
	q := &fakeQueue{}
	l := NewLog(LogOptions{Ring: NewRing(10), Writer: q, Start: t0})
	l.Record(rec("a", 1))
	l.Record(store.Record{Time: t0.Add(2 * time.Minute)}) // no ID yet
	got, err := l.Query(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(q.recs) != 2 {
		t.Fatalf("ring has %d records, writer got %d, want 2 and 2", len(got), len(q.recs))
	}
	if got[0].ID == "" || got[0].ID != q.recs[1].ID {
		t.Errorf("a record without an ID got %q in the ring and %q in the writer, want the same new ID", got[0].ID, q.recs[1].ID)
	}
}

func TestLogQuerySource(t *testing.T) {
	// The store holds two records from an earlier run (before start) and
	// the ones this run wrote; the ring, size 3, holds this run's newest.
	start := t0
	earlier := []store.Record{rec("old2", -1), rec("old1", -2)}
	tests := []struct {
		name       string
		adds       int // this run's records n0.. at minutes 0..adds-1
		shared     bool
		noReader   bool
		f          store.Filter
		want       string
		wantReader bool
	}{
		{"ring holds a full page", 5, false, false, store.Filter{Limit: 2}, "n4 n3", false},
		{"since after everything evicted", 5, false, false, store.Filter{Since: t0.Add(3 * time.Minute)}, "n4 n3", false},
		{"page longer than the ring", 5, false, false, store.Filter{Limit: 4}, "n4 n3 n2 n1", true},
		{"nothing evicted but earlier runs", 2, false, false, store.Filter{}, "n1 n0 old2 old1", true},
		{"nothing evicted, since this run", 2, false, false, store.Filter{Since: start}, "n1 n0", false},
		{"filter selects little", 5, false, false, store.Filter{Status: store.StatusError}, "", true},
		{"shared store always asked", 2, true, false, store.Filter{Limit: 1}, "n1", true},
		{"no reader: ring only", 5, false, true, store.Filter{}, "n4 n3 n2", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reader := &fakeReader{}
			var writes []store.Record
			for i := range tc.adds {
				writes = append(writes, rec(fmt.Sprintf("n%d", i), i))
			}
			// Newest first; the store lags: it lacks this run's newest record.
			for i := len(writes) - 2; i >= 0; i-- {
				reader.recs = append(reader.recs, writes[i])
			}
			reader.recs = append(reader.recs, earlier...)
			o := LogOptions{Ring: NewRing(3), Start: start, Shared: tc.shared, Reader: reader}
			if tc.noReader {
				o.Reader = nil
			}
			l := NewLog(o)
			for _, r := range writes {
				l.Record(r)
			}
			got, err := l.Query(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if idList(got) != tc.want {
				t.Errorf("Query(%+v) = %q, want %q", tc.f, idList(got), tc.want)
			}
			if asked := reader.calls > 0; asked != tc.wantReader {
				t.Errorf("reader asked = %v, want %v", asked, tc.wantReader)
			}
		})
	}
}

func TestLogQueryErrors(t *testing.T) {
	boom := errors.New("db down")
	l := NewLog(LogOptions{Ring: NewRing(3), Reader: &fakeReader{err: boom}, Start: t0})
	if _, err := l.Query(context.Background(), store.Filter{}); !errors.Is(err, boom) {
		t.Errorf("Query with a failing reader = %v, want %v", err, boom)
	}
	if _, err := l.Query(context.Background(), store.Filter{Status: "weird"}); !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("Query with a bad status = %v, want ErrInvalidQuery", err)
	}
}

func TestLogConcurrent(t *testing.T) {
	q := &fakeQueue{}
	l := NewLog(LogOptions{Ring: NewRing(50), Writer: q, Reader: &fakeReader{}, Start: t0})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				l.Record(rec(fmt.Sprintf("g%d-%d", g, i), i))
				if i%50 == 0 {
					if _, err := l.Query(context.Background(), store.Filter{Limit: 20}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(q.recs) != 2000 {
		t.Errorf("writer got %d records, want 2000", len(q.recs))
	}
}
