package mock

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so the benchmarks measure
// the handler alone.
type discard struct {
	h      http.Header
	n      int
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.status = code }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) Flush()                      {}

func benchHandler(b *testing.B, opts Options, path, body string) {
	m := New(opts)
	payload := []byte(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.RunParallel(func(pb *testing.PB) {
		req, err := http.NewRequest(http.MethodPost, "http://mock"+path, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer x")
		rd := bytes.NewReader(payload)
		req.Body = io.NopCloser(rd)
		w := &discard{h: make(http.Header, 16)}
		for pb.Next() {
			rd.Reset(payload)
			req.ContentLength = int64(len(payload))
			clear(w.h)
			m.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
}

// BenchmarkChatCompletion is the gateway load test's hot path: a
// non-streaming chat completion through the handler.
func BenchmarkChatCompletion(b *testing.B) {
	b.Run("recording", func(b *testing.B) { benchHandler(b, Options{}, "/v1/chat/completions", chatBody) })
	b.Run("no recording", func(b *testing.B) {
		benchHandler(b, Options{MaxRecorded: -1}, "/v1/chat/completions", chatBody)
	})
}

func BenchmarkChatCompletionStream(b *testing.B) {
	benchHandler(b, Options{MaxRecorded: -1}, "/v1/chat/completions", chatBody[:len(chatBody)-1]+`,"stream":true,"stream_options":{"include_usage":true}}`)
}

func BenchmarkMessages(b *testing.B) {
	benchHandler(b, Options{MaxRecorded: -1}, "/v1/messages", messagesBody+`}`)
}
