// Package collectortest runs llmgate's tracing against the OpenTelemetry
// Collector's own OTLP receiver (gRPC and HTTP), built from its Go
// modules. It is a module of its own so the collector's dependencies stay
// out of llmgate's go.mod; CI runs it from .ci/run.
package collectortest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startCollector runs the collector's OTLP receiver on loopback and returns
// its gRPC and HTTP addresses and the sink that gets every span.
func startCollector(t *testing.T) (grpcAddr, httpAddr string, sink *consumertest.TracesSink) {
	t.Helper()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	grpcAddr, httpAddr = freeAddr(t), freeAddr(t)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr
	sink = new(consumertest.TracesSink)
	rcv, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rcv.Shutdown(context.Background()) })
	return grpcAddr, httpAddr, sink
}

type span struct {
	ptrace.Span
	service string
}

func spans(sink *consumertest.TracesSink) []span {
	var out []span
	for _, td := range sink.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					out = append(out, span{ss.At(k), svc.AsString()})
				}
			}
		}
	}
	return out
}

func attr(s span, key string) string {
	v, ok := s.Attributes().Get(key)
	if !ok {
		return "<none>"
	}
	return v.AsString()
}

func TestTracesReachTheCollector(t *testing.T) {
	grpcAddr, httpAddr, sink := startCollector(t)
	for _, tc := range []struct{ protocol, endpoint string }{
		{"grpc", "http://" + grpcAddr},
		{"http/protobuf", "http://" + httpAddr},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			sink.Reset()
			var mu sync.Mutex
			var upstreamTraceparent string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				upstreamTraceparent = r.Header.Get("Traceparent")
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":4,"total_tokens":11}}`)
			}))
			defer up.Close()
			yaml := fmt.Sprintf(`storage: {data_dir: %s}
telemetry: {endpoint: %q, protocol: %s, service_name: gateway-under-test}
providers:
  a: {type: openai, base_url: %s/v1, api_key: k}
models:
  m: {route: [a/m]}
`, t.TempDir(), tc.endpoint, tc.protocol, up.URL)
			cfg, err := config.Parse("otel.yaml", []byte(yaml), func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			app, err := cli.NewApp(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(app.Handler)
			const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			app.Close(ctx) // flushes the batch to the collector
			cancel()

			deadline := time.Now().Add(10 * time.Second)
			for sink.SpanCount() < 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // polling the sink; the export is already flushed
			}
			all := spans(sink)
			var server, client *span
			for i := range all {
				switch all[i].Kind() {
				case ptrace.SpanKindServer:
					server = &all[i]
				case ptrace.SpanKindClient:
					client = &all[i]
				}
			}
			if server == nil || client == nil {
				t.Fatalf("the collector got %d spans, want a server and a client span", len(all))
			}
			if got := server.TraceID().String(); got != clientTrace {
				t.Errorf("server span trace %s, want the client's %s", got, clientTrace)
			}
			if got := server.ParentSpanID().String(); got != "00f067aa0ba902b7" {
				t.Errorf("server span parent %s, want the client's span", got)
			}
			if server.service != "gateway-under-test" {
				t.Errorf("service.name %q", server.service)
			}
			if server.Name() != "chat m" {
				t.Errorf("server span name %q, want \"chat m\"", server.Name())
			}
			for k, want := range map[string]string{
				"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.response.model": "m",
				"gen_ai.provider.name": "a", "gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": "4",
				"llmgate.attempts": "1", "llmgate.fallback": "false", "http.response.status_code": "200",
			} {
				if got := attr(*server, k); got != want {
					t.Errorf("server span %s = %s, want %s", k, got, want)
				}
			}
			if client.ParentSpanID() != server.SpanID() || client.TraceID() != server.TraceID() {
				t.Errorf("the client span is not a child of the server span")
			}
			for k, want := range map[string]string{
				"gen_ai.provider.name": "a", "gen_ai.request.model": "m", "http.response.status_code": "200",
			} {
				if got := attr(*client, k); got != want {
					t.Errorf("client span %s = %s, want %s", k, got, want)
				}
			}
			mu.Lock()
			tp := upstreamTraceparent
			mu.Unlock()
			if want := "00-" + clientTrace + "-" + client.SpanID().String() + "-01"; tp != want {
				t.Errorf("upstream got traceparent %q, want %q (the attempt's span)", tp, want)
			}
		})
	}
}

// TestSampleRatioZeroFollowsOnlySampledParents: with sample_ratio 0 a
// request without traceparent exports nothing; one whose client sampled
// its trace is still traced.
func TestSampleRatioZeroFollowsOnlySampledParents(t *testing.T) {
	_, httpAddr, sink := startCollector(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":4,"total_tokens":11}}`)
	}))
	defer up.Close()
	yaml := fmt.Sprintf(`storage: {data_dir: %s}
telemetry: {endpoint: "http://%s", sample_ratio: 0}
providers:
  a: {type: openai, base_url: %s/v1, api_key: k}
models:
  m: {route: [a/m]}
`, t.TempDir(), httpAddr, up.URL)
	cfg, err := config.Parse("otel.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	const sampled = "0af7651916cd43dd8448eb211c80319c"
	for _, tp := range []string{"", "00-" + sampled + "-b7ad6b7169203331-01"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		if tp != "" {
			req.Header.Set("Traceparent", tp)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	app.Close(ctx) // flushes everything exported
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for sink.SpanCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	all := spans(sink)
	if len(all) != 2 {
		t.Fatalf("the collector got %d spans, want 2 (server and client of the sampled request only)", len(all))
	}
	for _, s := range all {
		if s.TraceID().String() != sampled {
			t.Errorf("span %q of trace %s exported; only the client-sampled trace %s should be", s.Name(), s.TraceID(), sampled)
		}
	}
}
