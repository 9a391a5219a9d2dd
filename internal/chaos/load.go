package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/sse"
)

// outcome is how one request ended for its client.
type outcome uint8

const (
	outcomeFailed  outcome = iota // error status or no answer
	outcomeOK                     // a complete answer
	outcomePartial                // a stream that began, then failed
)

// sample is one request's measurements.
type sample struct {
	sent          bool
	latency       time.Duration
	status        int
	outcome       outcome
	clientTimeout bool
	provider      string // x-llmgate-provider
	attempts      int    // x-llmgate-attempts
	format        string
	direct        bool      // sent straight to the provider
	start, end    time.Time // when it was sent and answered
	retryAfter    bool      // a failure that said when to retry
	wrong         []string  // what a failure answer got wrong
}

// load sends requests lo to hi-1, o.Concurrency at a time, into
// samples[lo:hi] (sent stays false for those ctx kept from going).
func (e *env) load(ctx context.Context, sc scenario, o Options, samples []sample, lo, hi int) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if e.direct {
					samples[i] = e.oneDirect(ctx, sc.request(i), o.RequestTimeout)
				} else {
					samples[i] = e.one(ctx, sc.request(i), o.RequestTimeout)
				}
				if sc.gap > 0 {
					select {
					case <-time.After(sc.gap):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
feed:
	for i := lo; i < hi; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

// warm opens o.Concurrency client connections to the gateway (GET
// /health/live, which no upstream sees), so that the first measured
// requests do not pay for them.
func (e *env) warm(ctx context.Context, o Options) {
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/health/live", nil)
			if err != nil {
				return
			}
			if resp, err := e.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// prompt is every request's user message.
const prompt = "Tell me, briefly, how a circuit breaker protects an upstream API"

// newRequest builds the HTTP request a client of r.Format sends for
// model.
func (e *env) newRequest(ctx context.Context, r request, model string) (*http.Request, error) {
	var path, body string
	h := http.Header{"Content-Type": {"application/json"}}
	stream := strconv.FormatBool(r.Stream)
	switch r.Format {
	case "anthropic":
		path = "/v1/messages"
		body = `{"model":"` + model + `","max_tokens":256,"messages":[{"role":"user","content":"` + prompt + `"}],"stream":` + stream + `}`
		h.Set("Anthropic-Version", "2023-06-01")
	case "gemini":
		path = "/v1beta/models/" + model + ":generateContent"
		if r.Stream {
			path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		body = `{"contents":[{"role":"user","parts":[{"text":"` + prompt + `"}]}]}`
	default:
		path = "/v1/chat/completions"
		mt := ""
		if r.MaxTokens > 0 {
			mt = `"max_tokens":` + strconv.Itoa(r.MaxTokens) + `,`
		}
		body = `{"model":"` + model + `",` + mt + `"messages":[{"role":"user","content":"` + prompt + `"}],"stream":` + stream + `}`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	if e.key != "" {
		req.Header.Set("Authorization", "Bearer "+e.key)
	}
	return req, nil
}

// one sends one request through the gateway and reads its answer to the
// end.
func (e *env) one(ctx context.Context, r request, timeout time.Duration) (s sample) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.sent, s.format = true, r.Format
	s.start = time.Now()
	defer func() {
		s.end = time.Now()
		s.latency = s.end.Sub(s.start)
		s.clientTimeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
	}()
	req, err := e.newRequest(ctx, r, "chat")
	if err != nil {
		return s
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	s.status = resp.StatusCode
	s.provider = resp.Header.Get("X-Llmgate-Provider")
	s.attempts, _ = strconv.Atoi(resp.Header.Get("X-Llmgate-Attempts"))
	s.outcome = readOutcome(r, resp)
	if s.status != http.StatusOK {
		s.retryAfter = resp.Header.Get("Retry-After") != ""
		s.wrong = checkFailure(r.Format, resp)
	}
	return s
}

// readOutcome reads a response to its end.
func readOutcome(r request, resp *http.Response) outcome {
	switch {
	case resp.StatusCode != http.StatusOK:
		return outcomeFailed
	case r.Stream:
		return streamOutcome(r.Format, resp.Body)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil && json.Valid(b) {
		return outcomeOK
	}
	return outcomeFailed
}

// checkFailure holds an error answer (its body not read yet) to the
// README's rules and lists what it breaks.
func checkFailure(format string, resp *http.Response) []string {
	var wrong []string
	if resp.Header.Get("X-Should-Retry") != "false" {
		wrong = append(wrong, fmt.Sprintf("HTTP %d without x-should-retry: false", resp.StatusCode))
	}
	b, _ := io.ReadAll(resp.Body)
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
		return append(wrong, fmt.Sprintf("HTTP %d with a body that is not JSON", resp.StatusCode))
	}
	ok := v.Error.Message != ""
	switch format {
	case "openai":
		ok = ok && v.Error.Type != ""
	case "anthropic":
		ok = ok && v.Type == "error" && v.Error.Type != ""
		if resp.StatusCode == 529 && v.Error.Type != "overloaded_error" {
			wrong = append(wrong, "anthropic 529 with type "+v.Error.Type)
		}
	case "gemini":
		ok = ok && v.Error.Status != "" && len(v.Error.Code) > 0
	}
	if !ok {
		wrong = append(wrong, fmt.Sprintf("HTTP %d with a body not in the %s error format", resp.StatusCode, format))
	}
	return wrong
}

// directModel is the model a client names when calling a provider itself.
var directModel = map[string]string{"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}

// SDK retry rules for the direct client: the OpenAI and Anthropic SDKs'
// defaults (2 retries; 0.5 s doubling to 8 s, minus up to 25% jitter;
// Retry-After up to 60 s honoured; 408, 409, 429, 5xx and connection
// errors retried).
const (
	sdkAttempts   = 3
	sdkBackoff    = 500 * time.Millisecond
	sdkMaxBackoff = 8 * time.Second
)

// oneDirect sends one request straight to the provider, retrying as the
// SDKs do.
func (e *env) oneDirect(ctx context.Context, r request, timeout time.Duration) (s sample) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.sent, s.format, s.direct = true, r.Format, true
	s.start = time.Now()
	defer func() {
		s.end = time.Now()
		s.latency = s.end.Sub(s.start)
		s.clientTimeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
	}()
	for attempt := range sdkAttempts {
		req, err := e.newRequest(ctx, r, directModel[r.Format])
		if err != nil {
			return s
		}
		s.attempts = attempt + 1
		resp, err := e.client.Do(req)
		retry := err != nil
		var wait time.Duration
		if err == nil {
			s.status = resp.StatusCode
			c := resp.StatusCode
			retry = c == 408 || c == 409 || c == 429 || c >= 500
			if retry && attempt+1 < sdkAttempts {
				wait = retryAfter(resp.Header)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			} else {
				s.outcome = readOutcome(r, resp)
				s.retryAfter = resp.Header.Get("Retry-After") != ""
				resp.Body.Close()
				return s
			}
		}
		if !retry || attempt+1 == sdkAttempts || ctx.Err() != nil {
			return s
		}
		if wait <= 0 || wait > time.Minute {
			wait = min(sdkBackoff<<attempt, sdkMaxBackoff)
			wait -= time.Duration(rand.Float64() * 0.25 * float64(wait))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return s
		}
	}
	return s
}

// retryAfter reads retry-after-ms or Retry-After (seconds).
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil {
		return time.Duration(ms * float64(time.Millisecond))
	}
	if sec, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil {
		return time.Duration(sec * float64(time.Second))
	}
	return 0
}

// streamOutcome reads a client stream to its end: OK when it ended with the
// format's own end marker and no error event, else partial.
func streamOutcome(format string, body io.Reader) outcome {
	rd := sse.NewReader(body)
	done := false
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) && done {
				return outcomeOK
			}
			return outcomePartial
		}
		if string(ev.Name) == "error" {
			return outcomePartial
		}
		if !ev.HasData {
			continue
		}
		if bytes.Equal(ev.Data, []byte("[DONE]")) {
			done = true
			continue
		}
		if _, isErr, _ := jsonscan.Get(ev.Data, "error"); isErr {
			return outcomePartial
		}
		switch format {
		case "anthropic":
			done = done || string(ev.Name) == "message_stop"
		case "gemini":
			done = done || bytes.Contains(ev.Data, []byte(`"finishReason"`))
		}
	}
}
