package mock

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Replay is an upstream that costs next to nothing: it answers OpenAI chat
// completions and Anthropic messages, streamed or not, with answers a Mock
// produced once. Benchmarks put it behind what they measure, so the
// upstream's own work does not blur the figures. It is safe for concurrent
// use.
type Replay struct {
	openai, anthropic canned
}

// canned is one recorded answer: the whole body, and a stream split into
// its events.
type canned struct {
	unary  []byte
	events [][]byte
}

// NewReplay records the answers from a default Mock.
func NewReplay() (*Replay, error) {
	m := New(Options{MaxRecorded: -1})
	defer m.Close()
	var err error
	rec := func(path, body string, h http.Header) []byte {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		m.ServeHTTP(w, r)
		if w.Code != http.StatusOK && err == nil {
			err = fmt.Errorf("mock: recording %s: HTTP %d: %s", path, w.Code, w.Body)
		}
		return w.Body.Bytes()
	}
	const msgs = `"messages":[{"role":"user","content":"Say hello to the benchmark"}]`
	ah := http.Header{"Anthropic-Version": {"2023-06-01"}, "X-Api-Key": {"x"}}
	u := &Replay{}
	u.openai.unary = rec("/v1/chat/completions", `{"model":"gpt-4o-mini",`+msgs+`}`, nil)
	u.openai.events = splitEvents(rec("/v1/chat/completions",
		`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},`+msgs+`}`, nil))
	u.anthropic.unary = rec("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,`+msgs+`}`, ah)
	u.anthropic.events = splitEvents(rec("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,`+msgs+`}`, ah))
	return u, err
}

// splitEvents cuts an SSE body after each blank line.
func splitEvents(body []byte) [][]byte {
	var out [][]byte
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\n\n"))
		if i < 0 {
			return append(out, body)
		}
		out = append(out, body[:i+2])
		body = body[i+2:]
	}
	return out
}

var streamTrue = []byte(`"stream":true`)

// ServeHTTP replays the answer for the request's path, streamed when the
// body asks for a stream, flushing each event.
func (u *Replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := &u.openai
	if r.URL.Path == "/v1/messages" {
		c = &u.anthropic
	}
	if !bytes.Contains(body, streamTrue) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(c.unary)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	for _, ev := range c.events {
		_, _ = w.Write(ev)
		if f != nil {
			f.Flush()
		}
	}
}
