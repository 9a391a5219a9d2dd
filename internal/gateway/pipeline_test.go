package gateway_test

// End-to-end tests of the request pipeline: a gateway built by cli.NewApp
// from YAML text (so breakers, retry budgets, pacers and codecs are the real
// ones) in front of scripted mock providers, each on its own httptest
// server. The tests assert what a client sees (status, body shape in its
// own wire format, x-llmgate-* headers, Retry-After, stream error events)
// and what the upstreams saw (request counts, cancellations).

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/sse"
)

// TestPipeline runs every pipeline case, then checks that none of them left
// a goroutine behind.
func TestPipeline(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		n := settleGoroutines(before)
		if n > before {
			t.Errorf("goroutines: %d before the pipeline tests, %d after: a leak\n%s", before, n, goroutineDump())
		}
		t.Logf("goroutines: %d before the pipeline tests, %d after", before, n)
	})
	t.Run("responses", testResponses)
	t.Run("breaker", testBreaker)
	t.Run("stream faults", testStreamFaults)
	t.Run("client disconnect", testClientDisconnect)
}

// respCase is one request through a scripted set of upstreams and what the
// client and the upstreams must see.
type respCase struct {
	name   string
	ups    []upstreamSpec
	res    string // extra lines under resilience:
	models string // the models: block
	req    clientReq

	status      int
	provider    string // x-llmgate-provider; "" skips the check
	model       string // x-llmgate-model; "" skips the check
	attempts    int    // x-llmgate-attempts; 0 skips the check
	fallback    string // x-llmgate-fallback; "" skips the check
	shouldRetry string // x-should-retry; "" skips the check
	retryAfter  string // Retry-After; "" skips the check
	calls       map[string]int
	minElapsed  time.Duration
	maxElapsed  time.Duration // 0: no bound
	// then runs further checks on the same gateway.
	then func(t *testing.T, g *pipelineGW, r clientReply)
}

const twoRoutes = "  chat: {route: [p1/gpt-4o-mini, p2/claude-sonnet-4-5]}\n"

func testResponses(t *testing.T) {
	t.Parallel()
	cases := []respCase{
		{
			name: "primary 503 falls back to another wire format",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 503})},
				{Name: "p2", Type: "anthropic"},
			},
			models: twoRoutes,
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 200, provider: "p2", model: "claude-sonnet-4-5", attempts: 2, fallback: "true",
			calls: map[string]int{"p1": 1, "p2": 1},
		},
		{
			name: "primary 503 falls back, streaming to a Gemini client",
			ups: []upstreamSpec{
				{Name: "p1", Type: "gemini", Script: alwaysFault(mock.Fault{Status: 503})},
				{Name: "p2", Type: "openai"},
			},
			models: "  chat: {route: [p1/gemini-2.5-flash, p2/gpt-4o-mini]}\n",
			req:    clientReq{Format: "gemini", Model: "chat", Stream: true},
			status: 200, provider: "p2", model: "gpt-4o-mini", attempts: 2, fallback: "true",
			calls: map[string]int{"p1": 1, "p2": 1},
		},
		{
			name: "429 with a short Retry-After and a fallback goes to the fallback at once",
			ups: []upstreamSpec{
				// Short: under max_retry_wait (3s), so waiting it out was an option.
				{Name: "p1", Type: "openai", Script: firstNFault(1, mock.Fault{Status: 429, RetryAfter: 2500 * time.Millisecond})},
				{Name: "p2", Type: "anthropic"},
			},
			models: twoRoutes,
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 200, provider: "p2", attempts: 2, fallback: "true",
			calls:      map[string]int{"p1": 1, "p2": 1},
			maxElapsed: 2 * time.Second, // well under the 2.5s a wait would take, even on a loaded machine
		},
		{
			name: "429 with a short Retry-After on the only route waits it out and retries",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: firstNFault(1, mock.Fault{Status: 429, RetryAfter: time.Second})},
			},
			models: "  chat: {route: [p1/gpt-4o-mini]}\n",
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 200, provider: "p1", model: "gpt-4o-mini", attempts: 2, fallback: "false",
			calls:      map[string]int{"p1": 2},
			minElapsed: time.Second, maxElapsed: 2500 * time.Millisecond,
		},
		{
			name: "429 with a long Retry-After moves on at once and cools the deployment",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 429, RetryAfter: 30 * time.Second})},
				{Name: "p2", Type: "anthropic"},
			},
			models: twoRoutes,
			req:    clientReq{Format: "anthropic", Model: "chat"},
			status: 200, provider: "p2", attempts: 2, fallback: "true",
			calls:      map[string]int{"p1": 1, "p2": 1},
			maxElapsed: 10 * time.Second, // far under the 30s Retry-After
			then: func(t *testing.T, g *pipelineGW, _ clientReply) {
				// The cooling deployment is skipped by the next request.
				r := g.do(clientReq{Format: "anthropic", Model: "chat"})
				if r.Status != 200 || r.Header.Get("X-Llmgate-Provider") != "p2" || r.Header.Get("X-Llmgate-Attempts") != "1" {
					t.Errorf("while p1 cools: status %d provider %q attempts %q, want 200 p2 1",
						r.Status, r.Header.Get("X-Llmgate-Provider"), r.Header.Get("X-Llmgate-Attempts"))
				}
				if n := g.count("p1"); n != 1 {
					t.Errorf("p1 got %d requests while cooling down, want still 1", n)
				}
			},
		},
		{
			name: "429 with a long Retry-After and no other route is passed on with Retry-After",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 429, RetryAfter: 30 * time.Second})},
			},
			models: "  chat: {route: [p1/gpt-4o-mini]}\n",
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 429, provider: "p1", attempts: 1, shouldRetry: "false", retryAfter: "30",
			calls:      map[string]int{"p1": 1},
			maxElapsed: 10 * time.Second, // far under the 30s Retry-After
		},
		{
			name: "400 is not retried nor sent to a fallback",
			ups: []upstreamSpec{
				{Name: "p1", Type: "anthropic", Script: alwaysFault(mock.Fault{Status: 400})},
				{Name: "p2", Type: "openai"},
			},
			models: "  chat: {route: [p1/claude-sonnet-4-5, p2/gpt-4o-mini]}\n",
			req:    clientReq{Format: "anthropic", Model: "chat"},
			status: 400, attempts: 1, fallback: "false", shouldRetry: "false",
			calls: map[string]int{"p1": 1, "p2": 0},
		},
		{
			name: "the attempt cap holds across fallbacks",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 503})},
				{Name: "p2", Type: "anthropic", Script: alwaysFault(mock.Fault{Status: 503})},
				{Name: "p3", Type: "gemini", Script: alwaysFault(mock.Fault{Status: 503})},
			},
			res:    "  max_attempts: 4\n",
			models: "  chat: {route: [p1/gpt-4o-mini, p2/claude-sonnet-4-5, p3/gemini-2.5-flash]}\n",
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 503, attempts: 4, shouldRetry: "false",
			calls: map[string]int{"p1": 2, "p2": 1, "p3": 1},
		},
		{
			name: "a malformed answer is a 502 in the client's format",
			ups: []upstreamSpec{
				{Name: "p1", Type: "gemini", Script: alwaysFault(mock.Fault{Malformed: true})},
			},
			res:    "  max_attempts: 2\n",
			models: "  chat: {route: [p1/gemini-2.5-flash]}\n",
			req:    clientReq{Format: "gemini", Model: "chat"},
			status: 502, attempts: 2, shouldRetry: "false",
			calls: map[string]int{"p1": 2},
		},
		{
			name: "a malformed answer falls back to the next route",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Malformed: true})},
				{Name: "p2", Type: "gemini"},
			},
			models: "  chat: {route: [p1/gpt-4o-mini, p2/gemini-2.5-flash]}\n",
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 200, provider: "p2", attempts: 2, fallback: "true",
			calls: map[string]int{"p1": 1, "p2": 1},
		},
		{
			name: "an upstream context-length 400 moves to context_fallback",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{ContextLength: true})},
				{Name: "p2", Type: "anthropic"},
				{Name: "p3", Type: "gemini"},
			},
			models: "  chat: {route: [p1/gpt-4o-mini, p3/gemini-2.5-flash], context_fallback: [p2/claude-sonnet-4-5]}\n",
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 200, provider: "p2", model: "claude-sonnet-4-5", attempts: 2, fallback: "true",
			calls: map[string]int{"p1": 1, "p2": 1, "p3": 0},
		},
		{
			name: "a hanging upstream ends at the attempt timeout with 504",
			ups: []upstreamSpec{
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Hang: true})},
			},
			res:    "  timeouts: {total: 300ms}\n  max_attempts: 2\n",
			models: "  chat: {route: [p1/gpt-4o-mini]}\n",
			req:    clientReq{Format: "openai", Model: "chat"},
			status: 504, attempts: 2, shouldRetry: "false",
			calls:      map[string]int{"p1": 2},
			minElapsed: 600 * time.Millisecond, maxElapsed: 3 * time.Second,
			then: func(t *testing.T, g *pipelineGW, _ clientReply) {
				waitUntil(t, "the mock to see both hung requests canceled", func() bool { return g.Mocks["p1"].Canceled() == 2 })
			},
		},
		{
			name: "a stream whose upstream never answers ends at the response-header timeout with 504",
			ups: []upstreamSpec{
				{Name: "p1", Type: "gemini", Script: alwaysFault(mock.Fault{Hang: true})},
			},
			res:    "  timeouts: {response_header: 300ms}\n  max_attempts: 1\n",
			models: "  chat: {route: [p1/gemini-2.5-flash]}\n",
			req:    clientReq{Format: "gemini", Model: "chat", Stream: true},
			status: 504, attempts: 1, shouldRetry: "false",
			calls:      map[string]int{"p1": 1},
			minElapsed: 300 * time.Millisecond, maxElapsed: 3 * time.Second,
			then: func(t *testing.T, g *pipelineGW, _ clientReply) {
				waitUntil(t, "the mock to see the hung stream canceled", func() bool { return g.Mocks["p1"].Canceled() == 1 })
			},
		},
		{
			name: "a hanging stream ends at the first-token timeout with 504",
			ups: []upstreamSpec{
				// The first event comes at once, the next never (within the test).
				{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{TokenDelay: time.Minute})},
			},
			res:    "  timeouts: {first_token: 300ms, idle: 300ms}\n  max_attempts: 1\n",
			models: "  chat: {route: [p1/gpt-4o-mini]}\n",
			req:    clientReq{Format: "anthropic", Model: "chat", Stream: true},
			status: 504, attempts: 1, shouldRetry: "false",
			calls:      map[string]int{"p1": 1},
			minElapsed: 300 * time.Millisecond, maxElapsed: 3 * time.Second,
			then: func(t *testing.T, g *pipelineGW, _ clientReply) {
				waitUntil(t, "the mock to see the silent stream canceled", func() bool { return g.Mocks["p1"].Canceled() == 1 })
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startPipeline(t, tc.ups, tc.res, tc.models)
			r := g.do(tc.req)
			checkReply(t, g, tc, r)
			if !t.Failed() && tc.then != nil {
				tc.then(t, g, r)
			}
		})
	}
}

func checkReply(t *testing.T, g *pipelineGW, tc respCase, r clientReply) {
	t.Helper()
	if r.Status != tc.status {
		t.Fatalf("status %d, want %d; body %s", r.Status, tc.status, r.Body)
	}
	header := func(name, want string) {
		if got := r.Header.Get(name); want != "" && got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	header("X-Llmgate-Provider", tc.provider)
	header("X-Llmgate-Model", tc.model)
	if tc.attempts > 0 {
		header("X-Llmgate-Attempts", strconv.Itoa(tc.attempts))
	}
	header("X-Llmgate-Fallback", tc.fallback)
	header("X-Should-Retry", tc.shouldRetry)
	header("Retry-After", tc.retryAfter)
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	switch {
	case r.Status != 200:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("error Content-Type %q, want application/json", ct)
		}
		checkErrorBody(t, tc.req.Format, r.Body)
	case tc.req.Stream:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("stream Content-Type %q", ct)
		}
		evs := readClientEvents(t, r.Body)
		if countContentEvents(tc.req.Format, evs) == 0 || endsWithErrorEvent(tc.req.Format, evs) {
			t.Errorf("want a clean %s stream with text, got:\n%s", tc.req.Format, r.Body)
		}
	default:
		checkSuccessBody(t, tc.req.Format, r.Body)
	}
	t.Logf("answered %d in %v", r.Status, r.Elapsed)
	if r.Elapsed < tc.minElapsed {
		t.Errorf("answered after %v, want at least %v", r.Elapsed, tc.minElapsed)
	}
	if tc.maxElapsed > 0 && r.Elapsed > tc.maxElapsed {
		t.Errorf("answered after %v, want at most %v", r.Elapsed, tc.maxElapsed)
	}
	for name, want := range tc.calls {
		if got := g.count(name); got != want {
			t.Errorf("upstream %s got %d requests, want %d", name, got, want)
		}
	}
}

// healthJSON is the part of GET /health the breaker test reads.
type healthJSON struct {
	Status  string `json:"status"`
	Details map[string]struct {
		Status   string            `json:"status"`
		Breakers map[string]string `json:"breakers"`
	} `json:"details"`
}

// testBreaker walks one deployment's breaker through open, half-open and
// closed, as clients and GET /health see it.
func testBreaker(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	g := startPipeline(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Script: func(int) *mock.Fault {
			if failing.Load() {
				return &mock.Fault{Status: 503}
			}
			return nil
		}},
		{Name: "p2", Type: "anthropic"},
	}, "", twoRoutes)
	req := clientReq{Format: "openai", Model: "chat"}
	expect := func(step string, provider string, attempts int, p1Calls int) {
		t.Helper()
		r := g.do(req)
		if r.Status != 200 {
			t.Fatalf("%s: status %d: %s", step, r.Status, r.Body)
		}
		checkSuccessBody(t, "openai", r.Body)
		if got := r.Header.Get("X-Llmgate-Provider"); got != provider {
			t.Errorf("%s: served by %q, want %q", step, got, provider)
		}
		if got := r.Header.Get("X-Llmgate-Attempts"); got != strconv.Itoa(attempts) {
			t.Errorf("%s: %s attempts, want %d", step, got, attempts)
		}
		if n := g.count("p1"); n != p1Calls {
			t.Errorf("%s: p1 has had %d requests, want %d", step, n, p1Calls)
		}
	}
	breakerState := func() (string, string) {
		var h healthJSON
		g.getJSON("/health", &h)
		d := h.Details["p1"]
		return d.Breakers["p1/gpt-4o-mini"], d.Status
	}

	for i := 1; i <= 3; i++ {
		expect(fmt.Sprintf("failure %d", i), "p2", 2, i)
	}
	if st, status := breakerState(); st != "open" || status == "ok" {
		t.Errorf("GET /health after 3 failures: p1 breaker %q, status %q; want open and not ok", st, status)
	}
	expect("breaker open", "p2", 1, 3) // p1 skipped: no call to it

	failing.Store(false)
	// resilience.breaker.ejection_time is 1s (+ up to 20% jitter).
	waitUntil(t, "p1's ejection to end (half_open in GET /health)", func() bool {
		st, _ := breakerState()
		return st == "half_open"
	})
	expect("half-open probe", "p1", 1, 4)
	// The provider may still show as degraded (3 of its last 5 answers
	// failed), but its breaker is closed again and no longer listed.
	if st, _ := breakerState(); st != "" {
		t.Errorf("GET /health after a successful probe: p1 breaker %q, want closed (not listed)", st)
	}
	expect("closed again", "p1", 1, 5)
}

var wireModel = map[string]string{"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}

// translatedTo is the upstream format a client format is translated to.
var translatedTo = map[string]string{"openai": "anthropic", "anthropic": "gemini", "gemini": "openai"}

// testStreamFaults breaks streams after the client already got text, in
// every client format, passthrough and translated: the client must see an
// error event in its own format, nothing may be retried (the response is
// committed), and the request log must keep the partial output.
func testStreamFaults(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name string
		f    mock.Fault
	}{
		{"cut after 5 events", mock.Fault{CutAfter: 5}},
		{"error event after 5 events", mock.Fault{ErrorEventAfter: 5}},
	}
	for _, fc := range faults {
		for _, client := range []string{"openai", "anthropic", "gemini"} {
			for _, mode := range []string{"passthrough", "translated"} {
				up := client
				if mode == "translated" {
					up = translatedTo[client]
				}
				t.Run(fmt.Sprintf("%s/%s client/%s from %s", fc.name, client, mode, up), func(t *testing.T) {
					t.Parallel()
					g := startPipeline(t, []upstreamSpec{
						{Name: "p1", Type: up, Script: alwaysFault(fc.f)},
						{Name: "p2", Type: client},
					}, "", fmt.Sprintf("  chat: {route: [p1/%s, p2/%s]}\n", wireModel[up], wireModel[client]))
					r := g.do(clientReq{Format: client, Model: "chat", Stream: true})
					if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
						t.Fatalf("status %d %q, want a 200 stream: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
					}
					if p := r.Header.Get("X-Llmgate-Provider"); p != "p1" {
						t.Errorf("served by %q, want p1", p)
					}
					evs := readClientEvents(t, r.Body)
					if countContentEvents(client, evs) == 0 {
						t.Errorf("no text reached the client before the fault:\n%s", r.Body)
					}
					if !endsWithErrorEvent(client, evs) {
						t.Errorf("the %s stream does not end with an error event in its format:\n%s", client, r.Body)
					}
					if c := g.counts(); c["p1"] != 1 || c["p2"] != 0 {
						t.Errorf("upstream calls %v, want p1 once and no fallback after text was sent", c)
					}
					e := g.lastLog(r.Header.Get("X-Request-Id"))
					if !e.Stream || e.ErrorKind == "" || e.Provider != "p1" || e.OutputTokens == 0 {
						t.Errorf("request log: %+v; want a p1 stream with an error kind and non-zero output tokens", e)
					}
				})
			}
		}
	}
}

// testClientDisconnect closes the client's connection mid-stream: the
// upstream request must be canceled at once.
func testClientDisconnect(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"passthrough", "translated"} {
		client := "openai"
		up := client
		if mode == "translated" {
			up = translatedTo[client]
		}
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			g := startPipeline(t, []upstreamSpec{
				{Name: "p1", Type: up, Opts: mock.Options{TokenDelay: 150 * time.Millisecond}},
			}, "", fmt.Sprintf("  chat: {route: [p1/%s]}\n", wireModel[up]))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := g.hc.Do(g.httpRequest(ctx, clientReq{Format: client, Model: "chat", Stream: true}))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			rd := sse.NewReader(resp.Body)
			for {
				ev, err := rd.Next()
				if err != nil {
					t.Fatalf("the stream ended before any text: %v", err)
				}
				if countContentEvents(client, []clientEvent{{Name: string(ev.Name), Data: ev.Data}}) > 0 {
					break
				}
			}
			cancel() // the client goes away mid-stream
			start := time.Now()
			waitUntil(t, "the upstream request to be canceled", func() bool { return g.Mocks["p1"].Canceled() == 1 })
			if d := time.Since(start); d > time.Second {
				t.Errorf("the upstream request was canceled %v after the client left, want under 1s", d)
			}
			if n := g.count("p1"); n != 1 {
				t.Errorf("p1 got %d requests, want 1 (no retry for a client that left)", n)
			}
			// What the client received before leaving was generated
			// upstream and must be recorded.
			e := g.lastLog(resp.Header.Get("X-Request-Id"))
			if e.ErrorKind != "canceled" || e.OutputTokens == 0 {
				t.Errorf("request log: %+v; want error kind canceled and non-zero output tokens", e)
			}
		})
	}
}
