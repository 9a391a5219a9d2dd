package reqlog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

var t0 = time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)

// rec is a record at t0 plus min minutes.
func rec(id string, min int) store.Record {
	return store.Record{ID: id, Time: t0.Add(time.Duration(min) * time.Minute), Status: 200}
}

func idList(recs []store.Record) string {
	s := make([]string, len(recs))
	for i := range recs {
		s[i] = recs[i].ID
	}
	return strings.Join(s, " ")
}

func TestRingWrapAround(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		adds    int
		want    string
		wantLen int
	}{
		{"empty", 3, 0, "", 0},
		{"partly full", 3, 2, "r1 r0", 2},
		{"exactly full", 3, 3, "r2 r1 r0", 3},
		{"wrapped once", 3, 5, "r4 r3 r2", 3},
		{"wrapped many times", 3, 31, "r30 r29 r28", 3},
		{"size one", 1, 4, "r3", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(tc.size)
			for i := range tc.adds {
				r.Add(rec(fmt.Sprintf("r%d", i), i))
			}
			got := r.Query(store.Filter{})
			if got == nil {
				t.Fatal("Query returned nil")
			}
			if idList(got) != tc.want {
				t.Errorf("Query = %q, want %q", idList(got), tc.want)
			}
			if r.Len() != tc.wantLen || r.Cap() != tc.size {
				t.Errorf("Len, Cap = %d, %d, want %d, %d", r.Len(), r.Cap(), tc.wantLen, tc.size)
			}
		})
	}
}

func TestRingDefaultSize(t *testing.T) {
	if got := NewRing(0).Cap(); got != DefaultRingSize {
		t.Errorf("NewRing(0).Cap() = %d, want %d", got, DefaultRingSize)
	}
}

func TestRingFilters(t *testing.T) {
	r := NewRing(10)
	recs := []store.Record{
		{ID: "a", Provider: "openai", ModelAsked: "smart", ModelServed: "gpt-4o", Status: 200, KeyID: "k1", Team: "red"},
		{ID: "b", Provider: "anthropic", ModelAsked: "claude", ModelServed: "claude", Status: 429, KeyID: "k2", Team: "red"},
		{ID: "c", Provider: "openai", ModelAsked: "gpt-4o", ModelServed: "gpt-4o", Status: 500, KeyID: "k1", Team: "blue"},
		{ID: "d", Provider: "gemini", ModelAsked: "flash", ModelServed: "flash", Status: 200, KeyID: "k3"},
	}
	for i := range recs {
		recs[i].Time = t0.Add(time.Duration(i) * time.Second)
		r.Add(recs[i])
	}
	tests := []struct {
		name string
		f    store.Filter
		want string
	}{
		{"all newest first", store.Filter{}, "d c b a"},
		{"limit", store.Filter{Limit: 2}, "d c"},
		{"provider", store.Filter{Provider: "openai"}, "c a"},
		{"model asked", store.Filter{Model: "smart"}, "a"},
		{"model served", store.Filter{Model: "gpt-4o"}, "c a"},
		{"key", store.Filter{KeyID: "k1"}, "c a"},
		{"team", store.Filter{Team: "red"}, "b a"},
		{"ok", store.Filter{Status: store.StatusOK}, "d a"},
		{"error", store.Filter{Status: store.StatusError}, "c b"},
		{"since inclusive", store.Filter{Since: t0.Add(2 * time.Second)}, "d c"},
		{"until exclusive", store.Filter{Until: t0.Add(2 * time.Second)}, "b a"},
		{"combined", store.Filter{Provider: "openai", Status: store.StatusError}, "c"},
		{"nothing", store.Filter{Provider: "mistral"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := idList(r.Query(tc.f)); got != tc.want {
				t.Errorf("Query(%+v) = %q, want %q", tc.f, got, tc.want)
			}
		})
	}
}

func TestRingOrdersByTimeThenAddOrder(t *testing.T) {
	r := NewRing(10)
	// A long stream that started first finishes last.
	r.Add(rec("b", 2))
	r.Add(rec("a", 1))
	r.Add(rec("c", 3))
	r.Add(rec("c2", 3))
	if got, want := idList(r.Query(store.Filter{})), "c2 c b a"; got != want {
		t.Errorf("Query = %q, want %q", got, want)
	}
}

func TestRingDefaultLimit(t *testing.T) {
	r := NewRing(store.DefaultLimit * 2)
	for i := range store.DefaultLimit + 50 {
		r.Add(rec(fmt.Sprint(i), i))
	}
	if got := len(r.Query(store.Filter{})); got != store.DefaultLimit {
		t.Errorf("Query with no limit returned %d records, want %d", got, store.DefaultLimit)
	}
}

func TestRingQueryCopies(t *testing.T) {
	r := NewRing(2)
	r.Add(rec("a", 0))
	got := r.Query(store.Filter{})
	r.Add(rec("b", 1))
	r.Add(rec("c", 2)) // overwrites a's slot
	if got[0].ID != "a" {
		t.Errorf("a query result changed after later Adds: %q", got[0].ID)
	}
}

func TestRingAddAllocatesNothing(t *testing.T) {
	r := NewRing(64)
	x := rec("x", 0)
	x.Prompt = strings.Repeat("p", 1000)
	if n := testing.AllocsPerRun(1000, func() { r.Add(x) }); n != 0 {
		t.Errorf("Add allocates %v times per call, want 0", n)
	}
}

func TestRingCompleteness(t *testing.T) {
	// The ring held r0..r4 at minutes 0..4 and kept the last 3 (r2 r3 r4),
	// so records at or before minute 1 may exist outside it.
	full := NewRing(3)
	for i := range 5 {
		full.Add(rec(fmt.Sprintf("r%d", i), i))
	}
	fresh := NewRing(3)
	fresh.Add(rec("r0", 0))

	tests := []struct {
		name      string
		r         *Ring
		f         store.Filter
		before    time.Time
		hasBefore bool
		want      bool
	}{
		{"nothing evicted, nothing older", fresh, store.Filter{}, time.Time{}, false, true},
		{"nothing evicted, older records elsewhere", fresh, store.Filter{}, t0.Add(-time.Minute), true, false},
		{"nothing evicted, since after older records", fresh, store.Filter{Since: t0}, t0.Add(-time.Minute), true, true},
		{"evicted, short page", full, store.Filter{}, time.Time{}, false, false},
		{"evicted, full page newer than evicted", full, store.Filter{Limit: 3}, time.Time{}, false, true},
		{"evicted, page reaches evicted time", full, store.Filter{Limit: 3, Since: t0.Add(time.Minute)}, time.Time{}, false, true},
		{"evicted, since after evicted", full, store.Filter{Since: t0.Add(90 * time.Second)}, time.Time{}, false, true},
		{"evicted, since at evicted", full, store.Filter{Since: t0.Add(time.Minute)}, time.Time{}, false, false},
		{"evicted, filter matches little", full, store.Filter{Provider: "x", Limit: 1}, time.Time{}, false, false},
		{"older records elsewhere newer than evicted", full, store.Filter{Limit: 3}, t0.Add(3 * time.Minute), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := tc.r.query(tc.f, tc.before, tc.hasBefore); got != tc.want {
				t.Errorf("complete = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRingConcurrent(t *testing.T) {
	r := NewRing(100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				r.Add(rec(fmt.Sprintf("g%d-%d", g, i), i))
				if i%100 == 0 {
					if got := r.Query(store.Filter{Limit: 50}); len(got) > 50 {
						t.Errorf("Query returned %d records, limit 50", len(got))
					}
				}
			}
		})
	}
	wg.Wait()
	if r.Len() != 100 {
		t.Errorf("Len = %d, want 100", r.Len())
	}
}

func BenchmarkRingAdd(b *testing.B) {
	r := NewRing(DefaultRingSize)
	x := rec("bench", 0)
	x.Provider, x.ModelAsked, x.ModelServed = "openai", "gpt-4o", "gpt-4o"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add(x)
		}
	})
}
