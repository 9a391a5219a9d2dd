package server_test

// Benchmarks of the whole HTTP surface: the server's handler in front of the
// gateway (ServeHTTP), and real HTTP over loopback next to a bare
// httputil.ReverseProxy in front of the same upstream (Loopback). Run them
// with
//
//	go test -run XXX -bench . -benchmem ./internal/server
//
// They build nothing unless a benchmark runs.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
)

// newBenchUpstream is the canned upstream every benchmark sits in front of.
func newBenchUpstream(b *testing.B) http.Handler {
	b.Helper()
	u, err := mock.NewReplay()
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// benchApp is llmgate wired as llmgate serve wires it (cli.NewApp) in front
// of upstream: gpt-4o-mini passes through to an openai provider and
// gpt-via-claude is translated to an anthropic one. dataDir != "" persists
// the request log to SQLite there, as the default configuration does.
func benchApp(b *testing.B, upstream, dataDir string) *cli.App {
	b.Helper()
	// persist: false still opens the store (keys and counters live there),
	// so it gets a data dir of its own too, never the working directory.
	persist := fmt.Sprintf("request_log: {persist: false}\nstorage: {data_dir: %q}", b.TempDir())
	if dataDir != "" {
		persist = fmt.Sprintf("request_log: {persist: true}\nstorage: {data_dir: %q}", dataDir)
	}
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
%s
providers:
  oai: {type: openai, base_url: %s/v1, api_key: x, models: [gpt-4o-mini]}
  ant: {type: anthropic, base_url: %s, api_key: x, models: [claude-sonnet-4-5]}
models:
  gpt-via-claude: {route: [ant/claude-sonnet-4-5]}
`, persist, upstream, upstream)
	cfg, err := config.Parse("bench.yaml", []byte(yaml), nil)
	if err != nil {
		b.Fatal(err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return app
}

// benchBareProxy is the ceiling of bench/load: httputil.ReverseProxy with
// a pooled transport, reading the request body before forwarding it.
func benchBareProxy(upstream string) http.Handler {
	u, _ := url.Parse(upstream)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	tr.DisableCompression = true
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			b, _ := io.ReadAll(r.In.Body)
			r.Out.Body = io.NopCloser(bytes.NewReader(b))
			r.Out.ContentLength = int64(len(b))
		},
		Transport:     tr,
		FlushInterval: -1,
	}
}

// benchWriter is a ResponseWriter that counts what it is given, and keeps
// it when keep is set.
type benchWriter struct {
	h    http.Header
	code int
	n    int
	keep bool
	buf  bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	if w.keep {
		w.buf.Write(p)
	}
	return len(p), nil
}
func (w *benchWriter) Flush() {}

func (w *benchWriter) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
	w.buf.Reset()
}

// benchRequest is one kind of client request.
type benchRequest struct {
	name string
	path string
	body string
	want string // a substring of a correct answer
}

func benchRequests() []benchRequest {
	const oai = `"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark"}]}`
	return []benchRequest{
		{"passthrough", "/v1/chat/completions", `{"model":"gpt-4o-mini","max_tokens":64,` + oai, `"Mock reply to: `},
		{"passthrough-stream", "/v1/chat/completions", `{"model":"gpt-4o-mini","max_tokens":64,"stream":true,` + oai, "data: [DONE]"},
		{"translated", "/v1/chat/completions", `{"model":"gpt-via-claude","max_tokens":64,` + oai, `"Mock reply to: `},
		{"translated-stream", "/v1/chat/completions", `{"model":"gpt-via-claude","max_tokens":64,"stream":true,` + oai, "data: [DONE]"},
	}
}

func (q benchRequest) new() *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://llmgate"+q.path, strings.NewReader(q.body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer sk-client")
	return r
}

// BenchmarkServeHTTP measures llmgate's handler: request id, credentials,
// the bounded body read, the model and stream fields, and the pipeline, with
// the upstream on loopback. Building the inbound request costs about a
// dozen of the allocations reported.
func BenchmarkServeHTTP(b *testing.B) {
	up := httptest.NewServer(newBenchUpstream(b))
	b.Cleanup(up.Close)
	app := benchApp(b, up.URL, "")
	for _, q := range benchRequests() {
		b.Run(q.name, func(b *testing.B) {
			w := &benchWriter{h: http.Header{}, keep: true}
			app.Handler.ServeHTTP(w, q.new())
			if w.code != http.StatusOK || !strings.Contains(w.buf.String(), q.want) {
				b.Fatalf("HTTP %d, want 200 with %q:\n%s", w.code, q.want, w.buf.String())
			}
			w.keep = false
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				app.Handler.ServeHTTP(w, q.new())
			}
		})
	}
}

// BenchmarkLoopback sends real HTTP requests over loopback keep-alive
// connections to the bare proxy and to llmgate (with the request log in
// memory, and persisted to SQLite), each in front of the same canned
// upstream. Every figure includes the client and the upstream, which run in
// the same process: compare the targets with each other.
func BenchmarkLoopback(b *testing.B) {
	up := httptest.NewServer(newBenchUpstream(b))
	b.Cleanup(up.Close)
	targets := []struct {
		name string
		h    http.Handler
	}{
		{"proxy", benchBareProxy(up.URL)},
		{"llmgate", benchApp(b, up.URL, "").Handler},
		{"llmgate-sqlite", benchApp(b, up.URL, b.TempDir()).Handler},
	}
	for _, q := range benchRequests()[:2] {
		for _, t := range targets {
			b.Run(q.name+"/"+t.name, func(b *testing.B) {
				srv := httptest.NewServer(t.h)
				defer srv.Close()
				tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
				defer tr.CloseIdleConnections()
				hc := &http.Client{Transport: tr}
				do := func() ([]byte, error) {
					r := q.new()
					r.URL, _ = url.Parse(srv.URL + q.path)
					r.Host = ""
					resp, err := hc.Do(r)
					if err != nil {
						return nil, err
					}
					defer resp.Body.Close()
					body, err := io.ReadAll(resp.Body)
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
					}
					return body, err
				}
				if body, err := do(); err != nil || !bytes.Contains(body, []byte(q.want)) {
					b.Fatalf("want %q, got %v:\n%s", q.want, err, body)
				}
				b.ReportAllocs()
				b.SetParallelism(16) // 32 clients on 2 cores, as bench/load
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := do(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
