package telemetry_test

import (
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
	"github.com/llmgate/llmgate/internal/server"
	"github.com/llmgate/llmgate/internal/telemetry"
)

func TestEnabled(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name string
		cfg  config.Telemetry
		env  map[string]string
		want bool
	}{
		{"nothing configured", config.Telemetry{}, nil, false},
		{"endpoint in config", config.Telemetry{Endpoint: "http://127.0.0.1:4318"}, nil, true},
		{"standard endpoint variable", config.Telemetry{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, true},
		{"traces endpoint variable", config.Telemetry{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"enabled without endpoint (OTel default)", config.Telemetry{Enabled: &on}, nil, true},
		{"disabled despite an endpoint", config.Telemetry{Enabled: &off, Endpoint: "http://c:4318"}, nil, false},
		{"OTEL_SDK_DISABLED wins", config.Telemetry{Enabled: &on}, map[string]string{"OTEL_SDK_DISABLED": "true"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := telemetry.Enabled(tt.cfg, func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("Enabled = %v, want %v", got, tt.want)
			}
		})
	}
}

// newApp builds the app in front of a fake OpenAI upstream; telemetry is
// the YAML of the telemetry block ("" for none).
func newApp(tb testing.TB, telemetryYAML string) (http.Handler, *cli.App) {
	tb.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":4,"total_tokens":11}}`)
	}))
	tb.Cleanup(up.Close)
	yaml := fmt.Sprintf("storage: {data_dir: %s}\nrequest_log: {persist: false}\n%s\nproviders:\n  a: {type: openai, base_url: %s/v1, api_key: k}\nmodels:\n  m: {route: [a/m]}\n",
		tb.TempDir(), telemetryYAML, up.URL)
	cfg, err := config.Parse("t.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return app.Handler, app
}

func TestOffMeansNothingOnThePath(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	h, app := newApp(t, "")
	if _, ok := h.(*server.Server); !ok {
		t.Errorf("with tracing off the handler is %T, want the bare *server.Server (no middleware)", h)
	}
	for _, u := range app.Router.Upstreams() {
		if _, ok := u.Client.Transport.(*http.Transport); !ok {
			t.Errorf("with tracing off provider %s's transport is %T, want the bare *http.Transport", u.Name, u.Client.Transport)
		}
	}
}

// BenchmarkTracing is the hot-path cost of tracing: the same request with
// tracing off and with every request sampled and exported (to a loopback
// OTLP/HTTP endpoint that accepts everything).
func BenchmarkTracing(b *testing.B) {
	sinkSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(sinkSrv.Close)
	for _, bc := range []struct{ name, yaml string }{
		{"off", ""},
		{"on", fmt.Sprintf("telemetry: {endpoint: %q, protocol: http/protobuf, sample_ratio: 1}", sinkSrv.URL)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, _ := newApp(b, bc.yaml)
			srv := httptest.NewServer(h)
			defer srv.Close()
			body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
			b.ReportAllocs()
			for b.Loop() {
				resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
