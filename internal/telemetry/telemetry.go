// Package telemetry exports OpenTelemetry traces of llmgate over OTLP (HTTP
// or gRPC): a server span per client API request, annotated with the GenAI
// semantic conventions from the request's record, and a client span per
// upstream HTTP attempt, whose context goes upstream as W3C traceparent.
//
// When tracing is off nothing here is on the request path: New returns nil
// and the caller wires nothing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/store"
)

// Enabled reports whether c (with the OTEL_* environment from getenv)
// turns tracing on.
func Enabled(c config.Telemetry, getenv func(string) string) bool {
	if getenv("OTEL_SDK_DISABLED") == "true" {
		return false
	}
	if c.Enabled != nil {
		return *c.Enabled
	}
	return c.Endpoint != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing is a running trace pipeline. It is safe for concurrent use.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator

	mu      sync.Mutex // protects following
	records map[string]store.Record
}

// maxPending bounds records waiting for their server span.
const maxPending = 10000

// New starts the exporter and tracer provider, or returns nil when tracing
// is off. Exporter settings not in c come from the OTEL_* environment
// (read by the OTel SDK from the process environment).
func New(ctx context.Context, c config.Telemetry, getenv func(string) string, version string) (*Tracing, error) {
	if !Enabled(c, getenv) {
		return nil, nil
	}
	proto := c.Protocol
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if proto == "" {
			proto = getenv(k)
		}
	}
	var (
		exp *otlptrace.Exporter
		err error
	)
	switch proto {
	case "grpc":
		var o []otlptracegrpc.Option
		if c.Endpoint != "" {
			o = append(o, otlptracegrpc.WithEndpointURL(c.Endpoint))
		}
		if len(c.Headers) > 0 {
			o = append(o, otlptracegrpc.WithHeaders(c.Headers))
		}
		exp, err = otlptracegrpc.New(ctx, o...)
	case "", "http/protobuf":
		var o []otlptracehttp.Option
		if c.Endpoint != "" {
			o = append(o, otlptracehttp.WithEndpointURL(strings.TrimSuffix(c.Endpoint, "/")+"/v1/traces"))
		}
		if len(c.Headers) > 0 {
			o = append(o, otlptracehttp.WithHeaders(c.Headers))
		}
		exp, err = otlptracehttp.New(ctx, o...)
	default:
		return nil, fmt.Errorf("telemetry: unknown OTLP protocol %q (telemetry.protocol or OTEL_EXPORTER_OTLP_PROTOCOL): want grpc or http/protobuf", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: starting the OTLP exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", "llmgate"), attribute.String("service.version", version)}
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	if c.ServiceName != "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", c.ServiceName)))
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if c.SampleRatio != nil { // else the SDK reads OTEL_TRACES_SAMPLER
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*c.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracing{tp: tp, tracer: tp.Tracer("github.com/llmgate/llmgate"),
		prop:    propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		records: map[string]store.Record{}}, nil
}

// Shutdown flushes the spans still queued and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// traced reports whether path is a client API path (not health, metrics,
// admin).
func traced(path string) bool {
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/v1beta/")
}

// Middleware starts a server span for each client API request, continuing
// the client's traceparent, and ends it with the request's record (see
// Record) once the handler returns.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !traced(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if id := w.Header().Get("X-Request-Id"); id != "" {
			if rec, ok := t.take(id); ok {
				annotate(span, rec)
			}
		}
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	})
}

// Record keeps a finished request's record for its server span. Give it
// every record (it is a gateway.Recorder); records of untraced requests
// are dropped when too many wait.
func (t *Tracing) Record(rec store.Record) {
	t.mu.Lock()
	if len(t.records) >= maxPending {
		clear(t.records)
	}
	t.records[rec.ID] = rec
	t.mu.Unlock()
}

func (t *Tracing) take(id string) (store.Record, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.records[id]
	delete(t.records, id)
	return rec, ok
}

// operation is the gen_ai.operation.name of an llmgate operation.
func operation(op string) string {
	switch op {
	case "chat", "responses":
		return "chat"
	case "embeddings":
		return "embeddings"
	}
	return op
}

// annotate sets the GenAI attributes of a server span from its record.
func annotate(span trace.Span, rec store.Record) {
	op := operation(rec.Op)
	if rec.ModelAsked != "" && op != "" {
		span.SetName(op + " " + rec.ModelAsked)
	}
	a := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", op),
		attribute.String("gen_ai.request.model", rec.ModelAsked),
		attribute.String("llmgate.request_id", rec.ID),
		attribute.String("llmgate.client_format", rec.ClientFormat),
		attribute.Int("llmgate.attempts", rec.Attempts),
		attribute.Bool("llmgate.fallback", rec.Fallback),
		attribute.Bool("llmgate.stream", rec.Stream),
	}
	if rec.Provider != "" {
		a = append(a, attribute.String("gen_ai.provider.name", rec.Provider),
			attribute.String("gen_ai.response.model", rec.ModelServed))
	}
	if rec.InputTokens > 0 || rec.OutputTokens > 0 {
		a = append(a, attribute.Int("gen_ai.usage.input_tokens", rec.InputTokens),
			attribute.Int("gen_ai.usage.output_tokens", rec.OutputTokens))
	}
	if rec.TTFT > 0 {
		a = append(a, attribute.Float64("llmgate.time_to_first_token_s", rec.TTFT.Seconds()))
	}
	if rec.ErrorKind != "" {
		a = append(a, attribute.String("error.type", rec.ErrorKind))
		span.SetStatus(codes.Error, rec.ErrorMessage)
	}
	span.SetAttributes(a...)
}

// Transport wraps an upstream provider's transport: each round trip (one
// attempt) is a client span, child of the request's server span, and its
// context goes upstream as traceparent. The span ends when the response
// body is closed or fully read, so it covers a whole stream.
func (t *Tracing) Transport(provider string, base http.RoundTripper) http.RoundTripper {
	return &transport{t: t, provider: provider, base: base}
}

type transport struct {
	t        *Tracing
	provider string
	base     http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := tr.t.tracer.Start(req.Context(), "chat", trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() { // unsampled: no body parsing, no attributes
		model := requestModel(req)
		if model != "" {
			span.SetName("chat " + model)
		}
		span.SetAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", tr.provider),
			attribute.String("gen_ai.request.model", model),
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname()),
			attribute.String("url.path", req.URL.Path), // no query: Gemini keys may be there
		)
	}
	out := req.Clone(ctx)
	tr.t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := tr.base.RoundTrip(out)
	if err != nil {
		span.RecordError(err)
		span.SetAttributes(attribute.String("error.type", "transport"))
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetAttributes(attribute.String("error.type", fmt.Sprint(resp.StatusCode)))
		span.SetStatus(codes.Error, resp.Status)
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// requestModel finds the model of an upstream request: Gemini names it in
// the path, the others in the JSON body (read from a copy).
func requestModel(req *http.Request) string {
	if _, rest, ok := strings.Cut(req.URL.Path, "/models/"); ok {
		m, _, _ := strings.Cut(rest, ":")
		return m
	}
	if req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return ""
	}
	v, err := jsonscan.Fields(b, "model")
	if err != nil {
		return ""
	}
	m, _ := jsonscan.String(v[0])
	return m
}

// spanBody ends its span once the body is done.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.span.RecordError(err)
		b.span.SetStatus(codes.Error, err.Error())
	}
	if err != nil {
		b.end()
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (b *spanBody) end() { b.once.Do(func() { b.span.End() }) }

// statusWriter records the status code; Flush and Unwrap keep streaming
// and http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
