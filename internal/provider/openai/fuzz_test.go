package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// addFiles seeds a fuzz corpus with the files matching pattern.
func addFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	addFiles(f, "testdata/request/*.in.json")
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,"}}]}]}`,
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"x","content":[{"type":"file","file":{"file_id":"f"}}]}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":"}}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Client{}.DecodeRequest(body)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest || pe.Message == "" {
				t.Fatalf("err = %#v, want a KindBadRequest *provider.Error with a message", err)
			}
			return
		}
		for _, m := range req.Messages {
			for _, p := range m.Parts {
				if p.Type == provider.PartToolCall && !json.Valid(p.ToolCall.Arguments) {
					t.Fatalf("tool call arguments are not JSON: %q", p.ToolCall.Arguments)
				}
			}
		}
		out, err := NewUpstream(Options{StreamUsage: true}).EncodeRequest(req, "m2")
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest {
				t.Fatalf("EncodeRequest: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("encoded request is not JSON: %s", out)
		}
		if _, err := (Client{}).DecodeRequest(out); err != nil && len(req.Messages) > 0 {
			// Every message may have been dropped as empty; otherwise the
			// encoder's output must be a request the decoder accepts.
			if !strings.Contains(err.Error(), "messages") {
				t.Fatalf("re-decoding the encoded request: %v\n%s", err, out)
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for _, s := range []string{``, `<html>502</html>`, `{"error":{"message":"m","type":"t","code":429}}`, `[{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT"}}]`,
		`{"object":"error","message":{"detail":[]},"code":null}`, `{"error":"plain"}`, `{"detail":[1]}`, `[]`, `[1]`, `{"error":[]}`, "\xff\xfe"} {
		f.Add(400, []byte(s), "1.5")
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, retry string) {
		h := http.Header{"Retry-After": {retry}, "Retry-After-Ms": {retry}}
		e := NewUpstream(Options{}).DecodeError(status, h, body)
		if e == nil || e.Kind == "" || e.Message == "" || e.RetryAfter < 0 {
			t.Fatalf("DecodeError = %+v", e)
		}
		if out := (Client{}).EncodeError(e, "r"); !json.Valid(out) {
			t.Fatalf("EncodeError output is not JSON: %s", out)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	addFiles(f, "testdata/stream/*.sse")
	addFiles(f, "testdata/encoded/*.sse")
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1,\"function\":{\"arguments\":\"x\"}}]}}]}\n\n"))
	f.Add([]byte("event: error\ndata: {}\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		d := NewUpstream(Options{}).NewStreamDecoder(iotest.HalfReader(bytes.NewReader(stream)))
		var buf bytes.Buffer
		enc := Client{}.NewStreamEncoder(&buf, &provider.Request{Model: "m", IncludeUsage: true})
		opened := map[int]bool{}
		for i := 0; ; i++ {
			if i > len(stream)+2 {
				t.Fatalf("more events (%d) than input bytes", i)
			}
			ev, err := d.Next()
			if err != nil {
				var pe *provider.Error
				if err != io.EOF && !errors.As(err, &pe) {
					t.Fatalf("end = %v, want io.EOF or *provider.Error", err)
				}
				if pe != nil {
					_ = enc.Fail(pe)
				} else {
					_ = enc.Close()
				}
				break
			}
			if (i == 0) != (ev.Type == provider.EventStart) {
				t.Fatalf("event %d is %v; the first event, and only it, must be EventStart", i, ev.Type)
			}
			switch ev.Type {
			case provider.EventToolCall:
				if opened[ev.ToolIndex] || ev.ToolIndex != len(opened) {
					t.Fatalf("tool call %d opened out of order", ev.ToolIndex)
				}
				opened[ev.ToolIndex] = true
			case provider.EventToolArgs:
				if !opened[ev.ToolIndex] {
					t.Fatalf("arguments for tool %d before it opened", ev.ToolIndex)
				}
			}
			if err := enc.Encode(ev); err != nil {
				t.Fatal(err)
			}
		}
		// Whatever came in, the client receives well-formed chunks.
		r := sse.NewReader(&buf)
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if string(ev.Data) != "[DONE]" && !json.Valid(ev.Data) {
				t.Fatalf("encoder wrote a chunk that is not JSON: %q", ev.Data)
			}
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{`{"id":"x","model":"m","choices":[{"index":0,"message":{"content":"hi","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`,
		"\n\n{\"choices\":[{\"message\":{\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\"}]}}]}", `{"error":{"message":"x"}}`, `{"choices":[]}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := NewUpstream(Options{}).DecodeResponse(body)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *provider.Error", err)
			}
			return
		}
		for _, p := range resp.Content {
			if p.Type == provider.PartToolCall && !json.Valid(p.ToolCall.Arguments) {
				t.Fatalf("arguments are not JSON: %q", p.ToolCall.Arguments)
			}
		}
		out, err := Client{}.EncodeResponse(resp)
		if err != nil || !json.Valid(out) {
			t.Fatalf("EncodeResponse = %s, %v", out, err)
		}
		if u, ok := (Passthrough{}).ResponseUsage(out); !ok || u != resp.Usage {
			t.Fatalf("usage read back = %+v %v, want %+v", u, ok, resp.Usage)
		}
	})
}

func FuzzRewriteRequest(f *testing.F) {
	addFiles(f, "testdata/request/*.in.json")
	f.Add([]byte(`{"stream_options":{"include_usage":false},"model":"a"}`))
	f.Add([]byte(` { } `))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		out, _, err := Passthrough{}.RewriteRequest(body, "new-model", true)
		if err != nil {
			return // valid JSON that is not an object
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %s", out)
		}
		vals, err := jsonscan.Fields(out, "model", "stream_options")
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := jsonscan.String(vals[0]); m != "new-model" {
			t.Fatalf("model = %s, want new-model: %s", vals[0], out)
		}
		if iu, _, _ := jsonscan.Get(vals[1], "include_usage"); !jsonscan.Bool(iu) {
			t.Fatalf("include_usage not switched on: %s", out)
		}
	})
}

func FuzzScanEvent(f *testing.F) {
	f.Add([]byte(benchUsage.Data))
	f.Add([]byte(benchChunk.Data))
	f.Add([]byte(`{"error":{"message":"x"}}`))
	f.Add([]byte(`{"usage":{"prompt_tokens":1e400}}`))
	f.Add([]byte(`{"choices":[{"delta":{"content": "x","refusal":""}}],"usage": {"total_tokens":1}}`))
	f.Add([]byte(`{"choices":[{"delta":{"tool_calls": [{"index":0}]}}],"e":"\"error\""}`))
	f.Add([]byte(`{"error" :{"message":"x"},"usage" :{"total_tokens":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info := Passthrough{}.ScanEvent(&sse.Event{Data: data, HasData: true})
		if want := scanEventReference(data); !reflect.DeepEqual(info, want) {
			t.Fatalf("ScanEvent(%q) = %+v, the substring checks give %+v", data, info, want)
		}
		if info.UsageOnly && !info.HasUsage {
			t.Fatalf("UsageOnly without usage: %+v", info)
		}
		if info.Usage.InputTokens < 0 || info.Usage.OutputTokens < 0 {
			t.Fatalf("negative usage: %+v", info.Usage)
		}
	})
}

// scanEventReference is ScanEvent as it was before scanKeys, with a
// bytes.Contains (or Index) per key.
func scanEventReference(data []byte) provider.EventInfo {
	var (
		usageKeys    = [][]byte{[]byte(`"usage":{`), []byte(`"usage": {`)}
		contentKeys  = [][]byte{[]byte(`"content":"`), []byte(`"content": "`), []byte(`"refusal":"`), []byte(`"refusal": "`)}
		toolCallKeys = [][]byte{[]byte(`"tool_calls":[{`), []byte(`"tool_calls": [{`)}
	)
	containsAny := func(keys [][]byte) bool {
		return slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Contains(data, k) })
	}
	var info provider.EventInfo
	if len(data) == 0 {
		return info
	}
	if data[0] != '{' {
		data = bytes.TrimSpace(data)
		if bytes.Equal(data, doneData) {
			info.Done = true
			return info
		}
	}
	hasUsage := containsAny(usageKeys)
	if hasUsage || bytes.Contains(data, errorKey) {
		var usage, choices, errv []byte
		err := jsonscan.Each(data, func(m jsonscan.Member) bool {
			switch string(m.Key) {
			case "usage":
				usage = m.Value
			case "choices":
				choices = m.Value
			case "error":
				errv = m.Value
			}
			return true
		})
		if err == nil {
			if hasValue(errv) {
				info.Err = streamError(data)
				return info
			}
			if hasUsage {
				info.Usage, info.HasUsage = decodeUsage(usage)
				info.UsageOnly = info.HasUsage && isEmptyArray(choices)
			}
		}
	}
	for _, k := range contentKeys {
		for rest := data; ; {
			i := bytes.Index(rest, k)
			if i < 0 {
				break
			}
			rest = rest[i+len(k):]
			if len(rest) > 0 && rest[0] != '"' {
				info.Content = true
			}
		}
	}
	info.Content = info.Content || containsAny(toolCallKeys)
	return info
}
