package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/store"
)

func TestComputeStats(t *testing.T) {
	since := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	until := since.Add(3 * time.Minute)
	at := func(d time.Duration) time.Time { return since.Add(d) }
	var recs []store.Record
	// Bucket 0: 100 requests, latencies 1..100 ms, 10 errors, one fallback.
	for i := 1; i <= 100; i++ {
		r := store.Record{Time: at(time.Duration(i) * 100 * time.Millisecond), Status: 200, Attempts: 1,
			Latency: time.Duration(i) * time.Millisecond, InputTokens: 10, OutputTokens: 5, CostUSD: 0.01}
		if i%10 == 0 {
			r.Status = 502
		}
		if i == 1 {
			r.Fallback, r.Attempts = true, 2
		}
		recs = append(recs, r)
	}
	// Bucket 2: two streams with TTFT; bucket 1 stays empty.
	recs = append(recs,
		store.Record{Time: at(2*time.Minute + time.Second), Status: 200, Stream: true, Latency: 400 * time.Millisecond, TTFT: 40 * time.Millisecond},
		store.Record{Time: at(2*time.Minute + 2*time.Second), Status: 200, Stream: true, Latency: 600 * time.Millisecond, TTFT: 60 * time.Millisecond},
		store.Record{Time: until, Status: 200}, // outside [since, until)
		store.Record{Time: since.Add(-time.Second), Status: 200},
	)
	now := since.Add(2*time.Minute + 30*time.Second) // the last bucket is half over
	total, series := admin.ComputeStats(recs, since, until, now, time.Minute)
	if len(series) != 3 {
		t.Fatalf("%d buckets, want 3", len(series))
	}
	b0, b1, b2 := series[0], series[1], series[2]
	if b0.Requests != 100 || b0.Errors != 10 || b0.ErrorRate != 0.1 || b0.Fallbacks != 1 || b0.Retried != 1 {
		t.Errorf("bucket 0 counts: %+v", b0)
	}
	if b0.P50MS != 50 || b0.P99MS != 99 {
		t.Errorf("bucket 0 p50/p99 = %v/%v ms, want 50/99 (nearest rank)", b0.P50MS, b0.P99MS)
	}
	if b0.InputTokens != 1000 || b0.OutputTokens != 500 || b0.CostUSD < 0.999 || b0.CostUSD > 1.001 {
		t.Errorf("bucket 0 sums: %+v", b0)
	}
	if want := 100.0 / 60; b0.RPS != want {
		t.Errorf("bucket 0 rps %v, want %v", b0.RPS, want)
	}
	if b1.Requests != 0 || b1.P50MS != 0 || b1.ErrorRate != 0 || !b1.Start.Equal(since.Add(time.Minute)) {
		t.Errorf("empty bucket: %+v", b1)
	}
	if b2.Requests != 2 || b2.TTFTP50MS != 40 || b2.RPS != 2.0/30 {
		t.Errorf("bucket 2 (half elapsed): %+v, want 2 requests, TTFT p50 40 ms, rate over 30 s", b2)
	}
	if total.Requests != 102 || total.P99MS != 400 || total.RPS != 102.0/150 {
		t.Errorf("total: %+v", total)
	}
}

type fakeLog struct{ f store.Filter }

func (l *fakeLog) Query(_ context.Context, f store.Filter) ([]store.Record, error) {
	l.f = f
	return []store.Record{{Time: now.Add(-30 * time.Second), Status: 200, Latency: time.Millisecond}}, nil
}

func TestStatsEndpoint(t *testing.T) {
	l := &fakeLog{}
	h := admin.New(admin.Options{Log: l, Now: func() time.Time { return now.Add(10 * time.Second) }})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/stats?window=10m&step=1m&key=k1&model=gpt-4o", nil))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var st admin.Stats
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	// Buckets align to the step, the one in progress last.
	if len(st.Series) != 10 || !st.Until.Equal(now.Add(time.Minute)) || st.Total.Requests != 1 || st.Series[8].Requests != 1 {
		t.Errorf("stats: until %v, %d buckets, total %+v", st.Until, len(st.Series), st.Total)
	}
	if l.f.KeyID != "k1" || l.f.Model != "gpt-4o" || !l.f.Since.Equal(st.Since) || l.f.Limit != store.MaxLimit {
		t.Errorf("filter passed to the log: %+v", l.f)
	}
	w = httptest.NewRecorder()
	admin.New(admin.Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/stats", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("without a log: %d, want 503", w.Code)
	}
}
