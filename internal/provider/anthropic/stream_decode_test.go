package anthropic

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/llmgate/llmgate/internal/provider"
)

// anthropicStream is the §4.6 example stream, with a cache read, a ping and
// an input counter in message_delta.
const anthropicStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01XkP9aa7Fq","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":412,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking \"the\" forecast."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01Ab7Rz","name":"lookup_forecast","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Lisbon\", "}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"days\": 1}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":57,"input_tokens":415}}

event: message_stop
data: {"type":"message_stop"}

`

var anthropicStreamEvents = []provider.Event{
	{Type: provider.EventStart, ID: "msg_01XkP9aa7Fq", Model: "claude-sonnet-4-5-20250929", Usage: provider.Usage{InputTokens: 512, OutputTokens: 2, CachedTokens: 100}},
	{Type: provider.EventText, Text: `Checking "the" forecast.`},
	{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "toolu_01Ab7Rz", ToolName: "lookup_forecast"},
	{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"city": "Lisbon", `},
	{Type: provider.EventToolArgs, ToolIndex: 0, Text: `"days": 1}`},
	{Type: provider.EventStop, StopReason: provider.StopToolUse},
	{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 515, OutputTokens: 57, CachedTokens: 100}},
}

func decodeAll(r io.Reader) ([]provider.Event, error) {
	d := NewUpstream(Options{}).NewStreamDecoder(r)
	var evs []provider.Event
	for {
		ev, err := d.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestStreamDecoder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []provider.Event
	}{
		{"documented stream", anthropicStream, anthropicStreamEvents},
		{"crlf and one byte at a time", strings.ReplaceAll(anthropicStream, "\n", "\r\n"), anthropicStreamEvents},
		{"no event names", dropNames(anthropicStream), anthropicStreamEvents},
		{"thinking and a second tool", `event: message_start
data: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":"Hi"}}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{"q":1}}}

event: content_block_start
data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{ }}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{}}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":9,"cache_creation_input_tokens":3}}

event: message_stop
data: {"type":"message_stop"}
`, []provider.Event{
			{Type: provider.EventStart, ID: "m", Model: "c", Usage: provider.Usage{InputTokens: 5}},
			{Type: provider.EventThinking, Text: "hmm"},
			{Type: provider.EventThinking, Signature: "EqQB"},
			{Type: provider.EventText, Text: "Hi"},
			{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "t1", ToolName: "a"},
			{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"q":1}`},
			{Type: provider.EventToolCall, ToolIndex: 1, ToolID: "t2", ToolName: "b"},
			{Type: provider.EventStop, StopReason: provider.StopSequence, StopSequence: "END"},
			{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 8, OutputTokens: 9, CacheWriteTokens: 3}},
		}},
		{"missing message_start", `event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}

event: message_stop
data: {"type":"message_stop"}
`, []provider.Event{{Type: provider.EventStart}, {Type: provider.EventText, Text: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := decodeAll(iotest.OneByteReader(strings.NewReader(tt.in)))
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF", err)
			}
			if !reflect.DeepEqual(evs, tt.want) {
				t.Errorf("events:\n%+v\nwant\n%+v", evs, tt.want)
			}
		})
	}
}

func dropNames(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "event:") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestStreamDecoderFailures(t *testing.T) {
	head := anthropicStream[:strings.Index(anthropicStream, "event: content_block_stop")]
	tests := []struct {
		name   string
		in     io.Reader
		kind   provider.Kind
		typ    string
		inMsg  string
		events int
	}{
		{"error event", strings.NewReader(head + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
			provider.KindOverloaded, "overloaded_error", "Overloaded", 2},
		{"rate limit error event", strings.NewReader("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n"),
			provider.KindRateLimited, "rate_limit_error", "slow down", 0},
		{"cut stream", strings.NewReader(head), provider.KindBadGateway, "", "ended before message_stop", 2},
		{"broken connection", io.MultiReader(strings.NewReader(head), iotest.ErrReader(errors.New("connection reset"))),
			provider.KindBadGateway, "", "broke before message_stop", 2},
		{"garbage data", strings.NewReader("event: message_start\ndata: {not json\n\n"), provider.KindBadGateway, "", "malformed message_start", 0},
		{"garbage delta", strings.NewReader("event: content_block_delta\ndata: {\"index\":\"x\"}\n\n"), provider.KindBadGateway, "", "malformed content_block_delta", 0},
		{"html", strings.NewReader("<html><body>502 Bad Gateway</body></html>"), provider.KindBadGateway, "", "ended before message_stop", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := decodeAll(tt.in)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != tt.kind || pe.Type != tt.typ || !strings.Contains(pe.Message, tt.inMsg) {
				t.Errorf("error = %+v, want kind %s type %q message with %q", pe, tt.kind, tt.typ, tt.inMsg)
			}
			if len(evs) != tt.events {
				t.Errorf("%d events before the error, want %d", len(evs), tt.events)
			}
			if _, again := NewStreamDecoder(strings.NewReader("")).Next(); again == nil {
				t.Error("empty stream gave no error")
			}
		})
	}
}

// TestStreamTranslateRoundTrip decodes an Anthropic stream and encodes it
// for an Anthropic client: the SDK-visible result must be the same message.
func TestStreamTranslateRoundTrip(t *testing.T) {
	evs, err := decodeAll(strings.NewReader(anthropicStream))
	if err != io.EOF {
		t.Fatal(err)
	}
	w := encodeStream(t, &provider.Request{}, evs)
	got := checkStream(t, w.Bytes())
	if len(got) != 10 {
		t.Errorf("%d events, want 10 (ping dropped, empty fragment skipped):\n%s", len(got), w.Bytes())
	}
	md := got[len(got)-2].data
	if md["delta"].(map[string]any)["stop_reason"] != "tool_use" {
		t.Errorf("message_delta = %v", md)
	}
	if u := md["usage"].(map[string]any); u["input_tokens"] != 415.0 || u["cache_read_input_tokens"] != 100.0 || u["output_tokens"] != 57.0 {
		t.Errorf("usage = %v", u)
	}
}

func BenchmarkStreamDecoder(b *testing.B) {
	stream := anthropicStream[:strings.Index(anthropicStream, "event: content_block_stop")]
	delta := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a token\"}}\n\n"
	stream += strings.Repeat(delta, 100) + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	r := strings.NewReader(stream)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(stream)
		d := NewStreamDecoder(r)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}
