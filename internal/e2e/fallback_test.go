package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/mock"
)

// TestFallbackAcrossFormats routes a model to an overloaded Anthropic
// upstream first and an OpenAI upstream second: every client gets the
// answer, and the headers say who served it after the fallback.
func TestFallbackAcrossFormats(t *testing.T) {
	g := newGate(t, gateOptions{
		MockFor:     map[string]mock.Options{fmtAnthropic: {Faults: mock.Fault{Status: 529}}},
		MaxAttempts: 3,
		Resilience:  "  breaker: {failures: 1000}", // every request tries the first route
		Models:      "  fallback-model: {route: [an/" + upAN + ", oa/" + upOA + "]}",
	})
	for _, in := range formats {
		for _, stream := range []bool{false, true} {
			t.Run(in+"/"+mode(stream), func(t *testing.T) {
				g.reset()
				res := runChat(t, g, in, chatTurn{Model: "fallback-model", Stream: stream, Prompt: matrixPrompt})
				if res.Err != nil {
					t.Fatalf("%s SDK: %v", in, res.Err)
				}
				if res.Text != matrixReply || res.Finish != stopFor[in] {
					t.Errorf("text %q stop %q", res.Text, res.Finish)
				}
				checkServedBy(t, res.Header, fmtOpenAI)
				if res.Header.Get("X-Llmgate-Fallback") != "true" || res.Header.Get("X-Llmgate-Attempts") != "2" {
					t.Errorf("x-llmgate-fallback %q attempts %q, want true and 2",
						res.Header.Get("X-Llmgate-Fallback"), res.Header.Get("X-Llmgate-Attempts"))
				}
				if a, o := len(g.upstreamRequests(fmtAnthropic)), len(g.upstreamRequests(fmtOpenAI)); a != 1 || o != 1 {
					t.Errorf("upstream requests: anthropic %d, openai %d; want 1 each", a, o)
				}
			})
		}
	}
}

// TestMalformedUpstreamAnswer has every upstream answer 200 with a body
// that is not JSON: each client gets a 502 in its own format, not a 200
// with a body its SDK cannot parse.
func TestMalformedUpstreamAnswer(t *testing.T) {
	g := newGate(t, gateOptions{Mock: mock.Options{Faults: mock.Fault{Malformed: true}}, Resilience: "  breaker: {failures: 1000}"})
	for _, in := range formats {
		for _, up := range formats {
			t.Run(in+"_to_"+up, func(t *testing.T) {
				g.reset()
				res := runChat(t, g, in, chatTurn{Model: modelFor[up], Prompt: matrixPrompt})
				e := asSDKError(t, in, res.Err)
				if e.Status != http.StatusBadGateway {
					t.Errorf("status %d, want 502 (%+v)", e.Status, e)
				}
				if !strings.Contains(e.Message, "not valid") {
					t.Errorf("message %q, want it to say the upstream answer is not valid", e.Message)
				}
			})
		}
	}
}
