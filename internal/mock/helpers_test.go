package mock_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/mock"
)

// clearEnv removes the SDKs' environment variables (base URLs, keys) for
// the test, so that only the options the test passes count.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_"} {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "") // restores the value after the test
				os.Unsetenv(k)
			}
		}
	}
}

// start serves a new Mock on a loopback httptest server.
func start(t *testing.T, opts mock.Options) (*mock.Mock, *httptest.Server) {
	t.Helper()
	clearEnv(t)
	m := mock.New(opts)
	srv := httptest.NewServer(m)
	t.Cleanup(func() {
		m.Close() // release anything still hanging so Close can return
		srv.Close()
	})
	return m, srv
}

func openaiClient(srv *httptest.Server, opts ...oaoption.RequestOption) *openai.Client {
	base := []oaoption.RequestOption{oaoption.WithBaseURL(srv.URL + "/v1"), oaoption.WithAPIKey("x"),
		oaoption.WithMaxRetries(0), oaoption.WithHTTPClient(srv.Client())}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

func anthropicClient(srv *httptest.Server, opts ...anoption.RequestOption) *anthropic.Client {
	base := []anoption.RequestOption{anoption.WithBaseURL(srv.URL), anoption.WithAPIKey("x"),
		anoption.WithMaxRetries(0), anoption.WithHTTPClient(srv.Client())}
	c := anthropic.NewClient(append(base, opts...)...)
	return &c
}

func geminiClient(t *testing.T, srv *httptest.Server) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "x", Backend: genai.BackendGeminiAPI, HTTPClient: srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tokens is the mock's documented estimate: a quarter of the bytes, at
// least 1.
func tokens(texts ...string) int64 {
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	return int64(max(1, n/4))
}

// words is the number of streamed tokens of a reply text.
func words(s string) int64 { return int64(len(strings.Fields(s))) }

const prompt = "Say hello to the friendly mock server, please, and then stop talking"

// wantReply is the default reply to prompt: its first 8 words echoed.
const wantReply = "Mock reply to: Say hello to the friendly mock server, please,"

// weatherSchema is the tool schema the tool-call tests use, and wantArgs the
// arguments the mock generates from it.
var weatherSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"city":    map[string]any{"type": "string"},
		"days":    map[string]any{"type": "integer"},
		"units":   map[string]any{"type": "string", "enum": []any{"metric", "imperial"}},
		"verbose": map[string]any{"type": "boolean"},
		"note":    map[string]any{"type": "string"},
	},
	"required": []any{"city", "days", "units", "verbose"},
}

const wantArgs = `{"city":"test","days":1,"units":"metric","verbose":true}`
