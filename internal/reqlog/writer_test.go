package reqlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/store"
)

// fakeStore is a RecordWriter that records what it is given. It can fail a
// number of calls, fail always, or hold every call until released.
type fakeStore struct {
	mu      sync.Mutex
	ids     map[string]int
	batches []int
	calls   int
	failN   int           // fail this many calls first
	failAll bool          // fail every call
	gate    chan struct{} // when non-nil, calls wait for it (or ctx)
	entered chan struct{} // when non-nil, receives once per call
}

func newFakeStore() *fakeStore { return &fakeStore{ids: map[string]int{}} }

var errDown = errors.New("store down")

func (s *fakeStore) WriteRecords(ctx context.Context, recs []store.Record) error {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failAll || s.calls <= s.failN {
		return errDown
	}
	s.batches = append(s.batches, len(recs))
	for _, r := range recs {
		s.ids[r.ID]++
	}
	return nil
}

func (s *fakeStore) snapshot() (distinct, dups, calls int, batches []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.ids {
		if n > 1 {
			dups++
		}
	}
	return len(s.ids), dups, s.calls, append([]int(nil), s.batches...)
}

// eventually waits (in real time) for cond, failing t after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs w.Run on a goroutine the test owns and returns a function that
// closes w and waits for Run to end.
func start(t *testing.T, w *Writer) (closeAndWait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()
	// Cases named "running" test Run's own drain: wait until Run holds
	// the queue, or a quick Close would drain alone.
	eventually(t, "Run started", func() bool {
		w.stateMu.Lock()
		defer w.stateMu.Unlock()
		return w.state == running
	})
	var once sync.Once
	var closeErr error
	closeAndWait = func() error {
		once.Do(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer ccancel()
			closeErr = w.Close(cctx)
			if err := <-runDone; err != nil && closeErr == nil {
				closeErr = err
			}
			cancel()
		})
		return closeErr
	}
	t.Cleanup(func() { closeAndWait() })
	return closeAndWait
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestWriterBatches(t *testing.T) {
	fs := newFakeStore()
	fs.gate = make(chan struct{})
	w := NewWriter(fs, Options{BatchSize: 100, QueueSize: 10000, Logger: quietLogger()})
	// Queue everything while the store is held, so Run finds full batches.
	for i := range 1000 {
		if !w.Enqueue(rec(fmt.Sprint(i), i)) {
			t.Fatalf("Enqueue %d refused", i)
		}
	}
	closeAndWait := start(t, w)
	close(fs.gate)
	eventually(t, "1000 records written", func() bool { wr, _, _, _ := w.Stats(); return wr == 1000 })
	if err := closeAndWait(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	distinct, dups, _, batches := fs.snapshot()
	if distinct != 1000 || dups != 0 {
		t.Errorf("store holds %d distinct records (%d duplicated), want 1000", distinct, dups)
	}
	for _, n := range batches {
		if n != 100 {
			t.Errorf("batch sizes = %v, want all 100", batches)
			break
		}
	}
}

func TestWriterFlushesPartialBatchAfterInterval(t *testing.T) {
	fs := newFakeStore()
	clk := clock.NewFake(t0)
	w := NewWriter(fs, Options{BatchSize: 100, FlushInterval: time.Second, Clock: clk, Logger: quietLogger()})
	start(t, w)
	for i := range 3 {
		w.Enqueue(rec(fmt.Sprint(i), i))
	}
	clk.BlockUntil(1) // the flush timer is set
	clk.Advance(999 * time.Millisecond)
	if _, _, calls, _ := fs.snapshot(); calls != 0 {
		t.Fatalf("wrote before the flush interval (%d calls)", calls)
	}
	// Records after the first stay in the queue until the timer fires
	// (Run does not wake per record); the flush takes them all.
	clk.Advance(time.Millisecond)
	eventually(t, "partial batch written", func() bool { wr, _, _, _ := w.Stats(); return wr == 3 })
	if _, _, _, batches := fs.snapshot(); len(batches) != 1 || batches[0] != 3 {
		t.Errorf("batches = %v, want [3]", batches)
	}
}

// Run does not wake per record while a batch fills, but Enqueue wakes it
// as soon as the batch could be full: a full batch does not wait for the
// flush interval.
func TestWriterWritesFullBatchBeforeInterval(t *testing.T) {
	fs := newFakeStore()
	clk := clock.NewFake(t0)
	w := NewWriter(fs, Options{BatchSize: 10, FlushInterval: time.Hour, Clock: clk, Logger: quietLogger()})
	start(t, w)
	w.Enqueue(rec("0", 0))
	clk.BlockUntil(1) // the batch is filling: its flush timer is set
	for i := 1; i < 25; i++ {
		w.Enqueue(rec(fmt.Sprint(i), i))
	}
	eventually(t, "two full batches written", func() bool { wr, _, _, _ := w.Stats(); return wr == 20 })
	if _, _, _, batches := fs.snapshot(); len(batches) != 2 || batches[0] != 10 || batches[1] != 10 {
		t.Errorf("batches = %v, want [10 10]", batches)
	}
	clk.BlockUntil(1) // the last 5 wait for their interval
	clk.Advance(time.Hour)
	eventually(t, "the rest written", func() bool { wr, _, _, _ := w.Stats(); return wr == 25 })
}

// A full queue slows the finishing request instead of losing its record:
// Enqueue waits for room, and only after EnqueueWait drops the record,
// counted, reported to OnDrop and logged as an error.
func TestWriterEnqueueWaitsThenDropsWhenFull(t *testing.T) {
	fs := newFakeStore()
	fs.gate = make(chan struct{}) // the store hangs until released
	fs.entered = make(chan struct{}, 100)
	clk := clock.NewFake(t0)
	var onDrop atomic.Int64
	var logBuf safeBuffer
	const queue, batch = 50, 10
	w := NewWriter(fs, Options{QueueSize: queue, BatchSize: batch, Clock: clk, EnqueueWait: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), OnDrop: func(n int, _ string) { onDrop.Add(int64(n)) }})
	closeAndWait := start(t, w)
	// Fill one batch and wait until Run is stuck writing it.
	for i := range batch {
		w.Enqueue(rec(fmt.Sprintf("first-%d", i), 0))
	}
	<-fs.entered
	for i := range queue {
		if !w.Enqueue(rec(fmt.Sprint(i), i)) {
			t.Fatalf("Enqueue %d refused with room in the queue", i)
		}
	}

	// Over the queue: two requests wait. One gets its record in when
	// the store recovers; nothing is dropped.
	late := make(chan bool, 1)
	go func() { late <- w.Enqueue(rec("late", 0)) }()
	clk.BlockUntil(1) // waiting for room
	select {
	case ok := <-late:
		t.Fatalf("Enqueue on a full queue returned %v at once, want it to wait", ok)
	default:
	}
	close(fs.gate)
	if !<-late {
		t.Fatal("the waiting record was dropped when room came")
	}
	if err := closeAndWait(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if written, dropped, _, _ := w.Stats(); written != batch+queue+1 || dropped != 0 || onDrop.Load() != 0 {
		t.Errorf("written %d dropped %d (OnDrop %d), want %d written, none dropped", written, dropped, onDrop.Load(), batch+queue+1)
	}

	// A store that never recovers: after EnqueueWait the record is dropped,
	// and that is an error in the log and a count, never silent.
	w2 := NewWriter(newFakeStore(), Options{QueueSize: 1, Clock: clk, EnqueueWait: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), OnDrop: func(n int, _ string) { onDrop.Add(int64(n)) }})
	w2.Enqueue(rec("kept", 0)) // fills the queue; Run is not started
	go func() { late <- w2.Enqueue(rec("lost", 0)) }()
	clk.BlockUntil(1)
	clk.Advance(4 * time.Second)
	select {
	case <-late:
		t.Fatal("Enqueue gave up before EnqueueWait")
	default:
	}
	clk.Advance(time.Second)
	if <-late {
		t.Fatal("Enqueue accepted a record with the queue full")
	}
	if _, dropped, _, _ := w2.Stats(); dropped != 1 || onDrop.Load() != 1 {
		t.Errorf("dropped %d, OnDrop %d, want 1 and 1", dropped, onDrop.Load())
	}
	if out := logBuf.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "dropped=1") {
		t.Errorf("the drop was not logged as an error:\n%s", out)
	}
}

// safeBuffer is a bytes.Buffer for a logger written from several goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriterDropLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	clk := clock.NewFake(t0)
	w := NewWriter(newFakeStore(), Options{
		DropLogInterval: 5 * time.Second, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	if err := w.Close(context.Background()); err != nil { // records after Close are dropped at once
		t.Fatal(err)
	}
	for range 101 {
		w.Enqueue(rec("x", 0))
	}
	clk.Advance(4 * time.Second)
	w.Enqueue(rec("x", 0))
	clk.Advance(time.Second)
	w.Enqueue(rec("x", 0))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines for 103 drops over 5s, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"dropped=1 ", "dropped=102 "} {
		if !strings.Contains(lines[i], "level=ERROR") || !strings.Contains(lines[i], want) {
			t.Errorf("log line %d = %q, want an error with %s", i, lines[i], want)
		}
	}
	if _, dropped, _, _ := w.Stats(); dropped != 103 {
		t.Errorf("dropped = %d, want 103", dropped)
	}
}

func TestWriterCloseDrainsEverything(t *testing.T) {
	tests := []struct {
		name string
		run  bool // Close with Run started, or without it ever running
	}{
		{"running", true},
		{"never started", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 5000
			fs := newFakeStore()
			w := NewWriter(fs, Options{Logger: quietLogger(), QueueSize: n})
			closeAndWait := func() error { return w.Close(context.Background()) }
			if tc.run {
				closeAndWait = start(t, w)
			}
			for i := range n {
				if !w.Enqueue(rec(fmt.Sprint(i), i)) {
					t.Fatalf("Enqueue %d refused", i)
				}
			}
			if err := closeAndWait(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			distinct, dups, _, _ := fs.snapshot()
			written, dropped, failed, queued := w.Stats()
			if distinct != n || dups != 0 || written != n || dropped != 0 || failed != 0 || queued != 0 {
				t.Errorf("after Close: store has %d (%d duplicated); Stats = %d written %d dropped %d failed %d queued; want all %d written",
					distinct, dups, written, dropped, failed, queued, n)
			}
			if w.Enqueue(rec("late", 0)) {
				t.Error("Enqueue after Close accepted a record")
			}
			err := w.Run(context.Background())
			if tc.run && !errors.Is(err, ErrRunning) {
				t.Errorf("second Run = %v, want ErrRunning", err)
			}
			if !tc.run && err != nil {
				t.Errorf("Run after Close = %v, want nil (Close drained)", err)
			}
			if _, _, _, queued := w.Stats(); queued != 0 {
				t.Errorf("%d records queued after Run following Close", queued)
			}
		})
	}
}

// The owner starts Run on a goroutine; a shutdown may reach Close before
// that goroutine runs. That is not a misuse: Close drains, and the late Run
// returns nil instead of an error the owner would log as a failed write.
func TestWriterRunScheduledAfterClose(t *testing.T) {
	fs := newFakeStore()
	w := NewWriter(fs, Options{Logger: quietLogger()})
	for i := range 10 {
		w.Enqueue(rec(fmt.Sprint(i), i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Run(context.Background()); err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
	if err := w.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if distinct, _, _, _ := fs.snapshot(); distinct != 10 {
		t.Errorf("store has %d records, want 10", distinct)
	}
}

func TestWriterRunContextEndDrains(t *testing.T) {
	fs := newFakeStore()
	w := NewWriter(fs, Options{Logger: quietLogger()})
	for i := range 300 {
		w.Enqueue(rec(fmt.Sprint(i), i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // e.g. SIGTERM canceled the server's context
	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// A request finishing after Run ended is still written by Close.
	w.Enqueue(rec("straggler", 1000))
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if distinct, _, _, _ := fs.snapshot(); distinct != 301 {
		t.Errorf("store has %d records, want 301", distinct)
	}
}

func TestWriterRetriesFailedWrites(t *testing.T) {
	fs := newFakeStore()
	fs.failN = 2
	clk := clock.NewFake(t0)
	w := NewWriter(fs, Options{BatchSize: 1, MaxAttempts: 4, RetryBackoff: time.Second, Clock: clk, Logger: quietLogger()})
	start(t, w)
	w.Enqueue(rec("a", 0))
	for retry := range 2 {
		clk.BlockUntil(1) // backing off
		if retry == 1 {
			// The second wait is twice the first.
			clk.Advance(time.Second)
			if clk.Pending() != 1 {
				t.Fatal("second backoff ended after 1s, want 2s")
			}
		}
		clk.Advance(2 * time.Second)
	}
	eventually(t, "record written", func() bool { wr, _, _, _ := w.Stats(); return wr == 1 })
	if _, _, calls, _ := fs.snapshot(); calls != 3 {
		t.Errorf("store called %d times, want 3 (two failures, then success)", calls)
	}
	if _, _, failed, _ := w.Stats(); failed != 0 {
		t.Errorf("failed = %d, want 0", failed)
	}
}

func TestWriterGivesUpAfterMaxAttempts(t *testing.T) {
	fs := newFakeStore()
	fs.failAll = true
	var buf syncBuffer
	var mu sync.Mutex
	drops := map[string]int{}
	w := NewWriter(fs, Options{BatchSize: 5, MaxAttempts: 3, RetryBackoff: time.Nanosecond,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
		OnDrop: func(n int, reason string) { mu.Lock(); drops[reason] += n; mu.Unlock() }})
	for i := range 10 {
		w.Enqueue(rec(fmt.Sprint(i), i))
	}
	closeAndWait := start(t, w)
	eventually(t, "both batches given up", func() bool { _, _, f, _ := w.Stats(); return f == 10 })
	if err := closeAndWait(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, calls, _ := fs.snapshot(); calls != 6 {
		t.Errorf("store called %d times, want 3 attempts for each of 2 batches", calls)
	}
	if got := strings.Count(buf.String(), "level=ERROR"); got != 2 {
		t.Errorf("logged %d errors, want one per batch given up:\n%s", got, buf.String())
	}
	if got := strings.Count(buf.String(), `records dropped" records=5`); got != 2 {
		t.Errorf("%d errors say records=5, want both:\n%s", got, buf.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(drops) != 1 || drops[DropWriteFailed] != 10 {
		t.Errorf("OnDrop got %v, want 10 records for %s", drops, DropWriteFailed)
	}
}

func TestWriterCloseIsBoundedByContext(t *testing.T) {
	fs := newFakeStore()
	fs.gate = make(chan struct{}) // never released: the store hangs
	defer close(fs.gate)
	w := NewWriter(fs, Options{Logger: quietLogger(), WriteTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()
	// Cases named "running" test Run's own drain: wait until Run holds
	// the queue, or a quick Close would drain alone.
	eventually(t, "Run started", func() bool {
		w.stateMu.Lock()
		defer w.stateMu.Unlock()
		return w.state == running
	})
	defer cancel()
	for i := range 10 {
		w.Enqueue(rec(fmt.Sprint(i), i))
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer ccancel()
	began := time.Now()
	err := w.Close(cctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want a deadline error", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Close took %v with a 50ms deadline", d)
	}
	<-runDone
	if _, _, failed, _ := w.Stats(); failed != 10 {
		t.Errorf("failed = %d, want the 10 records that could not be written", failed)
	}
}

func TestWriterConcurrentEnqueue(t *testing.T) {
	fs := newFakeStore()
	w := NewWriter(fs, Options{QueueSize: 64, BatchSize: 16, Logger: quietLogger()})
	closeAndWait := start(t, w)
	const goroutines, each = 8, 2000
	var accepted atomic.Uint64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if w.Enqueue(rec(fmt.Sprintf("g%d-%d", g, i), i)) {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			w.Stats()
		}
	})
	wg.Wait()
	if err := closeAndWait(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	written, dropped, failed, queued := w.Stats()
	distinct, _, _, _ := fs.snapshot()
	if written != accepted.Load() || uint64(distinct) != written || written+dropped != goroutines*each || failed != 0 || queued != 0 {
		t.Errorf("accepted %d; store has %d; Stats = %d written %d dropped %d failed %d queued; want written = accepted and written+dropped = %d",
			accepted.Load(), distinct, written, dropped, failed, queued, goroutines*each)
	}
}

// syncBuffer is a bytes.Buffer safe for the writer's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// discardStore accepts every batch.
type discardStore struct{}

func (discardStore) WriteRecords(context.Context, []store.Record) error { return nil }

// BenchmarkWriterEnqueue measures Enqueue from one goroutine (sequential)
// and from every P at once (parallel) while Run drains to a store that
// accepts everything. dropped/op shows how often the single writer
// goroutine fell behind.
func BenchmarkWriterEnqueue(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "sequential"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			w := NewWriter(discardStore{}, Options{Logger: quietLogger()})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { w.Run(ctx); close(done) }()
			r := rec("bench", 0)
			r.Provider, r.ModelAsked, r.ModelServed = "openai", "gpt-4o", "gpt-4o"
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						w.Enqueue(r)
					}
				})
			} else {
				for b.Loop() {
					w.Enqueue(r)
				}
			}
			b.StopTimer()
			cancel()
			<-done
			_, dropped, _, _ := w.Stats()
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
		})
	}
}

// releasingStore fails every write and records the charges it is asked
// to release (store.ChargeReleaser).
type releasingStore struct {
	mu       sync.Mutex
	released []store.Charge
}

func (s *releasingStore) WriteRecords(context.Context, []store.Record) error { return errDown }

func (s *releasingStore) ReleaseCharges(_ context.Context, cs []store.Charge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released = append(s.released, cs...)
	return nil
}

// A batch given up releases its records' pending spend on a store that
// holds it (PostgreSQL), so a budget is not held for rows that will never
// be written.
func TestWriterReleasesChargesOfGivenUpRecords(t *testing.T) {
	fs := &releasingStore{}
	w := NewWriter(fs, Options{MaxAttempts: 2, RetryBackoff: time.Nanosecond, Logger: quietLogger()})
	k := store.SpendKey{Scope: "key", Subject: "k1"}
	r := rec("billed", 0)
	r.KeyID, r.Charges = "k1", []store.Charge{{SpendKey: k, Amount: 40}}
	w.Enqueue(r)
	w.Enqueue(rec("free", 1))
	closeAndWait := start(t, w)
	eventually(t, "batch given up", func() bool { _, _, f, _ := w.Stats(); return f == 2 })
	if err := closeAndWait(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.released) != 1 || fs.released[0].Amount != 40 || fs.released[0].Subject != "k1" {
		t.Errorf("released %+v, want the one charge of 40 on k1", fs.released)
	}
}

// flakyReleaser fails writes while down is set and refuses releases the
// first refuse times; it records what it released.
type flakyReleaser struct {
	mu       sync.Mutex
	down     bool
	refuse   int
	released []store.Charge
	written  int
}

func (s *flakyReleaser) WriteRecords(_ context.Context, recs []store.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	s.written += len(recs)
	return nil
}

func (s *flakyReleaser) ReleaseCharges(_ context.Context, cs []store.Charge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse > 0 {
		s.refuse--
		return errDown
	}
	s.released = append(s.released, cs...)
	return nil
}

func (s *flakyReleaser) releasedOn(subject string) (n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.released {
		if c.Subject == subject {
			n += c.Amount
		}
	}
	return n
}

// A release the database refuses (it is down, which is why the records
// were given up) is not forgotten: the pending spend stays owed and is
// released after the next write that succeeds, so a key's budget is not
// held until the replica restarts.
func TestWriterRetriesRefusedRelease(t *testing.T) {
	fs := &flakyReleaser{down: true, refuse: 1}
	w := NewWriter(fs, Options{MaxAttempts: 2, RetryBackoff: time.Nanosecond, Logger: quietLogger()})
	closeAndWait := start(t, w)
	k := store.SpendKey{Scope: "key", Subject: "k1"}
	r := rec("billed", 0)
	r.KeyID, r.Charges = "k1", []store.Charge{{SpendKey: k, Amount: 40}}
	w.Enqueue(r)
	eventually(t, "batch given up", func() bool { _, _, f, _ := w.Stats(); return f == 1 })
	if got := fs.releasedOn("k1"); got != 0 {
		t.Fatalf("released %d with the release refused, want 0", got)
	}
	fs.mu.Lock()
	fs.down = false
	fs.mu.Unlock()
	w.Enqueue(rec("next", 1))
	eventually(t, "the owed spend released after the next write", func() bool { return fs.releasedOn("k1") == 40 })
	if err := closeAndWait(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := fs.releasedOn("k1"); got != 40 {
		t.Errorf("released %d on k1 in all, want 40 exactly once", got)
	}
}

// Owed charges past maxOwed are summed per counter, so a long outage holds
// one entry per counter; the total owed is unchanged.
func TestWriterOwedChargesAreSummed(t *testing.T) {
	fs := &flakyReleaser{down: true, refuse: 1 << 30}
	w := NewWriter(fs, Options{Logger: quietLogger()})
	var recs []store.Record
	for i := range maxOwed + 10 {
		r := rec(fmt.Sprint(i), 0)
		r.Charges = []store.Charge{{SpendKey: store.SpendKey{Scope: "key", Subject: fmt.Sprint("k", i%3)}, Amount: 2}}
		recs = append(recs, r)
	}
	w.release(recs)
	w.owedMu.Lock()
	defer w.owedMu.Unlock()
	var total int64
	for _, c := range w.owed {
		total += c.Amount
	}
	if len(w.owed) != 3 || total != 2*(maxOwed+10) {
		t.Errorf("owed %d entries totalling %d, want 3 totalling %d", len(w.owed), total, 2*(maxOwed+10))
	}
}
