package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
)

func runMock(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "mock", `Run a fault-injecting mock LLM provider with realistic OpenAI, Anthropic and Gemini endpoints.
Point an SDK (or llmgate) at it: OpenAI base_url http://ADDR/v1, Anthropic and Gemini base_url http://ADDR.
Faults apply to every request; a single request can pick its own with the header
  X-Mock-Fault: status=503,rate=0.3,retry_after=2s   (also: hang, cut_after=N, error_event_after=N,
                                                      latency=200ms, token_delay=20ms, first_token_delay=1s,
                                                      malformed, context_length)`)
	var (
		listen  = fs.String("listen", "127.0.0.1:9000", "address to listen on")
		spec    = fs.String("fault", "", "fault spec for every request, same syntax as the X-Mock-Fault header")
		status  = fs.Int("status", 0, "answer with this HTTP error status (in each endpoint's own error format)")
		rate    = fs.Float64("rate", 0, "probability (0..1] that the fault applies to a request (0: always)")
		retryAf = fs.Duration("retry-after", 0, "add Retry-After / retry-after-ms to error answers")
		latency = fs.Duration("latency", 0, "delay before the response headers")
		tokenD  = fs.Duration("token-delay", 0, "delay between stream events (slow tokens)")
		firstD  = fs.Duration("first-token-delay", 0, "delay before the first stream event with content, after the opening events (a model that thinks first)")
		hang    = fs.Bool("hang", false, "never answer (until the client gives up)")
		cut     = fs.Int("cut-after", 0, "abort streams after N events (connection cut mid-answer)")
		errEv   = fs.Int("error-event-after", 0, "end streams after N events with an in-stream error event")
		bad     = fs.Bool("malformed", false, "answer 200 with a body that is not valid JSON")
		h2c     = fs.Bool("h2c", false, "also speak HTTP/2 without TLS (prior knowledge) on the same port, as vLLM can (providers.X.protocol: h2c)")
		ctxWin  = fs.Int("context-window", 0, "answer the format's context-overflow 400 for prompts over N tokens")
		text    = fs.String("text", "", "reply text (default: echoes the start of the last user message)")
		seed    = fs.Uint64("seed", 1, "random seed for --rate")
	)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	var f mock.Fault
	if *spec != "" {
		var err error
		if f, err = mock.ParseFault(*spec); err != nil {
			fmt.Fprintf(env.Stderr, "llmgate mock: --fault: %v\n", err)
			return exitUsage
		}
	}
	if *status != 0 {
		if *status < 400 || *status > 599 {
			fmt.Fprintf(env.Stderr, "llmgate mock: --status %d: use an error status from 400 to 599\n", *status)
			return exitUsage
		}
		f.Status = *status
	}
	if *rate < 0 || *rate > 1 {
		fmt.Fprintf(env.Stderr, "llmgate mock: --rate %v: use a probability from 0 to 1\n", *rate)
		return exitUsage
	}
	if *rate > 0 {
		f.Rate = *rate
	}
	if *retryAf > 0 {
		f.RetryAfter = *retryAf
	}
	if *latency > 0 {
		f.Latency = *latency
	}
	if *tokenD > 0 {
		f.TokenDelay = *tokenD
	}
	if *firstD > 0 {
		f.FirstTokenDelay = *firstD
	}
	f.Hang = f.Hang || *hang
	if *cut > 0 {
		f.CutAfter = *cut
	}
	if *errEv > 0 {
		f.ErrorEventAfter = *errEv
	}
	f.Malformed = f.Malformed || *bad
	m := mock.New(mock.Options{Text: *text, Faults: f, ContextWindow: *ctxWin,
		Rand: rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))})
	defer m.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate mock: listening on %s: %v\n", *listen, err)
		return exitInvalid
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.Stdout, "llmgate mock provider listening on %s\n", base)
	fmt.Fprintf(env.Stdout, "  OpenAI base_url=%s/v1   Anthropic base_url=%s   Gemini base_url=%s\n", base, base, base)
	if !f.IsZero() {
		fmt.Fprintf(env.Stdout, "  faults: %s\n", f)
	}
	hs := &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	if *h2c {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		hs.Protocols = &p
		hs.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1000}
		fmt.Fprintf(env.Stdout, "  speaks HTTP/1.1 and h2c (HTTP/2 without TLS) on the same port\n")
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		m.Close() // release hanging requests
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(env.Stderr, "llmgate mock: %v\n", err)
		return exitInvalid
	}
	return exitOK
}
