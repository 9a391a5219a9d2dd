package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
)

// These tests run on the default resilience settings (nothing tuned): what
// a new user gets. They check what a client sees when providers fail.

const oneRoute = "  chat: {route: [p1/gpt-4o-mini]}\n"

// errorType reads the error type out of an OpenAI or Anthropic error body.
func errorType(t *testing.T, b []byte) string {
	t.Helper()
	var v struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, b)
	}
	return v.Error.Type
}

// TestDefaultsRealErrorNeverBreakerRefusal: a model whose only route keeps
// failing gets the upstream's own failure on every request, each with real
// attempts, and never a refusal the gateway made up: the breaker that
// ejects the deployment must not turn a failing route into no route.
func TestDefaultsRealErrorNeverBreakerRefusal(t *testing.T) {
	t.Parallel()
	g := startDefaults(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 500})},
	}, oneRoute)
	before := 0
	for i := range 4 { // 5 consecutive failures eject p1 during the second request
		r := g.do(clientReq{Format: "openai", Model: "chat"})
		if r.Status != 500 {
			t.Fatalf("request %d: HTTP %d, want the upstream's 500: %s", i+1, r.Status, r.Body)
		}
		checkErrorBody(t, "openai", r.Body)
		n, _ := strconv.Atoi(r.Header.Get("X-Llmgate-Attempts"))
		if n < 1 || g.count("p1")-before != n {
			t.Errorf("request %d: X-Llmgate-Attempts %q, upstream got %d requests: want the same, at least 1",
				i+1, r.Header.Get("X-Llmgate-Attempts"), g.count("p1")-before)
		}
		before = g.count("p1")
		if got := r.Header.Get("X-Should-Retry"); got != "false" {
			t.Errorf("request %d: X-Should-Retry %q, want false (the gateway already retried)", i+1, got)
		}
		if i >= 2 {
			// p1 is ejected now: the error says when it is probed again.
			ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 3*60 {
				t.Errorf("request %d: Retry-After %q, want the seconds until p1 is probed", i+1, r.Header.Get("Retry-After"))
			}
		}
	}
}

// TestDefaultsErrorClasses: every final failure reaches the client in its
// own format with the status and type the README's table gives.
func TestDefaultsErrorClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		client   string
		upstream string
		fault    mock.Fault
		status   int
		typ      string
	}{
		{"overloaded to an Anthropic client", "anthropic", "openai", mock.Fault{Status: 503}, 529, "overloaded_error"},
		{"overloaded to an OpenAI client", "openai", "anthropic", mock.Fault{Status: 529}, 503, ""},
		{"upstream 500 to an Anthropic client", "anthropic", "anthropic", mock.Fault{Status: 500}, 500, "api_error"},
		{"garbage to an OpenAI client", "openai", "openai", mock.Fault{Malformed: true}, 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startDefaults(t, []upstreamSpec{{Name: "p1", Type: tt.upstream, Script: alwaysFault(tt.fault)}},
				"  chat: {route: [p1/"+wireModel[tt.upstream]+"]}\n")
			r := g.do(clientReq{Format: tt.client, Model: "chat"})
			if r.Status != tt.status {
				t.Fatalf("HTTP %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			checkErrorBody(t, tt.client, r.Body)
			if tt.typ != "" {
				if got := errorType(t, r.Body); got != tt.typ {
					t.Errorf("error type %q, want %q", got, tt.typ)
				}
			}
			if r.Header.Get("X-Should-Retry") != "false" || r.Header.Get("X-Llmgate-Attempts") == "0" {
				t.Errorf("X-Should-Retry %q, X-Llmgate-Attempts %q: want false and real attempts",
					r.Header.Get("X-Should-Retry"), r.Header.Get("X-Llmgate-Attempts"))
			}
		})
	}
}

// TestDefaults429MovesOn: a rate-limited primary with a healthy fallback
// sends every request to the fallback at once; the primary rests for the
// time it asked.
func TestDefaults429MovesOn(t *testing.T) {
	t.Parallel()
	g := startDefaults(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 429, RetryAfter: 30 * time.Second})},
		{Name: "p2", Type: "anthropic"},
	}, twoRoutes)
	for i := range 5 {
		r := g.do(clientReq{Format: "openai", Model: "chat"})
		if r.Status != 200 || r.Header.Get("X-Llmgate-Provider") != "p2" {
			t.Fatalf("request %d: HTTP %d from %q, want 200 from p2: %s", i+1, r.Status, r.Header.Get("X-Llmgate-Provider"), r.Body)
		}
		if n, _ := strconv.Atoi(r.Header.Get("X-Llmgate-Attempts")); n > 2 {
			t.Errorf("request %d: %d attempts, want at most 2", i+1, n)
		}
	}
	if n := g.count("p1"); n != 1 {
		t.Errorf("p1 got %d requests, want 1: it asked for 30 s of rest", n)
	}
}

// TestDefaultsPrimaryDown: a dead primary costs one attempt per request
// until it is ejected, then none but a probe per ejection period.
func TestDefaultsPrimaryDown(t *testing.T) {
	t.Parallel()
	g := startDefaults(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 503})},
		{Name: "p2", Type: "anthropic"},
	}, twoRoutes)
	for i := range 30 {
		r := g.do(clientReq{Format: "gemini", Model: "chat"})
		if r.Status != 200 {
			t.Fatalf("request %d: HTTP %d: %s", i+1, r.Status, r.Body)
		}
	}
	// 5 consecutive failures eject p1 for 5 s (+ up to 20%); these 30
	// requests take well under that.
	if n := g.count("p1"); n > 6 {
		t.Errorf("the dead primary got %d of 30 requests, want at most 5 (+1 probe)", n)
	}
}

// TestTimeoutHeaderOnlyLowers: a client cannot raise the operator's
// deadline with x-llmgate-timeout.
func TestTimeoutHeaderOnlyLowers(t *testing.T) {
	t.Parallel()
	g := startPipeline(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Latency: 5 * time.Second})},
	}, "  request_timeout: 500ms\n  max_attempts: 1\n", oneRoute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := g.httpRequest(ctx, clientReq{Format: "openai", Model: "chat"})
	req.Header.Set("X-Llmgate-Timeout", "1h")
	start := time.Now()
	resp, err := g.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || time.Since(start) > 4*time.Second {
		t.Fatalf("HTTP %d after %s, want 504 at the configured 500ms: %s", resp.StatusCode, time.Since(start), b)
	}
}

// TestBoundedAnswers: a non-streamed answer over max_response_bytes is a
// 502 in the client's format; a stream far past max_tokens is ended with
// an error event.
func TestBoundedAnswers(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("many words ", 100_000) // 1.1 MB of reply text
	g := startPipeline(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Opts: mock.Options{Text: big}},
		{Name: "p2", Type: "anthropic", Opts: mock.Options{Text: big, IgnoreMaxTokens: true}},
	}, "  max_response_bytes: 100000\n  max_attempts: 1\n",
		"  small: {route: [p1/gpt-4o-mini]}\n  chat: {route: [p2/claude-sonnet-4-5]}\n")

	r := g.do(clientReq{Format: "openai", Model: "small"})
	if r.Status != http.StatusBadGateway || !strings.Contains(checkErrorBody(t, "openai", r.Body), "max_response_bytes") {
		t.Errorf("oversized answer: HTTP %d, want 502 naming max_response_bytes: %.300s", r.Status, r.Body)
	}

	// The harness's Anthropic requests ask for max_tokens 256: the stream
	// may take 256 KiB + 256 KiB.
	r = g.do(clientReq{Format: "anthropic", Model: "chat", Stream: true})
	if r.Status != 200 {
		t.Fatalf("stream: HTTP %d: %.300s", r.Status, r.Body)
	}
	if len(r.Body) > 700<<10 {
		t.Errorf("a max_tokens 256 stream delivered %d bytes, want it cut near 512 KiB", len(r.Body))
	}
	if evs := readClientEvents(t, r.Body); !endsWithErrorEvent("anthropic", evs) {
		t.Errorf("the cut stream does not end with an error event")
	}
}

// TestAttemptMetrics: each attempt is counted under the provider and model
// it went to, with its outcome.
func TestAttemptMetrics(t *testing.T) {
	t.Parallel()
	g := startPipeline(t, []upstreamSpec{
		{Name: "p1", Type: "openai", Script: alwaysFault(mock.Fault{Status: 503})},
		{Name: "p2", Type: "anthropic"},
	}, "", twoRoutes)
	if r := g.do(clientReq{Format: "openai", Model: "chat"}); r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Body)
	}
	resp, err := g.hc.Get(g.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`llmgate_upstream_attempts_total{model="gpt-4o-mini",outcome="overloaded",provider="p1"} 1`,
		`llmgate_upstream_attempts_total{model="claude-sonnet-4-5",outcome="success",provider="p2"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestUnknownModelSuggests: a typo gets the closest served names first.
func TestUnknownModelSuggests(t *testing.T) {
	t.Parallel()
	g := startPipeline(t, []upstreamSpec{{Name: "p1", Type: "openai"}}, "",
		"  chat: {route: [p1/gpt-4o-mini]}\n  team-writer-large: {route: [p1/gpt-4o]}\n  aaa: {route: [p1/gpt-4o]}\n")
	r := g.do(clientReq{Format: "openai", Model: "team-wirter-large"})
	msg := checkErrorBody(t, "openai", r.Body)
	if r.Status != 404 || !strings.Contains(msg, "did you mean team-writer-large?") {
		t.Errorf("HTTP %d %q, want a 404 suggesting team-writer-large", r.Status, msg)
	}
}
