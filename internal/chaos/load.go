package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
				samples[i] = e.one(ctx, sc.request(i), o.RequestTimeout)
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

// newRequest builds the HTTP request a client of r.Format sends for the
// model "chat".
func (e *env) newRequest(ctx context.Context, r request) (*http.Request, error) {
	var path, body string
	h := http.Header{"Content-Type": {"application/json"}}
	switch r.Format {
	case "anthropic":
		path = "/v1/messages"
		body = `{"model":"chat","max_tokens":256,"messages":[{"role":"user","content":"` + prompt + `"}],"stream":` + strconv.FormatBool(r.Stream) + `}`
		h.Set("Anthropic-Version", "2023-06-01")
	case "gemini":
		path = "/v1beta/models/chat:generateContent"
		if r.Stream {
			path = "/v1beta/models/chat:streamGenerateContent?alt=sse"
		}
		body = `{"contents":[{"role":"user","parts":[{"text":"` + prompt + `"}]}]}`
	default:
		path = "/v1/chat/completions"
		body = `{"model":"chat","messages":[{"role":"user","content":"` + prompt + `"}],"stream":` + strconv.FormatBool(r.Stream) + `}`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	return req, nil
}

// one sends one request and reads its answer to the end.
func (e *env) one(ctx context.Context, r request, timeout time.Duration) (s sample) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.sent = true
	start := time.Now()
	defer func() {
		s.latency = time.Since(start)
		s.clientTimeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
	}()
	req, err := e.newRequest(ctx, r)
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
	switch {
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, resp.Body)
	case r.Stream:
		s.outcome = streamOutcome(r.Format, resp.Body)
	default:
		b, err := io.ReadAll(resp.Body)
		if err == nil && json.Valid(b) {
			s.outcome = outcomeOK
		}
	}
	return s
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
