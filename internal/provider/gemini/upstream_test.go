package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func ptr[T any](v T) *T { return &v }

func text(s string) provider.Part { return provider.Part{Type: provider.PartText, Text: s} }

// encodeCases are canonical requests as other formats' decoders produce them.
var encodeCases = []struct {
	name string
	opts Options
	req  *provider.Request
}{
	{
		name: "minimal",
		req:  &provider.Request{Model: "gpt-4o", Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{text("Hi")}}}},
	},
	{
		name: "system_only",
		req:  &provider.Request{System: []provider.Part{text("Say hello.")}},
	},
	{
		name: "tool_conversation",
		req: &provider.Request{
			System: []provider.Part{text("You are terse."), text("Use tools.")},
			Messages: []provider.Message{
				{Role: provider.RoleUser, Parts: []provider.Part{text("Weather in Lisbon and Porto?")}},
				{Role: provider.RoleUser, Parts: []provider.Part{
					{Type: provider.PartImage, Media: &provider.Media{MediaType: "image/png", Data: "iVBORw0KGgo="}},
					{Type: provider.PartImage, Media: &provider.Media{URL: "data:image/jpeg;base64,/9j/4AAQ"}},
					{Type: provider.PartDocument, Media: &provider.Media{MediaType: "application/pdf", URL: "https://example.com/a.pdf"}},
				}},
				{Role: provider.RoleAssistant, Parts: []provider.Part{
					{Type: provider.PartThinking, Text: "Two cities.", Signature: "EqQBCkYIBxgCKkA"},
					text("Checking."),
					{Type: provider.PartToolCall, Signature: "c2ln", ToolCall: &provider.ToolCall{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lisbon"}`)}},
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_2", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Porto"}`)}},
					{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_3", Name: "get_time", Arguments: json.RawMessage(`not json`)}},
				}},
				{Role: provider.RoleUser, Parts: []provider.Part{
					{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "call_1", Content: []provider.Part{text(`{"temp": 24}`)}}},
					{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "call_2", Name: "get_weather", Content: []provider.Part{text("19 degrees"), {Type: provider.PartImage, Media: &provider.Media{MediaType: "image/png", Data: "AAAA"}}}}},
					{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "call_3", IsError: true, Content: []provider.Part{text("clock offline")}}},
				}},
				{Role: provider.RoleUser, Parts: []provider.Part{text("And tomorrow?")}},
			},
			Tools: []provider.Tool{
				{Name: "get_weather", Description: "Weather now", Parameters: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)},
				{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
			},
			ToolChoice:      &provider.ToolChoice{Mode: provider.ToolChoiceTool, Name: "get_weather"},
			MaxTokens:       ptr(1024),
			Temperature:     ptr(0.2),
			TopP:            ptr(0.9),
			TopK:            ptr(40),
			Stop:            []string{"END"},
			Seed:            ptr(int64(7)),
			N:               2,
			ResponseFormat:  &provider.ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type":"object"}`)},
			ReasoningEffort: "medium",
		},
	},
	{
		name: "missing_signature",
		opts: Options{MissingThoughtSignature: "skip_thought_signature_validator"},
		req: &provider.Request{
			Messages: []provider.Message{
				{Role: provider.RoleUser, Parts: []provider.Part{text("Time?")}},
				{Role: provider.RoleAssistant, Parts: []provider.Part{{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "toolu_1", Name: "now", Arguments: json.RawMessage(`{}`)}}}},
				{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "toolu_1", Content: []provider.Part{text("noon")}}}}},
			},
			Tools:          []provider.Tool{{Name: "now", Parameters: json.RawMessage(`{"type":"object"}`)}},
			ToolChoice:     &provider.ToolChoice{Mode: provider.ToolChoiceRequired},
			ResponseFormat: &provider.ResponseFormat{Type: "json_object"},
		},
	},
}

func TestEncodeRequestGolden(t *testing.T) {
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			body, err := NewUpstream(tt.opts).EncodeRequest(tt.req, "gemini-2.5-flash")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "testdata/encode/"+tt.name+".json", indentJSON(t, body))
		})
	}
}

// What the Gemini upstream receives decodes, through the Gemini client
// codec, to the same conversation: roles, call/result pairing by name.
func TestEncodeRequestRoundTrip(t *testing.T) {
	req := encodeCases[2].req
	body, err := NewUpstream(Options{}).EncodeRequest(req, "m")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	// Consecutive user messages were merged into one content each time.
	if got, want := len(back.Messages), 3; got != want {
		t.Fatalf("%d messages, want %d", got, want)
	}
	ids := map[string]string{}
	for _, m := range back.Messages {
		for _, p := range m.Parts {
			switch p.Type {
			case provider.PartToolCall:
				ids[p.ToolCall.ID] = string(p.ToolCall.Arguments)
			case provider.PartToolResult:
				if _, ok := ids[p.ToolResult.ToolCallID]; !ok {
					t.Errorf("result for %s matches no call", p.ToolResult.Name)
				}
			}
		}
	}
	if back.ToolChoice == nil || back.ToolChoice.Mode != provider.ToolChoiceTool || back.ToolChoice.Name != "get_weather" {
		t.Errorf("tool choice %+v", back.ToolChoice)
	}
	if back.ReasoningEffort != "medium" || back.N != 2 || *back.MaxTokens != 1024 {
		t.Errorf("generation config lost: effort %q n %d max %d", back.ReasoningEffort, back.N, *back.MaxTokens)
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		req  *provider.Request
	}{
		{"no content", &provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{text("")}}}}},
		{"orphan tool result", &provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{
			{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{ToolCallID: "call_x", Content: []provider.Part{text("1")}}},
		}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewUpstream(Options{}).EncodeRequest(tt.req, "m")
			var e *provider.Error
			if !errors.As(err, &e) || e.Kind != provider.KindBadRequest {
				t.Fatalf("got %v, want a bad_request *provider.Error", err)
			}
		})
	}
}

func TestEncodeCountTokensRequest(t *testing.T) {
	body, err := NewUpstream(Options{}).EncodeCountTokensRequest(encodeCases[2].req, "gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		GenerateContentRequest map[string]json.RawMessage `json:"generateContentRequest"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	g := w.GenerateContentRequest
	if string(g["model"]) != `"models/gemini-2.5-flash"` {
		t.Errorf("model %s", g["model"])
	}
	for _, k := range []string{"contents", "systemInstruction", "tools"} {
		if g[k] == nil {
			t.Errorf("%s missing: %s", k, body)
		}
	}
	if g["generationConfig"] != nil {
		t.Errorf("generationConfig sent to countTokens: %s", body)
	}
}

func TestNewHTTPRequest(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		target  provider.Target
		wantURL string
	}{
		{"chat", Options{}, provider.Target{Op: provider.OpChat, Model: "gemini-2.5-flash",
			Endpoint: provider.Endpoint{BaseURL: "https://generativelanguage.googleapis.com", APIKey: "k1"}},
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{"stream", Options{}, provider.Target{Op: provider.OpChat, Stream: true, Model: "gemini-2.5-flash",
			Endpoint: provider.Endpoint{BaseURL: "https://generativelanguage.googleapis.com/", APIKey: "k1"}},
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{"count tokens", Options{APIVersion: "v1"}, provider.Target{Op: provider.OpCountTokens, Model: "models/gemini-2.5-pro",
			Endpoint: provider.Endpoint{BaseURL: "http://127.0.0.1:9999/proxy/"}},
			"http://127.0.0.1:9999/proxy/v1/models/gemini-2.5-pro:countTokens"},
		{"base with version", Options{}, provider.Target{Op: provider.OpChat, Model: "gemini-2.5-flash",
			Endpoint: provider.Endpoint{BaseURL: "http://127.0.0.1:9999/v1alpha"}},
			"http://127.0.0.1:9999/v1alpha/models/gemini-2.5-flash:generateContent"},
		{"tuned model", Options{}, provider.Target{Op: provider.OpChat, Model: "tunedModels/my-model",
			Endpoint: provider.Endpoint{BaseURL: "http://127.0.0.1:9999"}},
			"http://127.0.0.1:9999/v1beta/tunedModels/my-model:generateContent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.Body = []byte(`{"contents":[]}`)
			tt.target.Endpoint.Header = http.Header{"X-Extra": {"1", "2"}}
			tt.target.ClientHeader = http.Header{"X-Goog-Api-Key": {"client-key"}, "Authorization": {"Bearer c"}}
			r, err := NewUpstream(tt.opts).NewHTTPRequest(context.Background(), &tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != http.MethodPost || r.URL.String() != tt.wantURL {
				t.Errorf("%s %s, want POST %s", r.Method, r.URL, tt.wantURL)
			}
			if got := r.Header.Get("x-goog-api-key"); got != tt.target.Endpoint.APIKey {
				t.Errorf("x-goog-api-key %q, want %q", got, tt.target.Endpoint.APIKey)
			}
			if r.URL.Query().Has("key") || strings.Contains(r.URL.String(), "client-key") {
				t.Errorf("key in the URL: %s", r.URL)
			}
			if r.Header.Get("Authorization") != "" {
				t.Error("client credentials forwarded")
			}
			if r.Header.Get("Content-Type") != "application/json" || len(r.Header.Values("X-Extra")) != 2 {
				t.Errorf("headers %v", r.Header)
			}
			if r.ContentLength != int64(len(tt.target.Body)) || r.GetBody == nil {
				t.Errorf("body not replayable: length %d", r.ContentLength)
			}
		})
	}
	t.Run("unsupported op", func(t *testing.T) {
		_, err := (&Upstream{}).NewHTTPRequest(context.Background(), &provider.Target{Op: provider.OpEmbeddings, Model: "m"})
		var e *provider.Error
		if !errors.As(err, &e) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantText  string
		wantStop  provider.StopReason
		wantCalls []string // name:args
		wantThink string
		wantUsage provider.Usage
		wantParts int
	}{
		{
			name: "text joined",
			body: `{"candidates":[{"content":{"role":"model","parts":[{"text":"Clear skies, "},{"text":"high of 24 °C."}]},"finishReason":"STOP","index":0}],
				"usageMetadata":{"promptTokenCount":58,"candidatesTokenCount":10,"thoughtsTokenCount":120,"totalTokenCount":188,"cachedContentTokenCount":20},
				"modelVersion":"gemini-2.5-flash","responseId":"r7WmZ4b2Lq"}`,
			wantText: "Clear skies, high of 24 °C.", wantStop: provider.StopEndTurn, wantParts: 1,
			wantUsage: provider.Usage{InputTokens: 58, OutputTokens: 130, CachedTokens: 20, ReasoningTokens: 120},
		},
		{
			name: "thoughts and function calls",
			body: `{"candidates":[{"content":{"role":"model","parts":[
				{"text":"Need weather.","thought":true},
				{"functionCall":{"name":"get_weather","args":{"city":"Lisbon"}},"thoughtSignature":"c2ln"},
				{"functionCall":{"id":"given","name":"get_time"}}]},"finishReason":"STOP","index":0}],
				"usageMetadata":{"promptTokenCount":10,"toolUsePromptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":18}}`,
			wantStop: provider.StopToolUse, wantThink: "Need weather.", wantParts: 3,
			wantCalls: []string{`get_weather:{"city":"Lisbon"}`, `get_time:{}`},
			wantUsage: provider.Usage{InputTokens: 15, OutputTokens: 3},
		},
		{
			name:     "max tokens",
			body:     `{"candidates":[{"content":{"parts":[{"text":"Once upon"}]},"finishReason":"MAX_TOKENS"}]}`,
			wantText: "Once upon", wantStop: provider.StopMaxTokens, wantParts: 1,
		},
		{
			name:     "safety stop drops content",
			body:     `{"candidates":[{"content":{"parts":[{"text":"partial"}]},"finishReason":"SAFETY"}]}`,
			wantStop: provider.StopContentFilter,
		},
		{
			name:      "blocked prompt",
			body:      `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}`,
			wantStop:  provider.StopContentFilter,
			wantUsage: provider.Usage{InputTokens: 7},
		},
		{
			name:     "malformed function call",
			body:     `{"candidates":[{"content":{},"finishReason":"MALFORMED_FUNCTION_CALL"}]}`,
			wantStop: provider.StopEndTurn,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := (&Upstream{}).DecodeResponse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Text(); got != tt.wantText {
				t.Errorf("text %q, want %q", got, tt.wantText)
			}
			if resp.StopReason != tt.wantStop {
				t.Errorf("stop %q, want %q", resp.StopReason, tt.wantStop)
			}
			if len(resp.Content) != tt.wantParts {
				t.Errorf("%d parts, want %d: %+v", len(resp.Content), tt.wantParts, resp.Content)
			}
			var calls []string
			var think string
			for _, p := range resp.Content {
				switch p.Type {
				case provider.PartToolCall:
					calls = append(calls, p.ToolCall.Name+":"+string(p.ToolCall.Arguments))
					if p.ToolCall.ID == "" {
						t.Error("tool call without id")
					}
				case provider.PartThinking:
					think += p.Text
				}
			}
			if strings.Join(calls, ";") != strings.Join(tt.wantCalls, ";") {
				t.Errorf("calls %v, want %v", calls, tt.wantCalls)
			}
			if think != tt.wantThink {
				t.Errorf("thinking %q, want %q", think, tt.wantThink)
			}
			if resp.Usage != tt.wantUsage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tt.wantUsage)
			}
		})
	}
	t.Run("ids and signature", func(t *testing.T) {
		resp, err := (&Upstream{}).DecodeResponse([]byte(tests[1].body))
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Content[1]; !strings.HasPrefix(c.ToolCall.ID, "call_") || c.Signature != "c2ln" {
			t.Errorf("synthesized call %+v, signature %q", c.ToolCall, c.Signature)
		}
		if c := resp.Content[2]; c.ToolCall.ID != "given" {
			t.Errorf("upstream id replaced: %q", c.ToolCall.ID)
		}
		if resp.ID != "" || resp.Model != "" {
			t.Errorf("id %q model %q", resp.ID, resp.Model)
		}
	})
	t.Run("id and model", func(t *testing.T) {
		resp, _ := (&Upstream{}).DecodeResponse([]byte(tests[0].body))
		if resp.ID != "r7WmZ4b2Lq" || resp.Model != "gemini-2.5-flash" {
			t.Errorf("id %q model %q", resp.ID, resp.Model)
		}
	})
	for _, bad := range []struct {
		name, body string
		kind       provider.Kind
	}{
		{"malformed", `{"candidates":[`, provider.KindBadGateway},
		{"error body with 200", `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, provider.KindRateLimited},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := (&Upstream{}).DecodeResponse([]byte(bad.body))
			var e *provider.Error
			if !errors.As(err, &e) || e.Kind != bad.kind {
				t.Fatalf("got %v, want kind %s", err, bad.kind)
			}
		})
	}
}

func TestDecodeCountTokens(t *testing.T) {
	n, err := (&Upstream{}).DecodeCountTokens([]byte(`{"totalTokens": 58, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 58}]}`))
	if err != nil || n != 58 {
		t.Fatalf("got %d, %v", n, err)
	}
	if got := string(Client{}.EncodeCountTokens(58)); got != `{"totalTokens":58}` {
		t.Errorf("EncodeCountTokens: %s", got)
	}
}
