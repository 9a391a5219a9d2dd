package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

func addFixtures(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzDecodeRequest: any body either decodes or gives a KindBadRequest
// *provider.Error; what decodes can be encoded for an upstream as valid
// JSON (or rejected with a classified error).
func FuzzDecodeRequest(f *testing.F) {
	addFixtures(f, "testdata/requests/*.json")
	addFixtures(f, "testdata/claude_code_*.json")
	for _, s := range []string{`{}`, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`, `[`, `{"model":1}`, `{"model":"m","messages":[{"role":"user","content":{}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}],"context_management":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Client{}.DecodeRequest(body)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest || pe.Message == "" {
				t.Fatalf("error %v is not a KindBadRequest *provider.Error", err)
			}
			return
		}
		out, err := NewUpstream(Options{}).EncodeRequest(req, "m")
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("EncodeRequest error %v is not a *provider.Error", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("EncodeRequest produced invalid JSON: %s", out)
		}
	})
}

// FuzzDecodeError: DecodeError never returns nil, always has a message and
// a kind a client can be answered with.
func FuzzDecodeError(f *testing.F) {
	f.Add(529, []byte(anthropicError("overloaded_error", "Overloaded")))
	f.Add(400, []byte(`[{"error":{"message":"x"}}]`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(0, []byte(``))
	f.Add(401, []byte(`{"error":"\xff"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := NewUpstream(Options{}).DecodeError(status, http.Header{"Retry-After": {"3"}}, body)
		if e == nil || e.Kind == "" || e.Message == "" {
			t.Fatalf("DecodeError(%d, %q) = %+v", status, body, e)
		}
		if out := (Client{}).EncodeError(e, "r"); !json.Valid(out) {
			t.Fatalf("EncodeError gave invalid JSON: %s", out)
		}
	})
}

// FuzzStreamDecoder: any byte stream ends in io.EOF (only after
// message_stop) or a *provider.Error, starts with EventStart, and what it
// yields re-encodes as a valid Anthropic stream.
func FuzzStreamDecoder(f *testing.F) {
	f.Add([]byte(anthropicStream))
	f.Add([]byte(dropNames(anthropicStream)))
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n"))
	f.Add([]byte("event: content_block_start\ndata: {\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"input\":{\"a\":1}}}\n\nevent: content_block_delta\ndata: {\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\u0041\"}}\n\nevent: message_stop\ndata: {}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewStreamDecoder(iotest.HalfReader(bytes.NewReader(in)))
		var evs []provider.Event
		for i := 0; ; i++ {
			ev, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Message == "" {
					t.Fatalf("error %v is not a *provider.Error", err)
				}
				break
			}
			if i == 0 && ev.Type != provider.EventStart {
				t.Fatalf("first event %+v is not EventStart", ev)
			}
			evs = append(evs, ev)
		}
		var w bytes.Buffer
		enc := Client{}.NewStreamEncoder(&w, &provider.Request{ReasoningEffort: "low"})
		for _, ev := range evs {
			_ = enc.Encode(ev)
		}
		_ = enc.Close()
		checkStream(t, w.Bytes())
	})
}

// FuzzStreamEncoder drives the encoder with arbitrary canonical events; the
// output must always follow the Anthropic stream rules.
func FuzzStreamEncoder(f *testing.F) {
	f.Add([]byte{3, 0, 4, 0, 4, 1, 3, 1, 2, 0, 4, 0})
	f.Add([]byte{4, 2, 4, 2, 2, 1, 3, 2, 4, 2, 5, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		var w bytes.Buffer
		enc := Client{}.NewStreamEncoder(&w, &provider.Request{ReasoningEffort: "high"})
		frags := []string{`{"a":`, `1}`, `{}`, `"x`, ``}
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i]%7, int(script[i+1]%4)
			var ev provider.Event
			switch op {
			case 0:
				ev = provider.Event{Type: provider.EventText, Text: frags[arg]}
			case 1:
				ev = provider.Event{Type: provider.EventThinking, Text: frags[arg]}
			case 2:
				ev = provider.Event{Type: provider.EventThinking, Signature: frags[arg]}
			case 3:
				ev = provider.Event{Type: provider.EventToolCall, ToolIndex: arg, ToolName: "f"}
			case 4:
				ev = provider.Event{Type: provider.EventToolArgs, ToolIndex: arg, Text: frags[(i/2)%len(frags)]}
			case 5:
				ev = provider.Event{Type: provider.EventStart, ID: "x"}
			case 6:
				ev = provider.Event{Type: provider.EventStop, StopReason: provider.StopEndTurn}
			}
			if err := enc.Encode(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		checkStream(t, w.Bytes())
	})
}

// FuzzDecodeResponse: garbage is a KindBadGateway (or a decoded upstream
// error); what decodes re-encodes for a client as valid JSON.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"id":"msg_1","type":"message","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`))
	f.Add([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"x"}}`))
	f.Add([]byte(`{"content":[{"type":"tool_use","input":"not an object"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := NewUpstream(Options{}).DecodeResponse(body)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			return
		}
		out, err := Client{}.EncodeResponse(resp)
		if err != nil || !json.Valid(out) {
			t.Fatalf("EncodeResponse: %v %s", err, out)
		}
	})
}

// FuzzScanEvent: ScanEvent never panics and reports an error only for
// error events.
func FuzzScanEvent(f *testing.F) {
	f.Add("message_delta", []byte(`{"usage":{"output_tokens":5,"input_tokens":1,"cache_read_input_tokens":2,"cache_creation_input_tokens":3}}`))
	f.Add("content_block_delta", []byte(`{"delta":{"type":"text_delta","text":"x"}}`))
	f.Add("", []byte(`{"type":"error","error":{}}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		ev := sse.Event{Data: data, HasData: true}
		if name != "" {
			ev.Name = []byte(name)
		}
		info := Passthrough{}.ScanEvent(&ev)
		if info.Err != nil && info.Err.Message == "" {
			t.Fatalf("error without a message: %+v", info.Err)
		}
		if info.HasUsage && (info.Usage.InputTokens < 0 || info.Usage.OutputTokens < 0) {
			t.Fatalf("negative usage %+v", info.Usage)
		}
	})
}
