package e2e

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
)

// TestDefaultResilienceErrors runs the default resilience settings (only
// the backoff and the attempt timeout shortened, so that the test takes
// seconds) against an upstream that keeps failing, and checks with each
// official SDK what an application sees: the upstream's real failure in
// its own format and status after the gateway's retries, never a refusal
// the gateway made up, x-should-retry: false, and no SDK retry on top.
func TestDefaultResilienceErrors(t *testing.T) {
	// A port nothing listens on, for a refused connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	cases := []struct {
		name   string
		fault  mock.Fault
		model  string // "" = the OpenAI upstream's model
		status map[string]int
		typ    map[string]string
	}{
		{name: "overloaded", fault: mock.Fault{Status: 503},
			status: map[string]int{fmtOpenAI: 503, fmtAnthropic: 529, fmtGemini: 503},
			typ:    map[string]string{fmtAnthropic: "overloaded_error", fmtGemini: "UNAVAILABLE"}},
		{name: "server error", fault: mock.Fault{Status: 500},
			status: map[string]int{fmtOpenAI: 500, fmtAnthropic: 500, fmtGemini: 500},
			typ:    map[string]string{fmtAnthropic: "api_error", fmtGemini: "INTERNAL"}},
		{name: "timeout", fault: mock.Fault{Latency: 5 * time.Second},
			status: map[string]int{fmtOpenAI: 504, fmtAnthropic: 504, fmtGemini: 504}},
		{name: "garbage", fault: mock.Fault{Malformed: true},
			status: map[string]int{fmtOpenAI: 502, fmtAnthropic: 502, fmtGemini: 502}},
		{name: "connection refused", model: "dead-model",
			status: map[string]int{fmtOpenAI: 502, fmtAnthropic: 502, fmtGemini: 502}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range formats {
				t.Run(in, func(t *testing.T) {
					g := newGate(t, gateOptions{Mock: mock.Options{Faults: tc.fault}, MaxAttempts: 5,
						Resilience: "  retry: {base: 1ms, cap: 5ms}\n  timeouts: {total: 300ms}\n",
						Providers:  "  dead: {type: openai, base_url: \"http://" + dead + "/v1\", api_key: x}",
						Models:     "  dead-model: {route: [dead/gpt-4o-mini]}"})
					model := tc.model
					if model == "" {
						model = modelFor[fmtOpenAI]
					}
					// The SDKs may retry (2 times, their default): the
					// gateway must tell them not to.
					res := runChat(t, g, in, chatTurn{Model: model, Prompt: matrixPrompt, Retries: 2})
					e := asSDKError(t, in, res.Err)
					if e.Status != tc.status[in] {
						t.Errorf("status %d, want %d (%+v)", e.Status, tc.status[in], e)
					}
					if w := tc.typ[in]; w != "" && e.Type != w {
						t.Errorf("error type %q, want %q", e.Type, w)
					}
					if e.Message == "" {
						t.Error("no error message")
					}
					if len(g.inbound()) != 1 {
						t.Errorf("the SDK sent %d requests, want 1 (x-should-retry: false)", len(g.inbound()))
					}
					if e.Header == nil {
						return // go-genai keeps no headers
					}
					if got := e.Header.Get("X-Should-Retry"); got != "false" {
						t.Errorf("x-should-retry %q, want false", got)
					}
					n, _ := strconv.Atoi(e.Header.Get("X-Llmgate-Attempts"))
					if n < 2 {
						t.Errorf("x-llmgate-attempts %d, want the gateway's own retries (>= 2)", n)
					}
					if tc.model == "" {
						if got := len(g.upstreamRequests(fmtOpenAI)); got != n {
							t.Errorf("the upstream got %d requests, x-llmgate-attempts says %d", got, n)
						}
					}
				})
			}
		})
	}
}
