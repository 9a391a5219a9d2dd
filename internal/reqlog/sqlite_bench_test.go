package reqlog_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/reqlog"
	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlite"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriterSQLite measures the request log's whole writer path on the
// default backend: Enqueue from one goroutine as fast as the writer takes
// records (the queue applies back-pressure), Run batching them into SQLite
// with a key's two charges each, Close draining the rest. The table holds
// 20,000 rows before the clock starts. It reports rows/s and the process's
// CPU time per row (every goroutine, SQLite included).
func BenchmarkWriterSQLite(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), sqlite.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	r := store.Record{Time: time.Now(), ClientFormat: "openai", Op: "chat", ModelAsked: "gpt-4o-mini",
		Provider: "openai", ModelServed: "gpt-4o-mini-2024-07-18", Status: 200, Attempts: 1,
		Latency: 180 * time.Millisecond, InputTokens: 120, OutputTokens: 48, CostUSD: 0.0000468, Priced: true,
		KeyID: "k_0123456789abcdef", Team: "platform",
		Charges: []store.Charge{
			{SpendKey: store.SpendKey{Scope: "key", Subject: "k_0123456789abcdef", Start: day}, Amount: 46800},
			{SpendKey: store.SpendKey{Scope: "team", Subject: "platform", Start: day}, Amount: 46800},
		}}
	seed := make([]store.Record, 256)
	for range 20000 / len(seed) {
		for i := range seed {
			seed[i] = r
			seed[i].ID = store.NewID()
		}
		if err := s.WriteRecords(ctx, seed); err != nil {
			b.Fatal(err)
		}
	}
	w := reqlog.NewWriter(s, reqlog.Options{})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		r.ID, r.Time = store.NewID(), time.Now()
		if !w.Enqueue(r) {
			b.Fatal("record dropped")
		}
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	written, _, failed, _ := w.Stats()
	if int(written) != b.N || failed != 0 {
		b.Fatalf("written %d, failed %d of %d", written, failed, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/row")
}
