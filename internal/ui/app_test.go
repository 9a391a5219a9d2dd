package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/ui"
)

const master = "sk-test-master-key-0123456789"

// start serves the real app (as llmgate serve wires it) in front of a mock
// provider, with LLMGATE_MASTER_KEY set to key (empty: none).
func start(t *testing.T, key string, extra ...string) string {
	t.Helper()
	base, _ := startWith(t, key, mock.Options{}, extra...)
	return base
}

// startWith is start with the mock configured by mo; it also returns the app.
func startWith(t *testing.T, key string, mo mock.Options, extra ...string) (string, *cli.App) {
	t.Helper()
	m := mock.New(mo)
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	t.Cleanup(m.Close)
	yaml := fmt.Sprintf(`storage: {data_dir: %s}
providers:
  oa: {type: openai, base_url: %s/v1, api_key: provider-key}
  an: {type: anthropic, base_url: %s, api_key: provider-key}
models:
  gpt-4o: {route: [oa/gpt-4o, an/claude-sonnet-4-5]}
  claude: {route: [an/claude-sonnet-4-5]}
%s`, t.TempDir(), up.URL, up.URL, strings.Join(extra, "\n"))
	env := map[string]string{"LLMGATE_MASTER_KEY": key}
	cfg, err := config.Parse("ui.yaml", []byte(yaml), func(k string) string { return env[k] })
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
	return srv.URL, app
}

type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar}}
}

func (c *client) do(method, path string, hdr map[string]string, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, c.base+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) login(key string) int {
	c.t.Helper()
	status, body := c.do(http.MethodPost, "/ui/login", nil, fmt.Sprintf(`{"key":%q}`, key))
	var st ui.State
	_ = json.Unmarshal([]byte(body), &st)
	c.csrf = st.CSRF
	return status
}

func TestAdminAPIAcceptsSessions(t *testing.T) {
	t.Parallel()
	base := start(t, master)
	bearer := map[string]string{"Authorization": "Bearer " + master}
	anon := newClient(t, base)

	// The bearer master key keeps working, and nothing else gets in.
	if s, b := anon.do(http.MethodGet, "/admin/keys", bearer, ""); s != 200 {
		t.Fatalf("bearer: %d %s", s, b)
	}
	if s, _ := anon.do(http.MethodGet, "/admin/keys", nil, ""); s != 401 {
		t.Fatalf("no credentials: %d, want 401", s)
	}
	if s := anon.login("wrong"); s != 401 {
		t.Fatalf("wrong key login: %d", s)
	}

	c := newClient(t, base)
	if s := c.login(master); s != 200 || c.csrf == "" {
		t.Fatalf("login: %d csrf %q", s, c.csrf)
	}
	u, _ := url.Parse(base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if strings.Contains(ck.Value, master) {
			t.Fatal("the master key is in a cookie")
		}
	}
	for _, p := range []string{"/admin/keys", "/admin/teams", "/admin/usage?group_by=model", "/admin/stats?window=15m&step=1m", "/admin/routes", "/logs"} {
		if s, b := c.do(http.MethodGet, p, nil, ""); s != 200 {
			t.Errorf("GET %s with the session: %d %s", p, s, b)
		}
	}
	// Writes need the CSRF token, and a same-origin request.
	key := `{"name":"from-ui"}`
	if s, _ := c.do(http.MethodPost, "/admin/keys", nil, key); s != 401 {
		t.Errorf("POST without CSRF token: %d, want 401", s)
	}
	if s, _ := c.do(http.MethodPost, "/admin/keys", map[string]string{ui.CSRFHeader: "forged"}, key); s != 401 {
		t.Errorf("POST with a wrong CSRF token: %d, want 401", s)
	}
	if s, _ := c.do(http.MethodPost, "/admin/keys", map[string]string{ui.CSRFHeader: c.csrf, "Origin": "https://evil.example"}, key); s != 401 {
		t.Errorf("POST from another origin: %d, want 401", s)
	}
	s, b := c.do(http.MethodPost, "/admin/keys", map[string]string{ui.CSRFHeader: c.csrf, "Origin": base}, key)
	if s != 201 {
		t.Fatalf("POST with the CSRF token: %d %s", s, b)
	}
	var nk struct {
		Key    struct{ ID string } `json:"key"`
		Secret string              `json:"secret"`
	}
	_ = json.Unmarshal([]byte(b), &nk)

	// A request made with the new key shows in /logs and /admin/stats.
	if s, b := anon.do(http.MethodPost, "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + nk.Secret},
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`); s != 200 {
		t.Fatalf("chat with the new key: %d %s", s, b)
	}
	_, b = c.do(http.MethodGet, "/logs?key="+nk.Key.ID+"&since=1h", nil, "")
	if !strings.Contains(b, `"key_id":"`+nk.Key.ID+`"`) || !strings.Contains(b, `"cost_usd"`) {
		t.Errorf("/logs?key=: %s", b)
	}
	if _, b := c.do(http.MethodGet, "/logs?key=nobody", nil, ""); strings.Contains(b, nk.Key.ID) {
		t.Errorf("/logs?key=nobody shows the key's request: %s", b)
	}
	var st struct {
		Total struct {
			Requests     int     `json:"requests"`
			OutputTokens int     `json:"output_tokens"`
			P50MS        float64 `json:"p50_ms"`
		} `json:"total"`
		Series []json.RawMessage `json:"series"`
	}
	_, b = c.do(http.MethodGet, "/admin/stats?window=10m&step=1m&key="+nk.Key.ID, nil, "")
	if err := json.Unmarshal([]byte(b), &st); err != nil || st.Total.Requests != 1 || st.Total.OutputTokens == 0 || st.Total.P50MS <= 0 || len(st.Series) != 10 {
		t.Errorf("/admin/stats: %s", b)
	}
	_, b = c.do(http.MethodGet, "/admin/routes", nil, "")
	if !strings.Contains(b, `"chain": [`) || !strings.Contains(b, `"oa/gpt-4o"`) || !strings.Contains(b, `"state": "closed"`) {
		t.Errorf("/admin/routes: %s", b)
	}

	// Revoke through the session, then log out: the cookie stops working.
	if s, b := c.do(http.MethodPost, "/admin/keys/"+nk.Key.ID+"/revoke", map[string]string{ui.CSRFHeader: c.csrf}, ""); s != 200 || !strings.Contains(b, `"revoked"`) {
		t.Errorf("revoke: %d %s", s, b)
	}
	if s, _ := c.do(http.MethodPost, "/ui/logout", map[string]string{ui.CSRFHeader: c.csrf}, ""); s != 200 {
		t.Errorf("logout: %d", s)
	}
	if s, _ := c.do(http.MethodGet, "/admin/keys", nil, ""); s != 401 {
		t.Errorf("after logout: %d, want 401", s)
	}
}

// A session is for the admin side only: it is not a key for the client API.
func TestSessionIsNotAClientKey(t *testing.T) {
	t.Parallel()
	base := start(t, master, "auth: {required: true}")
	c := newClient(t, base)
	if s := c.login(master); s != 200 {
		t.Fatalf("login: %d", s)
	}
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	if s, b := c.do(http.MethodPost, "/v1/chat/completions", map[string]string{ui.CSRFHeader: c.csrf}, body); s != 401 {
		t.Errorf("client API with only a session: %d %s, want 401", s, b)
	}
	if s, _ := c.do(http.MethodGet, "/logs", nil, ""); s != 200 {
		t.Errorf("/logs with the session on an auth-required gateway: %d", s)
	}
}

func TestDashboardWithoutMasterKey(t *testing.T) {
	t.Parallel()
	base := start(t, "")
	c := newClient(t, base)
	if s, b := c.do(http.MethodGet, "/ui/", nil, ""); s != 200 || !strings.Contains(b, "app.js") {
		t.Fatalf("/ui/: %d %s", s, b)
	}
	_, b := c.do(http.MethodGet, "/ui/session", nil, "")
	if !strings.Contains(b, `"master_key":false`) || !strings.Contains(b, "LLMGATE_MASTER_KEY") {
		t.Errorf("/ui/session: %s", b)
	}
	if s := c.login(""); s != 403 {
		t.Errorf("login: %d, want 403 as the admin API answers", s)
	}
	if s, _ := c.do(http.MethodGet, "/admin/keys", nil, ""); s != 403 {
		t.Errorf("/admin/keys: %d, want 403", s)
	}
	// /ui redirects to /ui/.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(base + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestStatsValidation(t *testing.T) {
	t.Parallel()
	base := start(t, master)
	c := newClient(t, base)
	h := map[string]string{"Authorization": "Bearer " + master}
	for _, q := range []string{"window=1x", "window=-1h", "window=200h", "step=10ms", "window=24h&step=1s"} {
		if s, b := c.do(http.MethodGet, "/admin/stats?"+q, h, ""); s != 400 {
			t.Errorf("/admin/stats?%s: %d %s, want 400", q, s, b)
		}
	}
	if s, b := c.do(http.MethodGet, "/logs?since=yesterday", h, ""); s != 400 {
		t.Errorf("/logs?since=yesterday: %d %s", s, b)
	}
	if s, b := c.do(http.MethodGet, "/logs?since=1h&until=2h", h, ""); s != 400 {
		t.Errorf("/logs with until before since: %d %s", s, b)
	}
}
