package fleet_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/fleet"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/testenv"
)

// replicas starts two gateways sharing one Redis, routing model "chat" to
// p1 then p2 (two mocks), and returns their URLs and the mocks.
func replicas(t *testing.T, p1, p2 mock.Options, extra string) (urls [2]string, mocks [2]*mock.Mock) {
	t.Helper()
	addr, prefix := testenv.Redis(t, "llmgate-fleet-test")
	var ups [2]string
	for i, o := range []mock.Options{p1, p2} {
		m := mock.New(o)
		s := httptest.NewServer(m)
		t.Cleanup(func() { m.Close(); s.Close() })
		mocks[i], ups[i] = m, s.URL
	}
	for i := range urls {
		y := fmt.Sprintf(`storage: {data_dir: %q}
governance: {redis: {addr: %q, prefix: %q}}
providers:
  p1: {type: openai, base_url: %q, api_key: x}
  p2: {type: anthropic, base_url: %q, api_key: x}
models:
  chat: {route: [p1/gpt-4o-mini, p2/claude-sonnet-4-5]%s}
`, t.TempDir(), addr, prefix, ups[0]+"/v1", ups[1], extra)
		cfg, err := config.Parse("fleet-test.yaml", []byte(y), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		app, err := cli.NewApp(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(app.Handler)
		t.Cleanup(func() {
			front.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			app.Close(ctx)
		})
		urls[i] = front.URL
	}
	return urls, mocks
}

func chat(t *testing.T, base string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"hello fleet"}]}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// waitFor polls cond every 10ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func healthShows(t *testing.T, base, want string) bool {
	resp, err := http.Get(base + "/health")
	if err != nil {
		return false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return strings.Contains(string(b), want)
}

// TestEjectionReachesTheOtherReplica: replica A sees p1 fail until it
// ejects it; replica B, which never sent p1 a request, skips it within a
// second.
func TestEjectionReachesTheOtherReplica(t *testing.T) {
	urls, mocks := replicas(t, mock.Options{Faults: mock.Fault{Status: 503}}, mock.Options{}, "")
	for range 5 { // 5 consecutive failures eject p1
		if resp, body := chat(t, urls[0], nil); resp.StatusCode != 200 {
			t.Fatalf("replica A: HTTP %d: %s", resp.StatusCode, body)
		}
	}
	if n := mocks[0].Count(); n != 5 {
		t.Fatalf("p1 got %d requests, want 5", n)
	}
	start := time.Now()
	if !waitFor(time.Second, func() bool { return healthShows(t, urls[1], `"p1/gpt-4o-mini":"open"`) }) {
		t.Fatalf("replica B does not show p1 ejected within 1s")
	}
	t.Logf("replica B learned of the ejection after %v", time.Since(start))
	for range 5 {
		if resp, body := chat(t, urls[1], nil); resp.StatusCode != 200 || resp.Header.Get("X-Llmgate-Attempts") != "1" {
			t.Fatalf("replica B: HTTP %d, %s attempts: %s", resp.StatusCode, resp.Header.Get("X-Llmgate-Attempts"), body)
		}
	}
	if n := mocks[0].Count(); n != 5 {
		t.Errorf("p1 got %d requests, want still 5: replica B should have skipped it", n)
	}
	if !healthShows(t, urls[1], `"shared":true`) {
		t.Error("GET /health does not say the resilience state is shared")
	}
}

// TestCooldownReachesTheOtherReplica: a 429 that asks for 30 s of rest on
// replica A keeps replica B away from that deployment too.
func TestCooldownReachesTheOtherReplica(t *testing.T) {
	urls, mocks := replicas(t, mock.Options{Faults: mock.Fault{Status: 429, RetryAfter: 30 * time.Second}}, mock.Options{}, "")
	if resp, body := chat(t, urls[0], nil); resp.StatusCode != 200 {
		t.Fatalf("replica A: HTTP %d: %s", resp.StatusCode, body)
	}
	if !waitFor(time.Second, func() bool { return healthShows(t, urls[1], `"p1/gpt-4o-mini":"cooling"`) }) {
		t.Fatal("replica B does not show p1 cooling within 1s")
	}
	if resp, _ := chat(t, urls[1], nil); resp.StatusCode != 200 || mocks[0].Count() != 1 {
		t.Errorf("replica B: HTTP %d, p1 got %d requests: want 200 and still 1", resp.StatusCode, mocks[0].Count())
	}
}

// TestIdempotencyAcrossReplicas: the same Idempotency-Key on two replicas,
// at once or one after the other, makes one upstream call.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	urls, mocks := replicas(t, mock.Options{Latency: 200 * time.Millisecond}, mock.Options{}, "")
	h := map[string]string{"Idempotency-Key": "order-42"}
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	replayed := 0
	var mu sync.Mutex
	for i := range 2 {
		wg.Go(func() {
			resp, body := chat(t, urls[i], h)
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode != 200 {
				t.Errorf("replica %d: HTTP %d: %s", i, resp.StatusCode, body)
			}
			if resp.Header.Get("X-Llmgate-Idempotent-Replay") == "true" {
				replayed++
			}
			bodies[i] = body
		})
	}
	wg.Wait()
	if n := mocks[0].Count(); n != 1 || replayed != 1 || bodies[0] != bodies[1] {
		t.Errorf("upstream calls %d, replays %d, same body %v: want 1 call and the same answer twice",
			n, replayed, bodies[0] == bodies[1])
	}
	// Later, on the other replica: the stored answer.
	if resp, body := chat(t, urls[1], h); resp.Header.Get("X-Llmgate-Idempotent-Replay") != "true" || body != bodies[0] || mocks[0].Count() != 1 {
		t.Errorf("a later repeat: replay %q, upstream calls %d", resp.Header.Get("X-Llmgate-Idempotent-Replay"), mocks[0].Count())
	}
}

// TestBusWithoutRedis: a bus whose Redis is gone says so and never blocks.
func TestBusWithoutRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := fleet.Dial(config.Redis{Addr: addr})
	defer rdb.Close()
	b := fleet.NewBus(rdb, "x:", nil)
	b.Start(func(fleet.Event) {})
	defer b.Close()
	for range 5000 { // more than the queue holds
		b.Publish(fleet.Event{Kind: fleet.Eject, Deployment: "p/m", Until: time.Now().Add(time.Second).UnixMilli()})
	}
	if !waitFor(5*time.Second, func() bool { return !b.Status().Shared }) {
		t.Fatal("the bus still says shared with no Redis")
	}
	if s := b.Status(); !strings.Contains(s.Error, "redis unreachable") || s.Dropped == 0 {
		t.Errorf("status %+v, want the reason and dropped events", s)
	}
}

// TestStaleAnswerAcrossReplicas: with stale_if_error, a good answer one
// replica served is what another serves when every route fails.
func TestStaleAnswerAcrossReplicas(t *testing.T) {
	var failing atomic.Bool
	script := func(*http.Request, int) *mock.Fault {
		if failing.Load() {
			return &mock.Fault{Status: 500}
		}
		return nil
	}
	urls, _ := replicas(t, mock.Options{Script: script}, mock.Options{Script: script}, ", stale_if_error: true")
	resp, first := chat(t, urls[0], nil)
	if resp.StatusCode != 200 {
		t.Fatalf("replica A: HTTP %d: %s", resp.StatusCode, first)
	}
	failing.Store(true)
	resp, body := chat(t, urls[1], nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Llmgate-Stale") != "true" || body != first {
		t.Errorf("replica B with every route failing: HTTP %d, stale %q: want replica A's answer, marked stale",
			resp.StatusCode, resp.Header.Get("X-Llmgate-Stale"))
	}
}
