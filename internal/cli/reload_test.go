package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/config"
)

// fakeUpstream is an OpenAI-format upstream answering every chat request
// with its name as the reply text, or with status when status is set.
// While hold is non-nil, requests wait for it to close.
type fakeUpstream struct {
	name   string
	srv    *httptest.Server
	hits   atomic.Int64
	status atomic.Int64
	hold   chan struct{}
	held   chan struct{} // receives one value per request that started waiting
	once   sync.Once
}

// release lets held requests (and every later one) through.
func (f *fakeUpstream) release() {
	if f.hold != nil {
		f.once.Do(func() { close(f.hold) })
	}
}

func newFakeUpstream(t *testing.T, name string, hold bool) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{name: name, held: make(chan struct{}, 16)}
	if hold {
		f.hold = make(chan struct{})
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.hits.Add(1)
		if f.hold != nil {
			f.held <- struct{}{}
			<-f.hold
		}
		w.Header().Set("Content-Type", "application/json")
		if s := f.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			_, _ = w.Write([]byte(`{"error":{"message":"scripted failure","type":"server_error"}}`))
			return
		}
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`, f.name)
	}))
	t.Cleanup(func() {
		f.release()
		f.srv.Close()
	})
	return f
}

// reloadApp is an App loaded from a config file the test rewrites.
type reloadApp struct {
	app  *App
	url  string
	file string
}

const reloadMaster = "master-reload-test"

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startReloadApp(t *testing.T, text string) *reloadApp {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "reload.yaml")
	writeConfig(t, file, text)
	getenv := func(k string) string {
		if k == "LLMGATE_MASTER_KEY" {
			return reloadMaster
		}
		return ""
	}
	f := serveFlags{dataDir: dir}
	cfg, err := f.load(file, getenv)
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	app.LoadConfig = func() (*config.Config, error) { return f.load(file, getenv) }
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return &reloadApp{app: app, url: srv.URL, file: file}
}

// chat sends one chat request for model and returns the status and reply text.
func (ra *reloadApp) chat(t *testing.T, model string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model)
	resp, err := http.Post(ra.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	if len(out.Choices) == 0 {
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, out.Choices[0].Message.Content
}

// reload calls POST /admin/reload with the master key.
func (ra *reloadApp) reload(t *testing.T) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ra.url+"/admin/reload", nil)
	req.Header.Set("Authorization", "Bearer "+reloadMaster)
	return doJSON(t, req)
}

func (ra *reloadApp) health(t *testing.T) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ra.url+"/health", nil)
	req.Header.Set("Authorization", "Bearer "+reloadMaster)
	_, m := doJSON(t, req)
	return m
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: not JSON: %s", req.Method, req.URL.Path, b)
	}
	return resp.StatusCode, m
}

func routeConfig(a, b *fakeUpstream, target, extra string) string {
	return fmt.Sprintf(`providers:
  a: {type: openai, base_url: %s/v1, api_key: key-a}
  b: {type: openai, base_url: %s/v1, api_key: key-b}
models:
  m: {route: [%s/m]}
%s`, a.srv.URL, b.srv.URL, target, extra)
}

func TestReloadNewRoutesForNewRequestsInFlightFinishOnOld(t *testing.T) {
	a := newFakeUpstream(t, "from-a", true)
	b := newFakeUpstream(t, "from-b", false)
	ra := startReloadApp(t, routeConfig(a, b, "a", ""))

	type result struct {
		status int
		text   string
	}
	inflight := make(chan result, 1)
	go func() {
		s, txt := ra.chat(t, "m")
		inflight <- result{s, txt}
	}()
	<-a.held // the request is at provider a

	writeConfig(t, ra.file, routeConfig(a, b, "b", ""))
	status, res := ra.reload(t)
	if status != http.StatusOK || res["ok"] != true {
		t.Fatalf("reload: %d %v", status, res)
	}
	if res["generation"] != float64(2) {
		t.Errorf("generation = %v, want 2", res["generation"])
	}
	if got := fmt.Sprint(res["applied"]); got != "[models]" {
		t.Errorf("applied = %s, want [models]", got)
	}

	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-b" {
		t.Errorf("new request after reload: %d %q, want 200 from-b", s, txt)
	}
	a.release()
	if r := <-inflight; r.status != http.StatusOK || r.text != "from-a" {
		t.Errorf("in-flight request: %d %q, want 200 from-a (finished on the old route)", r.status, r.text)
	}
	if n := a.hits.Load(); n != 1 {
		t.Errorf("provider a got %d requests, want 1", n)
	}
}

func TestReloadInvalidFileKeepsRunningConfig(t *testing.T) {
	a := newFakeUpstream(t, "from-a", false)
	b := newFakeUpstream(t, "from-b", false)
	ra := startReloadApp(t, routeConfig(a, b, "a", ""))

	// Line 5 routes to a provider that does not exist; line 6 misspells a key.
	writeConfig(t, ra.file, fmt.Sprintf(`providers:
  a: {type: openai, base_url: %s/v1, api_key: key-a}
  b: {type: openai, base_url: %s/v1, api_key: key-b}
models:
  m: {route: [nowhere/m]}
  n: {rout: [b/n]}
`, a.srv.URL, b.srv.URL))
	status, res := ra.reload(t)
	if status != http.StatusUnprocessableEntity || res["ok"] != false {
		t.Fatalf("reload of an invalid file: %d %v, want 422 ok=false", status, res)
	}
	probs := fmt.Sprint(res["problems"])
	for _, want := range []string{"reload.yaml:5:", "models.m.route[0]", "reload.yaml:6:", "rout"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems %s do not contain %q", probs, want)
		}
	}
	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-a" {
		t.Errorf("request after the failed reload: %d %q, want 200 from-a", s, txt)
	}
	cfgStatus, _ := ra.health(t)["config"].(map[string]any)
	if cfgStatus == nil || cfgStatus["generation"] != float64(1) {
		t.Fatalf("/health config = %v, want generation 1", cfgStatus)
	}
	last, _ := cfgStatus["last_reload"].(map[string]any)
	if last == nil || last["ok"] != false || !strings.Contains(fmt.Sprint(last["problems"]), "reload.yaml:5:") {
		t.Errorf("/health config.last_reload = %v, want the failure with its problems", last)
	}

	// Fixing the file makes the next reload succeed.
	writeConfig(t, ra.file, routeConfig(a, b, "b", ""))
	if status, res := ra.reload(t); status != http.StatusOK || res["generation"] != float64(2) {
		t.Fatalf("reload of the fixed file: %d %v", status, res)
	}
	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-b" {
		t.Errorf("after the fixed reload: %d %q, want from-b", s, txt)
	}
}

// breakerOf returns the breaker state /health reports for a deployment
// ("closed" when it is not listed).
func breakerOf(t *testing.T, ra *reloadApp, prov, dep string) string {
	t.Helper()
	details, _ := ra.health(t)["details"].(map[string]any)
	d, _ := details[prov].(map[string]any)
	br, _ := d["breakers"].(map[string]any)
	if s, ok := br[dep].(string); ok {
		return s
	}
	return "closed"
}

func TestReloadKeepsBreakerStateOfUnchangedDeployments(t *testing.T) {
	a := newFakeUpstream(t, "from-a", false)
	b := newFakeUpstream(t, "from-b", false)
	a.status.Store(http.StatusInternalServerError)
	res := "resilience: {max_attempts: 1, breaker: {failures: 2, recovery_timeout: 1h}}\n"
	ra := startReloadApp(t, routeConfig(a, b, "a", res))
	for range 2 {
		if s, _ := ra.chat(t, "m"); s < 500 {
			t.Fatalf("status %d from a failing provider", s)
		}
	}
	if st := breakerOf(t, ra, "a", "a/m"); st != "open" {
		t.Fatalf("breaker of a/m = %s, want open", st)
	}

	// An unrelated change (a new model) keeps a/m's open breaker.
	writeConfig(t, ra.file, routeConfig(a, b, "a", "  other: {route: [b/other]}\n"+res))
	if s, r := ra.reload(t); s != http.StatusOK {
		t.Fatalf("reload: %d %v", s, r)
	}
	if st := breakerOf(t, ra, "a", "a/m"); st != "open" {
		t.Errorf("after an unrelated reload, breaker of a/m = %s, want open (state kept)", st)
	}
	// m has no other route, so the request still reaches a (panic mode)
	// and gets a's real failure; a forced failure leaves the ejection as
	// it was.
	if s, _ := ra.chat(t, "m"); s < 500 {
		t.Errorf("status %d from a failing provider", s)
	}
	if st := breakerOf(t, ra, "a", "a/m"); st != "open" {
		t.Errorf("after a forced attempt, breaker of a/m = %s, want still open", st)
	}

	// A new key for provider a is a different deployment: fresh breaker.
	a.status.Store(0)
	writeConfig(t, ra.file, strings.Replace(routeConfig(a, b, "a", res), "key-a", "key-a2", 1))
	if s, r := ra.reload(t); s != http.StatusOK {
		t.Fatalf("reload: %d %v", s, r)
	}
	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-a" {
		t.Errorf("after changing a's key: %d %q, want 200 from-a (new deployment, closed breaker)", s, txt)
	}
}

func TestReloadReportsRestartRequired(t *testing.T) {
	a := newFakeUpstream(t, "from-a", false)
	b := newFakeUpstream(t, "from-b", false)
	ra := startReloadApp(t, routeConfig(a, b, "a", ""))
	writeConfig(t, ra.file, routeConfig(a, b, "a", "listen: 127.0.0.1:9999\nserver: {stream_ping: 3s, max_body_bytes: 1000}\n"))
	s, res := ra.reload(t)
	if s != http.StatusOK {
		t.Fatalf("reload: %d %v", s, res)
	}
	if got := fmt.Sprint(res["applied"]); got != "[server.stream_ping]" {
		t.Errorf("applied = %s, want [server.stream_ping]", got)
	}
	if got := fmt.Sprint(res["restart_required"]); got != "[listen server.max_body_bytes]" {
		t.Errorf("restart_required = %s, want [listen server.max_body_bytes]", got)
	}
}

func TestReloadNeedsMasterKeyAndPOST(t *testing.T) {
	a := newFakeUpstream(t, "from-a", false)
	b := newFakeUpstream(t, "from-b", false)
	ra := startReloadApp(t, routeConfig(a, b, "a", ""))
	req, _ := http.NewRequest(http.MethodPost, ra.url+"/admin/reload", nil)
	if s, _ := doJSON(t, req); s != http.StatusUnauthorized {
		t.Errorf("reload without the master key: %d, want 401", s)
	}
	req, _ = http.NewRequest(http.MethodGet, ra.url+"/admin/reload", nil)
	req.Header.Set("Authorization", "Bearer "+reloadMaster)
	if s, _ := doJSON(t, req); s != http.StatusMethodNotAllowed {
		t.Errorf("GET /admin/reload: %d, want 405", s)
	}
}

// TestMain lets a test run this binary as llmgate itself (see
// startProcess), so signals are tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("LLMGATE_TEST_RUN_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// eventually waits until cond holds, failing after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestSIGHUPReloadsAndSIGTERMDrains(t *testing.T) {
	a := newFakeUpstream(t, "from-a", false)
	b := newFakeUpstream(t, "from-b", false)
	slow := newFakeUpstream(t, "from-slow", true)
	dir := t.TempDir()
	file := filepath.Join(dir, "reload.yaml")
	cfgText := func(target string) string {
		return strings.Replace(routeConfig(a, b, target, "  slow: {route: [slow/slow]}\n"), "models:\n",
			fmt.Sprintf("  slow: {type: openai, base_url: %s/v1, api_key: key-s}\nmodels:\n", slow.srv.URL), 1)
	}
	writeConfig(t, file, cfgText("a"))

	var stderr strings.Builder
	cmd := exec.Command(os.Args[0], "serve", "--config", file, "--listen", "127.0.0.1:0", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "LLMGATE_TEST_RUN_MAIN=1", "LLMGATE_MASTER_KEY="+reloadMaster)
	cmd.Stderr = &lockedWriter{w: &stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	sc := bufio.NewScanner(out)
	var base string
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "listening on "); ok {
			base = strings.TrimSpace(after)
			break
		}
	}
	go func() {
		_, _ = io.Copy(io.Discard, out)
		exited <- cmd.Wait()
	}()
	if base == "" {
		t.Fatalf("no listening line; stderr: %s", stderr.String())
	}
	ra := &reloadApp{url: base, file: file}
	generation := func() float64 {
		c, _ := ra.health(t)["config"].(map[string]any)
		g, _ := c["generation"].(float64)
		return g
	}

	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-a" {
		t.Fatalf("before reload: %d %q", s, txt)
	}
	writeConfig(t, file, cfgText("b"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "generation 2 after SIGHUP", func() bool { return generation() == 2 })
	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-b" {
		t.Errorf("after SIGHUP: %d %q, want from-b", s, txt)
	}

	writeConfig(t, file, "providers: [\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed reload in /health", func() bool {
		c, _ := ra.health(t)["config"].(map[string]any)
		last, _ := c["last_reload"].(map[string]any)
		return last != nil && last["ok"] == false
	})
	if s, txt := ra.chat(t, "m"); s != http.StatusOK || txt != "from-b" {
		t.Errorf("after a failed SIGHUP reload: %d %q, want from-b", s, txt)
	}

	// SIGTERM drains: a request in flight finishes before the process exits.
	inflight := make(chan string, 1)
	go func() {
		s, txt := ra.chat(t, "slow")
		inflight <- fmt.Sprint(s, " ", txt)
	}()
	<-slow.held
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the listener to close", func() bool {
		resp, err := http.Get(base + "/health/live")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	select {
	case err := <-exited:
		t.Fatalf("llmgate exited (%v) with a request in flight", err)
	default:
	}
	slow.release()
	if got := <-inflight; got != "200 from-slow" {
		t.Errorf("in-flight request during SIGTERM: %s, want 200 from-slow", got)
	}
	if err := <-exited; err != nil {
		t.Errorf("llmgate exited with %v after SIGTERM; stderr: %s", err, stderr.String())
	}
	exited <- nil // for the cleanup
	log := stderr.String()
	for _, want := range []string{"config reloaded", "config reload failed", "reload.yaml:"} {
		if !strings.Contains(log, want) {
			t.Errorf("the process log does not mention %q:\n%s", want, log)
		}
	}
}

// lockedWriter serializes writes (the process's stderr is copied by another
// goroutine while the test reads it).
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
