package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/metrics"
	"github.com/llmgate/llmgate/internal/reqlog"
	"github.com/llmgate/llmgate/internal/store"
)

// failingStore is a RecordWriter whose every write fails.
type failingStore struct{}

func (failingStore) WriteRecords(context.Context, []store.Record) error {
	return errors.New("database is down")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func scrape(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	rr := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rr.Result().Body)
	return string(b)
}

// A request-log batch given up after its write attempts all failed is
// never silent: its rows count in llmgate_request_log_dropped_total under
// reason write_failed, and an error in the log says how many rows (and how
// many of them billing) and why.
func TestGivenUpBatchIsCountedAndLogged(t *testing.T) {
	reg := metrics.New()
	if out := scrape(t, reg); !strings.Contains(out, `llmgate_request_log_dropped_total{reason="write_failed"} 0`) {
		t.Fatalf("the drop counter is not exported at 0 before any drop:\n%s", out)
	}
	var logs lockedBuffer
	w := reqlog.NewWriter(failingStore{}, reqlog.Options{MaxAttempts: 2, RetryBackoff: time.Nanosecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnDrop: reg.RecordDropped})
	for _, r := range []store.Record{{ID: "a", KeyID: "key_1", CostUSD: 0.25}, {ID: "b"}, {ID: "c"}} {
		if !w.Enqueue(r) {
			t.Fatalf("record %s refused", r.ID)
		}
	}
	if err := w.Close(context.Background()); err != nil { // drains: two attempts, then gives up
		t.Fatalf("Close: %v", err)
	}
	out := scrape(t, reg)
	if !strings.Contains(out, `llmgate_request_log_dropped_total{reason="write_failed"} 3`) {
		t.Errorf("3 records given up, but the metric says:\n%s", grep(out, "llmgate_request_log_dropped_total"))
	}
	if !strings.Contains(out, `llmgate_request_log_dropped_total{reason="queue_full"} 0`) {
		t.Errorf("queue_full is not 0:\n%s", grep(out, "llmgate_request_log_dropped_total"))
	}
	log := logs.String()
	for _, want := range []string{"level=ERROR", "records dropped", "records=3", "ledger_rows=1", "cost_usd=0.25",
		"reason=write_failed", "database is down"} {
		if !strings.Contains(log, want) {
			t.Errorf("the error logged for the drop lacks %q:\n%s", want, log)
		}
	}
	if _, _, failed, _ := w.Stats(); failed != 3 {
		t.Errorf("Stats failed = %d, want 3", failed)
	}
}

// Every reason the writer gives has its own label value.
func TestDropReasonsMatchTheWriter(t *testing.T) {
	if !slices.Equal(metrics.DropReasons, reqlog.DropReasons) {
		t.Errorf("metrics.DropReasons %v, reqlog.DropReasons %v", metrics.DropReasons, reqlog.DropReasons)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
