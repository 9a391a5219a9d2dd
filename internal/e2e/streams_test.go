package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	anoption "github.com/anthropics/anthropic-sdk-go/option"
	oaoption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/mock"
)

// streamText streams turn with the SDK of client format f under ctx and
// returns the text received and how the stream ended. After each text
// delta it calls onText (if set) with the text so far. hc, when set, is
// the SDK's HTTP client.
func streamText(ctx context.Context, t *testing.T, g *gate, f string, turn chatTurn, hc *http.Client, onText func(string)) (string, error) {
	t.Helper()
	turn.Stream = true
	var text strings.Builder
	got := func(s string) {
		if s == "" {
			return
		}
		text.WriteString(s)
		if onText != nil {
			onText(text.String())
		}
	}
	switch f {
	case fmtOpenAI:
		c := g.openai()
		if hc != nil {
			c = g.openaiRetrying(0, oaoption.WithHTTPClient(hc))
		}
		s := c.Chat.Completions.NewStreaming(ctx, oaParams(turn, nil))
		defer s.Close()
		for s.Next() {
			for _, ch := range s.Current().Choices {
				got(ch.Delta.Content)
			}
		}
		return text.String(), s.Err()
	case fmtAnthropic:
		c := g.anthropic()
		if hc != nil {
			c = g.anthropicRetrying(0, anoption.WithHTTPClient(hc))
		}
		s := c.Messages.NewStreaming(ctx, anParams(turn, nil))
		defer s.Close()
		for s.Next() {
			ev := s.Current()
			if ev.Type == "content_block_delta" {
				got(ev.Delta.Text)
			}
		}
		return text.String(), s.Err()
	}
	c := g.geminiWith(t, hc)
	for chunk, err := range c.Models.GenerateContentStream(ctx, turn.Model, genai.Text(turn.Prompt), geConfig(turn)) {
		if err != nil {
			return text.String(), err
		}
		got(chunk.Text())
	}
	return text.String(), nil
}

// cutAfter is, per upstream format, an event count after which a mock
// stream has sent some text: the gateway has committed the response.
var cutAfter = map[string]int{
	fmtOpenAI:    3, // role chunk, 2 text chunks
	fmtAnthropic: 5, // message_start, content_block_start, ping, 2 text deltas
	fmtGemini:    2, // 2 text chunks
}

// TestMidStreamFailure breaks every upstream's stream after some text has
// gone out, by cutting the connection or by an in-stream error event: every
// client SDK must see its stream end with an error, not a clean end, with
// the text so far intact, and the gateway must not retry (the client
// already has part of the answer).
func TestMidStreamFailure(t *testing.T) {
	faults := []struct {
		name  string
		fault func(n int) mock.Fault
	}{
		{"cut", func(n int) mock.Fault { return mock.Fault{CutAfter: n} }},
		{"error event", func(n int) mock.Fault { return mock.Fault{ErrorEventAfter: n} }},
	}
	for _, ft := range faults {
		mf := map[string]mock.Options{}
		for f, n := range cutAfter {
			mf[f] = mock.Options{Faults: ft.fault(n)}
		}
		g := newGate(t, gateOptions{MockFor: mf, MaxAttempts: 3, Resilience: "  breaker: {failures: 1000}"})
		for _, in := range formats {
			for _, up := range formats {
				for _, reader := range []string{"live", "buffered"} {
					t.Run(ft.name+"/"+in+"_to_"+up+"/"+reader, func(t *testing.T) {
						skipKnownBug(t)
						g.reset()
						turn := chatTurn{Model: modelFor[up], Prompt: matrixPrompt}
						var hc *http.Client
						if reader == "buffered" {
							hc = bufferedClient
						}
						text, err := streamText(context.Background(), t, g, in, turn, hc, nil)
						if err == nil {
							t.Fatalf("the %s SDK saw a clean end after %q; want an error", in, text)
						}
						if text == "" || !strings.HasPrefix(matrixReply, text) || text == matrixReply {
							t.Errorf("text before the failure %q, want a proper prefix of %q", text, matrixReply)
						}
						checkStreamFailure(t, in, err)
						if n := len(g.upstreamRequests(up)); n != 1 {
							t.Errorf("the upstream got %d requests, want 1: no retry after the first byte", n)
						}
					})
				}
			}
		}
	}
}

// checkStreamFailure checks that a broken stream surfaces as the SDK's
// error for a failed stream.
func checkStreamFailure(t *testing.T, in string, err error) {
	t.Helper()
	switch in {
	case fmtAnthropic:
		// An "event: error" in the stream becomes *anthropic.Error.
		e := asSDKError(t, in, err)
		if e.Type == "" {
			t.Errorf("anthropic stream error without a type: %v", err)
		}
	case fmtGemini:
		// go-genai yields the {"error":{...}} chunk as an APIError.
		e := asSDKError(t, in, err)
		if e.Status < 500 {
			t.Errorf("gemini stream error %+v, want a 5xx", e)
		}
	default:
		// openai-go ends the stream with a StreamError on data: {"error":...}.
		var se *ssestream.StreamError
		if !errors.As(err, &se) {
			t.Errorf("openai stream error %T %v, want *ssestream.StreamError", err, err)
			return
		}
		var body struct {
			Error struct{ Message, Type string } `json:"error"`
		}
		if json.Unmarshal(se.Event.Data, &body) != nil || body.Error.Message == "" || body.Error.Type == "" {
			t.Errorf("openai in-stream error event %s, want {\"error\":{message,type,...}}", se.Event.Data)
		}
	}
}

// TestStreamCutBeforeContentIsRetried breaks the first upstream stream
// before any content: nothing has reached the client, so the gateway
// retries and the client sees one clean answer.
func TestStreamCutBeforeContentIsRetried(t *testing.T) {
	first := func(r *http.Request, n int) *mock.Fault {
		if n == 1 {
			return &mock.Fault{CutAfter: 1}
		}
		return nil
	}
	// Gemini's first stream event already carries text.
	for _, up := range []string{fmtOpenAI, fmtAnthropic} {
		for _, in := range formats {
			t.Run(in+"_to_"+up, func(t *testing.T) {
				g := newGate(t, gateOptions{Mock: mock.Options{Script: first}, MaxAttempts: 3,
					Resilience: "  retry: {base: 1ms, cap: 5ms}"})
				res := runChat(t, g, in, chatTurn{Model: modelFor[up], Stream: true, Prompt: matrixPrompt})
				if res.Err != nil {
					t.Fatalf("%s SDK: %v", in, res.Err)
				}
				if res.Text != matrixReply || res.Finish != stopFor[in] {
					t.Errorf("text %q stop %q, want %q %q", res.Text, res.Finish, matrixReply, stopFor[in])
				}
				if n := len(g.upstreamRequests(up)); n != 2 {
					t.Errorf("the upstream got %d requests, want 2 (a retry)", n)
				}
				if got := res.Header.Get("X-Llmgate-Attempts"); got != "2" {
					t.Errorf("x-llmgate-attempts %q, want 2", got)
				}
			})
		}
	}
}

// TestClientDisconnect cancels every SDK's context mid-stream: the gateway
// must cancel its upstream request within a second.
func TestClientDisconnect(t *testing.T) {
	g := newGate(t, gateOptions{Mock: mock.Options{TokenDelay: 100 * time.Millisecond}})
	for _, in := range formats {
		for _, up := range formats {
			t.Run(in+"_to_"+up, func(t *testing.T) {
				g.reset()
				u := g.Up[up]
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				turn := chatTurn{Model: modelFor[up], Prompt: matrixPrompt}
				_, err := streamText(ctx, t, g, in, turn, nil, func(string) { cancel() })
				if err == nil {
					t.Error("the stream ended cleanly after the client canceled it")
				} else if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
					t.Logf("stream error after cancel: %v", err)
				}
				deadline := time.Now().Add(time.Second)
				for u.Canceled() == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if u.Canceled() != 1 {
					t.Errorf("the upstream saw %d canceled requests within a second, want 1", u.Canceled())
				}
			})
		}
	}
}
