package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// FuzzDecodeRequest: any body either decodes into a request naming a model
// whose parts are well formed, or fails with a 400; a decoded request
// always encodes as a stream and a response without panicking.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(codexRequest))
	f.Add([]byte(`{"model":"m","input":"hi","instructions":"x","tools":[{"type":"custom","name":"c"}],"tool_choice":{"type":"allowed_tools","tools":[{"name":"c"}]}}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call_output","call_id":"a","output":[{"type":"input_image","image_url":"data:image/png;base64,AA"}]}]}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"reasoning","encrypted_content":"llmgate.1.eyJ0IjoiaCJ9"}],"text":{"format":{"type":"json_schema","name":"n"}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Client{}.DecodeRequest(body)
		if err != nil {
			var perr *provider.Error
			if !errors.As(err, &perr) || perr.Kind != provider.KindBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if req.Model == "" {
			t.Fatal("decoded a request without a model")
		}
		for _, m := range req.Messages {
			for _, p := range m.Parts {
				if p.Type == provider.PartToolCall && (p.ToolCall == nil || !json.Valid(p.ToolCall.Arguments)) {
					t.Fatalf("tool call with invalid arguments: %+v", p.ToolCall)
				}
				if (p.Type == provider.PartImage || p.Type == provider.PartDocument) && p.Media == nil {
					t.Fatal("media part without media")
				}
			}
		}
		var b bytes.Buffer
		enc := Client{}.NewStreamEncoder(&b, req)
		_ = enc.Encode(provider.Event{Type: provider.EventText, Text: "x"})
		_ = enc.Close()
	})
}

// FuzzScanEvent: any event data is scanned without panicking, and an event
// reporting an error is never also plain content.
func FuzzScanEvent(f *testing.F) {
	f.Add([]byte("response.completed"), []byte(`{"type":"response.completed","response":{"usage":{"input_tokens":1}}}`))
	f.Add([]byte(""), []byte(`{"type":"response.failed","response":{"error":{"code":"x"}}}`))
	f.Add([]byte("error"), []byte(`{"type":"error","message":"m"}`))
	f.Add([]byte(""), []byte(`{"type":`))
	f.Fuzz(func(t *testing.T, name, data []byte) {
		info := Passthrough{}.ScanEvent(&sse.Event{Name: name, Data: data, HasData: true})
		if info.Err != nil && info.Content {
			t.Fatalf("an error event counted as content: %+v", info)
		}
		_, _ = Passthrough{}.ResponseUsage(data)
		_, _ = (&Upstream{}).DecodeResponse(data)
		_, _, _ = Passthrough{}.RewriteRequest(data, "m", true)
	})
}

// FuzzEnvelope: openEnvelope accepts exactly what sealEnvelope made.
func FuzzEnvelope(f *testing.F) {
	f.Add("thinking", "sig", "llmgate.1.xx")
	f.Fuzz(func(t *testing.T, text, sig, other string) {
		gotT, gotS, ok := openEnvelope(sealEnvelope(text, sig))
		// JSON replaces invalid UTF-8, so only valid strings round-trip exactly.
		if (text != "" || sig != "") && utf8.ValidString(text) && utf8.ValidString(sig) && (!ok || gotT != text || gotS != sig) {
			t.Fatalf("round trip of %q/%q gave %q/%q %v", text, sig, gotT, gotS, ok)
		}
		_, _, _ = openEnvelope(other)
		_ = callSignature(other)
	})
}
