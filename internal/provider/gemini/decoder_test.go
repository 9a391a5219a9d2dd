package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/llmgate/llmgate/internal/provider"
)

// describe renders a decoded event compactly for comparison.
func describe(e provider.Event) string {
	switch e.Type {
	case provider.EventStart:
		return fmt.Sprintf("start id=%s model=%s in=%d", e.ID, e.Model, e.Usage.InputTokens)
	case provider.EventText:
		return "text " + e.Text
	case provider.EventThinking:
		return "thinking " + e.Text + " sig=" + e.Signature
	case provider.EventToolCall:
		id := e.ToolID
		if strings.HasPrefix(id, "call_") && len(id) > 10 {
			id = "call_*"
		}
		return fmt.Sprintf("call %d %s %s sig=%s", e.ToolIndex, id, e.ToolName, e.Signature)
	case provider.EventToolArgs:
		return fmt.Sprintf("args %d %s", e.ToolIndex, e.Text)
	case provider.EventUsage:
		u := e.Usage
		return fmt.Sprintf("usage in=%d out=%d cached=%d reasoning=%d", u.InputTokens, u.OutputTokens, u.CachedTokens, u.ReasoningTokens)
	case provider.EventStop:
		return "stop " + string(e.StopReason)
	}
	return fmt.Sprintf("unknown %d", e.Type)
}

// decodeAll reads events until an error; it returns them and the error.
func decodeAll(t *testing.T, r io.Reader) ([]string, error) {
	t.Helper()
	d := (&Upstream{}).NewStreamDecoder(r)
	var out []string
	for i := 0; i < 1000; i++ {
		e, err := d.Next()
		if err != nil {
			if _, again := d.Next(); again != err {
				t.Errorf("error not sticky: %v then %v", err, again)
			}
			return out, err
		}
		out = append(out, describe(e))
	}
	t.Fatal("decoder never ended")
	return nil, nil
}

func TestStreamDecoder(t *testing.T) {
	const (
		chunk1 = `{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`
		chunk2 = `{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`
		final  = `{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"thoughtsTokenCount":4,"cachedContentTokenCount":3,"totalTokenCount":15},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`
	)
	textEvents := []string{
		"start id=r1 model=gemini-2.5-flash in=9", "text Hel", "usage in=9 out=0 cached=0 reasoning=0",
		"text lo", "usage in=9 out=2 cached=0 reasoning=0",
		"usage in=9 out=6 cached=3 reasoning=4", "stop end_turn",
	}
	tests := []struct {
		name     string
		stream   string
		want     []string
		wantKind provider.Kind // "" for a clean io.EOF
		wantMsg  string
	}{
		{
			name:   "LF framing",
			stream: "data: " + chunk1 + "\n\ndata: " + chunk2 + "\n\ndata: " + final + "\n\n",
			want:   textEvents,
		},
		{
			name:   "CRLF framing",
			stream: "data: " + chunk1 + "\r\n\r\ndata: " + chunk2 + "\r\n\r\ndata: " + final + "\r\n\r\n",
			want:   textEvents,
		},
		{
			name:   "no trailing blank line, keep-alive comments",
			stream: ": ping\n\ndata: " + chunk1 + "\n\n\n\ndata: " + chunk2 + "\n\ndata: " + final,
			want:   textEvents,
		},
		{
			name: "thoughts and function calls",
			stream: `data: {"candidates":[{"content":{"parts":[{"text":"plan","thought":true},{"text":"","thought":true,"thoughtSignature":"czE="}],"role":"model"},"index":0}]}` + "\n\n" +
				`data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Lisbon"}},"thoughtSignature":"czI="},{"functionCall":{"id":"fc9","name":"get_time"}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}` + "\n\n",
			want: []string{
				"start id= model= in=0", "thinking plan sig=", "thinking  sig=czE=",
				"call 0 call_* get_weather sig=czI=", `args 0 {"city":"Lisbon"}`,
				"call 1 fc9 get_time sig=", "args 1 {}",
				"usage in=5 out=7 cached=0 reasoning=0", "stop tool_use",
			},
		},
		{
			name: "STOP after an earlier function call is tool_use",
			stream: `data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}` + "\n\n" +
				`data: {"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}]}` + "\n\n",
			want: []string{"start id= model= in=0", "call 0 call_* f sig=", "args 0 {}", "stop tool_use"},
		},
		{
			name:   "max tokens",
			stream: `data: {"candidates":[{"content":{"parts":[{"text":"Once"}]},"finishReason":"MAX_TOKENS"}]}`,
			want:   []string{"start id= model= in=0", "text Once", "stop max_tokens"},
		},
		{
			name:   "blocked prompt",
			stream: `data: {"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}` + "\n\n",
			want:   []string{"start id= model= in=4", "usage in=4 out=0 cached=0 reasoning=0", "stop refusal"},
		},
		{
			name:     "cut before a finish reason",
			stream:   "data: " + chunk1 + "\n\ndata: " + chunk2 + "\n\n",
			want:     textEvents[:5],
			wantKind: provider.KindBadGateway,
			wantMsg:  "ended before a finish reason",
		},
		{
			name:     "empty body",
			stream:   "",
			wantKind: provider.KindBadGateway,
			wantMsg:  "ended before a finish reason",
		},
		{
			name:     "cut inside a chunk",
			stream:   "data: " + chunk1 + "\n\ndata: " + chunk2[:40],
			want:     textEvents[:3],
			wantKind: provider.KindBadGateway,
			wantMsg:  "malformed stream chunk",
		},
		{
			name:     "error chunk",
			stream:   "data: " + chunk1 + "\n\n" + `data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}` + "\n\n",
			want:     textEvents[:3],
			wantKind: provider.KindOverloaded,
			wantMsg:  "overloaded",
		},
		{
			name:     "error chunk after the finish reason",
			stream:   "data: " + final + "\n\n" + `data: {"error":{"code":500,"message":"boom","status":"INTERNAL"}}` + "\n\n",
			want:     []string{"start id=r1 model=gemini-2.5-flash in=9", "usage in=9 out=6 cached=3 reasoning=4", "stop end_turn"},
			wantKind: provider.KindServer,
		},
		{
			name:     "non-data error line",
			stream:   "data: " + chunk1 + "\n\n" + `{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}` + "\n",
			want:     textEvents[:3],
			wantKind: provider.KindRateLimited,
		},
		{
			name:     "pretty-printed array-wrapped error",
			stream:   "[{\n  \"error\": {\n    \"code\": 400,\n    \"message\": \"API key not valid. Please pass a valid API key.\",\n    \"status\": \"INVALID_ARGUMENT\"\n  }\n}\n]\n",
			wantKind: provider.KindAuth,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "one byte at a time"} {
				var r io.Reader = strings.NewReader(tt.stream)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				got, err := decodeAll(t, r)
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("%s: events\n%s\nwant\n%s", mode, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
				if tt.wantKind == "" {
					if err != io.EOF {
						t.Errorf("%s: ended with %v, want io.EOF", mode, err)
					}
					continue
				}
				var e *provider.Error
				if !errors.As(err, &e) || e.Kind != tt.wantKind {
					t.Fatalf("%s: ended with %v, want kind %s", mode, err, tt.wantKind)
				}
				if !strings.Contains(e.Message, tt.wantMsg) {
					t.Errorf("%s: message %q lacks %q", mode, e.Message, tt.wantMsg)
				}
			}
		})
	}
}

func TestStreamDecoderReadErrors(t *testing.T) {
	const final = `data: {"candidates":[{"content":{"parts":[{"text":"done"}]},"finishReason":"STOP"}]}` + "\n\n"
	tests := []struct {
		name     string
		r        io.Reader
		wantKind provider.Kind
	}{
		{"reset mid-stream", io.MultiReader(strings.NewReader(`data: {"candidates":[]}`+"\n\n"), iotest.ErrReader(errors.New("connection reset"))), provider.KindBadGateway},
		{"canceled", iotest.ErrReader(context.Canceled), provider.KindCanceled},
		{"deadline", iotest.ErrReader(fmt.Errorf("read: %w", context.DeadlineExceeded)), provider.KindTimeout},
		{"reset after the finish reason", io.MultiReader(strings.NewReader(final), iotest.ErrReader(errors.New("connection reset"))), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(t, tt.r)
			if tt.wantKind == "" {
				if err != io.EOF {
					t.Fatalf("got %v, want io.EOF", err)
				}
				return
			}
			var e *provider.Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind {
				t.Fatalf("got %v, want kind %s", err, tt.wantKind)
			}
		})
	}
}
