package procwatch

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

// fakeFDs is an injected descriptor counter.
type fakeFDs struct {
	mu          sync.Mutex
	open, limit int
}

func (f *fakeFDs) set(open int) { f.mu.Lock(); f.open = open; f.mu.Unlock() }
func (f *fakeFDs) read() (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open, f.limit, nil
}

// syncBuf is a log sink safe for the watcher's goroutine and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestDescriptorWarningOncePerCrossing(t *testing.T) {
	fds := &fakeFDs{open: 100, limit: 20000}
	var log syncBuf
	w := New(Options{Descriptors: fds.read, Logger: slog.New(slog.NewTextHandler(&log, nil)), ReleaseDrop: -1})

	steps := []struct {
		open     int
		warning  bool
		warnings int // warnings logged so far
		recovers int // recoveries logged so far
	}{
		{100, false, 0, 0},
		{15999, false, 0, 0},
		{16000, true, 1, 0}, // 80%: warned
		{19000, true, 1, 0}, // still over: not logged again
		{15000, true, 1, 0}, // 75%: under the threshold, over its 0.9 (72%): still warned
		{14000, false, 1, 1},
		{17000, true, 2, 1}, // a new crossing: logged again
	}
	for _, s := range steps {
		fds.set(s.open)
		w.Check()
		d := w.Descriptors()
		if d.Open != s.open || d.Limit != 20000 {
			t.Fatalf("open %d: Descriptors() = %+v", s.open, d)
		}
		if (d.Warning != "") != s.warning || w.NearLimit() != s.warning {
			t.Errorf("open %d: warning %q (near %v), want warned=%v", s.open, d.Warning, w.NearLimit(), s.warning)
		}
		out := log.String()
		if n := strings.Count(out, "near its open-file limit"); n != s.warnings {
			t.Errorf("open %d: %d warnings logged, want %d:\n%s", s.open, n, s.warnings, out)
		}
		if n := strings.Count(out, "back below"); n != s.recovers {
			t.Errorf("open %d: %d recoveries logged, want %d", s.open, n, s.recovers)
		}
	}
	out := log.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "open=16000") || !strings.Contains(out, "limit=20000") {
		t.Errorf("the warning does not carry the counts:\n%s", out)
	}
	fds.set(18000)
	w.Check()
	if d := w.Descriptors(); !strings.Contains(d.Warning, "18000 of 20000") || !strings.Contains(d.Warning, "h2c") {
		t.Errorf("warning %q does not say the counts and what to do", d.Warning)
	}
}

func TestReleaseAfterConnectionsFall(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	var conns int64
	releases := 0
	w := New(Options{Clock: clk, Descriptors: (&fakeFDs{limit: 100}).read,
		Conns: func() int64 { return conns }, Release: func() { releases++ }})
	steps := []struct {
		conns   int64
		advance time.Duration
		want    int
	}{
		{0, 0, 0},
		{10000, 0, 0},
		{6000, 0, 0}, // over half the high-water mark
		{4000, 0, 1}, // fell by 6000 to under half: released
		{3000, 0, 2}, // and once more the round after
		{3500, 0, 2}, // the mark restarted at 4000: too small a fall
		{5000, 0, 2}, // a new mark
		{10, 0, 2},   // fell far, but within ReleaseGap of the last release
		{10, 31 * time.Second, 3},
		{10, 0, 4},
		{900, time.Minute, 4}, // never 1000 above the low point
		{0, time.Minute, 4},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		conns = s.conns
		w.Check()
		if releases != s.want {
			t.Errorf("step %d (%d conns): %d releases, want %d", i, s.conns, releases, s.want)
		}
	}
}

func TestRunChecksEveryInterval(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	fds := &fakeFDs{open: 10, limit: 100}
	w := New(Options{Clock: clk, Descriptors: fds.read, Every: time.Second, ReleaseDrop: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	clk.BlockUntil(1) // the first round ran and its timer waits
	if d := w.Descriptors(); d.Open != 10 {
		t.Fatalf("after the first round: %+v", d)
	}
	fds.set(90)
	clk.Advance(time.Second)
	clk.BlockUntil(1) // the second round ran
	if !w.NearLimit() {
		t.Errorf("after the second round at 90 of 100: not near the limit (%+v)", w.Descriptors())
	}
	cancel()
	<-done
}

func TestTrackConn(t *testing.T) {
	w := New(Options{})
	for _, s := range []http.ConnState{http.StateNew, http.StateNew, http.StateActive, http.StateIdle, http.StateNew, http.StateClosed, http.StateHijacked} {
		w.TrackConn(nil, s)
	}
	if n := w.Conns(); n != 1 {
		t.Errorf("three new, one closed, one hijacked: %d open, want 1", n)
	}
}

func TestSelfDescriptors(t *testing.T) {
	open, limit, err := selfDescriptors()
	if err != nil {
		t.Skip(err)
	}
	if open < 3 || limit < open {
		t.Errorf("selfDescriptors = %d, %d: want at least stdin, stdout, stderr under the limit", open, limit)
	}
}
