package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func intp(n int) *int { return &n }

// decodeBody unmarshals an encoded request for assertions.
func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("encoded body is not JSON: %v\n%s", err, b)
	}
	return m
}

func TestEncodeRequest(t *testing.T) {
	userText := func(s string) provider.Message {
		return provider.Message{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartText, Text: s}}}
	}
	tests := []struct {
		name  string
		opts  Options
		req   provider.Request
		check func(t *testing.T, body string, m map[string]any)
	}{
		{"developer role kept when asked", Options{DeveloperRole: true},
			provider.Request{System: []provider.Part{{Type: provider.PartText, Text: "sys"}}, Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if !strings.Contains(body, `{"role":"developer","content":"sys"}`) {
					t.Errorf("want a developer message: %s", body)
				}
			}},
		{"system by default", Options{},
			provider.Request{System: []provider.Part{{Type: provider.PartText, Text: "a"}, {Type: provider.PartText, Text: "b"}}, Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if !strings.Contains(body, `{"role":"system","content":"a\n\nb"}`) {
					t.Errorf("want one system message joining both parts: %s", body)
				}
			}},
		{"max_tokens field", Options{MaxTokensField: "max_tokens"},
			provider.Request{MaxTokens: intp(77), Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if m["max_tokens"] != 77.0 || m["max_completion_tokens"] != nil {
					t.Errorf("want max_tokens 77 only: %s", body)
				}
			}},
		{"max_completion_tokens by default", Options{},
			provider.Request{MaxTokens: intp(77), Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if m["max_completion_tokens"] != 77.0 || m["max_tokens"] != nil {
					t.Errorf("want max_completion_tokens 77 only: %s", body)
				}
			}},
		{"no stream_options without StreamUsage", Options{},
			provider.Request{Stream: true, IncludeUsage: true, Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if m["stream"] != true || m["stream_options"] != nil {
					t.Errorf("want stream without stream_options: %s", body)
				}
			}},
		{"no stream_options when not streaming", Options{StreamUsage: true},
			provider.Request{Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if m["stream"] != nil || m["stream_options"] != nil {
					t.Errorf("want neither stream nor stream_options: %s", body)
				}
			}},
		{"tool results split into tool messages then user", Options{},
			provider.Request{Messages: []provider.Message{
				{Role: provider.RoleAssistant, Parts: []provider.Part{
					{Type: provider.PartThinking, Text: "hmm", Signature: "s"},
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "t1", Name: "f", Arguments: json.RawMessage(`{"a":1}`)}},
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "t2", Name: "g"}},
				}},
				{Role: provider.RoleUser, Parts: []provider.Part{
					{Type: provider.PartText, Text: "also this"},
					{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "t1", Content: []provider.Part{
						{Type: provider.PartText, Text: "line1"}, {Type: provider.PartText, Text: "line2"},
						{Type: provider.PartImage, Media: &provider.Media{MediaType: "image/jpeg", Data: "AAA"}}}}},
					{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "t2", IsError: true, Content: []provider.Part{{Type: provider.PartText, Text: "boom"}}}},
				}},
			}},
			func(t *testing.T, body string, m map[string]any) {
				want := `"messages":[` +
					`{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"t2","type":"function","function":{"name":"g","arguments":"{}"}}]},` +
					`{"role":"tool","content":"line1\nline2","tool_call_id":"t1"},` +
					`{"role":"tool","content":"ERROR: boom","tool_call_id":"t2"},` +
					`{"role":"user","content":[{"type":"text","text":"also this"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAA"}}]}]`
				if !strings.Contains(body, want) {
					t.Errorf("messages:\n got %s\nwant %s", body, want)
				}
			}},
		{"empty tools and tool settings left out", Options{},
			provider.Request{Tools: []provider.Tool{}, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceAuto}, ParallelToolCalls: new(bool),
				Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				for _, k := range []string{"tools", "tool_choice", "parallel_tool_calls"} {
					if _, ok := m[k]; ok {
						t.Errorf("%s sent without tools: %s", k, body)
					}
				}
			}},
		{"tool without parameters gets an empty schema", Options{},
			provider.Request{Tools: []provider.Tool{{Name: "f"}}, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceRequired}, Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if !strings.Contains(body, `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],"tool_choice":"required"`) {
					t.Errorf("tools: %s", body)
				}
			}},
		{"n only above one", Options{},
			provider.Request{N: 1, Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if _, ok := m["n"]; ok {
					t.Errorf("n sent for 1: %s", body)
				}
			}},
		{"zero temperature kept", Options{},
			provider.Request{Temperature: new(float64), Messages: []provider.Message{userText("hi")}},
			func(t *testing.T, body string, m map[string]any) {
				if m["temperature"] != 0.0 {
					t.Errorf("temperature 0 lost: %s", body)
				}
			}},
		{"text document inlined", Options{},
			provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{
				{Type: provider.PartDocument, Media: &provider.Media{MediaType: "text/plain", Data: "aGVsbG8="}},
				{Type: provider.PartImage, Media: &provider.Media{URL: "https://x/y.png"}}}}}},
			func(t *testing.T, body string, m map[string]any) {
				if !strings.Contains(body, `[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]`) {
					t.Errorf("content: %s", body)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewUpstream(tt.opts).EncodeRequest(&tt.req, "up-model")
			if err != nil {
				t.Fatal(err)
			}
			m := decodeBody(t, b)
			if m["model"] != "up-model" {
				t.Errorf("model = %v, want up-model", m["model"])
			}
			tt.check(t, string(b), m)
		})
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	tests := []struct {
		name  string
		media provider.Media
	}{
		{"document by URL", provider.Media{URL: "https://example.net/a.pdf"}},
		{"unknown audio", provider.Media{MediaType: "audio/ogg", Data: "AAA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartDocument, Media: &tt.media}}}}}
			_, err := NewUpstream(Options{}).EncodeRequest(&req, "m")
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest {
				t.Fatalf("err = %v, want KindBadRequest", err)
			}
		})
	}
}

func TestNewHTTPRequest(t *testing.T) {
	clientHeader := http.Header{
		"Authorization":       {"Bearer client-secret"},
		"Openai-Organization": {"org-1"},
		"Openai-Project":      {"proj-1"},
		"Openai-Beta":         {"assistants=v2"},
		"X-Stainless-Os":      {"Linux"},
	}
	tests := []struct {
		name       string
		target     provider.Target
		wantURL    string
		wantHeader map[string]string // "" means absent
	}{
		{"chat with key and trailing slash", provider.Target{
			Endpoint: provider.Endpoint{BaseURL: "https://api.openai.com/v1/", APIKey: "sk-up"}, Op: provider.OpChat, Stream: true,
			ClientHeader: clientHeader, Body: []byte(`{}`)},
			"https://api.openai.com/v1/chat/completions",
			map[string]string{"Authorization": "Bearer sk-up", "Accept": "text/event-stream", "Content-Type": "application/json",
				"OpenAI-Organization": "org-1", "OpenAI-Project": "proj-1", "OpenAI-Beta": "assistants=v2", "X-Stainless-Os": ""}},
		{"no key sends no authorization", provider.Target{
			Endpoint: provider.Endpoint{BaseURL: "http://127.0.0.1:11434/v1"}, Op: provider.OpChat,
			ClientHeader: clientHeader, Body: []byte(`{}`)},
			"http://127.0.0.1:11434/v1/chat/completions",
			map[string]string{"Authorization": "", "Accept": "application/json"}},
		{"embeddings", provider.Target{Endpoint: provider.Endpoint{BaseURL: "https://api.example.com/v1"}, Op: provider.OpEmbeddings},
			"https://api.example.com/v1/embeddings", nil},
		{"responses", provider.Target{Endpoint: provider.Endpoint{BaseURL: "https://api.example.com/v1"}, Op: provider.OpResponses},
			"https://api.example.com/v1/responses", nil},
		{"azure-style query and config headers", provider.Target{
			Endpoint: provider.Endpoint{BaseURL: "https://x.openai.azure.com/openai/deployments/gpt4o/?api-version=2024-10-21",
				Header: http.Header{"Api-Key": {"az-key"}, "Openai-Organization": {"org-config"}}},
			Op: provider.OpChat, ClientHeader: clientHeader},
			"https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
			map[string]string{"Api-Key": "az-key", "OpenAI-Organization": "org-config", "Authorization": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewUpstream(Options{}).NewHTTPRequest(context.Background(), &tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != http.MethodPost || r.URL.String() != tt.wantURL {
				t.Errorf("%s %s, want POST %s", r.Method, r.URL, tt.wantURL)
			}
			for k, want := range tt.wantHeader {
				if got := r.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if r.GetBody == nil {
				t.Fatal("GetBody is nil: the request cannot be retried")
			}
			body, _ := r.GetBody()
			b, _ := io.ReadAll(body)
			if string(b) != string(tt.target.Body) {
				t.Errorf("body = %q, want %q", b, tt.target.Body)
			}
		})
	}
	if _, err := NewUpstream(Options{}).NewHTTPRequest(context.Background(), &provider.Target{
		Endpoint: provider.Endpoint{BaseURL: "https://x"}, Op: provider.OpCountTokens}); err == nil {
		t.Error("count_tokens: want an error, the format has no such operation")
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want provider.Response
	}{
		{"text with usage details",
			`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":61,"completion_tokens":11,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":4}}}`,
			provider.Response{ID: "chatcmpl-1", Model: "gpt-4o", StopReason: provider.StopEndTurn,
				Content: []provider.Part{{Type: provider.PartText, Text: "Hi"}},
				Usage:   provider.Usage{InputTokens: 61, OutputTokens: 11, CachedTokens: 20, ReasoningTokens: 4}}},
		{"deepseek blank lines, reasoning and cache hits",
			"\n\n\n  \n" + `{"id":"d1","model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant","content":"42","reasoning_content":"think"},"finish_reason":"length"}],
			  "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":2}}`,
			provider.Response{ID: "d1", Model: "deepseek-reasoner", StopReason: provider.StopMaxTokens,
				Content: []provider.Part{{Type: provider.PartThinking, Text: "think"}, {Type: provider.PartText, Text: "42"}},
				Usage:   provider.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 8}}},
		{"null content with tool calls and no usage",
			`{"id":"c2","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
				{"id":"call_2","type":"function","function":{"name":"g","arguments":"{\"trunc"}}]},"finish_reason":"stop"}]}`,
			provider.Response{ID: "c2", Model: "m", StopReason: provider.StopToolUse,
				Content: []provider.Part{
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_1", Name: "f", Arguments: json.RawMessage(`{"a":1}`)}},
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_2", Name: "g", Arguments: json.RawMessage(`{}`)}}}}},
		{"ollama reasoning and object arguments",
			`{"id":"o","model":"qwen3","choices":[{"index":0,"message":{"role":"assistant","content":"","reasoning":"r","tool_calls":[{"id":"call_x","function":{"name":"f","arguments":{"k":"v"}}}]},"finish_reason":"tool_calls"}]}`,
			provider.Response{ID: "o", Model: "qwen3", StopReason: provider.StopToolUse,
				Content: []provider.Part{{Type: provider.PartThinking, Text: "r"},
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_x", Name: "f", Arguments: json.RawMessage(`{"k":"v"}`)}}}}},
		{"mistral content parts",
			`{"id":"ms","model":"magistral","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"hm"}]},{"type":"text","text":"ok"}]},"finish_reason":"stop"}]}`,
			provider.Response{ID: "ms", Model: "magistral", StopReason: provider.StopEndTurn,
				Content: []provider.Part{{Type: provider.PartThinking, Text: "hm"}, {Type: provider.PartText, Text: "ok"}}}},
		{"refusal",
			`{"id":"r","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help."},"finish_reason":"stop"}]}`,
			provider.Response{ID: "r", Model: "m", StopReason: provider.StopContentFilter,
				Content: []provider.Part{{Type: provider.PartText, Text: "I can't help."}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewUpstream(Options{}).DecodeResponse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantKind provider.Kind
	}{
		{"empty", ``, provider.KindBadGateway},
		{"html", `<html>bad gateway</html>`, provider.KindBadGateway},
		{"no choices", `{"id":"x","choices":[]}`, provider.KindBadGateway},
		{"error in a 200 body", `{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}`, provider.KindOverloaded},
		{"context error in a 200 body", `{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error"}}`, provider.KindContextLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewUpstream(Options{}).DecodeResponse([]byte(tt.body))
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tt.wantKind {
				t.Fatalf("err = %v, want kind %s", err, tt.wantKind)
			}
		})
	}
}

// TestEncodeRequestModelInfo: a known model's output cap lowers max tokens,
// and reasoning_effort goes only to models that reason; unknown models get
// both as asked.
func TestEncodeRequestModelInfo(t *testing.T) {
	known := map[string]ModelInfo{"gpt-4o": {MaxOutput: 16384}, "o3": {MaxOutput: 100000, Reasoning: true}}
	u := NewUpstream(Options{Model: func(m string) (ModelInfo, bool) { i, ok := known[m]; return i, ok }})
	mt := 32000
	req := &provider.Request{MaxTokens: &mt, ReasoningEffort: "high",
		Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartText, Text: "hi"}}}}}
	for _, tc := range []struct{ model, want string }{
		{"gpt-4o", `"max_completion_tokens":16384`},
		{"o3", `"max_completion_tokens":32000`},
		{"my-local-model", `"max_completion_tokens":32000`},
	} {
		body, err := u.EncodeRequest(req, tc.model)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %s, want %s", tc.model, body, tc.want)
		}
		if got, want := strings.Contains(string(body), `"reasoning_effort":"high"`), tc.model != "gpt-4o"; got != want {
			t.Errorf("%s: reasoning_effort sent = %v, want %v: %s", tc.model, got, want, body)
		}
	}
	if mt != 32000 {
		t.Errorf("the request's max tokens changed to %d", mt)
	}
}
