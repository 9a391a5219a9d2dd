package anthropic

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

func TestRewriteRequest(t *testing.T) {
	tests := []struct {
		name, body, model, want string
		same                    bool // the input slice comes back unchanged
	}{
		{"replaces", `{"model":"alias","max_tokens":5, "x" : [1]}`, "claude-sonnet-4-5", `{"model":"claude-sonnet-4-5","max_tokens":5, "x" : [1]}`, false},
		{"same model untouched", `{"model": "claude" ,"a":1}`, "claude", `{"model": "claude" ,"a":1}`, true},
		{"empty model untouched", `{"model":"a"}`, "", `{"model":"a"}`, true},
		{"missing model inserted", `{"messages":[]}`, "m", `{"model":"m","messages":[]}`, false},
		{"escaped", `{"model":"a"}`, `we"ird`, `{"model":"we\"ird"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, usage, err := Passthrough{}.RewriteRequest([]byte(tt.body), tt.model, true)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want || !usage {
				t.Errorf("got %s usage %v, want %s true", out, usage, tt.want)
			}
		})
	}
	_, _, err := Passthrough{}.RewriteRequest([]byte(`{"model":`), "m", false)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest || !strings.Contains(pe.Message, "at byte") {
		t.Errorf("malformed body: err = %v", err)
	}
}

func TestResponseUsage(t *testing.T) {
	u, ok := Passthrough{}.ResponseUsage([]byte(`{"id":"msg","content":[{"type":"text","text":"\"usage\":{}"}],"usage":{"input_tokens":412,"output_tokens":57,"cache_creation_input_tokens":20,"cache_read_input_tokens":100,"service_tier":"standard","server_tool_use":{"web_search_requests":1}}}`))
	want := provider.Usage{InputTokens: 532, OutputTokens: 57, CachedTokens: 100, CacheWriteTokens: 20}
	if !ok || u != want {
		t.Errorf("usage = %+v %v, want %+v", u, ok, want)
	}
	if _, ok := (Passthrough{}).ResponseUsage([]byte(`{"id":"x"}`)); ok {
		t.Error("usage found in a body without one")
	}
}

func TestScanEvent(t *testing.T) {
	r := sse.NewReader(strings.NewReader(anthropicStream +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":60,\"input_tokens\":1,\"cache_creation_input_tokens\":2,\"cache_read_input_tokens\":3}}\n\n" +
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))
	var got []provider.EventInfo
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, Passthrough{}.ScanEvent(&ev))
	}
	want := []provider.EventInfo{
		{Usage: provider.Usage{InputTokens: 512, OutputTokens: 2, CachedTokens: 100}, HasUsage: true}, // message_start
		{}, // content_block_start
		{}, // ping
		{Content: true},
		{}, // content_block_stop
		{}, // content_block_start
		{}, // empty partial_json
		{Content: true},
		{Content: true},
		{}, // content_block_stop
		{Usage: provider.Usage{OutputTokens: 57}, HasUsage: true}, // input_tokens without the cache counters: left to message_start
		{Done: true},
		{Usage: provider.Usage{InputTokens: 6, OutputTokens: 60, CachedTokens: 3, CacheWriteTokens: 2}, HasUsage: true},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("%d events, want %d", len(got), len(want)+1)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if e := got[len(got)-1].Err; e == nil || e.Kind != provider.KindOverloaded || e.Message != "Overloaded" {
		t.Errorf("error event: %+v", got[len(got)-1])
	}
}

func BenchmarkScanEvent(b *testing.B) {
	ev := sse.Event{
		Name:    []byte("content_block_delta"),
		Data:    []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, this is a token of streamed text."}}`),
		HasData: true,
	}
	usage := sse.Event{
		Name:    []byte("message_delta"),
		Data:    []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":57}}`),
		HasData: true,
	}
	b.ReportAllocs()
	for b.Loop() {
		if !(Passthrough{}).ScanEvent(&ev).Content {
			b.Fatal("no content")
		}
		if !(Passthrough{}).ScanEvent(&usage).HasUsage {
			b.Fatal("no usage")
		}
	}
}
