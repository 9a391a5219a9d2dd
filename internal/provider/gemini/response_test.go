package gemini

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

var responseCases = []struct {
	name string
	resp *provider.Response
}{
	{
		name: "tool_calls",
		resp: &provider.Response{
			ID:    "msg_01",
			Model: "claude-sonnet-4-5",
			Content: []provider.Part{
				{Type: provider.PartThinking, Text: "Two lookups.", Signature: "EqQBCkYIBxgC"},
				text("Checking <both> & more."),
				{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "toolu_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lisbon"}`)}},
				{Type: provider.PartToolCall, Signature: "not base64!", ToolCall: &provider.ToolCall{ID: "toolu_2", Name: "get_weather", Arguments: json.RawMessage(`{"city":`)}},
			},
			StopReason: provider.StopToolUse,
			Usage:      provider.Usage{InputTokens: 100, OutputTokens: 50, CachedTokens: 40, ReasoningTokens: 20},
		},
	},
	{
		name: "refusal",
		resp: &provider.Response{ID: "chatcmpl-1", Model: "gpt-4o", StopReason: provider.StopContentFilter, Usage: provider.Usage{InputTokens: 9}},
	},
	{
		name: "max_tokens",
		resp: &provider.Response{Model: "gpt-4o", Content: []provider.Part{text("Once upon a")}, StopReason: provider.StopMaxTokens,
			Usage: provider.Usage{InputTokens: 5, OutputTokens: 3}},
	},
}

func TestEncodeResponseGolden(t *testing.T) {
	for _, tt := range responseCases {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Client{}.EncodeResponse(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(body, []byte(`\u003c`)) {
				t.Error("HTML escaping in the body")
			}
			checkGolden(t, "testdata/response/"+tt.name+".json", indentJSON(t, body))
		})
	}
}

// What Client.EncodeResponse writes, Upstream.DecodeResponse reads back.
func TestResponseRoundTrip(t *testing.T) {
	in := responseCases[0].resp
	body, err := Client{}.EncodeResponse(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := (&Upstream{}).DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if out.Usage != in.Usage {
		t.Errorf("usage %+v, want %+v", out.Usage, in.Usage)
	}
	if out.StopReason != provider.StopToolUse || out.Text() != in.Text() || out.ID != in.ID || out.Model != in.Model {
		t.Errorf("got %+v", out)
	}
	if c := out.Content[2].ToolCall; c.ID != "toolu_1" || string(c.Arguments) != `{"city":"Lisbon"}` {
		t.Errorf("tool call %+v", c)
	}
	if out.Content[0].Signature != "EqQBCkYIBxgC" {
		t.Errorf("thinking signature %q", out.Content[0].Signature)
	}
}
