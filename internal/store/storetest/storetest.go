// Package storetest is the conformance suite every store backend runs, so
// that SQLite and PostgreSQL answer the same queries with the same rows.
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openMyBackend) }
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Opener returns a Store for t. The first call for a given t must return a
// new, empty database; later calls with the same t must open that same
// database again (the suite reopens it to prove migrations are idempotent,
// and opens it from several goroutines at once). The opener may call
// t.Fatal and t.Cleanup (to drop the database once t ends); Run closes every
// Store it is given.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"DuplicateIDSkipped", testDuplicateID},
		{"Filters", testFilters},
		{"InvalidFilter", testInvalidFilter},
		{"Usage", testUsage},
		{"UsageByteOrder", testUsageOrder},
		{"Migrations", testMigrations},
		{"ConcurrentOpen", testConcurrentOpen},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Empty", testEmpty},
		{"CanceledContext", testCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var (
	onceMu sync.Mutex
	onceV  = map[*testing.T]any{}
)

// Once returns make's result for t, calling make only on the first call for
// that t. Openers use it to find the same database again on a second call,
// e.g. Once(t, func() string { return filepath.Join(t.TempDir(), "db") }).
func Once[T any](t *testing.T, make func() T) T {
	onceMu.Lock()
	defer onceMu.Unlock()
	if v, ok := onceV[t]; ok {
		return v.(T)
	}
	v := make()
	onceV[t] = v
	t.Cleanup(func() {
		onceMu.Lock()
		delete(onceV, t)
		onceMu.Unlock()
	})
	return v
}

// openStore opens a store for t and closes it when t ends.
func openStore(t *testing.T, open Opener) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func write(t *testing.T, w store.RecordWriter, recs ...store.Record) {
	t.Helper()
	if err := w.WriteRecords(context.Background(), recs); err != nil {
		t.Fatalf("WriteRecords: %v", err)
	}
}

func read(t *testing.T, r store.RecordReader, f store.Filter) []store.Record {
	t.Helper()
	got, err := r.Records(context.Background(), f)
	if err != nil {
		t.Fatalf("Records(%+v): %v", f, err)
	}
	if got == nil {
		t.Fatalf("Records(%+v) returned a nil slice", f)
	}
	return got
}

func ids(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].ID
	}
	return out
}

// base is a fixed instant with sub-millisecond digits, to catch backends
// that lose or round precision.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// full is a record with every field set.
func full(id string) store.Record {
	return store.Record{
		ID:              id,
		Time:            base,
		ClientFormat:    "anthropic",
		Op:              "chat",
		ModelAsked:      "smart",
		Provider:        "openai",
		ModelServed:     "gpt-4o-2024-08-06",
		Status:          502,
		ErrorKind:       "bad_gateway",
		ErrorMessage:    "upstream said: \"boom\"\nline two; DROP TABLE requests; --",
		Attempts:        3,
		Fallback:        true,
		Stream:          true,
		Latency:         1234567891 * time.Nanosecond,
		TTFT:            98765432 * time.Nanosecond,
		InputTokens:     1200,
		OutputTokens:    345,
		CachedTokens:    1024,
		ReasoningTokens: 77,
		TokensEstimated: true,
		CostUSD:         0.0123456789,
		Priced:          true,
		KeyID:           "key_abc",
		Team:            "team-ml",
		Prompt:          "héllo wörld 🌍 ' \" \\ \x01 " + strings.Repeat("p", 100<<10),
		Completion:      "日本語の応答\n\ttabs",
	}
}

// sameRecord reports the differences between want and got, comparing times
// and durations at millisecond precision and requiring a UTC time.
func sameRecord(t *testing.T, want, got store.Record) {
	t.Helper()
	if got.Time.Location() != time.UTC {
		t.Errorf("record %s: Time location = %v, want UTC", want.ID, got.Time.Location())
	}
	if !got.Time.Truncate(time.Millisecond).Equal(want.Time.Truncate(time.Millisecond)) {
		t.Errorf("record %s: Time = %v, want %v (ms precision)", want.ID, got.Time, want.Time)
	}
	for _, d := range []struct {
		name      string
		got, want time.Duration
	}{{"Latency", got.Latency, want.Latency}, {"TTFT", got.TTFT, want.TTFT}} {
		if d.got.Truncate(time.Millisecond) != d.want.Truncate(time.Millisecond) {
			t.Errorf("record %s: %s = %v, want %v (ms precision)", want.ID, d.name, d.got, d.want)
		}
	}
	g, w := got, want
	g.Time, w.Time = time.Time{}, time.Time{}
	g.Latency, w.Latency, g.TTFT, w.TTFT = 0, 0, 0, 0
	if g.Prompt != w.Prompt {
		t.Errorf("record %s: Prompt differs (len %d, want len %d)", want.ID, len(g.Prompt), len(w.Prompt))
	}
	g.Prompt, w.Prompt = "", ""
	g.Charges, w.Charges = nil, nil // applied to counters, not stored
	if !reflect.DeepEqual(g, w) {
		t.Errorf("record %s:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	s := openStore(t, open)
	want := full("r-full")
	zero := store.Record{ID: "r-zero", Time: base.Add(-time.Hour)}
	// A non-UTC time is the same instant, read back in UTC.
	tokyo := store.Record{ID: "r-tokyo", Time: base.Add(-2 * time.Hour).In(time.FixedZone("JST", 9*3600)), Status: 200}
	noID := store.Record{Time: base.Add(-3 * time.Hour), Provider: "anonymous"}
	write(t, s, want, zero, tokyo, noID)

	got := read(t, s, store.Filter{})
	if len(got) != 4 {
		t.Fatalf("read %d records %v, want 4", len(got), ids(got))
	}
	sameRecord(t, want, got[0])
	sameRecord(t, zero, got[1])
	sameRecord(t, tokyo, got[2])
	if got[3].ID == "" || got[3].Provider != "anonymous" {
		t.Errorf("record written without an ID read back as %+v, want an assigned ID", got[3])
	}
}

func testDuplicateID(t *testing.T, open Opener) {
	s := openStore(t, open)
	a, b := full("dup-a"), full("dup-b")
	b.Time = base.Add(time.Second)
	write(t, s, a)
	// A retried batch that partly reached the store writes only what is new.
	changed := a
	changed.Provider = "other"
	write(t, s, changed, b)
	got := read(t, s, store.Filter{})
	if want := []string{"dup-b", "dup-a"}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Fatalf("ids = %v, want %v", ids(got), want)
	}
	if got[1].Provider != "openai" {
		t.Errorf("duplicate overwrote the first record: provider %q", got[1].Provider)
	}
}

// seed is the data set the filter and usage tests query: one record per
// line, at base plus i minutes (i = its index), except where set.
func seed() []store.Record {
	day := 24 * time.Hour
	recs := []store.Record{
		{ID: "s00", Provider: "openai", ModelAsked: "gpt-4o", ModelServed: "gpt-4o", Status: 200, KeyID: "k1", Team: "red", InputTokens: 10, OutputTokens: 5, CostUSD: 0.5},
		{ID: "s01", Provider: "openai", ModelAsked: "smart", ModelServed: "gpt-4o", Status: 200, KeyID: "k1", Team: "red", InputTokens: 20, OutputTokens: 7, CachedTokens: 4, CostUSD: 0.25},
		{ID: "s02", Provider: "anthropic", ModelAsked: "smart", ModelServed: "claude-sonnet-4", Status: 200, Fallback: true, KeyID: "k2", Team: "red", InputTokens: 30, OutputTokens: 9, ReasoningTokens: 3, CostUSD: 0.125},
		{ID: "s03", Provider: "anthropic", ModelAsked: "claude-sonnet-4", ModelServed: "claude-sonnet-4", Status: 429, ErrorKind: "rate_limited", KeyID: "k2", Team: "blue"},
		{ID: "s04", Provider: "gemini", ModelAsked: "gemini-2.5-flash", ModelServed: "gemini-2.5-flash", Status: 500, ErrorKind: "server", KeyID: "k3", Team: "blue", InputTokens: 40},
		{ID: "s05", Provider: "", ModelAsked: "nope", Status: 404, ErrorKind: "not_found"},
		{ID: "s06", Provider: "openai", ModelAsked: "gpt-4o", ModelServed: "gpt-4o", Status: 200, KeyID: "k3", Team: "", InputTokens: 1, OutputTokens: 1, CostUSD: 1},
		{ID: "s07", Provider: "gemini", ModelAsked: "gemini-2.5-flash", ModelServed: "gemini-2.5-flash", Status: 399, KeyID: "k1", Team: "red", InputTokens: 3, OutputTokens: 2, CostUSD: 0.0625},
	}
	for i := range recs {
		recs[i].Time = base.Add(time.Duration(i) * time.Minute)
	}
	// Spread some over other UTC days; s07 is given in a zone where it falls
	// on a different local day than its UTC day.
	recs[4].Time = base.Add(-day)
	recs[5].Time = base.Add(-2 * day)
	recs[7].Time = time.Date(2025, 3, 15, 23, 59, 59, 999000000, time.UTC).In(time.FixedZone("east", 5*3600))
	return recs
}

func testFilters(t *testing.T, open Opener) {
	s := openStore(t, open)
	recs := seed()
	// Two records with the same time: the one written later is newer.
	tieA := store.Record{ID: "tie-a", Time: base.Add(-10 * 24 * time.Hour), Provider: "tie", Status: 200}
	tieB := tieA
	tieB.ID = "tie-b"
	write(t, s, recs[:4]...)
	write(t, s, recs[4:]...)
	write(t, s, tieA, tieB)

	tests := []struct {
		name string
		f    store.Filter
		want string
	}{
		{"all newest first", store.Filter{}, "s07 s06 s03 s02 s01 s00 s04 s05 tie-b tie-a"},
		{"limit", store.Filter{Limit: 3}, "s07 s06 s03"},
		{"limit over max", store.Filter{Limit: store.MaxLimit + 1}, "s07 s06 s03 s02 s01 s00 s04 s05 tie-b tie-a"},
		{"provider", store.Filter{Provider: "anthropic"}, "s03 s02"},
		{"provider none", store.Filter{Provider: "mistral"}, ""},
		{"model matches served", store.Filter{Model: "gpt-4o"}, "s06 s01 s00"},
		{"model matches asked", store.Filter{Model: "smart"}, "s02 s01"},
		{"model asked or served", store.Filter{Model: "claude-sonnet-4"}, "s03 s02"},
		{"key", store.Filter{KeyID: "k1"}, "s07 s01 s00"},
		{"team", store.Filter{Team: "blue"}, "s03 s04"},
		{"status ok", store.Filter{Status: store.StatusOK}, "s07 s06 s02 s01 s00 tie-b tie-a"},
		{"status error", store.Filter{Status: store.StatusError}, "s03 s04 s05"},
		{"since inclusive", store.Filter{Since: base.Add(2 * time.Minute)}, "s07 s06 s03 s02"},
		{"until exclusive", store.Filter{Until: base.Add(2 * time.Minute)}, "s01 s00 s04 s05 tie-b tie-a"},
		{"since and until", store.Filter{Since: base, Until: base.Add(2 * time.Minute)}, "s01 s00"},
		{"since in another zone", store.Filter{Since: base.Add(6 * time.Minute).In(time.FixedZone("west", -7*3600))}, "s07 s06"},
		{"combined", store.Filter{Provider: "openai", Status: store.StatusOK, KeyID: "k1", Limit: 1}, "s01"},
		{"combined none", store.Filter{Provider: "openai", Status: store.StatusError}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(ids(read(t, s, tc.f)), " ")
			if got != tc.want {
				t.Errorf("Records(%+v)\n got %q\nwant %q", tc.f, got, tc.want)
			}
			// The store agrees with the reference semantics of Filter.Match.
			if ref := strings.Join(ids(reference(append(seed(), tieA, tieB), tc.f)), " "); got != ref {
				t.Errorf("Records(%+v) = %q, Filter.Match gives %q", tc.f, got, ref)
			}
		})
	}
}

// reference answers f over recs (given in write order) with Filter.Match.
func reference(recs []store.Record, f store.Filter) []store.Record {
	out := []store.Record{}
	for i := len(recs) - 1; i >= 0; i-- {
		if f.Match(&recs[i]) {
			out = append(out, recs[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if n := f.EffectiveLimit(); len(out) > n {
		out = out[:n]
	}
	return out
}

func testInvalidFilter(t *testing.T, open Opener) {
	s := openStore(t, open)
	for _, f := range []store.Filter{
		{Status: "bogus"},
		{Since: base, Until: base.Add(-time.Second)},
	} {
		if _, err := s.Records(context.Background(), f); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Records(%+v) error = %v, want ErrInvalidQuery", f, err)
		}
	}
	if u, ok := s.(store.UsageReporter); ok {
		if _, err := u.Usage(context.Background(), store.UsageQuery{GroupBy: "user"}); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Usage(group by user) error = %v, want ErrInvalidQuery", err)
		}
	}
}

func usageReporter(t *testing.T, s store.Store) store.UsageReporter {
	t.Helper()
	u, ok := s.(store.UsageReporter)
	if !ok {
		t.Skipf("%T does not implement store.UsageReporter", s)
	}
	return u
}

func testUsage(t *testing.T, open Opener) {
	s := openStore(t, open)
	u := usageReporter(t, s)
	write(t, s, seed()...)

	row := func(g string, req, errs, in, out, cached, reasoning int64, cost float64) store.UsageRow {
		return store.UsageRow{Group: g, Requests: req, Errors: errs, InputTokens: in, OutputTokens: out,
			CachedTokens: cached, ReasoningTokens: reasoning, CostUSD: cost}
	}
	tests := []struct {
		name string
		q    store.UsageQuery
		want []store.UsageRow
	}{
		{"by key", store.UsageQuery{GroupBy: store.GroupKey}, []store.UsageRow{
			row("", 1, 1, 0, 0, 0, 0, 0),
			row("k1", 3, 0, 33, 14, 4, 0, 0.8125),
			row("k2", 2, 1, 30, 9, 0, 3, 0.125),
			row("k3", 2, 1, 41, 1, 0, 0, 1),
		}},
		{"by team", store.UsageQuery{GroupBy: store.GroupTeam}, []store.UsageRow{
			row("", 2, 1, 1, 1, 0, 0, 1),
			row("blue", 2, 2, 40, 0, 0, 0, 0),
			row("red", 4, 0, 63, 23, 4, 3, 0.9375),
		}},
		{"by model", store.UsageQuery{GroupBy: store.GroupModel}, []store.UsageRow{
			row("claude-sonnet-4", 2, 1, 30, 9, 0, 3, 0.125),
			row("gemini-2.5-flash", 2, 1, 43, 2, 0, 0, 0.0625),
			row("gpt-4o", 3, 0, 31, 13, 4, 0, 1.75),
			row("nope", 1, 1, 0, 0, 0, 0, 0),
		}},
		{"by provider", store.UsageQuery{GroupBy: store.GroupProvider}, []store.UsageRow{
			row("", 1, 1, 0, 0, 0, 0, 0),
			row("anthropic", 2, 1, 30, 9, 0, 3, 0.125),
			row("gemini", 2, 1, 43, 2, 0, 0, 0.0625),
			row("openai", 3, 0, 31, 13, 4, 0, 1.75),
		}},
		{"by UTC day", store.UsageQuery{GroupBy: store.GroupDay}, []store.UsageRow{
			row("2025-03-12", 1, 1, 0, 0, 0, 0, 0),
			row("2025-03-13", 1, 1, 40, 0, 0, 0, 0),
			row("2025-03-14", 5, 1, 61, 22, 4, 3, 1.875),
			row("2025-03-15", 1, 0, 3, 2, 0, 0, 0.0625),
		}},
		{"range", store.UsageQuery{GroupBy: store.GroupProvider, Since: base, Until: base.Add(3 * time.Minute)}, []store.UsageRow{
			row("anthropic", 1, 0, 30, 9, 0, 3, 0.125),
			row("openai", 2, 0, 30, 12, 4, 0, 0.75),
		}},
		{"one key by day", store.UsageQuery{GroupBy: store.GroupDay, KeyID: "k1"}, []store.UsageRow{
			row("2025-03-14", 2, 0, 30, 12, 4, 0, 0.75),
			row("2025-03-15", 1, 0, 3, 2, 0, 0, 0.0625),
		}},
		{"one team by model", store.UsageQuery{GroupBy: store.GroupModel, Team: "blue"}, []store.UsageRow{
			row("claude-sonnet-4", 1, 1, 0, 0, 0, 0, 0),
			row("gemini-2.5-flash", 1, 1, 40, 0, 0, 0, 0),
		}},
		{"empty range", store.UsageQuery{GroupBy: store.GroupKey, Since: base.Add(time.Hour * 1000)}, []store.UsageRow{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := u.Usage(context.Background(), tc.q)
			if err != nil {
				t.Fatalf("Usage(%+v): %v", tc.q, err)
			}
			if got == nil {
				t.Fatalf("Usage(%+v) returned a nil slice", tc.q)
			}
			if !sameUsage(got, tc.want) {
				t.Errorf("Usage(%+v)\n got %+v\nwant %+v", tc.q, got, tc.want)
			}
		})
	}
}

func testUsageOrder(t *testing.T, open Opener) {
	s := openStore(t, open)
	u := usageReporter(t, s)
	// Groups sort by bytes, whatever the database's collation.
	models := []string{"gpt4", "a-model", "gpt-4o", "B-model", "Ω", "b_model"}
	for i, m := range models {
		write(t, s, store.Record{ID: fmt.Sprintf("o%d", i), Time: base, ModelServed: m})
	}
	rows, err := u.Usage(context.Background(), store.UsageQuery{GroupBy: store.GroupModel})
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Group)
	}
	want := append([]string(nil), models...)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups = %q, want %q", got, want)
	}
}

func sameUsage(a, b []store.UsageRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if math.Abs(x.CostUSD-y.CostUSD) > 1e-9 {
			return false
		}
		x.CostUSD, y.CostUSD = 0, 0
		if x != y {
			return false
		}
	}
	return true
}

func testMigrations(t *testing.T, open Opener) {
	first := open(t)
	write(t, first, full("m-1"))
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Reopening runs the migrations again: they must find nothing to do and
	// keep the data.
	for i := range 2 {
		s := open(t)
		r := full(fmt.Sprintf("m-%d", i+2))
		r.Time = base.Add(time.Duration(i+1) * time.Second)
		write(t, s, r)
		got := read(t, s, store.Filter{})
		if want := i + 2; len(got) != want {
			t.Fatalf("after reopen %d: %d records %v, want %d", i+1, len(got), ids(got), want)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func testConcurrentOpen(t *testing.T, open Opener) {
	// Several replicas starting together on a new database: each runs the
	// migrations, exactly one applies them, none fails.
	const n = 4
	stores := make([]store.Store, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i] = open(t) })
	}
	wg.Wait()
	for i, s := range stores {
		if s == nil {
			t.Fatalf("open %d failed", i)
		}
		t.Cleanup(func() { s.Close() })
		write(t, s, store.Record{ID: fmt.Sprintf("co-%d", i), Time: base.Add(time.Duration(i) * time.Second)})
	}
	if got := read(t, stores[0], store.Filter{}); len(got) != n {
		t.Fatalf("%d records %v, want %d", len(got), ids(got), n)
	}
}

func testConcurrentWriters(t *testing.T, open Opener) {
	s := openStore(t, open)
	const writers, batches, perBatch = 8, 20, 10
	errs := make(chan error, writers*batches)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]store.Record, perBatch)
				for i := range batch {
					batch[i] = store.Record{
						ID:       fmt.Sprintf("w%d-b%d-%d", w, b, i),
						Time:     base.Add(time.Duration(w*batches*perBatch+b*perBatch+i) * time.Millisecond),
						Provider: fmt.Sprintf("p%d", w),
						KeyID:    "k", InputTokens: 1, Status: 200,
					}
				}
				if err := s.WriteRecords(context.Background(), batch); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
				}
			}
		})
	}
	// Readers run at the same time and must not fail either.
	wg.Go(func() {
		for range 20 {
			if _, err := s.Records(context.Background(), store.Filter{Limit: 50}); err != nil {
				errs <- fmt.Errorf("concurrent read: %w", err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = writers * batches * perBatch
	got := read(t, s, store.Filter{Limit: store.MaxLimit})
	seen := make(map[string]bool, len(got))
	for _, r := range got {
		seen[r.ID] = true
	}
	if len(got) != total || len(seen) != total {
		t.Fatalf("read %d records (%d distinct), want %d", len(got), len(seen), total)
	}
	if got := read(t, s, store.Filter{Provider: "p3", Limit: store.MaxLimit}); len(got) != batches*perBatch {
		t.Errorf("writer 3 has %d records, want %d", len(got), batches*perBatch)
	}
	if u, ok := s.(store.UsageReporter); ok {
		rows, err := u.Usage(context.Background(), store.UsageQuery{GroupBy: store.GroupKey})
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		if len(rows) != 1 || rows[0].Requests != total || rows[0].InputTokens != total {
			t.Errorf("Usage = %+v, want one row with %d requests and tokens", rows, total)
		}
	}
}

func testEmpty(t *testing.T, open Opener) {
	s := openStore(t, open)
	if err := s.WriteRecords(context.Background(), nil); err != nil {
		t.Fatalf("WriteRecords(nil): %v", err)
	}
	if got := read(t, s, store.Filter{}); len(got) != 0 {
		t.Errorf("empty store returned %d records", len(got))
	}
	write(t, s, full("e-1"))
	if got := read(t, s, store.Filter{Provider: "nobody"}); len(got) != 0 {
		t.Errorf("filter matching nothing returned %d records", len(got))
	}
	if u, ok := s.(store.UsageReporter); ok {
		for _, g := range []store.GroupBy{store.GroupKey, store.GroupTeam, store.GroupModel, store.GroupProvider, store.GroupDay} {
			rows, err := u.Usage(context.Background(), store.UsageQuery{GroupBy: g, KeyID: "nobody"})
			if err != nil {
				t.Fatalf("Usage by %s: %v", g, err)
			}
			if rows == nil || len(rows) != 0 {
				t.Errorf("Usage by %s over nothing = %#v, want an empty non-nil slice", g, rows)
			}
		}
	}
}

func testCanceled(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WriteRecords(ctx, []store.Record{full("c-1")}); err == nil {
		t.Error("WriteRecords with a canceled context succeeded")
	}
	if _, err := s.Records(ctx, store.Filter{}); err == nil {
		t.Error("Records with a canceled context succeeded")
	}
	if got := read(t, s, store.Filter{}); len(got) != 0 {
		t.Errorf("a canceled write stored %v", ids(got))
	}
}
