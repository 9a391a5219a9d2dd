package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/llmgate/llmgate/internal/jsonw"
	"io"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// countingWriter records each Write, to check one Write per SSE event.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func encodeStream(t *testing.T, req *provider.Request, events []provider.Event) *countingWriter {
	t.Helper()
	var w countingWriter
	enc := Client{NewID: seqIDs()}.NewStreamEncoder(&w, req)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return &w
}

// wireEvent is one parsed event of an encoded stream.
type wireEvent struct {
	name string
	data map[string]any
}

// checkStream parses an Anthropic stream and checks the rules the SDKs rely
// on: every event named after its data.type, message_start first, blocks
// numbered in order and never interleaved, message_stop (or error) last.
// It returns the events and the number of SSE events read.
func checkStream(t testing.TB, raw []byte) []wireEvent {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(raw))
	var evs []wireEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("event %q data is not JSON: %v: %s", ev.Name, err, ev.Data)
		}
		if len(ev.Name) == 0 || data["type"] != string(ev.Name) {
			t.Fatalf("event name %q does not match data.type %v", ev.Name, data["type"])
		}
		evs = append(evs, wireEvent{string(ev.Name), data})
	}
	open, next := -1, 0
	sawStart := false
	for i, ev := range evs {
		if ev.name == "ping" {
			continue
		}
		if ev.name == "error" {
			if i != len(evs)-1 {
				t.Fatalf("events after error")
			}
			return evs
		}
		if !sawStart {
			if ev.name != "message_start" {
				t.Fatalf("first event is %s, want message_start", ev.name)
			}
			sawStart = true
			continue
		}
		idx := -1
		if v, ok := ev.data["index"].(float64); ok {
			idx = int(v)
		}
		switch ev.name {
		case "message_start":
			t.Fatalf("second message_start")
		case "content_block_start":
			if open != -1 || idx != next {
				t.Fatalf("content_block_start %d while block %d open, next %d", idx, open, next)
			}
			open, next = idx, next+1
		case "content_block_delta":
			if idx != open {
				t.Fatalf("delta for block %d while %d open", idx, open)
			}
		case "content_block_stop":
			if idx != open {
				t.Fatalf("stop for block %d while %d open", idx, open)
			}
			open = -1
		case "message_delta":
			if open != -1 {
				t.Fatalf("message_delta with block %d open", open)
			}
		case "message_stop":
			if i != len(evs)-1 {
				t.Fatalf("events after message_stop")
			}
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].name != "message_stop" {
		t.Fatalf("stream does not end with message_stop")
	}
	return evs
}

var (
	textEvents = []provider.Event{
		{Type: provider.EventStart, ID: "chatcmpl-abc", Model: "gpt-4o", Usage: provider.Usage{InputTokens: 25}},
		{Type: provider.EventText, Text: "Hello"},
		{Type: provider.EventText, Text: ""},
		{Type: provider.EventText, Text: ", \"world\"\n</b>"},
		{Type: provider.EventStop, StopReason: provider.StopEndTurn},
		{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 30, CachedTokens: 10, OutputTokens: 7}},
	}
	toolEvents = []provider.Event{
		{Type: provider.EventStart, ID: "msg_01XkP9", Model: "claude-sonnet-4-5"},
		{Type: provider.EventText, Text: "Checking the forecast."},
		{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "call_Q7pTz01", ToolName: "lookup_forecast"},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"city": "Lis`},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `bon", "days": 1}`},
		{Type: provider.EventToolCall, ToolIndex: 1, ToolName: "now"},
		{Type: provider.EventToolArgs, ToolIndex: 1, Text: `{}`},
		{Type: provider.EventStop, StopReason: provider.StopEndTurn},
		{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 412, OutputTokens: 57, CacheWriteTokens: 12}},
	}
	// interleavedEvents announces both calls before any arguments, then
	// alternates them, as a few OpenAI-compatible servers do.
	interleavedEvents = []provider.Event{
		{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "call_a", ToolName: "f"},
		{Type: provider.EventToolCall, ToolIndex: 1, ToolID: "call_b", ToolName: "g"},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"x":`},
		{Type: provider.EventToolArgs, ToolIndex: 1, Text: `{"y":`},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `1}`},
		{Type: provider.EventToolArgs, ToolIndex: 1, Text: `2}`},
		{Type: provider.EventStop, StopReason: provider.StopToolUse},
	}
	thinkingEvents = []provider.Event{
		{Type: provider.EventStart, ID: "msg_1", Model: "claude"},
		{Type: provider.EventThinking, Text: "Let me think."},
		{Type: provider.EventThinking, Signature: "sig=="},
		{Type: provider.EventThinking, Text: "More."},
		{Type: provider.EventText, Text: "Answer."},
		{Type: provider.EventStop, StopReason: provider.StopMaxTokens},
	}
)

func TestStreamEncoderGolden(t *testing.T) {
	tests := []struct {
		name   string
		req    *provider.Request
		events []provider.Event
	}{
		{"text", &provider.Request{Model: "my-alias"}, textEvents},
		{"tools", &provider.Request{Model: "my-alias"}, toolEvents},
		{"interleaved_tools", &provider.Request{Model: "my-alias"}, interleavedEvents},
		{"thinking_enabled", &provider.Request{Model: "m", ReasoningEffort: "medium"}, thinkingEvents},
		{"thinking_not_requested", &provider.Request{Model: "m"}, thinkingEvents},
		{"empty", &provider.Request{Model: "m"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := encodeStream(t, tt.req, tt.events)
			evs := checkStream(t, w.Bytes())
			if w.writes != len(evs) {
				t.Errorf("%d writes for %d events, want one write per event", w.writes, len(evs))
			}
			checkGolden(t, "streams/"+tt.name+".sse", w.Bytes())
		})
	}
}

func TestStreamEncoderInterleavedToolArgs(t *testing.T) {
	evs := checkStream(t, encodeStream(t, &provider.Request{}, interleavedEvents).Bytes())
	args := map[string]string{} // tool id -> its input as the client accumulates it
	ids := map[float64]string{}
	for _, ev := range evs {
		switch ev.name {
		case "content_block_start":
			cb := ev.data["content_block"].(map[string]any)
			ids[ev.data["index"].(float64)] = cb["id"].(string)
		case "content_block_delta":
			d := ev.data["delta"].(map[string]any)
			args[ids[ev.data["index"].(float64)]] += d["partial_json"].(string)
		}
	}
	if args["call_a"] != `{"x":1}` || args["call_b"] != `{"y":2}` {
		t.Errorf("accumulated inputs = %v", args)
	}
}

func TestStreamEncoderFinalDelta(t *testing.T) {
	evs := checkStream(t, encodeStream(t, &provider.Request{}, toolEvents).Bytes())
	md := evs[len(evs)-2].data
	delta := md["delta"].(map[string]any)
	usage := md["usage"].(map[string]any)
	if delta["stop_reason"] != "tool_use" || delta["stop_sequence"] != nil {
		t.Errorf("delta = %v, want tool_use (tool calls present) and a null stop_sequence", delta)
	}
	if usage["output_tokens"] != 57.0 || usage["input_tokens"] != 400.0 || usage["cache_creation_input_tokens"] != 12.0 {
		t.Errorf("usage = %v", usage)
	}
	start := evs[0].data["message"].(map[string]any)
	if start["id"] != "msg_01XkP9" || start["model"] != "claude-sonnet-4-5" || start["stop_reason"] != nil {
		t.Errorf("message_start = %v", start)
	}
}

func TestStreamEncoderStartsItself(t *testing.T) {
	w := encodeStream(t, &provider.Request{Model: "alias"}, []provider.Event{{Type: provider.EventText, Text: "hi"}})
	evs := checkStream(t, w.Bytes())
	msg := evs[0].data["message"].(map[string]any)
	if msg["id"] != "msg_gen1" || msg["model"] != "alias" {
		t.Errorf("message_start = %v", msg)
	}
}

func TestStreamEncoderFailAndPing(t *testing.T) {
	var w countingWriter
	enc := Client{}.NewStreamEncoder(&w, &provider.Request{}).(*StreamEncoder)
	_ = enc.Encode(provider.Event{Type: provider.EventText, Text: "partial"})
	if err := enc.Ping(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Fail(&provider.Error{Kind: provider.KindOverloaded, Message: "Overloaded"}); err != nil {
		t.Fatal(err)
	}
	n := w.Len()
	_ = enc.Encode(provider.Event{Type: provider.EventText, Text: "more"})
	_ = enc.Close()
	_ = enc.Ping()
	if w.Len() != n {
		t.Errorf("wrote after Fail: %q", w.String()[n:])
	}
	evs := checkStream(t, w.Bytes())
	last := evs[len(evs)-1]
	e := last.data["error"].(map[string]any)
	if last.name != "error" || e["type"] != "overloaded_error" || e["message"] != "Overloaded" {
		t.Errorf("last event = %v", last)
	}
	if !strings.Contains(w.String(), "event: ping\ndata: {\"type\":\"ping\"}\n\n") {
		t.Errorf("no ping in %q", w.String())
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, errors.New("client went away")
	}
	w.after--
	return len(p), nil
}

func TestStreamEncoderWriteError(t *testing.T) {
	enc := Client{}.NewStreamEncoder(&failingWriter{after: 1}, &provider.Request{})
	if err := enc.Encode(provider.Event{Type: provider.EventText, Text: "x"}); err == nil {
		t.Fatal("write error not returned")
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" back \\ slash", "ctl \x00\x01\x1f\t\r\n", "<html>&", "bad \xff utf8", "sep \u2028 \u2029", "emoji 🙂"} {
		got := jsonw.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s", s, got)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: round trip %q, want %q", s, back, wantBack)
		}
	}
}

func BenchmarkStreamEncoderText(b *testing.B) {
	enc := Client{}.NewStreamEncoder(io.Discard, &provider.Request{Model: "m"})
	_ = enc.Encode(provider.Event{Type: provider.EventStart, ID: "msg_1"})
	ev := provider.Event{Type: provider.EventText, Text: "a token of text"}
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleStreamEncoder() {
	var out bytes.Buffer
	enc := Client{NewID: func(p string) string { return p + "1" }}.NewStreamEncoder(&out, &provider.Request{Model: "claude"})
	_ = enc.Encode(provider.Event{Type: provider.EventText, Text: "Hi"})
	_ = enc.Close()
	fmt.Print(out.String())
	// Output:
	// event: message_start
	// data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}
	//
	// event: content_block_start
	// data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
	//
	// event: content_block_delta
	// data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}
	//
	// event: content_block_stop
	// data: {"type":"content_block_stop","index":0}
	//
	// event: message_delta
	// data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}
	//
	// event: message_stop
	// data: {"type":"message_stop"}
}
