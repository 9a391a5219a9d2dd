package mock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/mock"
)

// gmConfig asks the Gemini client to send the X-Mock-Fault header.
func gmConfig(spec string) *genai.GenerateContentConfig {
	return &genai.GenerateContentConfig{HTTPOptions: &genai.HTTPOptions{Headers: http.Header{mock.FaultHeader: {spec}}}}
}

func TestStatusFaults(t *testing.T) {
	_, srv := start(t, mock.Options{})
	ctx := context.Background()

	t.Run("openai 503", func(t *testing.T) {
		_, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, "status=503"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Type != "server_error" {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(apiErr.Message, "mock fault") || apiErr.Response.Header.Get("x-request-id") == "" {
			t.Errorf("message %q, x-request-id %q", apiErr.Message, apiErr.Response.Header.Get("x-request-id"))
		}
	})

	t.Run("openai 429 with retry-after", func(t *testing.T) {
		_, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, "status=429,retry_after=1500ms"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" {
			t.Fatalf("err = %v", err)
		}
		h := apiErr.Response.Header
		if h.Get("Retry-After") != "2" || h.Get("Retry-After-Ms") != "1500" || h.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Errorf("Retry-After %q, retry-after-ms %q, remaining %q", h.Get("Retry-After"), h.Get("Retry-After-Ms"),
				h.Get("X-Ratelimit-Remaining-Requests"))
		}
	})

	t.Run("openai stream 503 before the stream starts", func(t *testing.T) {
		stream := openaiClient(srv).Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, "status=503"))
		for stream.Next() {
			t.Fatal("got an event")
		}
		var apiErr *openai.Error
		if !errors.As(stream.Err(), &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("err = %v", stream.Err())
		}
	})

	t.Run("anthropic 529 overloaded", func(t *testing.T) {
		_, err := anthropicClient(srv).Messages.New(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))),
			anoption.WithHeader(mock.FaultHeader, "status=529"))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" || apiErr.RequestID == "" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("anthropic 429 with retry-after", func(t *testing.T) {
		_, err := anthropicClient(srv).Messages.New(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))),
			anoption.WithHeader(mock.FaultHeader, "status=429,retry_after=3"))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" {
			t.Fatalf("err = %v", err)
		}
		if h := apiErr.Response.Header; h.Get("retry-after") != "3" || h.Get("anthropic-ratelimit-requests-remaining") != "0" {
			t.Errorf("headers = %v", h)
		}
	})

	t.Run("gemini 429 resource exhausted", func(t *testing.T) {
		_, err := geminiClient(t, srv).Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text(prompt),
			gmConfig("status=429,retry_after=17s"))
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.Status != "RESOURCE_EXHAUSTED" {
			t.Fatalf("err = %v", err)
		}
		var delay any
		for _, d := range apiErr.Details {
			if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
				delay = d["retryDelay"]
			}
		}
		if delay != "17s" {
			t.Errorf("RetryInfo.retryDelay = %v, details %v", delay, apiErr.Details)
		}
	})

	t.Run("gemini 503 unavailable", func(t *testing.T) {
		_, err := geminiClient(t, srv).Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text(prompt), gmConfig("status=503"))
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Status != "UNAVAILABLE" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("bad fault header", func(t *testing.T) {
		_, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, "status=abc"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, mock.FaultHeader) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestContextLength(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("word ", 100) // 125 estimated tokens
	for _, tc := range []struct {
		name string
		opts mock.Options
		spec string
	}{
		{"injected", mock.Options{}, "context_length"},
		{"over the context window", mock.Options{ContextWindow: 100}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := start(t, tc.opts)
			var oaOpts []oaoption.RequestOption
			var anOpts []anoption.RequestOption
			var gmCfg *genai.GenerateContentConfig
			if tc.spec != "" {
				oaOpts = append(oaOpts, oaoption.WithHeader(mock.FaultHeader, tc.spec))
				anOpts = append(anOpts, anoption.WithHeader(mock.FaultHeader, tc.spec))
				gmCfg = gmConfig(tc.spec)
			}

			_, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(long)), oaOpts...)
			var oaErr *openai.Error
			if !errors.As(err, &oaErr) || oaErr.StatusCode != 400 || oaErr.Code != "context_length_exceeded" || oaErr.Param != "messages" {
				t.Errorf("openai: %v", err)
			}

			_, err = anthropicClient(srv).Messages.New(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(long))), anOpts...)
			var anErr *anthropic.Error
			if !errors.As(err, &anErr) || anErr.StatusCode != 400 || anErr.Type() != "invalid_request_error" ||
				!strings.Contains(anErr.RawJSON(), "prompt is too long: ") {
				t.Errorf("anthropic: %v", err)
			}

			_, err = geminiClient(t, srv).Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text(long), gmCfg)
			var gmErr genai.APIError
			if !errors.As(err, &gmErr) || gmErr.Code != 400 || gmErr.Status != "INVALID_ARGUMENT" ||
				!strings.HasPrefix(gmErr.Message, "The input token count (") {
				t.Errorf("gemini: %v", err)
			}
		})
	}
	t.Run("short prompts fit the window", func(t *testing.T) {
		_, srv := start(t, mock.Options{ContextWindow: 100})
		if _, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt))); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCutAfter checks that a cut stream reaches the SDKs as an error after
// the first events, never as a clean end.
func TestCutAfter(t *testing.T) {
	_, srv := start(t, mock.Options{})
	ctx := context.Background()
	const spec = "cut_after=3"

	t.Run("openai", func(t *testing.T) {
		stream := openaiClient(srv).Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, spec))
		n := 0
		for stream.Next() {
			n++
		}
		if stream.Err() == nil || n != 3 {
			t.Fatalf("%d events, err %v; want 3 events and an error", n, stream.Err())
		}
	})

	t.Run("anthropic", func(t *testing.T) {
		stream := anthropicClient(srv).Messages.NewStreaming(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))),
			anoption.WithHeader(mock.FaultHeader, spec))
		n := 0
		for stream.Next() {
			n++
		}
		// message_start, content_block_start, (ping is skipped by the SDK)
		if stream.Err() == nil || n != 2 {
			t.Fatalf("%d events, err %v; want 2 events and an error", n, stream.Err())
		}
	})

	t.Run("gemini", func(t *testing.T) {
		n := 0
		var err error
		for _, e := range geminiClient(t, srv).Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text(prompt), gmConfig(spec)) {
			if e != nil {
				err = e
				break
			}
			n++
		}
		if err == nil || n != 3 {
			t.Fatalf("%d chunks, err %v; want 3 chunks and an error", n, err)
		}
	})

	t.Run("non-streaming body", func(t *testing.T) {
		_, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, "cut_after=20"))
		if err == nil {
			t.Fatal("a truncated body decoded without error")
		}
	})
}

func TestErrorEventAfter(t *testing.T) {
	_, srv := start(t, mock.Options{})
	ctx := context.Background()
	const spec = "error_event_after=2"

	t.Run("openai", func(t *testing.T) {
		stream := openaiClient(srv).Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)),
			oaoption.WithHeader(mock.FaultHeader, spec))
		n := 0
		for stream.Next() {
			n++
		}
		if err := stream.Err(); n != 2 || err == nil || !strings.Contains(err.Error(), "server_error") {
			t.Fatalf("%d events, err %v", n, err)
		}
	})

	t.Run("anthropic", func(t *testing.T) {
		stream := anthropicClient(srv).Messages.NewStreaming(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))),
			anoption.WithHeader(mock.FaultHeader, spec))
		for stream.Next() {
		}
		var apiErr *anthropic.Error
		if !errors.As(stream.Err(), &apiErr) || apiErr.Type() != "overloaded_error" {
			t.Fatalf("err = %v", stream.Err())
		}
	})

	t.Run("gemini", func(t *testing.T) {
		var err error
		for _, e := range geminiClient(t, srv).Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text(prompt), gmConfig(spec)) {
			if e != nil {
				err = e
				break
			}
		}
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Status != "UNAVAILABLE" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMalformed(t *testing.T) {
	_, srv := start(t, mock.Options{Faults: mock.Fault{Malformed: true}})
	ctx := context.Background()
	oa := openaiClient(srv)

	if _, err := oa.Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt))); err == nil {
		t.Error("openai: malformed body decoded")
	}
	stream := oa.Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)))
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Error("openai: malformed stream ended cleanly")
	}
	anStream := anthropicClient(srv).Messages.NewStreaming(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))))
	for anStream.Next() {
	}
	if anStream.Err() == nil {
		t.Error("anthropic: malformed stream ended cleanly")
	}
	if _, err := geminiClient(t, srv).Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text(prompt), nil); err == nil {
		t.Error("gemini: malformed body decoded")
	}
}

// TestHang proves that a hung request returns when the client gives up, is
// counted as canceled, and leaves nothing running.
func TestHang(t *testing.T) {
	m, srv := start(t, mock.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := openaiClient(srv).Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt)),
		oaoption.WithHeader(mock.FaultHeader, "hang"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	eventually(t, "the hung request to be counted as canceled", func() bool { return m.Canceled() == 1 && m.Active() == 0 })
}

// TestClientDisconnectMidStream proves that a client leaving a slow stream
// ends the mock's handler and counts as canceled.
func TestClientDisconnectMidStream(t *testing.T) {
	m, srv := start(t, mock.Options{TokenDelay: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	stream := openaiClient(srv).Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)))
	if !stream.Next() {
		t.Fatalf("no first event: %v", stream.Err())
	}
	cancel()
	for stream.Next() {
	}
	eventually(t, "the stream to be counted as canceled", func() bool { return m.Canceled() == 1 && m.Active() == 0 })
}

func TestCloseReleasesHangs(t *testing.T) {
	m, srv := start(t, mock.Options{Faults: mock.Fault{Hang: true}})
	errc := make(chan error, 1)
	go func() {
		_, err := openaiClient(srv).Chat.Completions.New(context.Background(), chatParams(openai.UserMessage(prompt)))
		errc <- err
	}()
	eventually(t, "the request to arrive", func() bool { return m.Active() == 1 })
	m.Close()
	if err := <-errc; err == nil {
		t.Fatal("a released hang answered")
	}
	if m.Canceled() != 0 || m.Active() != 0 {
		t.Errorf("canceled %d active %d", m.Canceled(), m.Active())
	}
}

// TestScript scripts "fail first, succeed second": the SDK's own retry
// (honouring retry-after-ms) gets the reply.
func TestScript(t *testing.T) {
	m, srv := start(t, mock.Options{Script: func(r *http.Request, n int) *mock.Fault {
		if n == 1 {
			return &mock.Fault{Status: 503, RetryAfter: time.Millisecond}
		}
		return nil
	}})
	resp, err := openaiClient(srv, oaoption.WithMaxRetries(1)).Chat.Completions.New(context.Background(),
		chatParams(openai.UserMessage(prompt)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != wantReply || m.Count() != 2 {
		t.Fatalf("content %q after %d requests", resp.Choices[0].Message.Content, m.Count())
	}
	reqs := m.Requests()
	if reqs[0].Header.Get("X-Stainless-Retry-Count") != "0" || reqs[1].Header.Get("X-Stainless-Retry-Count") != "1" {
		t.Errorf("retry counts %q, %q", reqs[0].Header.Get("X-Stainless-Retry-Count"), reqs[1].Header.Get("X-Stainless-Retry-Count"))
	}
}

// TestRate checks that a fault rate is honoured and reproducible with a
// seeded generator.
func TestRate(t *testing.T) {
	run := func() []bool {
		_, srv := start(t, mock.Options{Rand: rand.New(rand.NewPCG(7, 7)), Faults: mock.Fault{Status: 500, Rate: 0.3}})
		var failed []bool
		for range 100 {
			code, _, _ := postJSON(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil)
			failed = append(failed, code == 500)
		}
		return failed
	}
	a, b := run(), run()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d differs between runs with the same seed", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 15 || n > 45 {
		t.Errorf("%d of 100 failed at rate 0.3", n)
	}
}

// fakeClock records the waits asked of it and returns at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func TestDelays(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	_, srv := start(t, mock.Options{Clock: clock, Latency: time.Second, TokenDelay: 5 * time.Millisecond})
	ctx := context.Background()
	stream := openaiClient(srv).Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)),
		oaoption.WithHeader(mock.FaultHeader, "latency=200ms,token_delay=20ms"))
	events := 0
	for stream.Next() {
		events++
		if stream.Current().Created != clock.now.Unix() {
			t.Errorf("created = %d", stream.Current().Created)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	clock.mu.Lock()
	defer clock.mu.Unlock()
	// One latency wait, then a token delay before every event but the first
	// ([DONE] included).
	want := []time.Duration{200 * time.Millisecond}
	for range events {
		want = append(want, 20*time.Millisecond)
	}
	if fmt.Sprint(clock.waits) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v", clock.waits, want)
	}
}

// TestFirstTokenDelay checks that first_token_delay holds back the first
// event with content, not the opening events, in place of the token delay
// for that event, in the OpenAI and the Anthropic stream.
func TestFirstTokenDelay(t *testing.T) {
	const ftd, td = 300 * time.Millisecond, 20 * time.Millisecond
	tests := []struct {
		name string
		// events streams one request and returns the event names in order,
		// "content" for the ones carrying text.
		events func(t *testing.T, srv *httptest.Server) []string
	}{
		{"openai", func(t *testing.T, srv *httptest.Server) []string {
			stream := openaiClient(srv).Chat.Completions.NewStreaming(context.Background(), chatParams(openai.UserMessage(prompt)),
				oaoption.WithHeader(mock.FaultHeader, "first_token_delay=300ms,token_delay=20ms"))
			var evs []string
			for stream.Next() {
				if c := stream.Current(); len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
					evs = append(evs, "content")
				} else {
					evs = append(evs, "other")
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			return append(evs, "[DONE]")
		}},
		{"anthropic", func(t *testing.T, srv *httptest.Server) []string {
			// Raw events: the SDK does not surface pings, which wait too.
			code, _, body := postJSON(t, srv.URL+"/v1/messages",
				`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"`+prompt+`"}]}`,
				map[string]string{"anthropic-version": "2023-06-01", mock.FaultHeader: "first_token_delay=300ms,token_delay=20ms"})
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, body)
			}
			var evs []string
			for _, ev := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
				name, _, _ := strings.Cut(strings.TrimPrefix(ev, "event: "), "\n")
				if name == "content_block_delta" && strings.Contains(ev, `"text_delta","text":"`) && !strings.Contains(ev, `"text":""`) {
					name = "content"
				}
				evs = append(evs, name)
			}
			return evs
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			_, srv := start(t, mock.Options{Clock: clock})
			evs := tc.events(t, srv)
			first := slices.Index(evs, "content")
			if first < 1 {
				t.Fatalf("events %v: want opening events before the first content", evs)
			}
			// A wait before every event but the first: the first content
			// event's is the first-token delay, every other one the token
			// delay.
			var want []time.Duration
			for i := range evs[1:] {
				if i+1 == first {
					want = append(want, ftd)
				} else {
					want = append(want, td)
				}
			}
			clock.mu.Lock()
			defer clock.mu.Unlock()
			if fmt.Sprint(clock.waits) != fmt.Sprint(want) {
				t.Errorf("events %v: waits = %v, want %v", evs, clock.waits, want)
			}
		})
	}
}

func TestRecording(t *testing.T) {
	m, srv := start(t, mock.Options{MaxRecorded: 2})
	for i := range 3 {
		postJSON(t, srv.URL+"/v1/messages?beta=true", fmt.Sprintf(`{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"n%d"}]}`, i),
			map[string]string{"anthropic-version": "2023-06-01"})
	}
	reqs := m.Requests()
	if m.Count() != 3 || len(reqs) != 2 {
		t.Fatalf("count %d, %d recorded", m.Count(), len(reqs))
	}
	r := reqs[1]
	if r.N != 3 || r.Method != "POST" || r.Path != "/v1/messages" || r.Query != "beta=true" ||
		r.Header.Get("anthropic-version") != "2023-06-01" || !strings.Contains(string(r.Body), `"n2"`) || r.Time.IsZero() {
		t.Errorf("latest = %+v", r)
	}
	if reqs[0].N != 2 {
		t.Errorf("oldest kept = %d, want 2", reqs[0].N)
	}
	m.Reset()
	if m.Count() != 0 || len(m.Requests()) != 0 || m.Canceled() != 0 {
		t.Errorf("after Reset: count %d, %d recorded", m.Count(), len(m.Requests()))
	}
}
