package gateway_test

// Tests of the opt-in pipeline features: hedged requests, Idempotency-Key
// replay, stale-if-error, context-window truncation and pacing. Each builds
// the real app (cli.NewApp) from YAML in front of scripted mock upstreams.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
)

// ftGateway is a gateway in front of named mock upstreams.
type ftGateway struct {
	url   string
	mocks map[string]*mock.Mock
}

type ftUpstream struct {
	name, typ string
	script    func(r *http.Request, n int) *mock.Fault
	opts      string // more provider fields, e.g. ", rpm: 60"
	noKey     bool   // no api_key: clients' own keys pass through
}

func ftStart(t *testing.T, ups []ftUpstream, extra string) *ftGateway {
	t.Helper()
	g := &ftGateway{mocks: map[string]*mock.Mock{}}
	var b strings.Builder
	fmt.Fprintf(&b, "storage: {data_dir: %s}\nproviders:\n", t.TempDir())
	for _, u := range ups {
		m := mock.New(mock.Options{Script: u.script})
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		t.Cleanup(m.Close)
		g.mocks[u.name] = m
		base := srv.URL
		if u.typ == "openai" {
			base += "/v1"
		}
		key := ", api_key: x"
		if u.noKey {
			key = ""
		}
		fmt.Fprintf(&b, "  %s: {type: %s, base_url: %s%s%s}\n", u.name, u.typ, base, key, u.opts)
	}
	b.WriteString(extra)
	cfg, err := config.Parse("features.yaml", []byte(b.String()), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	g.url = srv.URL
	return g
}

func (g *ftGateway) chat(t *testing.T, model string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	if body == "" {
		body = fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello"}]}`, model)
	}
	req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/chat/completions", strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func ftLatency(d time.Duration) func(*http.Request, int) *mock.Fault {
	return func(*http.Request, int) *mock.Fault { return &mock.Fault{Latency: d} }
}

func TestHedging(t *testing.T) {
	t.Parallel()
	g := ftStart(t, []ftUpstream{
		{name: "slow", typ: "openai", script: ftLatency(3 * time.Second)},
		{name: "fast", typ: "anthropic"},
	}, "models:\n  m: {route: [slow/gpt-4o, fast/claude-sonnet-4-5], hedge: {delay: 100ms}}\n")
	start := time.Now()
	resp, body := g.chat(t, "m", nil, "")
	took := time.Since(start)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if p := resp.Header.Get("X-Llmgate-Provider"); p != "fast" {
		t.Errorf("served by %q, want the hedge (fast)", p)
	}
	if a := resp.Header.Get("X-Llmgate-Attempts"); a != "2" {
		t.Errorf("attempts %q, want 2 (both count)", a)
	}
	if took > 2*time.Second {
		t.Errorf("took %s: the hedge should answer long before the slow route's 3s", took)
	}
	// The slow attempt was cancelled, not left running.
	deadline := time.Now().Add(2 * time.Second)
	for g.mocks["slow"].Canceled() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g.mocks["slow"].Canceled() != 1 {
		t.Errorf("slow upstream cancellations = %d, want 1", g.mocks["slow"].Canceled())
	}
	var r struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Choices) != 1 || r.Choices[0].Message.Content == "" {
		t.Errorf("hedged answer not in OpenAI format: %s", body)
	}
}

func TestHedgingFastPrimaryNeedsNoHedge(t *testing.T) {
	t.Parallel()
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai"}, {name: "b", typ: "openai"}},
		"models:\n  m: {route: [a/gpt-4o, b/gpt-4o], hedge: {delay: 500ms}}\n")
	resp, body := g.chat(t, "m", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Llmgate-Provider") != "a" || resp.Header.Get("X-Llmgate-Attempts") != "1" {
		t.Fatalf("status %d provider %q attempts %q: %s", resp.StatusCode, resp.Header.Get("X-Llmgate-Provider"),
			resp.Header.Get("X-Llmgate-Attempts"), body)
	}
	if n := g.mocks["b"].Count(); n != 0 {
		t.Errorf("hedge route called %d times for a fast primary", n)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai", script: ftLatency(200 * time.Millisecond)}},
		"models:\n  m: {route: [a/gpt-4o]}\n")
	h := http.Header{"Idempotency-Key": {"order-42"}}
	// Concurrent duplicates wait for the first and get its answer.
	var wg sync.WaitGroup
	bodies := make([]string, 5)
	replays := atomic.Int32{}
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b := g.chat(t, "m", h, "")
			if resp.StatusCode != 200 {
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
			if resp.Header.Get("X-Llmgate-Idempotent-Replay") == "true" {
				replays.Add(1)
			}
			bodies[i] = b
		}()
	}
	wg.Wait()
	if n := g.mocks["a"].Count(); n != 1 {
		t.Errorf("upstream calls = %d, want 1 for 5 requests with one Idempotency-Key", n)
	}
	if replays.Load() != 4 {
		t.Errorf("replays = %d, want 4", replays.Load())
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("answer %d differs from the first:\n%s\n%s", i, bodies[i], bodies[0])
		}
	}
	// A later repeat is replayed too; a different body with the key is refused.
	if resp, _ := g.chat(t, "m", h, ""); resp.Header.Get("X-Llmgate-Idempotent-Replay") != "true" {
		t.Error("a later repeat was not replayed")
	}
	resp, body := g.chat(t, "m", h, `{"model":"m","messages":[{"role":"user","content":"something else"}]}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "different request body") {
		t.Errorf("reused key with another body: status %d %s", resp.StatusCode, body)
	}
	// Another key is a new request.
	if resp, _ := g.chat(t, "m", http.Header{"Idempotency-Key": {"order-43"}}, ""); resp.StatusCode != 200 || g.mocks["a"].Count() != 2 {
		t.Errorf("a new key: status %d, upstream calls %d (want 2)", resp.StatusCode, g.mocks["a"].Count())
	}
}

func TestIdempotencyKeyFailureIsNotCached(t *testing.T) {
	t.Parallel()
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai", script: func(_ *http.Request, n int) *mock.Fault {
		if n == 1 {
			return &mock.Fault{Status: 400}
		}
		return nil
	}}}, "models:\n  m: {route: [a/gpt-4o]}\n")
	h := http.Header{"Idempotency-Key": {"k1"}}
	if resp, _ := g.chat(t, "m", h, ""); resp.StatusCode != 400 {
		t.Fatalf("first: status %d, want the upstream's 400", resp.StatusCode)
	}
	if resp, b := g.chat(t, "m", h, ""); resp.StatusCode != 200 {
		t.Fatalf("retry after a failure: status %d %s, want a fresh 200", resp.StatusCode, b)
	}
}

func TestStaleIfError(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai", script: func(*http.Request, int) *mock.Fault {
		if down.Load() {
			return &mock.Fault{Status: 503}
		}
		return nil
	}}}, "resilience: {max_attempts: 1}\nmodels:\n  m: {route: [a/gpt-4o], stale_if_error: true}\n")
	resp, fresh := g.chat(t, "m", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Llmgate-Stale") != "" {
		t.Fatalf("fresh: status %d stale %q", resp.StatusCode, resp.Header.Get("X-Llmgate-Stale"))
	}
	down.Store(true)
	resp, stale := g.chat(t, "m", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Llmgate-Stale") != "true" || stale != fresh {
		t.Fatalf("every route down: status %d stale %q body %s", resp.StatusCode, resp.Header.Get("X-Llmgate-Stale"), stale)
	}
	// A request never answered before gets the real error.
	resp, body := g.chat(t, "m", nil, `{"model":"m","messages":[{"role":"user","content":"new question"}]}`)
	if resp.StatusCode != 503 || !strings.Contains(body, `"error"`) {
		t.Fatalf("uncached request while down: status %d %s", resp.StatusCode, body)
	}
}

func TestContextWindowTruncation(t *testing.T) {
	t.Parallel()
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai"}},
		"models:\n  small: {route: [a/gpt-4o], context_window: 200, truncate_on_overflow: true}\n"+
			"  strict: {route: [a/gpt-4o], context_window: 200}\n")
	long := strings.Repeat("lorem ipsum dolor sit amet ", 60) // ~360 tokens
	msgs := fmt.Sprintf(`[{"role":"system","content":"be brief"},{"role":"user","content":%q},`+
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},`+
		`{"role":"tool","tool_call_id":"c1","content":"ok"},{"role":"assistant","content":"done"},{"role":"user","content":"last question"}]`, long)
	resp, body := g.chat(t, "small", nil, `{"model":"small","messages":`+msgs+`}`)
	if resp.StatusCode != 200 {
		t.Fatalf("truncating model: status %d %s", resp.StatusCode, body)
	}
	got := g.mocks["a"].Requests()
	sent := string(got[len(got)-1].Body)
	if strings.Contains(sent, "lorem") || !strings.Contains(sent, "last question") || !strings.Contains(sent, "be brief") {
		t.Errorf("upstream got %s: want the long old turn dropped, the system prompt and last turn kept", sent)
	}
	if strings.Contains(sent, `"tool_call_id":"c1"`) && !strings.Contains(sent, `"id":"c1"`) {
		t.Errorf("a tool result was kept without its call: %s", sent)
	}
	resp, body = g.chat(t, "strict", nil, `{"model":"strict","messages":`+msgs+`}`)
	if resp.StatusCode != 413 || !strings.Contains(body, "context_length_exceeded") || !strings.Contains(body, "tokens") {
		t.Errorf("non-truncating model: status %d %s, want 413 with token counts", resp.StatusCode, body)
	}
}

func TestPacingHoldsRequestsUnderRPM(t *testing.T) {
	t.Parallel()
	// rpm 60 admits one request a second. Three at once: the first goes now,
	// the second waits about a second, the third would wait two, more than
	// max_queue_wait, so it is refused at once with an honest Retry-After
	// instead of being sent to a certain upstream 429.
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai", opts: ", rpm: 60"}},
		"resilience: {max_queue_wait: 1500ms}\nmodels:\n  m: {route: [a/gpt-4o]}\n")
	type res struct {
		status     int
		retryAfter string
		took       time.Duration
	}
	out := make(chan res, 3)
	start := time.Now()
	for range 3 {
		go func() {
			resp, _ := g.chat(t, "m", nil, "")
			out <- res{resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)}
		}()
	}
	var ok, limited int
	var slowest time.Duration
	for range 3 {
		r := <-out
		switch r.status {
		case 200:
			ok++
			slowest = max(slowest, r.took)
		case 429:
			limited++
			if r.retryAfter == "" {
				t.Error("a paced 429 without Retry-After")
			}
		default:
			t.Errorf("status %d", r.status)
		}
	}
	if ok != 2 || limited != 1 {
		t.Fatalf("%d answered, %d refused; want 2 and 1", ok, limited)
	}
	if slowest < 800*time.Millisecond {
		t.Errorf("the second request was not held back (answered after %s)", slowest)
	}
	if n := g.mocks["a"].Count(); n != 2 {
		t.Errorf("upstream calls = %d, want 2: the refused request must not reach it", n)
	}
}

func TestKeepAlivePingsOnQuietStreams(t *testing.T) {
	t.Parallel()
	slow := func(*http.Request, int) *mock.Fault { return &mock.Fault{TokenDelay: 300 * time.Millisecond} }
	g := ftStart(t, []ftUpstream{{name: "o", typ: "openai", script: slow}, {name: "a", typ: "anthropic", script: slow}},
		"server: {stream_ping: 100ms}\nmodels:\n  m: {route: [o/gpt-4o]}\n  c: {route: [a/claude-sonnet-4-5]}\n")
	for _, tt := range []struct{ path, body, ping, end string }{
		{"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three"}]}`,
			": keep-alive\n\n", "data: [DONE]"},
		{"/v1/messages", `{"model":"c","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"one two three"}]}`,
			"event: ping\n", "event: message_stop"},
	} {
		req, _ := http.NewRequest(http.MethodPost, g.url+tt.path, strings.NewReader(tt.body))
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := string(b)
		if !strings.Contains(out, tt.ping) || !strings.Contains(out, tt.end) {
			t.Errorf("%s: no keep-alive %q between slow events, or no clean end:\n%s", tt.path, tt.ping, out)
		}
	}
}

func TestStaleIfErrorIsScopedToTheCaller(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	g := ftStart(t, []ftUpstream{{name: "a", typ: "openai", noKey: true, script: func(*http.Request, int) *mock.Fault {
		if down.Load() {
			return &mock.Fault{Status: 503}
		}
		return nil
	}}}, "resilience: {max_attempts: 1}\nmodels:\n  m: {route: [a/gpt-4o], stale_if_error: true}\n")
	alice := http.Header{"Authorization": {"Bearer sk-alice"}}
	bob := http.Header{"Authorization": {"Bearer sk-bob"}}
	if resp, body := g.chat(t, "m", alice, ""); resp.StatusCode != 200 {
		t.Fatalf("alice fresh: %d %s", resp.StatusCode, body)
	}
	down.Store(true)
	if resp, _ := g.chat(t, "m", bob, ""); resp.StatusCode != 503 || resp.Header.Get("X-Llmgate-Stale") != "" {
		t.Errorf("bob got %d stale=%q: another caller's cached answer must not be served", resp.StatusCode, resp.Header.Get("X-Llmgate-Stale"))
	}
	if resp, _ := g.chat(t, "m", alice, ""); resp.StatusCode != 200 || resp.Header.Get("X-Llmgate-Stale") != "true" {
		t.Errorf("alice got %d stale=%q, want her own stale answer", resp.StatusCode, resp.Header.Get("X-Llmgate-Stale"))
	}
}
