package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/jackc/pgx/v5"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/provider"
)

// Governance end-to-end tests: the gateway built by cli.NewApp, three mock
// upstreams (whose answers are recorded to know the usage they reported),
// virtual keys created through the admin API, and the official SDKs.

const govMaster = "master-e2e-key"

// The models clients ask for, one per upstream format, all in the catalog.
const (
	govOA = "gpt-4o-mini"      // $0.15 / $0.60 per million
	govAN = "claude-haiku-4-5" // $1 / $5
	govGE = "gemini-2.5-flash" // $0.30 / $2.50
)

var govModels = map[string]string{"openai": govOA, "anthropic": govAN, "gemini": govGE}

// govTee records what an upstream was asked and answered.
type govTee struct {
	h http.Handler

	mu        sync.Mutex // protects exchanges
	exchanges []govExchange
}

// govExchange is one request an upstream served.
type govExchange struct {
	Request, Response []byte
}

func (t *govTee) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(req))
	tw := &govTeeWriter{ResponseWriter: w}
	t.h.ServeHTTP(tw, r)
	t.mu.Lock()
	t.exchanges = append(t.exchanges, govExchange{Request: req, Response: tw.buf.Bytes()})
	t.mu.Unlock()
}

// find returns the exchanges whose request holds marker. The upstream
// handler records an exchange when it returns, which can be after the
// client read a streamed answer's last byte: find waits up to 5 s for at
// least one.
func (t *govTee) find(marker string) []govExchange {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if out := t.match(marker); len(out) > 0 || time.Now().After(deadline) {
			return out
		}
	}
}

func (t *govTee) match(marker string) []govExchange {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []govExchange
	for _, x := range t.exchanges {
		if bytes.Contains(x.Request, []byte(marker)) {
			out = append(out, x)
		}
	}
	return out
}

type govTeeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *govTeeWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *govTeeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *govTeeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// govGate is a running gateway with governance and its mock upstreams.
type govGate struct {
	URL  string
	App  *cli.App
	Tees map[string]*govTee // by upstream format
	Mock map[string]*mock.Mock
}

type govGateOptions struct {
	Mock mock.Options
	// YAML is appended to the config (e.g. a governance section).
	YAML string
	// Storage replaces the storage section (default: SQLite in a temp dir).
	Storage string
}

func govClearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
		"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
		"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
		"GOOGLE_GEMINI_BASE_URL", "GOOGLE_APPLICATION_CREDENTIALS",
		"LLMGATE_MASTER_KEY", "LLMGATE_CONFIG", "LLMGATE_DATA_DIR",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("ANTHROPIC_CONFIG_DIR", t.TempDir())
}

// govUpstreams starts the three recorded mock upstreams.
func govUpstreams(t *testing.T, mo mock.Options) (map[string]*govTee, map[string]*mock.Mock, map[string]string) {
	t.Helper()
	tees, mocks, urls := map[string]*govTee{}, map[string]*mock.Mock{}, map[string]string{}
	for _, f := range []string{"openai", "anthropic", "gemini"} {
		m := mock.New(mo)
		tee := &govTee{h: m}
		s := httptest.NewServer(tee)
		t.Cleanup(func() { m.Close(); s.Close() })
		tees[f], mocks[f], urls[f] = tee, m, s.URL
	}
	return tees, mocks, urls
}

func govConfig(t *testing.T, urls map[string]string, o govGateOptions) *config.Config {
	t.Helper()
	storage := o.Storage
	if storage == "" {
		storage = fmt.Sprintf("storage: {data_dir: %q}", t.TempDir())
	}
	yaml := fmt.Sprintf(`master_key: %q
%s
resilience: {max_attempts: 1}
providers:
  oa: {type: openai, base_url: %q, api_key: up}
  an: {type: anthropic, base_url: %q, api_key: up}
  ge: {type: gemini, base_url: %q, api_key: up}
models:
  %s: {route: [oa/%s]}
  %s: {route: [an/%s]}
  %s: {route: [ge/%s]}
%s`, govMaster, storage, urls["openai"]+"/v1", urls["anthropic"], urls["gemini"], govOA, govOA, govAN, govAN, govGE, govGE, o.YAML)
	cfg, err := config.Parse("governance-e2e.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	return cfg
}

// govStart serves an App built from cfg.
func govStart(t testing.TB, cfg *config.Config) (*cli.App, string) {
	t.Helper()
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("cli.NewApp: %v", err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return app, srv.URL
}

func newGovGate(t *testing.T, o govGateOptions) *govGate {
	t.Helper()
	govClearEnv(t)
	tees, mocks, urls := govUpstreams(t, o.Mock)
	app, url := govStart(t, govConfig(t, urls, o))
	return &govGate{URL: url, App: app, Tees: tees, Mock: mocks}
}

// govAdmin calls the admin API with the master key; out may be nil.
func govAdmin(t testing.TB, base, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+govMaster)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && out != nil {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (g *govGate) newKey(t *testing.T, s governance.KeySpec) (governance.KeyInfo, string) {
	t.Helper()
	if s.Name == "" {
		s.Name = t.Name()
	}
	var nk governance.NewKey
	govAdmin(t, g.URL, http.MethodPost, "/admin/keys", s, &nk)
	return nk.Key, nk.Secret
}

func (g *govGate) key(t *testing.T, id string) governance.KeyInfo {
	t.Helper()
	var k governance.KeyInfo
	govAdmin(t, g.URL, http.MethodGet, "/admin/keys/"+id, nil, &k)
	return k
}

// usage waits until the ledger holds want requests of key, then returns
// its usage row.
func (g *govGate) usage(t *testing.T, key string, want int64) admin.UsageRow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rep admin.UsageReport
		govAdmin(t, g.URL, http.MethodGet, "/admin/usage?group_by=key&key="+key, nil, &rep)
		if len(rep.Rows) == 1 && rep.Rows[0].Requests >= want {
			return rep.Rows[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the usage ledger holds %+v for key %s, want %d requests", rep.Rows, key, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func govOpenAI(base, key string) openai.Client {
	return openai.NewClient(oaoption.WithBaseURL(base+"/v1"), oaoption.WithAPIKey(key), oaoption.WithMaxRetries(0))
}

func govAnthropic(base, key string) anthropic.Client {
	return anthropic.NewClient(anoption.WithBaseURL(base), anoption.WithAPIKey(key), anoption.WithMaxRetries(0))
}

func govGemini(t *testing.T, base, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: base}})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

// govChat sends one short chat request with the SDK of client format f
// for model, and returns its response headers and error.
func govChat(t *testing.T, base, key, f, model string, stream bool) (http.Header, error) {
	t.Helper()
	return govChatPrompt(t, base, key, f, model, stream, "Say hello to the budget test")
}

// govChatPrompt is govChat with a prompt of the caller's.
func govChatPrompt(t *testing.T, base, key, f, model string, stream bool, prompt string) (http.Header, error) {
	t.Helper()
	ctx := context.Background()
	var resp *http.Response
	switch f {
	case "openai":
		c := govOpenAI(base, key)
		p := openai.ChatCompletionNewParams{Model: model, MaxCompletionTokens: openai.Int(200),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}
		if stream {
			s := c.Chat.Completions.NewStreaming(ctx, p, oaoption.WithResponseInto(&resp))
			for s.Next() {
			}
			err := s.Err()
			_ = s.Close()
			return header(resp), err
		}
		_, err := c.Chat.Completions.New(ctx, p, oaoption.WithResponseInto(&resp))
		return header(resp), err
	case "anthropic":
		c := govAnthropic(base, key)
		p := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 200,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}
		if stream {
			s := c.Messages.NewStreaming(ctx, p, anoption.WithResponseInto(&resp))
			for s.Next() {
			}
			err := s.Err()
			_ = s.Close()
			return header(resp), err
		}
		_, err := c.Messages.New(ctx, p, anoption.WithResponseInto(&resp))
		return header(resp), err
	}
	c := govGemini(t, base, key)
	cfg := &genai.GenerateContentConfig{MaxOutputTokens: 200}
	contents := genai.Text(prompt)
	if stream {
		var h http.Header
		for chunk, err := range c.Models.GenerateContentStream(ctx, model, contents, cfg) {
			if err != nil {
				return h, err
			}
			if h == nil && chunk.SDKHTTPResponse != nil {
				h = chunk.SDKHTTPResponse.Headers
			}
		}
		return h, nil
	}
	out, err := c.Models.GenerateContent(ctx, model, contents, cfg)
	if err != nil {
		return nil, err
	}
	var h http.Header
	if out.SDKHTTPResponse != nil {
		h = out.SDKHTTPResponse.Headers
	}
	return h, nil
}

func header(r *http.Response) http.Header {
	if r == nil {
		return nil
	}
	return r.Header
}

// upstreamUsage reads the usage an upstream of format f reported in one
// answer body (JSON or SSE), as the pipeline's provider.Usage counts it:
// input includes cache reads and writes.
func upstreamUsage(t *testing.T, f string, body []byte) provider.Usage {
	t.Helper()
	var objs []map[string]any
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var v any
		if err := json.Unmarshal(trimmed, &v); err != nil {
			t.Fatalf("upstream body is not JSON: %v", err)
		}
		switch x := v.(type) {
		case map[string]any:
			objs = append(objs, x)
		case []any:
			for _, e := range x {
				if m, ok := e.(map[string]any); ok {
					objs = append(objs, m)
				}
			}
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data:")
			if !ok || strings.TrimSpace(data) == "[DONE]" {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &m) == nil {
				objs = append(objs, m)
			}
		}
	}
	num := func(m map[string]any, path ...string) int {
		var v any = m
		for _, p := range path {
			mm, ok := v.(map[string]any)
			if !ok {
				return 0
			}
			v = mm[p]
		}
		n, _ := v.(float64)
		return int(n)
	}
	var u provider.Usage
	for _, o := range objs {
		switch f {
		case "openai":
			if us, ok := o["usage"].(map[string]any); ok {
				u = provider.Usage{InputTokens: num(us, "prompt_tokens"), OutputTokens: num(us, "completion_tokens"),
					CachedTokens: num(us, "prompt_tokens_details", "cached_tokens")}
			}
		case "anthropic":
			us, _ := o["usage"].(map[string]any)
			if msg, ok := o["message"].(map[string]any); ok { // message_start
				us, _ = msg["usage"].(map[string]any)
			}
			if us == nil {
				continue
			}
			if _, ok := us["input_tokens"]; ok {
				cached, written := num(us, "cache_read_input_tokens"), num(us, "cache_creation_input_tokens")
				u.InputTokens = num(us, "input_tokens") + cached + written
				u.CachedTokens, u.CacheWriteTokens = cached, written
			}
			if _, ok := us["output_tokens"]; ok {
				u.OutputTokens = num(us, "output_tokens")
			}
		case "gemini":
			if us, ok := o["usageMetadata"].(map[string]any); ok {
				u = provider.Usage{InputTokens: num(us, "promptTokenCount"),
					OutputTokens: num(us, "candidatesTokenCount") + num(us, "thoughtsTokenCount"),
					CachedTokens: num(us, "cachedContentTokenCount")}
			}
		}
	}
	if u.IsZero() {
		t.Fatalf("no usage in the %s upstream's answer:\n%s", f, body)
	}
	return u
}

// govPostgres returns the DSN of a new schema of its own on the test
// PostgreSQL (LLMGATE_TEST_POSTGRES_DSN, default the local server), dropped
// when t ends. It skips t when the server is unreachable, unless CI is set.
func govPostgres(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("LLMGATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("LLMGATE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is not reachable at %s: %v", dsn, err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); set LLMGATE_TEST_POSTGRES_DSN", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := fmt.Sprintf("llmgate_gov_e2e_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
