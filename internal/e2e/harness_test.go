package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
)

// The model names clients ask for, and what each routes to upstream. The
// upstream names differ from the asked ones so that tests see the gateway
// rewrite the model.
const (
	modelOA = "gpt-4o"
	modelAN = "claude-sonnet-4-5"
	modelGE = "gemini-2.5-flash"

	upOA = "gpt-4o-2024-11-20"
	upAN = "claude-sonnet-4-5-20250929"
	upGE = "gemini-2.5-flash-001"
)

// Client (inbound) and provider (upstream) wire formats.
const (
	fmtOpenAI    = "openai"
	fmtAnthropic = "anthropic"
	fmtGemini    = "gemini"
)

var formats = []string{fmtOpenAI, fmtAnthropic, fmtGemini}

// providerFor is the provider name configured for each upstream format.
var providerFor = map[string]string{fmtOpenAI: "oa", fmtAnthropic: "an", fmtGemini: "ge"}

// modelFor is the model name that routes to each upstream format.
var modelFor = map[string]string{fmtOpenAI: modelOA, fmtAnthropic: modelAN, fmtGemini: modelGE}

// upstreamModelFor is the model each upstream is asked for.
var upstreamModelFor = map[string]string{fmtOpenAI: upOA, fmtAnthropic: upAN, fmtGemini: upGE}

// gateOptions tune a test gateway.
type gateOptions struct {
	// Mock configures every mock upstream.
	Mock mock.Options
	// MockFor overrides Mock for the upstream of one format.
	MockFor map[string]mock.Options
	// YAML is appended to the generated config (top-level keys other than
	// storage, providers and models).
	YAML string
	// MaxAttempts is resilience.max_attempts; 0 means 1, so that upstream
	// errors reach the client as they are.
	MaxAttempts int
	// Resilience is added under resilience: (two-space indented lines).
	Resilience string
	// Models is added under models: (two-space indented lines).
	Models string
	// Providers is added under providers: (two-space indented lines);
	// {openai}, {anthropic} and {gemini} stand for the mocks' URLs.
	Providers string
	// Logger receives the gateway's log; nil discards it.
	Logger *slog.Logger
}

// upstream is one mock provider served over HTTP.
type upstream struct {
	*mock.Mock
	URL string
}

// received is one request the gateway received from a client.
type received struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// gate is a running gateway with its three mock upstreams.
type gate struct {
	URL string
	App *cli.App
	Up  map[string]*upstream // by upstream format

	mu  sync.Mutex // protects in
	in  []received
	srv *httptest.Server
}

// clearSDKEnv keeps the developer's SDK settings out of the clients.
func clearSDKEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_ADMIN_KEY",
		"OPENAI_WEBHOOK_SECRET", "OPENAI_CUSTOM_HEADERS",
		"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE",
		"ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_WEBHOOK_SIGNING_KEY", "ANTHROPIC_FEDERATION_RULE_ID",
		"ANTHROPIC_ORGANIZATION_ID", "ANTHROPIC_IDENTITY_TOKEN_FILE",
		"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
		"GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION", "GOOGLE_GEMINI_BASE_URL",
		"GOOGLE_VERTEX_BASE_URL", "GOOGLE_APPLICATION_CREDENTIALS",
		"LLMGATE_MASTER_KEY", "LLMGATE_CONFIG", "LLMGATE_DATA_DIR", "LLMGATE_LOG_LEVEL",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("ANTHROPIC_CONFIG_DIR", t.TempDir())
}

// newGate starts three mock upstreams (OpenAI, Anthropic, Gemini) and a
// gateway routing gpt-4o, claude-sonnet-4-5 and gemini-2.5-flash to them.
func newGate(t *testing.T, o gateOptions) *gate {
	t.Helper()
	clearSDKEnv(t)
	g := &gate{Up: map[string]*upstream{}}
	for _, f := range formats {
		mo, ok := o.MockFor[f]
		if !ok {
			mo = o.Mock
		}
		m := mock.New(mo)
		s := httptest.NewServer(m)
		t.Cleanup(func() { m.Close(); s.Close() })
		g.Up[f] = &upstream{Mock: m, URL: s.URL}
	}
	attempts := o.MaxAttempts
	if attempts == 0 {
		attempts = 1
	}
	yaml := fmt.Sprintf(`storage:
  data_dir: %q
resilience:
  max_attempts: %d
%s
providers:
  oa: {type: openai, base_url: %q, api_key: x}
  an: {type: anthropic, base_url: %q, api_key: x}
  ge: {type: gemini, base_url: %q, api_key: x}
%s
models:
  %s: {route: [oa/%s]}
  %s: {route: [an/%s]}
  %s: {route: [ge/%s]}
%s
%s`, t.TempDir(), attempts, o.Resilience, g.Up[fmtOpenAI].URL+"/v1", g.Up[fmtAnthropic].URL, g.Up[fmtGemini].URL,
		strings.NewReplacer("{openai}", g.Up[fmtOpenAI].URL, "{anthropic}", g.Up[fmtAnthropic].URL, "{gemini}", g.Up[fmtGemini].URL).Replace(o.Providers),
		modelOA, upOA, modelAN, upAN, modelGE, upGE, o.Models, o.YAML)
	cfg, err := config.Parse("e2e.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	ctx := context.Background()
	app, err := cli.NewApp(ctx, cfg, o.Logger)
	if err != nil {
		t.Fatalf("cli.NewApp: %v", err)
	}
	g.App = app
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = g.srv.URL
	t.Cleanup(func() {
		g.srv.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Close(cctx)
	})
	return g
}

// serve records what a client sent, then hands it to the gateway.
func (g *gate) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	g.mu.Lock()
	g.in = append(g.in, received{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	g.mu.Unlock()
	g.App.Handler.ServeHTTP(w, r)
}

// inbound returns what clients sent the gateway, oldest first.
func (g *gate) inbound() []received {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]received(nil), g.in...)
}

// lastInbound is the last request a client sent.
func (g *gate) lastInbound(t *testing.T) received {
	t.Helper()
	in := g.inbound()
	if len(in) == 0 {
		t.Fatal("the gateway received no request")
	}
	return in[len(in)-1]
}

// upstreamRequests returns what the upstream of format f received.
func (g *gate) upstreamRequests(f string) []mock.Recorded { return g.Up[f].Requests() }

// lastUpstream is the last request the upstream of format f received.
func (g *gate) lastUpstream(t *testing.T, f string) mock.Recorded {
	t.Helper()
	rs := g.upstreamRequests(f)
	if len(rs) == 0 {
		t.Fatalf("the %s upstream received no request", f)
	}
	return rs[len(rs)-1]
}

// reset forgets what the gateway and the mocks received.
func (g *gate) reset() {
	g.mu.Lock()
	g.in = nil
	g.mu.Unlock()
	for _, u := range g.Up {
		u.Reset()
	}
}

// openai is an openai-go client of the gateway that does not retry.
func (g *gate) openai() openai.Client { return g.openaiRetrying(0) }

// bufferedClient is an HTTP client that reads each response body to the end
// before handing it to the SDK, as behind a buffering proxy or a slow
// reader: a stream's events then reach the SDK's parser all at once.
var bufferedClient = &http.Client{Transport: bufferingTransport{}}

type bufferingTransport struct{}

func (bufferingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = &bufferedBody{Reader: bytes.NewReader(b), err: err}
	return resp, nil
}

// bufferedBody replays a body read to the end, then its read error.
type bufferedBody struct {
	*bytes.Reader
	err error
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *bufferedBody) Close() error { return nil }

// openaiRetrying is an openai-go client that retries up to n times.
func (g *gate) openaiRetrying(n int, opts ...oaoption.RequestOption) openai.Client {
	return openai.NewClient(append([]oaoption.RequestOption{oaoption.WithBaseURL(g.URL + "/v1"), oaoption.WithAPIKey("x"),
		oaoption.WithMaxRetries(n)}, opts...)...)
}

// anthropic is an anthropic-sdk-go client of the gateway that does not retry.
func (g *gate) anthropic() anthropic.Client { return g.anthropicRetrying(0) }

// anthropicRetrying is an anthropic-sdk-go client that retries up to n times.
func (g *gate) anthropicRetrying(n int, opts ...anoption.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]anoption.RequestOption{anoption.WithBaseURL(g.URL), anoption.WithAPIKey("x"),
		anoption.WithMaxRetries(n)}, opts...)...)
}

func (g *gate) gemini(t *testing.T) *genai.Client { return g.geminiWith(t, nil) }

// geminiWith is a go-genai client that uses hc (nil: the default client).
func (g *gate) geminiWith(t *testing.T, hc *http.Client) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "x", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: g.URL}, HTTPClient: hc})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

// post sends body to the gateway with plain net/http.
func (g *gate) post(t *testing.T, path string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	return g.do(t, http.MethodPost, path, header, body)
}

func (g *gate) do(t *testing.T, method, path string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" && body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return resp, b
}

// headersFor are the headers each client format's SDK sends.
func headersFor(f string) http.Header {
	h := http.Header{}
	switch f {
	case fmtAnthropic:
		h.Set("X-Api-Key", "x")
		h.Set("Anthropic-Version", "2023-06-01")
	case fmtGemini:
		h.Set("X-Goog-Api-Key", "x")
	default:
		h.Set("Authorization", "Bearer x")
	}
	return h
}

// pathFor is the endpoint a client of format f posts a chat request to.
func pathFor(f, model string, stream bool) string {
	switch f {
	case fmtAnthropic:
		return "/v1/messages"
	case fmtGemini:
		if stream {
			return "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		return "/v1beta/models/" + model + ":generateContent"
	}
	return "/v1/chat/completions"
}

// words splits a reply into the mock's tokens (runs of non-spaces).
func words(s string) int { return len(strings.Fields(s)) }
