package gemini

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func addDecodeSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/decode/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"parts":[{"functionResponse":{"name":"f","response":1}}]}]}`))
	f.Add([]byte(`{"contents":null,"generateContentRequest":{"contents":[{"parts":[{"text":"x"}]}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a","parameters":{"type":"OBJECT","properties":{"x":{"type":"ARRAY","items":{"anyOf":[{"nullable":true,"type":"STRING"}]}}}}}]}]}`))
}

func FuzzDecodeRequest(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Client{}.DecodeRequest(body)
		if err != nil {
			var e *provider.Error
			if !errors.As(err, &e) || e.Kind != provider.KindBadRequest {
				t.Fatalf("error %v is not a bad_request *provider.Error", err)
			}
			return
		}
		if len(req.Messages) == 0 {
			t.Fatal("accepted a request without messages")
		}
		for _, m := range req.Messages {
			for _, p := range m.Parts {
				if p.Type == provider.PartToolCall && (p.ToolCall.ID == "" || len(p.ToolCall.Arguments) == 0) {
					t.Fatalf("tool call without id or arguments: %+v", p.ToolCall)
				}
				if p.Type == provider.PartToolResult && p.ToolResult.ToolCallID == "" {
					t.Fatal("tool result without id")
				}
			}
		}
		for _, tl := range req.Tools {
			if len(tl.Parameters) == 0 {
				t.Fatalf("tool %q without parameters", tl.Name)
			}
		}
		// Whatever was accepted can be sent to a Gemini upstream.
		if _, err := NewUpstream(Options{}).EncodeRequest(req, "m"); err != nil {
			var e *provider.Error
			if !errors.As(err, &e) {
				t.Fatalf("EncodeRequest: %v", err)
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"x","reason":"API_KEY_INVALID"}]}}`))
	f.Add(429, []byte(`[{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"17s","violations":[{"quotaId":"PerDay"}]}]}}]`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(200, []byte(`{"error":{"code":"x","message":{"a":1},"status":7,"details":{}}}`))
	f.Add(0, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := (&Upstream{}).DecodeError(status, nil, body)
		if e == nil || e.Kind == "" || e.Message == "" {
			t.Fatalf("DecodeError(%d, %q) = %+v", status, body, e)
		}
		_ = Client{}.EncodeError(e, "id")
	})
}

func FuzzStreamDecoder(f *testing.F) {
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1}}\r\n\r\n"))
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}}}]}}]}\n\ndata: {\"error\":{\"code\":500}}\n\n"))
	f.Add([]byte("{\"error\":{\"code\":429}}\n: c\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		d := (&Upstream{}).NewStreamDecoder(strings.NewReader(string(stream)))
		started := false
		for i := 0; ; i++ {
			if i > len(stream)+10 {
				t.Fatal("more events than bytes")
			}
			ev, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *provider.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is not a *provider.Error", err)
				}
				return
			}
			if !started && ev.Type != provider.EventStart {
				t.Fatalf("first event %d is not EventStart", ev.Type)
			}
			started = true
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b","thought":true},{"functionCall":{"name":"f"}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1}}`))
	f.Add([]byte(`{"promptFeedback":{"blockReason":"OTHER"}}`))
	f.Add([]byte(`{"error":{"code":503}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := (&Upstream{}).DecodeResponse(body)
		if err != nil {
			var e *provider.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			return
		}
		if resp.StopReason == "" {
			t.Fatal("no stop reason")
		}
		// Whatever was read can be written to a Gemini client.
		if _, err := (Client{}).EncodeResponse(resp); err != nil {
			t.Fatalf("EncodeResponse: %v", err)
		}
	})
}

func FuzzParseModelAction(f *testing.F) {
	for _, s := range []string{"gemini-2.5-flash:streamGenerateContent", "models/x:countTokens", "a:b:c", ":", "x:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		model, action, ok := ParseModelAction(s)
		if !ok {
			if model != "" || action != "" {
				t.Fatalf("not ok but returned %q %q", model, action)
			}
			return
		}
		if model == "" || action == "" || strings.TrimPrefix(s, "models/") != model+":"+action {
			t.Fatalf("ParseModelAction(%q) = %q, %q", s, model, action)
		}
	})
}
