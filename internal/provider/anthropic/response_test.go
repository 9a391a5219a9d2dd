package anthropic

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func TestEncodeResponseGolden(t *testing.T) {
	tests := []struct {
		name string
		resp provider.Response
	}{
		{"text_and_tools", provider.Response{
			ID: "chatcmpl-abc", Model: "gpt-4o", StopReason: provider.StopEndTurn,
			Content: []provider.Part{
				{Type: provider.PartThinking, Text: "unsigned: dropped"},
				text("Checking <the> forecast & more."), text(""),
				call("call_Q7pTz01", "lookup_forecast", `{"city": "Lisbon", "days": 1}`),
				call("", "now", `{"truncated": `),
			},
			Usage: provider.Usage{InputTokens: 412, CachedTokens: 100, CacheWriteTokens: 12, OutputTokens: 57},
		}},
		{"stop_sequence_and_thinking", provider.Response{
			ID: "msg_01", Model: "claude-opus-4-1", StopReason: provider.StopSequence, StopSequence: "\n\nEND",
			Content: []provider.Part{{Type: provider.PartThinking, Text: "hmm", Signature: "sig"}, text("Done")},
		}},
		{"empty", provider.Response{Model: "m", StopReason: provider.StopMaxTokens}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Client{NewID: seqIDs()}.EncodeResponse(&tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "responses/"+tt.name+".golden", indent(t, out))
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	body := `{"id":"msg_01XkP9aa7Fq","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
	"content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"redacted_thinking","data":"x"},
	{"type":"text","text":"Checking the forecast."},
	{"type":"tool_use","id":"toolu_01Ab7Rz","name":"lookup_forecast","input":{"city":"Lisbon","days":1}},
	{"type":"server_tool_use","id":"srv","name":"web_search","input":{}},
	{"type":"web_search_tool_result","tool_use_id":"srv","content":{"type":"web_search_tool_result_error","error_code":"unavailable"}}],
	"stop_reason":"tool_use","stop_sequence":null,
	"usage":{"input_tokens":412,"output_tokens":57,"cache_creation_input_tokens":20,"cache_read_input_tokens":100,"service_tier":"standard","output_tokens_details":{"thinking_tokens":7}}}`
	resp, err := NewUpstream(Options{}).DecodeResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := &provider.Response{
		ID: "msg_01XkP9aa7Fq", Model: "claude-sonnet-4-5-20250929", StopReason: provider.StopToolUse,
		Content: []provider.Part{
			{Type: provider.PartThinking, Text: "t", Signature: "s"},
			text("Checking the forecast."),
			call("toolu_01Ab7Rz", "lookup_forecast", `{"city":"Lisbon","days":1}`),
		},
		Usage: provider.Usage{InputTokens: 532, OutputTokens: 57, CachedTokens: 100, CacheWriteTokens: 20, ReasoningTokens: 7},
	}
	if !reflect.DeepEqual(resp, want) {
		got, _ := json.Marshal(resp)
		exp, _ := json.Marshal(want)
		t.Errorf("got  %s\nwant %s", got, exp)
	}
}

func TestDecodeResponseFailures(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind provider.Kind
	}{
		{"garbage", `<html>oops</html>`, provider.KindBadGateway},
		{"empty", ``, provider.KindBadGateway},
		{"error despite 200", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, provider.KindOverloaded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewUpstream(Options{}).DecodeResponse([]byte(tt.body))
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tt.kind {
				t.Fatalf("err = %v, want kind %s", err, tt.kind)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	// What the upstream decoder reads, the client encoder renders back the
	// same (modulo usage details that Anthropic's wire has no place for).
	body := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":1,"cache_read_input_tokens":2,"output_tokens":4}}`)
	resp, err := NewUpstream(Options{}).DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Client{}.EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(body, &a)
	_ = json.Unmarshal(out, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip:\n%s\nwant\n%s", out, body)
	}
}
