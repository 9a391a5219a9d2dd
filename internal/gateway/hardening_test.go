package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
)

// rawUpstream is a provider that answers every request with one canned
// 200 body and remembers the paths it was asked for.
type rawUpstream struct {
	Name, Type string
	Body       string // the 200 answer; "" answers the format's own valid reply
	Status     int    // when set, answers this status with a generic error body

	mu    sync.Mutex
	paths []string
}

func (u *rawUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.paths...)
}

// validAnswers are minimal well-formed chat answers per upstream format.
var validAnswers = map[string]string{
	"openai":    `{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
	"anthropic": `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`,
	"gemini":    `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}`,
}

// startRaw serves each upstream on its own httptest server behind a gateway
// built by cli.NewApp; extra is appended to the YAML config right after
// the resilience block (indented lines extend it, others are top level).
func startRaw(t *testing.T, extra string, ups ...*rawUpstream) *pipelineGW {
	t.Helper()
	var y strings.Builder
	fmt.Fprintf(&y, "storage: {data_dir: %q}\nproviders:\n", t.TempDir())
	for _, u := range ups {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.paths = append(u.paths, r.URL.EscapedPath())
			u.mu.Unlock()
			body := u.Body
			if body == "" {
				body = validAnswers[u.Type]
			}
			w.Header().Set("Content-Type", "application/json")
			if u.Status != 0 {
				w.WriteHeader(u.Status)
				body = `{"error":{"code":500,"message":"scripted failure","status":"INTERNAL","type":"server_error"}}`
			}
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		base := srv.URL
		if u.Type == "openai" {
			base += "/v1"
		}
		fmt.Fprintf(&y, "  %s: {type: %s, base_url: %q, api_key: test-key-%s}\n", u.Name, u.Type, base, u.Name)
	}
	y.WriteString("resilience:\n" + baseResilience + extra)
	cfg, err := config.Parse("hardening-test.yaml", []byte(y.String()), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config:\n%s\n%v", y.String(), err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("cli.NewApp: %v", err)
	}
	front := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		front.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		app.Close(ctx)
		cancel()
	})
	return &pipelineGW{t: t, URL: front.URL, App: app, hc: front.Client()}
}

// Model names that would walk out of Gemini's /models/{model} path (or
// change its action) are a 400 in the client's format and never reach the
// upstream, which would receive the gateway's own API key.
func TestModelNamesCannotEscapeTheUpstreamPath(t *testing.T) {
	gem := &rawUpstream{Name: "gem", Type: "gemini"}
	oai := &rawUpstream{Name: "oai", Type: "openai"}
	g := startRaw(t, "", gem, oai)
	tests := []struct {
		name   string
		format string
		model  string // as the client writes it (Gemini: a URL path segment)
	}{
		{"dot-dot segments", "openai", "gem/echo/../../../../steal"},
		{"dot-dot via anthropic", "anthropic", "gem/../steal"},
		{"encoded slash", "openai", "gem/echo%2F..%2Fsteal"},
		{"encoded dot", "openai", "gem/%2e%2e"},
		{"slash in a path model", "openai", "gem/tunedModels/x/../../y"},
		{"another action", "openai", "gem/echo:countTokens"},
		{"control character", "openai", "gem/echo\u0001"},
		{"newline", "anthropic", "oai/gpt-4o\nX-Injected: 1"},
		{"query", "openai", "gem/echo?alt=x"},
		{"backslash", "openai", `gem/..\..\steal`},
		{"dot-dot for a body model too", "openai", "oai/../gpt-4o"},
		{"gemini client, encoded slashes", "gemini", "gem%2Fecho%2F..%2F..%2Fsteal"},
		{"gemini client, double-encoded", "gemini", "gem%252Fecho"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do(clientReq{Format: tc.format, Model: tc.model})
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
			}
			if msg := checkErrorBody(t, tc.format, r.Body); !strings.Contains(msg, "model") {
				t.Errorf("error %q does not say the model name is at fault", msg)
			}
		})
	}
	if p := gem.seen(); len(p) != 0 {
		t.Errorf("the gemini upstream was called: %q", p)
	}
	if p := oai.seen(); len(p) != 0 {
		t.Errorf("the openai upstream was called: %q", p)
	}
	// Ordinary names still work, slashes included where the model is in
	// the body, and models/ for Gemini.
	for _, m := range []string{"gem/gemini-2.5-flash", "gem/models/gemini-2.5-flash", "oai/meta-llama/Llama-3-70b", "oai/llama3:8b"} {
		if r := g.do(clientReq{Format: "openai", Model: m}); r.Status != http.StatusOK {
			t.Errorf("model %q: status %d: %s", m, r.Status, r.Body)
		}
	}
	if p := gem.seen(); len(p) != 2 || p[0] != "/v1beta/models/gemini-2.5-flash:generateContent" || p[1] != p[0] {
		t.Errorf("gemini upstream paths = %q", p)
	}
}

// An upstream 200 whose body is not its declared format's answer is a 502
// in the client's format, whether the gateway translates it or passes it
// through unchanged (same format on both sides).
func TestGarbageAnswersAreNever200(t *testing.T) {
	tests := []struct {
		name, upstream, client, body string
	}{
		{"openai wrong-typed choices, passthrough", "openai", "openai", `{"choices":"x"}`},
		{"openai wrong-typed choices, translated", "openai", "anthropic", `{"choices":"x"}`},
		{"openai no choices, passthrough", "openai", "openai", `{"id":"x","object":"chat.completion"}`},
		{"openai empty choices, passthrough", "openai", "openai", `{"choices":[ ]}`},
		{"openai answering anthropic JSON, passthrough", "openai", "openai", validAnswers["anthropic"]},
		{"gemini answering openai JSON, passthrough", "gemini", "gemini", validAnswers["openai"]},
		{"gemini answering openai JSON, translated", "gemini", "openai", validAnswers["openai"]},
		{"gemini empty object, translated", "gemini", "anthropic", `{}`},
		{"gemini wrong-typed candidates, passthrough", "gemini", "gemini", `{"candidates":{"a":1}}`},
		{"anthropic answering openai JSON, passthrough", "anthropic", "anthropic", validAnswers["openai"]},
		{"anthropic answering openai JSON, translated", "anthropic", "openai", validAnswers["openai"]},
		{"anthropic content not an array, passthrough", "anthropic", "anthropic", `{"type":"message","content":"hi"}`},
		{"not JSON, passthrough", "openai", "openai", `<html>oops</html>`},
		{"truncated JSON, passthrough", "anthropic", "anthropic", `{"type":"message","content":[`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &rawUpstream{Name: "up", Type: tc.upstream, Body: tc.body}
			g := startRaw(t, "  max_attempts: 1\n", up)
			r := g.do(clientReq{Format: tc.client, Model: upModel(tc.client)})
			if r.Status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", r.Status, r.Body)
			}
			checkErrorBody(t, tc.client, r.Body)
			if len(up.seen()) != 1 {
				t.Errorf("upstream called %d times, want 1", len(up.seen()))
			}
		})
	}
	// The format's real answers still pass, both ways.
	for f := range validAnswers {
		for _, client := range []string{"openai", "anthropic", "gemini"} {
			up := &rawUpstream{Name: "up", Type: f}
			g := startRaw(t, "", up)
			if r := g.do(clientReq{Format: client, Model: upModel(client)}); r.Status != http.StatusOK {
				t.Errorf("%s upstream, %s client: status %d: %s", f, client, r.Status, r.Body)
			} else {
				checkSuccessBody(t, client, r.Body)
			}
		}
	}
	// A Gemini prompt blocked by safety has no candidates: still a 200.
	up := &rawUpstream{Name: "up", Type: "gemini", Body: `{"promptFeedback":{"blockReason":"SAFETY"}}`}
	g := startRaw(t, "", up)
	for _, client := range []string{"gemini", "openai"} {
		if r := g.do(clientReq{Format: client, Model: upModel(client)}); r.Status != http.StatusOK {
			t.Errorf("blocked prompt, %s client: status %d: %s", client, r.Status, r.Body)
		}
	}
}

// upModel is model m of provider "up" as a client of format f names it: a
// Gemini client writes it in one URL path segment.
func upModel(f string) string {
	if f == "gemini" {
		return "up%2Fm"
	}
	return "up/m"
}

// A key allowed "gpt-4o-mini*" is not served by another model because a
// route falls back to it, unless the route opts in.
func TestKeyModelListAppliesToFallbacks(t *testing.T) {
	const master = "sk-master-hardening-test"
	models := `master_key: ` + master + `
models:
  gpt-4o-mini: {route: [gem/gpt-4o-mini, oai/o1, oai/gpt-4o-mini-2024-07-18]}
  gpt-4o-mini-any: {route: [gem/gpt-4o-mini, oai/o1], fallback_outside_key_models: true}
  gpt-4o-mini-o1: {route: [gem/gpt-4o-mini, oai/o1]}
`
	gem := &rawUpstream{Name: "gem", Type: "gemini", Status: http.StatusInternalServerError}
	oai := &rawUpstream{Name: "oai", Type: "openai"}
	g := startRaw(t, models, gem, oai)
	var nk governance.NewKey
	body, _ := json.Marshal(governance.KeySpec{Name: "mini-only", Models: []string{"gpt-4o-mini*"}})
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/admin/keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+master)
	resp, err := g.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || json.Unmarshal(b, &nk) != nil {
		t.Fatalf("creating the key: HTTP %d: %s", resp.StatusCode, b)
	}
	ask := func(model string) (status int, servedBy string, answer []byte) {
		t.Helper()
		b := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model)
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+nk.Secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Llmgate-Provider") + "/" + resp.Header.Get("X-Llmgate-Model"), out
	}
	// o1 is skipped; the allowed gpt-4o-mini snapshot serves.
	if st, by, out := ask("gpt-4o-mini"); st != http.StatusOK || by != "oai/gpt-4o-mini-2024-07-18" {
		t.Errorf("gpt-4o-mini: HTTP %d served by %s, want 200 from oai/gpt-4o-mini-2024-07-18: %s", st, by, out)
	}
	// No allowed fallback: the primary's failure is the answer, o1 is never asked.
	if st, by, out := ask("gpt-4o-mini-o1"); st == http.StatusOK {
		t.Errorf("gpt-4o-mini-o1: HTTP 200 served by %s, want the primary's failure: %s", by, out)
	}
	if n := len(oai.seen()); n != 1 {
		t.Errorf("openai upstream called %d times before the opt-in, want 1 (the allowed snapshot only)", n)
	}
	// The route that opts in may fall back to o1.
	if st, by, out := ask("gpt-4o-mini-any"); st != http.StatusOK || by != "oai/o1" {
		t.Errorf("gpt-4o-mini-any: HTTP %d served by %s, want 200 from oai/o1: %s", st, by, out)
	}
	// Asking for o1 directly is still refused by the key's list.
	if st, _, out := ask("oai/o1"); st != http.StatusForbidden {
		t.Errorf("oai/o1: HTTP %d, want 403: %s", st, out)
	}
}
