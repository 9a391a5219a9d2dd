package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

func TestRewriteRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		model     string
		stream    bool
		want      string
		wantUsage bool
	}{
		{"same model, not streaming: unchanged",
			`{"model":"gpt-4o", "messages":[]}`, "gpt-4o", false,
			`{"model":"gpt-4o", "messages":[]}`, true},
		{"model replaced in place",
			`{ "messages":[{"role":"user","content":"model"}], "model" : "alias", "temperature":1}`, "gpt-4o-2024-08-06", false,
			`{ "messages":[{"role":"user","content":"model"}], "model" : "gpt-4o-2024-08-06", "temperature":1}`, true},
		{"empty model leaves it",
			`{"model":"alias"}`, "", false, `{"model":"alias"}`, true},
		{"stream without stream_options gets usage",
			`{"model":"m","stream":true}`, "m", true,
			`{"stream_options":{"include_usage":true},"model":"m","stream":true}`, false},
		{"stream with usage asked keeps it",
			`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, "m", true,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, true},
		{"stream_options members kept",
			`{"model":"a","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false}}`, "b", true,
			`{"model":"b","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`, false},
		{"stream_options without include_usage",
			`{"stream_options":{"include_obfuscation":false},"model":"a","stream":true}`, "b", true,
			`{"stream_options":{"include_usage":true,"include_obfuscation":false},"model":"b","stream":true}`, false},
		{"null stream_options",
			`{"model":"m","stream":true,"stream_options":null}`, "m", true,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, false},
		{"missing model and stream_options inserted",
			`{"stream":true}`, "m", true,
			`{"model":"m","stream_options":{"include_usage":true},"stream":true}`, false},
		{"into an empty object",
			` { } `, "m", true,
			` {"model":"m","stream_options":{"include_usage":true} } `, false},
		{"model with characters to escape",
			`{"model":"x"}`, `we"ird\model`, false,
			`{"model":"we\"ird\\model"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.body
			body := []byte(tt.body)
			out, wants, err := Passthrough{}.RewriteRequest(body, tt.model, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
			if wants != tt.wantUsage {
				t.Errorf("clientWantsUsage = %v, want %v", wants, tt.wantUsage)
			}
			if !json.Valid(out) {
				t.Errorf("output is not valid JSON: %s", out)
			}
			if string(body) != orig {
				t.Errorf("input modified: %s", body)
			}
		})
	}
	_, _, err := Passthrough{}.RewriteRequest([]byte(`{"model":`), "m", false)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest {
		t.Errorf("malformed body: err = %v, want KindBadRequest", err)
	}
}

func TestResponseUsage(t *testing.T) {
	tests := []struct {
		name string
		body string
		want provider.Usage
		ok   bool
	}{
		{"openai", `{"id":"x","choices":[{"message":{"content":"usage"}}],"usage":{"prompt_tokens":61,"completion_tokens":11,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":2}}}`,
			provider.Usage{InputTokens: 61, OutputTokens: 11, CachedTokens: 5, ReasoningTokens: 2}, true},
		{"deepseek leading blank lines", "\n\n" + `{"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_cache_hit_tokens":2}}`,
			provider.Usage{InputTokens: 3, OutputTokens: 4, CachedTokens: 2}, true},
		{"nested usage is not top-level", `{"choices":[{"usage":{"prompt_tokens":1}}]}`, provider.Usage{}, false},
		{"null usage", `{"usage":null}`, provider.Usage{}, false},
		{"not JSON", `<html>`, provider.Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Passthrough{}.ResponseUsage([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestScanEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
		want provider.EventInfo
	}{
		{"done", sse.Event{Data: []byte("[DONE]"), HasData: true}, provider.EventInfo{Done: true}},
		{"comment", sse.Event{Raw: []byte(": keep-alive\n\n")}, provider.EventInfo{}},
		{"role chunk has no content",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`)},
			provider.EventInfo{}},
		{"text chunk",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`)},
			provider.EventInfo{Content: true}},
		{"reasoning only is not content",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"","reasoning_content":"hm"}}]}`)},
			provider.EventInfo{}},
		{"tool call chunk",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}`)},
			provider.EventInfo{Content: true}},
		{"usage-only chunk",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[],"usage":{"prompt_tokens":61,"completion_tokens":11,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":3}}}`)},
			provider.EventInfo{Usage: provider.Usage{InputTokens: 61, OutputTokens: 11, CachedTokens: 3}, HasUsage: true, UsageOnly: true}},
		{"usage on a content chunk (vLLM continuous usage)",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"Yes"}}],"usage":{"prompt_tokens":9,"completion_tokens":1}}`)},
			provider.EventInfo{Usage: provider.Usage{InputTokens: 9, OutputTokens: 1}, HasUsage: true, Content: true}},
		{"python spacing",
			sse.Event{HasData: true, Data: []byte(`{"id": "c", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}`)},
			provider.EventInfo{Usage: provider.Usage{InputTokens: 2, OutputTokens: 1}, HasUsage: true, UsageOnly: true}},
		{"the word error in text is not an error",
			sse.Event{HasData: true, Data: []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"error"}}]}`)},
			provider.EventInfo{Content: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Passthrough{}.ScanEvent(&tt.ev)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("error chunk", func(t *testing.T) {
		ev := sse.Event{HasData: true, Data: []byte(`{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`)}
		got := Passthrough{}.ScanEvent(&ev)
		if got.Err == nil || got.Err.Message != "overloaded" || got.Err.Kind != provider.KindServer {
			t.Errorf("Err = %+v, want the upstream's server error", got.Err)
		}
	})
}

var (
	benchBody = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"` + strings.Repeat("You are a helpful assistant. ", 200) +
		`"},{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"stream":true,"max_completion_tokens":500}`)
	benchChunk = sse.Event{HasData: true, Data: []byte(`{"id":"chatcmpl-Bx91aKq3","object":"chat.completion.chunk","created":1767312000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_4c2a19","choices":[{"index":0,"delta":{"content":" Paris"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qk3x"}`)}
	benchUsage = sse.Event{HasData: true, Data: []byte(`{"id":"chatcmpl-Bx91aKq3","object":"chat.completion.chunk","created":1767312000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":61,"completion_tokens":11,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)}
)

func BenchmarkScanEvent(b *testing.B) {
	b.Run("content", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Passthrough{}.ScanEvent(&benchChunk)
		}
	})
	b.Run("usage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Passthrough{}.ScanEvent(&benchUsage)
		}
	})
}

func BenchmarkRewriteRequest(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := (Passthrough{}).RewriteRequest(benchBody, "gpt-4o-mini-2024-07-18", true); err != nil {
			b.Fatal(err)
		}
	}
}
