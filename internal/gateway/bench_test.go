package gateway_test

// Benchmarks of the request pipeline alone: Gateway.Handle with a canned
// upstream on loopback, no HTTP server in front. Run them with
//
//	go test -run XXX -bench . -benchmem ./internal/gateway
//
// They build nothing unless a benchmark runs.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/provider"
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

// benchApp is a gateway wired as llmgate serve wires it (cli.NewApp) in
// front of a canned upstream: gpt-4o-mini passes through to an openai
// provider, claude-sonnet-4-5 passes through to an anthropic one, and
// gpt-via-claude is translated from OpenAI to Anthropic.
func benchApp(b *testing.B) (*cli.App, *httptest.Server) {
	b.Helper()
	up := httptest.NewServer(newBenchUpstream(b))
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
request_log: {persist: false}
storage: {data_dir: %q}
providers:
  oai: {type: openai, base_url: %s/v1, api_key: x, models: [gpt-4o-mini]}
  ant: {type: anthropic, base_url: %s, api_key: x, models: [claude-sonnet-4-5]}
models:
  gpt-via-claude: {route: [ant/claude-sonnet-4-5]}
`, b.TempDir(), up.URL, up.URL)
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
		up.Close()
	})
	return app, up
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

// benchCase is one kind of request through the pipeline.
type benchCase struct {
	name   string
	format provider.Format
	path   string
	model  string
	stream bool
	body   string
	want   string // a substring of a correct answer
}

func benchCases() []benchCase {
	const (
		oai = `"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark"}]}`
		ant = `"system":"You are terse.","messages":[{"role":"user","content":"Say hello to the benchmark"}]}`
	)
	return []benchCase{
		{name: "passthrough", format: provider.FormatOpenAI, path: "/v1/chat/completions", model: "gpt-4o-mini",
			body: `{"model":"gpt-4o-mini","max_tokens":64,` + oai, want: `"Mock reply to: `},
		{name: "passthrough-stream", format: provider.FormatOpenAI, path: "/v1/chat/completions", model: "gpt-4o-mini",
			stream: true, body: `{"model":"gpt-4o-mini","max_tokens":64,"stream":true,` + oai, want: "data: [DONE]"},
		{name: "passthrough-anthropic-stream", format: provider.FormatAnthropic, path: "/v1/messages", model: "claude-sonnet-4-5",
			stream: true, body: `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,` + ant, want: "event: message_stop"},
		{name: "translated", format: provider.FormatOpenAI, path: "/v1/chat/completions", model: "gpt-via-claude",
			body: `{"model":"gpt-via-claude","max_tokens":64,` + oai, want: `"Mock reply to: `},
		{name: "translated-stream", format: provider.FormatOpenAI, path: "/v1/chat/completions", model: "gpt-via-claude",
			stream: true, body: `{"model":"gpt-via-claude","max_tokens":64,"stream":true,` + oai, want: "data: [DONE]"},
	}
}

func (c benchCase) call(body []byte) *gateway.Call {
	return &gateway.Call{RequestID: "req_bench", Start: time.Now(), Format: c.format, Op: provider.OpChat,
		Model: c.model, Stream: c.stream, Body: body, Header: http.Header{}}
}

// BenchmarkGatewayServe measures Gateway.Handle: routing, the upstream
// request on a pooled connection, reading or pumping the answer, the
// request record. The body is copied per call as the server reads it.
func BenchmarkGatewayServe(b *testing.B) {
	app, up := benchApp(b)
	// The floor: the same upstream request from a plain client, as the
	// gateway's transport would send it, without the gateway.
	b.Run("upstream-only", func(b *testing.B) {
		hc := &http.Client{Transport: gateway.NewTransport(config.Timeouts{}, "")}
		body := []byte(benchCases()[0].body)
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, up.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, c.path, nil)
			w := &benchWriter{h: http.Header{}, keep: true}
			if e := app.Gateway.Handle(w, r, c.call([]byte(c.body))); e != nil {
				b.Fatal(e)
			}
			if w.code != http.StatusOK || !strings.Contains(w.buf.String(), c.want) {
				b.Fatalf("HTTP %d, want 200 with %q:\n%s", w.code, c.want, w.buf.String())
			}
			w.keep = false
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				body := append([]byte(nil), c.body...)
				if e := app.Gateway.Handle(w, r, c.call(body)); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// BenchmarkGovernedServe measures what a virtual key costs a request: the
// server's whole handler (credentials, body read, pipeline, request
// record) with the request log on SQLite in a temp dir, as the default
// configuration runs, for a request without a key and one with a key that
// has rpm, tpm and a budget (limits high enough that nothing is refused).
// The upstream is a canned loopback server. Compare the two sub-benchmarks
// of one run: their ratio is what governance costs.
//
//	go test -run XXX -bench GovernedServe -benchmem ./internal/gateway
func BenchmarkGovernedServe(b *testing.B) {
	up := httptest.NewServer(newBenchUpstream(b))
	b.Cleanup(up.Close)
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
storage: {data_dir: %q}
providers:
  oai: {type: openai, base_url: %s/v1, api_key: x, models: [gpt-4o-mini]}
`, b.TempDir(), up.URL)
	cfg, err := config.Parse("bench.yaml", []byte(yaml), func(string) string { return "" })
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
	nk, err := app.Governor.CreateKey(context.Background(), governance.KeySpec{Name: "bench",
		RPM: 1 << 30, TPM: 1 << 30, BudgetUSD: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	const body = `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark"}]}`
	for _, tc := range []struct{ name, auth string }{
		{"no-key", "Bearer sk-client"},
		{"key-rpm-tpm-budget", "Bearer " + nk.Secret},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, "http://llmgate/v1/chat/completions", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", tc.auth)
				return r
			}
			w := &benchWriter{h: http.Header{}, keep: true}
			app.Handler.ServeHTTP(w, req())
			if w.code != http.StatusOK || !strings.Contains(w.buf.String(), `"Mock reply to: `) {
				b.Fatalf("HTTP %d:\n%s", w.code, w.buf.String())
			}
			w.keep = false
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				app.Handler.ServeHTTP(w, req())
				if w.code != http.StatusOK {
					b.Fatalf("HTTP %d", w.code)
				}
			}
		})
	}
}
