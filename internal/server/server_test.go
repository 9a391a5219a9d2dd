package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
)

// start serves the real app from YAML in front of one mock provider per
// wire format, with LLMGATE_MASTER_KEY set to master (empty: none).
func start(t *testing.T, extra, master string) (string, *mock.Mock) {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	t.Cleanup(m.Close)
	yaml := fmt.Sprintf(`storage: {data_dir: %s}
providers:
  oa: {type: openai, base_url: %s/v1, api_key: provider-key}
  an: {type: anthropic, base_url: %s}
models:
  gpt-4o: {route: [oa/gpt-4o]}
  claude: {route: [an/claude-sonnet-4-5]}
%s`, t.TempDir(), up.URL, up.URL, extra)
	env := map[string]string{"LLMGATE_MASTER_KEY": master}
	cfg, err := config.Parse("server.yaml", []byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return srv.URL, m
}

func do(t *testing.T, method, url string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const chatBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
const msgBody = `{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	base, m := start(t, "auth: {required: true}\n", "master-secret")
	tests := []struct {
		name, path, body string
		header           map[string]string
		status           int
		shape            string // a substring of the body: the client's own error format
	}{
		{"openai without a key", "/v1/chat/completions", chatBody, nil, 401, `"error":{"message":`},
		{"openai with a wrong key", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer nope"}, 401, `not valid for this gateway`},
		{"anthropic without a key", "/v1/messages", msgBody, map[string]string{"anthropic-version": "2023-06-01"}, 401, `"type":"error","error":{"type":"authentication_error"`},
		{"gemini with a wrong key", "/v1beta/models/gpt-4o:generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`, map[string]string{"x-goog-api-key": "nope"}, 401, `"status":"UNAUTHENTICATED"`},
		{"master key as bearer", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer master-secret"}, 200, `"choices"`},
		{"master key as x-api-key", "/v1/messages", msgBody, map[string]string{"x-api-key": "master-secret", "anthropic-version": "2023-06-01"}, 200, `"type":"message"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, http.MethodPost, base+tt.path, tt.header, tt.body)
			if status != tt.status || !strings.Contains(body, tt.shape) {
				t.Fatalf("status %d body %s; want %d containing %s", status, body, tt.status, tt.shape)
			}
		})
	}
	// The master key authenticates to the gateway; it never reaches a provider.
	for _, r := range m.Requests() {
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			if strings.Contains(r.Header.Get(h), "master-secret") {
				t.Errorf("the master key was forwarded upstream in %s", h)
			}
		}
	}
}

func TestOpenLoopbackPassesClientKeysThrough(t *testing.T) {
	t.Parallel()
	base, m := start(t, "", "")
	// "an" has no key of its own: the Anthropic client's key goes through.
	status, _, body := do(t, http.MethodPost, base+"/v1/messages",
		map[string]string{"x-api-key": "sk-ant-client", "anthropic-version": "2023-06-01"}, msgBody)
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	// "oa" has a key: the gateway's is used, the client's is not sent.
	status, _, body = do(t, http.MethodPost, base+"/v1/chat/completions",
		map[string]string{"Authorization": "Bearer sk-client"}, chatBody)
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	var sawAnthropic, sawOpenAI bool
	for _, r := range m.Requests() {
		switch r.Path {
		case "/v1/messages":
			sawAnthropic = r.Header.Get("X-Api-Key") == "sk-ant-client"
		case "/v1/chat/completions":
			sawOpenAI = r.Header.Get("Authorization") == "Bearer provider-key"
		}
	}
	if !sawAnthropic || !sawOpenAI {
		t.Errorf("keys upstream: anthropic passthrough %v, openai gateway key %v", sawAnthropic, sawOpenAI)
	}
}

func TestAdminAndLogsNeedTheMasterKey(t *testing.T) {
	t.Parallel()
	base, _ := start(t, "", "master-secret")
	if status, _, body := do(t, http.MethodGet, base+"/admin/keys", nil, ""); status != 401 || !strings.Contains(body, "master key") {
		t.Errorf("admin without key: %d %s", status, body)
	}
	if status, _, body := do(t, http.MethodGet, base+"/admin/keys", map[string]string{"Authorization": "Bearer master-secret"}, ""); status != 200 {
		t.Errorf("admin with the master key: %d %s", status, body)
	}
	if status, _, _ := do(t, http.MethodGet, base+"/logs", nil, ""); status != 401 {
		t.Errorf("/logs without the master key: %d, want 401", status)
	}
	open, _ := start(t, "", "")
	if status, _, body := do(t, http.MethodGet, open+"/admin/keys", nil, ""); status != 403 || !strings.Contains(body, "LLMGATE_MASTER_KEY") {
		t.Errorf("admin on a gateway without a master key: %d %s, want 403 saying how to enable it", status, body)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	base, _ := start(t, "", "")
	if status, _, _ := do(t, http.MethodHead, base+"/", nil, ""); status != 200 {
		t.Errorf("HEAD / (Claude Code's warm-up): %d", status)
	}
	for _, p := range []string{"/health/live", "/health/ready"} {
		if status, _, _ := do(t, http.MethodGet, base+p, nil, ""); status != 200 {
			t.Errorf("%s: %d", p, status)
		}
	}
	do(t, http.MethodPost, base+"/v1/chat/completions", nil, chatBody)
	status, _, body := do(t, http.MethodGet, base+"/health", nil, "")
	var h struct {
		Status    string            `json:"status"`
		Providers map[string]string `json:"providers"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || status != 200 || h.Status != "healthy" || h.Providers["oa"] != "ok" {
		t.Errorf("/health: %d %s", status, body)
	}
	var fds struct {
		Descriptors *struct {
			Open    int    `json:"open"`
			Limit   int    `json:"limit"`
			Warning string `json:"warning"`
		} `json:"descriptors"`
	}
	if err := json.Unmarshal([]byte(body), &fds); err != nil || fds.Descriptors == nil || fds.Descriptors.Open < 3 ||
		fds.Descriptors.Limit < fds.Descriptors.Open || fds.Descriptors.Warning != "" {
		t.Errorf("/health shows no descriptor count under the limit without a warning: %s", body)
	}
	status, _, body = do(t, http.MethodGet, base+"/logs?limit=5&provider=oa", nil, "")
	if status != 200 || !strings.Contains(body, `"model_asked":"gpt-4o"`) || !strings.Contains(body, `"provider":"oa"`) {
		t.Errorf("/logs: %d %s", status, body)
	}
	if status, _, body := do(t, http.MethodGet, base+"/logs?status=maybe", nil, ""); status != 400 {
		t.Errorf("/logs with a bad filter: %d %s", status, body)
	}
	status, _, body = do(t, http.MethodGet, base+"/metrics", nil, "")
	if status != 200 || !strings.Contains(body, `llmgate_requests_total{client_format="openai",error_kind="",model="gpt-4o",provider="oa",status_class="2xx"} 1`) {
		t.Errorf("/metrics: %d, no request counted:\n%.2000s", status, body)
	}
	if !strings.Contains(body, "\nllmgate_descriptors_near_limit 0\n") || !strings.Contains(body, "\nprocess_open_fds ") {
		t.Errorf("/metrics: no llmgate_descriptors_near_limit 0 or process_open_fds")
	}
	for _, tt := range []struct{ path, header, shape string }{
		{"/v2/nothing", "", `"error":{"message":"unknown path`},
		{"/v1/nothing", "anthropic-version", `"type":"error"`},
		{"/v1beta/nothing", "", `"status":"NOT_FOUND"`},
	} {
		h := map[string]string{}
		if tt.header != "" {
			h[tt.header] = "2023-06-01"
		}
		if status, _, body := do(t, http.MethodGet, base+tt.path, h, ""); status != 404 || !strings.Contains(body, tt.shape) {
			t.Errorf("GET %s: %d %s, want 404 containing %s", tt.path, status, body, tt.shape)
		}
	}
}
