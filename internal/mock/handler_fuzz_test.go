package mock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var fuzzPaths = []string{
	"/v1/chat/completions",
	"/v1/embeddings",
	"/v1/responses",
	"/v1/messages",
	"/v1/messages/count_tokens",
	"/v1beta/models/gemini-2.5-flash:generateContent",
	"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
	"/v1beta/models/gemini-2.5-flash:countTokens",
}

// FuzzRequestBody feeds arbitrary bodies to every POST endpoint: the mock
// must answer 200 or a 4xx in its format, never panic, and every JSON body
// it sends must be valid.
func FuzzRequestBody(f *testing.F) {
	for i, body := range []string{
		chatBody, chatBody[:len(chatBody)-1] + chatTools + `,"stream":true}`,
		`{"model":"e","input":[[1,2],[3]]}`, `{"input":[{"type":"function_call_output","output":"x"}]}`,
		messagesBody + anTools + `}`, messagesBody + `}`,
		geminiBody + gmTools + `}`, geminiBody + `}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tool_choice":{"type":"function","function":{"name":"x"}}}`,
		`null`, `[]`, `{"messages":null}`, ``,
	} {
		f.Add(uint8(i), body)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		m := New(Options{Clock: stillClock{testNow}})
		path := fuzzPaths[int(which)%len(fuzzPaths)]
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s %q: status %d", path, body, rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: invalid JSON body %q", path, body, rec.Body.String())
		}
	})
}
