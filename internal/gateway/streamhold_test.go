package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/sse"
)

// TestStreamHoldBoundsTimeToFirstByte: an upstream that thinks for a second
// before its first token still shows the client bytes (headers and the
// opening events) once resilience.stream_hold passes.
func TestStreamHoldBoundsTimeToFirstByte(t *testing.T) {
	for _, mode := range []string{"passthrough", "translated"} {
		up := "openai"
		if mode == "translated" {
			up = translatedTo["openai"]
		}
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const think = 1500 * time.Millisecond
			g := startPipeline(t, []upstreamSpec{
				{Name: "p1", Type: up, Opts: mock.Options{TokenDelay: think}},
			}, "  stream_hold: 100ms\n", fmt.Sprintf("  chat: {route: [p1/%s]}\n", wireModel[up]))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			resp, err := g.hc.Do(g.httpRequest(ctx, clientReq{Format: "openai", Model: "chat", Stream: true}))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			rd := sse.NewReader(resp.Body)
			var firstByte, firstContent time.Duration
			for firstContent == 0 {
				ev, err := rd.Next()
				if err != nil {
					t.Fatalf("the stream ended before any text: %v", err)
				}
				if firstByte == 0 {
					firstByte = time.Since(start)
				}
				if countContentEvents("openai", []clientEvent{{Name: string(ev.Name), Data: ev.Data}}) > 0 {
					firstContent = time.Since(start)
				}
			}
			if firstByte > think/2 {
				t.Errorf("first byte after %v, want well before the first token (upstream thinks %v, hold 100ms)", firstByte, think)
			}
			if firstContent-firstByte < think/3 {
				t.Errorf("first byte %v, first content %v: the opening events were held until content", firstByte, firstContent)
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
