package anthropic

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

func ptr[T any](v T) *T { return &v }

func text(s string) provider.Part { return provider.Part{Type: provider.PartText, Text: s} }

func call(id, name, args string) provider.Part {
	return provider.Part{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}}
}

func result(id, content string) provider.Part {
	return provider.Part{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: id, Content: []provider.Part{text(content)}}}
}

// openAIConversation is what the OpenAI decoder produces for a typical
// tool-using chat: system and developer prompts, an assistant turn with
// empty content and two calls, one tool message per result, then more user
// text.
func openAIConversation() *provider.Request {
	return &provider.Request{
		Model:       "gpt-4o",
		System:      []provider.Part{text("You are a terse travel assistant."), text("Answer in English.")},
		Temperature: ptr(1.4),
		Stop:        []string{"\n", "END", "  "},
		User:        "u-7d41",
		Tools: []provider.Tool{
			{Name: "lookup_forecast", Description: "Daily forecast", Parameters: json.RawMessage(`{"properties":{"city":{"type":"string"}},"required":["city"]}`)},
			{Name: "now", Parameters: nil},
		},
		ParallelToolCalls: ptr(false),
		Messages: []provider.Message{
			{Role: provider.RoleUser, Parts: []provider.Part{text("Weather in Lisbon and Porto?")}},
			{Role: provider.RoleAssistant, Parts: []provider.Part{text(""), call("call_Q7pTz01", "lookup_forecast", `{"city":"Lisbon"}`), call("call_9x.y", "lookup_forecast", `{"city":"Porto"`)}},
			{Role: provider.RoleUser, Parts: []provider.Part{result("call_Q7pTz01", `{"high_c":24}`)}},
			{Role: provider.RoleUser, Parts: []provider.Part{text("And tomorrow?"), result("call_9x.y", `{"high_c":21}`)}},
			{Role: provider.RoleAssistant, Parts: []provider.Part{{Type: provider.PartThinking, Text: "unsigned reasoning"}, text("Let me check.")}},
			{Role: provider.RoleAssistant, Parts: []provider.Part{call("", "now", `{}`)}},
			{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{Name: "now", Content: []provider.Part{text("09:00")}, IsError: true}}}},
		},
	}
}

func TestEncodeRequestGolden(t *testing.T) {
	up := NewUpstream(Options{NewID: seqIDs()})
	out, err := up.EncodeRequest(openAIConversation(), "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "encode_request_openai_conversation.golden", indent(t, out))
}

// sent decodes an encoded upstream body into a loose map for assertions.
func sent(t *testing.T, req *provider.Request, opts Options) map[string]any {
	t.Helper()
	out, err := NewUpstream(opts).EncodeRequest(req, "claude-x")
	if err != nil {
		t.Fatalf("EncodeRequest: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", out, err)
	}
	return m
}

func TestEncodeRequestRules(t *testing.T) {
	user := []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{text("hi")}}}
	tool := []provider.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}}
	tests := []struct {
		name  string
		req   provider.Request
		opts  Options
		check func(t *testing.T, m map[string]any)
	}{
		{"default max_tokens", provider.Request{Messages: user}, Options{}, func(t *testing.T, m map[string]any) {
			if m["max_tokens"] != 4096.0 {
				t.Errorf("max_tokens = %v, want 4096", m["max_tokens"])
			}
		}},
		{"configured default max_tokens", provider.Request{Messages: user}, Options{DefaultMaxTokens: 8192}, func(t *testing.T, m map[string]any) {
			if m["max_tokens"] != 8192.0 {
				t.Errorf("max_tokens = %v", m["max_tokens"])
			}
		}},
		{"explicit max_tokens 0 kept", provider.Request{Messages: user, MaxTokens: ptr(0)}, Options{}, func(t *testing.T, m map[string]any) {
			if m["max_tokens"] != 0.0 {
				t.Errorf("max_tokens = %v", m["max_tokens"])
			}
		}},
		{"temperature clamped", provider.Request{Messages: user, Temperature: ptr(2.0)}, Options{}, func(t *testing.T, m map[string]any) {
			if m["temperature"] != 1.0 {
				t.Errorf("temperature = %v", m["temperature"])
			}
		}},
		{"negative temperature clamped", provider.Request{Messages: user, Temperature: ptr(-1.0)}, Options{}, func(t *testing.T, m map[string]any) {
			if v, ok := m["temperature"]; !ok || v != 0.0 {
				t.Errorf("temperature = %v", v)
			}
		}},
		{"tool_choice required", provider.Request{Messages: user, Tools: tool, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceRequired}}, Options{}, func(t *testing.T, m map[string]any) {
			if tc := m["tool_choice"].(map[string]any); tc["type"] != "any" {
				t.Errorf("tool_choice = %v", tc)
			}
		}},
		{"tool_choice none ignores parallel", provider.Request{Messages: user, Tools: tool, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceNone}, ParallelToolCalls: ptr(false)}, Options{}, func(t *testing.T, m map[string]any) {
			if tc := m["tool_choice"].(map[string]any); tc["type"] != "none" || tc["disable_parallel_tool_use"] != nil {
				t.Errorf("tool_choice = %v", tc)
			}
		}},
		{"named tool", provider.Request{Messages: user, Tools: tool, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceTool, Name: "f"}}, Options{}, func(t *testing.T, m map[string]any) {
			if tc := m["tool_choice"].(map[string]any); tc["type"] != "tool" || tc["name"] != "f" {
				t.Errorf("tool_choice = %v", tc)
			}
		}},
		{"tool_choice without tools dropped", provider.Request{Messages: user, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceAuto}}, Options{}, func(t *testing.T, m map[string]any) {
			if _, ok := m["tool_choice"]; ok {
				t.Errorf("tool_choice sent without tools: %v", m)
			}
		}},
		{"json_object instruction", provider.Request{Messages: user, System: []provider.Part{text("Be brief.")}, ResponseFormat: &provider.ResponseFormat{Type: "json_object"}}, Options{}, func(t *testing.T, m map[string]any) {
			sys := m["system"].([]any)
			if len(sys) != 2 || !strings.Contains(sys[1].(map[string]any)["text"].(string), "JSON object") {
				t.Errorf("system = %v", sys)
			}
		}},
		{"json_schema instruction carries the schema", provider.Request{Messages: user, ResponseFormat: &provider.ResponseFormat{Type: "json_schema", Name: "city", Schema: json.RawMessage(`{"type": "object", "properties": {"name": {"type": "string"}}}`)}}, Options{}, func(t *testing.T, m map[string]any) {
			s := m["system"].(string)
			if !strings.Contains(s, `{"type":"object","properties":{"name":{"type":"string"}}}`) || !strings.Contains(s, "city") {
				t.Errorf("system = %q", s)
			}
		}},
		{"prefill kept", provider.Request{Messages: append(user[:1:1], provider.Message{Role: provider.RoleAssistant, Parts: []provider.Part{text("{")}})}, Options{}, func(t *testing.T, m map[string]any) {
			if msgs := m["messages"].([]any); len(msgs) != 2 {
				t.Errorf("messages = %v", msgs)
			}
		}},
		{"url document", provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartDocument, Media: &provider.Media{URL: "https://x.example/a.pdf"}}}}}}, Options{}, func(t *testing.T, m map[string]any) {
			b, _ := json.Marshal(m["messages"])
			if !strings.Contains(string(b), `"source":{"type":"url","url":"https://x.example/a.pdf"}`) {
				t.Errorf("messages = %s", b)
			}
		}},
		{"jpg normalized", provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartImage, Media: &provider.Media{MediaType: "image/JPG", Data: "AAAA"}}}}}}, Options{}, func(t *testing.T, m map[string]any) {
			b, _ := json.Marshal(m["messages"])
			if !strings.Contains(string(b), `"media_type":"image/jpeg"`) {
				t.Errorf("messages = %s", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, sent(t, &tt.req, tt.opts))
		})
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	img := func(mt string) []provider.Message {
		return []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartImage, Media: &provider.Media{MediaType: mt, Data: "AAAA"}}}}}
	}
	tests := []struct {
		name string
		req  provider.Request
		want string
	}{
		{"n > 1", provider.Request{N: 2, Messages: img("image/png")}, "n > 1 is not supported by Anthropic models"},
		{"bmp image", provider.Request{Messages: img("image/bmp")}, `image type "image/bmp" is not supported`},
		{"audio document", provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartDocument, Media: &provider.Media{MediaType: "audio/wav", Data: "AAAA"}}}}}}, "not supported"},
		{"array parameters", provider.Request{Messages: img("image/png"), Tools: []provider.Tool{{Name: "f", Parameters: json.RawMessage(`[]`)}}}, "JSON Schema object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewUpstream(Options{}).EncodeRequest(&tt.req, "m")
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest || !strings.Contains(pe.Message, tt.want) {
				t.Fatalf("err = %v, want bad_request containing %q", err, tt.want)
			}
		})
	}
}

func TestEncodeCountTokensRequest(t *testing.T) {
	req := openAIConversation()
	req.MaxTokens, req.Stream = ptr(100), true
	out, err := NewUpstream(Options{NewID: seqIDs()}).EncodeCountTokensRequest(req, "claude-x")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"max_tokens", "stream", "temperature", "stop_sequences", "metadata"} {
		if _, ok := m[k]; ok {
			t.Errorf("count_tokens body has %q", k)
		}
	}
	for _, k := range []string{"model", "messages", "system", "tools", "tool_choice"} {
		if _, ok := m[k]; !ok {
			t.Errorf("count_tokens body lacks %q", k)
		}
	}
	if n, err := DecodeCountTokensResponse([]byte(`{"input_tokens":42}`)); err != nil || n != 42 {
		t.Errorf("DecodeCountTokensResponse = %d, %v", n, err)
	}
	if _, err := DecodeCountTokensResponse([]byte(`<html>`)); err == nil {
		t.Error("garbage count_tokens response accepted")
	}
}

func TestNewHTTPRequest(t *testing.T) {
	clientHeader := http.Header{}
	clientHeader.Set("anthropic-version", "2023-01-01")
	clientHeader.Add("anthropic-beta", "context-1m-2025-08-07")
	clientHeader.Add("anthropic-beta", "fine-grained-tool-streaming-2025-05-14")
	clientHeader.Set("x-api-key", "client-secret")
	clientHeader.Set("Authorization", "Bearer client-secret")
	tests := []struct {
		name    string
		target  provider.Target
		url     string
		version string
		beta    []string
		accept  string
		key     string
		extra   string
	}{
		{"chat", provider.Target{Op: provider.OpChat, Endpoint: provider.Endpoint{BaseURL: "https://api.anthropic.com", APIKey: "sk-ant"}},
			"https://api.anthropic.com/v1/messages", DefaultAPIVersion, nil, "application/json", "sk-ant", ""},
		{"stream with client headers and beta query", provider.Target{Op: provider.OpChat, Stream: true, ClientHeader: clientHeader, ClientQuery: "beta=true&x=1",
			Endpoint: provider.Endpoint{BaseURL: "http://127.0.0.1:9/", APIKey: "sk-ant", Header: http.Header{"X-Extra": {"1"}}}},
			"http://127.0.0.1:9/v1/messages?beta=true", "2023-01-01", []string{"context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14"}, "text/event-stream", "sk-ant", "1"},
		{"count tokens without key", provider.Target{Op: provider.OpCountTokens, ClientQuery: "beta=false", Endpoint: provider.Endpoint{BaseURL: "http://127.0.0.1:9/v1"}},
			"http://127.0.0.1:9/v1/messages/count_tokens", DefaultAPIVersion, nil, "application/json", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.Body = []byte(`{"model":"m"}`)
			r, err := NewUpstream(Options{}).NewHTTPRequest(context.Background(), &tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != http.MethodPost || r.URL.String() != tt.url {
				t.Errorf("%s %s, want POST %s", r.Method, r.URL, tt.url)
			}
			h := r.Header
			if h.Get("anthropic-version") != tt.version || h.Get("Accept") != tt.accept || h.Get("x-api-key") != tt.key ||
				h.Get("Content-Type") != "application/json" || h.Get("X-Extra") != tt.extra {
				t.Errorf("headers = %v", h)
			}
			if got := h.Values("anthropic-beta"); strings.Join(got, ",") != strings.Join(tt.beta, ",") {
				t.Errorf("anthropic-beta = %v, want %v", got, tt.beta)
			}
			if h.Get("Authorization") != "" {
				t.Errorf("client credentials forwarded: %v", h)
			}
			body, _ := io.ReadAll(r.Body)
			if string(body) != `{"model":"m"}` || r.ContentLength != int64(len(body)) {
				t.Errorf("body %q length %d", body, r.ContentLength)
			}
		})
	}
	_, err := NewUpstream(Options{}).NewHTTPRequest(context.Background(), &provider.Target{Op: provider.OpEmbeddings})
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Errorf("embeddings: err = %v, want *provider.Error", err)
	}
}
