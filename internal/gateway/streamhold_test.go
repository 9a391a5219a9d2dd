package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/sse"
)

// TestStreamHoldBoundsTimeToFirstByte: an upstream that sends its opening
// events and then thinks still shows the client bytes (headers and the
// opening events) once resilience.stream_hold passes. The upstream's first
// token waits until the client has its first byte, so a gateway that held
// the opening events until content would never answer (and the test fails
// at its deadline), whatever the machine's load.
func TestStreamHoldBoundsTimeToFirstByte(t *testing.T) {
	streams := map[string][2]string{
		"passthrough": {"openai", `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"},
		"translated":  {"anthropic", anthropicStream[:strings.Index(anthropicStream, "event: content_block_delta")]},
	}
	rest := map[string]string{
		"passthrough": `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":null}]}` + "\n\n" +
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n",
		"translated": anthropicStream[strings.Index(anthropicStream, "event: content_block_delta"):],
	}
	for mode, up := range streams {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			firstByte := make(chan struct{})
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, up[1])
				w.(http.Flusher).Flush()
				select { // thinking, until the client has seen its first byte
				case <-firstByte:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, rest[mode])
			}))
			defer upstream.Close()
			front := rawGateway(t, up[0], upstream.URL, "  stream_hold: 100ms\n")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := front.hc.Do(req)
			if err != nil {
				t.Fatalf("no response headers while the upstream thinks (held until content?): %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			rd := sse.NewReader(resp.Body)
			ev, err := rd.Next()
			if err != nil {
				t.Fatalf("no event while the upstream thinks (held until content?): %v", err)
			}
			if countContentEvents("openai", []clientEvent{{Name: string(ev.Name), Data: ev.Data}}) > 0 {
				t.Fatalf("first event %s carries content, want the opening event before the upstream's first token", ev.Data)
			}
			close(firstByte)
			for {
				ev, err := rd.Next()
				if err != nil {
					t.Fatalf("the stream ended before any text: %v", err)
				}
				if countContentEvents("openai", []clientEvent{{Name: string(ev.Name), Data: ev.Data}}) > 0 {
					break
				}
			}
		})
	}
}

// TestStreamHoldRetriesEarlyFailures: a stream that fails before the hold
// passes is retried on the next route; one that fails after it was
// committed ends with an error event, as any mid-stream failure does.
func TestStreamHoldRetriesEarlyFailures(t *testing.T) {
	cases := []struct {
		name       string
		hold       string
		fault      mock.Fault
		wantServed string
	}{
		{"failure within the hold is retried", "5s", mock.Fault{ErrorEventAfter: 1, TokenDelay: 100 * time.Millisecond}, "p2"},
		{"failure after the hold ends the stream", "50ms", mock.Fault{ErrorEventAfter: 1, TokenDelay: 800 * time.Millisecond}, "p1"},
	}
	for _, tc := range cases {
		for _, mode := range []string{"passthrough", "translated"} {
			up := "openai"
			if mode == "translated" {
				up = translatedTo["openai"]
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				g := startPipeline(t, []upstreamSpec{
					{Name: "p1", Type: up, Script: alwaysFault(tc.fault)},
					{Name: "p2", Type: "openai"},
				}, "  stream_hold: "+tc.hold+"\n", fmt.Sprintf("  chat: {route: [p1/%s, p2/%s]}\n", wireModel[up], wireModel["openai"]))
				r := g.do(clientReq{Format: "openai", Model: "chat", Stream: true})
				if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
					t.Fatalf("status %d %q, want a 200 stream: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
				}
				if p := r.Header.Get("X-Llmgate-Provider"); p != tc.wantServed {
					t.Errorf("served by %q, want %s", p, tc.wantServed)
				}
				evs := readClientEvents(t, r.Body)
				failed := endsWithErrorEvent("openai", evs)
				if tc.wantServed == "p2" {
					if failed || countContentEvents("openai", evs) == 0 {
						t.Errorf("want a complete stream from p2, got:\n%s", r.Body)
					}
					if n := g.count("p1"); n != 1 {
						t.Errorf("p1 got %d requests, want 1", n)
					}
				} else {
					if !failed {
						t.Errorf("want the committed stream to end with an error event, got:\n%s", r.Body)
					}
					if n := g.count("p2"); n != 0 {
						t.Errorf("p2 got %d requests, want 0 (the stream was committed)", n)
					}
				}
			})
		}
	}
}
