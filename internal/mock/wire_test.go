package mock

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// stillClock is a fixed clock whose waits end at once.
type stillClock struct{ t time.Time }

func (c stillClock) Now() time.Time { return c.t }
func (c stillClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

var testNow = time.Date(2026, 3, 2, 9, 15, 4, 0, time.UTC)

const (
	chatBody     = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather in Lisbon tomorrow?"}]}`
	chatTools    = `,"tools":[{"type":"function","function":{"name":"lookup_forecast","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}}]`
	messagesBody = `{"model":"claude-sonnet-4-5","max_tokens":100,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Weather in Lisbon tomorrow?"}]}]`
	anTools      = `,"tools":[{"name":"lookup_forecast","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
	geminiBody   = `{"systemInstruction":{"parts":[{"text":"Be brief."}]},"contents":[{"role":"user","parts":[{"text":"Weather in Lisbon tomorrow?"}]}]`
	gmTools      = `,"tools":[{"functionDeclarations":[{"name":"lookup_forecast","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}]`
)

// TestWire pins the exact bytes the mock sends for each endpoint, format
// and in-stream fault. Run with -update to rewrite testdata/*.golden.
func TestWire(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body, fault string
		header                          map[string]string
	}{
		{name: "openai_chat", path: "/v1/chat/completions", body: chatBody},
		{name: "openai_chat_stream", path: "/v1/chat/completions", body: chatBody[:len(chatBody)-1] + `,"stream":true,"stream_options":{"include_usage":true}}`},
		{name: "openai_chat_tool", path: "/v1/chat/completions", body: chatBody[:len(chatBody)-1] + chatTools + `}`},
		{name: "openai_chat_stream_tool", path: "/v1/chat/completions", body: chatBody[:len(chatBody)-1] + chatTools + `,"stream":true}`},
		{name: "openai_chat_stream_error_event", path: "/v1/chat/completions", body: chatBody[:len(chatBody)-1] + `,"stream":true}`, fault: "error_event_after=2"},
		{name: "openai_chat_stream_malformed", path: "/v1/chat/completions", body: chatBody[:len(chatBody)-1] + `,"stream":true}`, fault: "malformed"},
		{name: "openai_chat_malformed", path: "/v1/chat/completions", body: chatBody, fault: "malformed"},
		{name: "openai_error_429", path: "/v1/chat/completions", body: chatBody, fault: "status=429,retry_after=1500ms"},
		{name: "openai_context_length", path: "/v1/chat/completions", body: chatBody, fault: "context_length"},
		{name: "openai_bad_json", path: "/v1/chat/completions", body: `{"model":`},
		{name: "openai_embeddings", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":["a","b"],"dimensions":4}`},
		{name: "openai_embeddings_base64", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"a","dimensions":4,"encoding_format":"base64"}`},
		{name: "openai_responses", path: "/v1/responses", body: `{"model":"gpt-4o-mini","instructions":"Be brief.","input":"Weather in Lisbon tomorrow?"}`},
		{name: "openai_responses_stream", path: "/v1/responses", body: `{"model":"gpt-4o-mini","input":[{"role":"user","content":"Weather?"}],"stream":true}`},
		{name: "openai_models", method: "GET", path: "/v1/models"},
		{name: "openai_unknown_path", path: "/v1/nope", body: `{}`},
		{name: "anthropic_messages", path: "/v1/messages", body: messagesBody + `}`},
		{name: "anthropic_messages_stream", path: "/v1/messages", body: messagesBody + `,"stream":true}`},
		{name: "anthropic_messages_stream_tool", path: "/v1/messages", body: messagesBody + anTools + `,"stream":true}`},
		{name: "anthropic_messages_stream_error_event", path: "/v1/messages", body: messagesBody + `,"stream":true}`, fault: "error_event_after=3"},
		{name: "anthropic_error_529", path: "/v1/messages", body: messagesBody + `}`, fault: "status=529"},
		{name: "anthropic_context_length", path: "/v1/messages", body: messagesBody + `}`, fault: "context_length"},
		{name: "anthropic_count_tokens", path: "/v1/messages/count_tokens", body: messagesBody + `}`},
		{name: "anthropic_models", method: "GET", path: "/v1/models", header: map[string]string{"anthropic-version": "2023-06-01"}},
		{name: "gemini_generate", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: geminiBody + `}`},
		{name: "gemini_generate_tool", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: geminiBody + gmTools + `}`},
		{name: "gemini_stream", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: geminiBody + `}`},
		{name: "gemini_stream_tool", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: geminiBody + gmTools + `}`},
		{name: "gemini_stream_json_array", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", body: geminiBody + `}`},
		{name: "gemini_stream_error_event", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: geminiBody + `}`, fault: "error_event_after=1"},
		{name: "gemini_error_429", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: geminiBody + `}`, fault: "status=429"},
		{name: "gemini_context_length", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: geminiBody + `}`, fault: "context_length"},
		{name: "gemini_count_tokens", path: "/v1beta/models/gemini-2.5-flash:countTokens", body: geminiBody + `}`},
		{name: "gemini_models", method: "GET", path: "/v1beta/models"},
		{name: "gemini_method_not_allowed", method: "GET", path: "/v1beta/models/gemini-2.5-flash:generateContent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{Clock: stillClock{testNow}})
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, tc.path, strings.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.fault != "" {
				req.Header.Set(FaultHeader, tc.fault)
			}
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, req)
			got := dump(rec)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestWire -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -run TestWire -update rewrites it):\n--- got\n%s\n--- want\n%s", tc.name, got, want)
			}
		})
	}
}

// dump renders a recorded response: status line, sorted headers, body.
func dump(rec *httptest.ResponseRecorder) []byte {
	var b bytes.Buffer
	b.WriteString("HTTP " + http.StatusText(rec.Code) + " " + itoa(rec.Code) + "\n")
	keys := make([]string, 0, len(rec.Header()))
	for k := range rec.Header() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + ": " + strings.Join(rec.Header()[k], ", ") + "\n")
	}
	b.WriteString("\n")
	b.Write(rec.Body.Bytes())
	return b.Bytes()
}
