package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/sse"
)

// upstreamSpec is one scripted mock provider of the test config.
type upstreamSpec struct {
	Name string // the provider's name in the config
	Type string // its wire format: openai, anthropic or gemini
	// Script picks the fault of the mock's request n (1-based); nil is
	// always healthy.
	Script func(n int) *mock.Fault
	// Opts are further mock options (TokenDelay, ContextWindow, ...);
	// Script above wins over Opts.Script.
	Opts mock.Options
	// URL, when set, is an upstream the test serves itself (no mock):
	// its root, as for a mock.
	URL string
}

// alwaysFault scripts the same fault for every request.
func alwaysFault(f mock.Fault) func(int) *mock.Fault { return func(int) *mock.Fault { return &f } }

// firstNFault scripts f for the first n requests and healthy answers after.
func firstNFault(n int, f mock.Fault) func(int) *mock.Fault {
	return func(i int) *mock.Fault {
		if i <= n {
			return &f
		}
		return nil
	}
}

// baseResilience is the small, fast resilience block every test starts from.
const baseResilience = `  retry: {base: 1ms, cap: 5ms, max_retry_wait: 3s}
  breaker: {failures: 3, ejection_time: 1s, half_open_requests: 1}
`

// pipelineGW is a fully wired gateway (cli.NewApp) in front of scripted mocks.
type pipelineGW struct {
	t     *testing.T
	URL   string
	App   *cli.App
	Mocks map[string]*mock.Mock
	hc    *http.Client
}

// startPipeline serves one mock per spec on its own httptest server and a
// gateway built by cli.NewApp from YAML text naming them. resilience is
// extra lines under resilience: (indented two spaces) and models the
// models: block body. Everything stops when the test ends.
func startPipeline(t *testing.T, ups []upstreamSpec, resilience, models string) *pipelineGW {
	t.Helper()
	return startGateway(t, ups, baseResilience+resilience, models)
}

// startDefaults is startPipeline on the default resilience settings: what
// a user who tunes nothing gets.
func startDefaults(t *testing.T, ups []upstreamSpec, models string) *pipelineGW {
	t.Helper()
	return startGateway(t, ups, "", models)
}

func startGateway(t *testing.T, ups []upstreamSpec, resilience, models string) *pipelineGW {
	t.Helper()
	var y strings.Builder
	fmt.Fprintf(&y, "storage: {data_dir: %q}\nrequest_log: {ring_size: 200}\nproviders:\n", t.TempDir())
	g := &pipelineGW{t: t, Mocks: map[string]*mock.Mock{}}
	for _, u := range ups {
		if u.URL != "" {
			writeProvider(&y, u, u.URL)
			continue
		}
		o := u.Opts
		if u.Script != nil {
			script := u.Script
			o.Script = func(_ *http.Request, n int) *mock.Fault { return script(n) }
		}
		m := mock.New(o)
		srv := httptest.NewServer(m)
		t.Cleanup(func() {
			m.Close() // release hung handlers so Close returns
			srv.Close()
		})
		g.Mocks[u.Name] = m
		writeProvider(&y, u, srv.URL)
	}
	if resilience != "" {
		y.WriteString("resilience:\n" + resilience)
	}
	if models != "" {
		y.WriteString("models:\n" + models)
	}
	cfg, err := config.Parse("pipeline-test.yaml", []byte(y.String()), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config:\n%s\n%v", y.String(), err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("cli.NewApp: %v", err)
	}
	front := httptest.NewServer(app.Handler)
	g.URL, g.App, g.hc = front.URL, app, front.Client()
	t.Cleanup(func() {
		front.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		app.Close(ctx)
		cancel()
		for _, u := range app.Router.Upstreams() {
			u.Client.CloseIdleConnections()
		}
	})
	return g
}

// writeProvider writes u's providers: entry for an upstream served at root.
func writeProvider(y *strings.Builder, u upstreamSpec, root string) {
	if u.Type == "openai" {
		root += "/v1"
	}
	fmt.Fprintf(y, "  %s: {type: %s, base_url: %q, api_key: test-key-%s}\n", u.Name, u.Type, root, u.Name)
}

// count is the number of requests the named mock received.
func (g *pipelineGW) count(name string) int { return g.Mocks[name].Count() }

// counts is every mock's request count, by provider name.
func (g *pipelineGW) counts() map[string]int {
	out := map[string]int{}
	for n, m := range g.Mocks {
		out[n] = m.Count()
	}
	return out
}

// clientReq is a chat request as one SDK would send it.
type clientReq struct {
	Format string // openai, anthropic or gemini
	Model  string
	Stream bool
	Text   string // the user message; "" means a short default
}

// httpRequest builds the HTTP request a client of r.Format sends.
func (g *pipelineGW) httpRequest(ctx context.Context, r clientReq) *http.Request {
	g.t.Helper()
	text := r.Text
	if text == "" {
		text = "Say hello to the pipeline tests, please"
	}
	msg, _ := json.Marshal(text)
	var path, body string
	h := http.Header{"Content-Type": {"application/json"}}
	switch r.Format {
	case "openai":
		path = "/v1/chat/completions"
		body = fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%s}],"stream":%t}`, r.Model, msg, r.Stream)
		h.Set("Authorization", "Bearer client-key")
	case "anthropic":
		path = "/v1/messages"
		body = fmt.Sprintf(`{"model":%q,"max_tokens":256,"messages":[{"role":"user","content":%s}],"stream":%t}`, r.Model, msg, r.Stream)
		h.Set("X-Api-Key", "client-key")
		h.Set("Anthropic-Version", "2023-06-01")
	case "gemini":
		path = "/v1beta/models/" + r.Model + ":generateContent"
		if r.Stream {
			path = "/v1beta/models/" + r.Model + ":streamGenerateContent?alt=sse"
		}
		body = fmt.Sprintf(`{"contents":[{"role":"user","parts":[{"text":%s}]}]}`, msg)
		h.Set("X-Goog-Api-Key", "client-key")
	default:
		g.t.Fatalf("unknown client format %q", r.Format)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header = h
	return req
}

// clientReply is what a client got back.
type clientReply struct {
	Status  int
	Header  http.Header
	Body    []byte
	Elapsed time.Duration
}

// do sends r and reads the whole answer.
func (g *pipelineGW) do(r clientReq) clientReply {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := g.hc.Do(g.httpRequest(ctx, r))
	if err != nil {
		g.t.Fatalf("%s request: %v", r.Format, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("reading the answer: %v", err)
	}
	return clientReply{Status: resp.StatusCode, Header: resp.Header, Body: b, Elapsed: time.Since(start)}
}

// getJSON GETs path on the gateway and decodes the JSON answer into v.
func (g *pipelineGW) getJSON(path string, v any) {
	g.t.Helper()
	resp, err := g.hc.Get(g.URL + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		g.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// logRecord is the part of a GET /logs record the tests read.
type logRecord struct {
	ID           string `json:"id"`
	Status       int    `json:"status"`
	ErrorKind    string `json:"error_kind"`
	Provider     string `json:"provider"`
	Attempts     int    `json:"attempts"`
	Fallback     bool   `json:"fallback"`
	Stream       bool   `json:"stream"`
	OutputTokens int    `json:"output_tokens"`
	InputTokens  int    `json:"input_tokens"`
}

// lastLog returns the newest request-log entry, waiting briefly for the
// record (the gateway records when its handler returns, which may be just
// after the client read the end of the body).
func (g *pipelineGW) lastLog(requestID string) logRecord {
	g.t.Helper()
	var got logRecord
	waitUntil(g.t, "the request log entry of "+requestID, func() bool {
		var out struct {
			Data []logRecord `json:"data"`
		}
		g.getJSON("/logs?limit=20", &out)
		for _, e := range out.Data {
			if e.ID == requestID {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// waitUntil polls cond for up to 5s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clientEvent is one event of a client stream, copied.
type clientEvent struct {
	Name string
	Data []byte
}

// readClientEvents splits a complete SSE body into events.
func readClientEvents(t *testing.T, body []byte) []clientEvent {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(body))
	var out []clientEvent
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading the client stream: %v\n%s", err, body)
		}
		if ev.IsComment() {
			continue
		}
		out = append(out, clientEvent{Name: string(ev.Name), Data: bytes.Clone(ev.Data)})
	}
}

// checkErrorBody checks that b is an error in the client format's shape and
// returns its message.
func checkErrorBody(t *testing.T, format string, b []byte) string {
	t.Helper()
	var v struct {
		Type  string `json:"type"`
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Status  string          `json:"status"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s error body is not JSON: %v: %s", format, err, b)
	}
	e := v.Error
	switch format {
	case "openai":
		if e.Message == "" || e.Type == "" {
			t.Errorf("openai error body wants error.message and error.type: %s", b)
		}
	case "anthropic":
		if v.Type != "error" || e.Type == "" || e.Message == "" {
			t.Errorf(`anthropic error body wants {"type":"error","error":{"type","message"}}: %s`, b)
		}
	case "gemini":
		if e.Status == "" || e.Message == "" || len(e.Code) == 0 {
			t.Errorf("gemini error body wants error.code, error.message and error.status: %s", b)
		}
	}
	return e.Message
}

// checkSuccessBody checks that b is a complete chat answer in the client
// format's shape with some text, and returns the text.
func checkSuccessBody(t *testing.T, format string, b []byte) string {
	t.Helper()
	var text string
	switch format {
	case "openai":
		var v struct {
			Object  string `json:"object"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Object != "chat.completion" || len(v.Choices) == 0 {
			t.Fatalf("not an OpenAI chat.completion: %v: %s", err, b)
		}
		text = v.Choices[0].Message.Content
	case "anthropic":
		var v struct {
			Type    string `json:"type"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Type != "message" || len(v.Content) == 0 {
			t.Fatalf("not an Anthropic message: %v: %s", err, b)
		}
		text = v.Content[0].Text
	case "gemini":
		var v struct {
			Candidates []struct {
				Content struct {
					Parts []struct {
						Text string `json:"text"`
					} `json:"parts"`
				} `json:"content"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.Candidates) == 0 || len(v.Candidates[0].Content.Parts) == 0 {
			t.Fatalf("not a Gemini GenerateContentResponse: %v: %s", err, b)
		}
		text = v.Candidates[0].Content.Parts[0].Text
	}
	if text == "" {
		t.Errorf("%s answer has no text: %s", format, b)
	}
	return text
}

// endsWithErrorEvent reports whether events end with an error event in the
// client format's shape: OpenAI and Gemini a data event whose JSON has a
// top-level "error"; Anthropic "event: error".
func endsWithErrorEvent(format string, evs []clientEvent) bool {
	if len(evs) == 0 {
		return false
	}
	last := evs[len(evs)-1]
	if format == "anthropic" {
		var v struct {
			Type  string `json:"type"`
			Error struct {
				Type, Message string
			} `json:"error"`
		}
		return last.Name == "error" && json.Unmarshal(last.Data, &v) == nil && v.Type == "error" && v.Error.Message != ""
	}
	var v struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	return json.Unmarshal(last.Data, &v) == nil && v.Error != nil && v.Error.Message != ""
}

// countContentEvents counts the events that carry answer text in the client
// format.
func countContentEvents(format string, evs []clientEvent) int {
	n := 0
	for _, e := range evs {
		switch format {
		case "openai":
			if bytes.Contains(e.Data, []byte(`"content":"`)) && !bytes.Contains(e.Data, []byte(`"content":""`)) {
				n++
			}
		case "anthropic":
			if e.Name == "content_block_delta" {
				n++
			}
		case "gemini":
			if bytes.Contains(e.Data, []byte(`"text":`)) {
				n++
			}
		}
	}
	return n
}

// settleGoroutines waits up to 5s for the goroutine count to fall to at
// most want and returns the last count seen.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// goroutineDump is the stacks of every goroutine, for a leak report.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
