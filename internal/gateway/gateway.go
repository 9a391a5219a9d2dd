// Package gateway is llmgate's request pipeline: route -> (limits, budget) ->
// breaker -> attempt -> retry/fallback -> usage record. Every request goes
// through it, whatever its wire format, streaming or not. Handlers in the
// server package stay thin: they read the body, fill a Call and call Serve.
package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/retry"
	"github.com/llmgate/llmgate/internal/store"
)

// Call is one client request as the pipeline sees it.
type Call struct {
	RequestID string
	Start     time.Time
	Format    provider.Format // the client's wire format
	Op        provider.Op
	Model     string // as asked
	Stream    bool
	Body      []byte
	Header    http.Header
	Query     string
	// ClientKey is the client's own provider credential, passed upstream
	// only when the gateway holds no key for that provider and the
	// provider speaks the client's format. "" when the client authenticated
	// with a gateway key.
	ClientKey string
	// Timeout overrides the total request deadline when non-zero.
	Timeout time.Duration
	// KeyID and Team identify the virtual key, when one was used.
	KeyID, Team string
	// Principal is the virtual key the request acts for; nil if none.
	Principal *Principal
}

// Recorder receives one record per finished request.
type Recorder interface {
	Record(r store.Record)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(store.Record)

// Record calls f(r).
func (f RecorderFunc) Record(r store.Record) { f(r) }

// Options configures a Gateway. Zero values take the documented defaults.
type Options struct {
	Router  *Router
	Clients map[provider.Format]provider.ClientCodec
	// Recorder gets a record per request; nil records nothing.
	Recorder Recorder
	Logger   *slog.Logger
	Clock    clock.Clock
	// Rand returns a float in [0,1) for backoff jitter; default math/rand/v2.
	Rand func() float64

	// MaxAttempts caps upstream attempts per request across retries and
	// fallbacks. Default 5.
	MaxAttempts int
	// RequestTimeout is the total deadline per request. Default 10m.
	RequestTimeout time.Duration
	// Backoff configures waits between retries (exponential, full jitter).
	Backoff retry.Policy
	// MaxRetryWait is the longest upstream-requested wait honoured before
	// retrying the same deployment; a longer one moves on. Default 10s.
	MaxRetryWait time.Duration
	// MaxResponseBytes bounds a non-streamed upstream body; a larger one
	// fails with a 502 (and its memory is not kept). Default 16 MiB.
	MaxResponseBytes int64
	// MaxStreamBytes bounds a streamed upstream answer; past it the stream
	// ends with an error event. A request that sets max_tokens is also cut
	// at 256 KiB + 1 KiB per token, far past what that many tokens take.
	// Default 64 MiB.
	MaxStreamBytes int64
	// OnAttempt, if set, is called after every upstream attempt with the
	// provider and model it went to and its outcome: "success" or the
	// error kind. It must be quick.
	OnAttempt func(provider, model, outcome string)
	// Estimate counts a request's input tokens (for Anthropic message_start
	// and for usage when an upstream reports none). Optional.
	Estimate func(model string, req *provider.Request) int
	// InputBound bounds a request body's input tokens from its bytes,
	// without decoding it (tokens.BodyBound): governance reserves with it
	// until a limit is near. ok false, or nil: count with Estimate.
	InputBound func(body []byte) (n int, ok bool)
	// CountText counts tokens in output text when a stream ends without
	// usage. Optional.
	CountText func(model, text string) int
	// StoreContent keeps prompt and completion text in records.
	StoreContent bool
	// Policy returns per-model settings for the model a client asked for.
	Policy func(model string) ModelPolicy
	// ContextWindow returns a model's context size in tokens (0: unknown).
	ContextWindow func(model string) int
	// MaxQueueWait bounds waiting for pacing capacity. Default 10s.
	MaxQueueWait time.Duration
	// StreamPing is how long a committed client stream may stay quiet before
	// a keep-alive is written (Anthropic ping events, OpenAI ": keep-alive"
	// comments; none for Gemini). Default 15s; negative disables.
	StreamPing time.Duration
	// StreamHold bounds how long a stream is held back before its first
	// content event (see stream.go); zero or negative holds until content.
	StreamHold time.Duration
	// IdempotencyTTL keeps Idempotency-Key answers. Default 10m.
	IdempotencyTTL time.Duration
	// StaleTTL keeps answers for stale-if-error. Default 1h.
	StaleTTL time.Duration
	// Shared keeps Idempotency-Key and stale-if-error answers where every
	// replica finds them; nil keeps them in this process only.
	Shared SharedAnswers
	// Admitter enforces limits and budgets; nil admits everything.
	Admitter Admitter
	// Pricer prices each request's usage for the ledger; nil records no cost.
	Pricer Pricer
	// DefaultMaxOutput is the output cap assumed for a request that sets
	// none when the model's is unknown. Default 4096.
	DefaultMaxOutput int
	// MaxOutput returns a model's output cap (0: unknown).
	MaxOutput func(model string) int
	// Timeouts returns the attempt timeouts for a provider and the model
	// asked (model overrides provider overrides global); nil uses the
	// provider's. Connect and response-header timeouts are the provider's
	// transport's.
	Timeouts func(provider, model string) config.Timeouts
}

// ModelPolicy is what config says about one model name.
type ModelPolicy struct {
	// Strategy orders the chain per request: ordered (default), weighted,
	// least_busy or latency.
	Strategy string
	// Truncate drops the oldest non-system turns when the prompt does not
	// fit the context window.
	Truncate bool
	// ContextWindow overrides the known window (tokens).
	ContextWindow int
	// Hedge sends a non-streamed request to the second route too when the
	// first has not answered after HedgeDelay (0: the first route's
	// observed p95 latency).
	Hedge      bool
	HedgeDelay time.Duration
	// StaleIfError serves the last good answer to an identical request
	// when every route fails, marked with X-Llmgate-Stale: true.
	StaleIfError bool
	// FallbackOutsideKeyModels lets fallback routes serve keys whose
	// models list does not name them (see permitted).
	FallbackOutsideKeyModels bool
}

// Gateway runs the pipeline. It is safe for concurrent use.
type Gateway struct {
	opts   Options
	router *Router
	log    *slog.Logger
	clk    clock.Clock
	idem   *replayCache // Idempotency-Key answers
	stale  *replayCache // last good answers for stale-if-error
}

// New returns a Gateway.
func New(o Options) *Gateway {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Minute
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 10 * time.Second
	}
	if o.MaxQueueWait <= 0 {
		o.MaxQueueWait = 10 * time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 16 << 20
	}
	if o.MaxStreamBytes <= 0 {
		o.MaxStreamBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.StreamPing == 0 {
		o.StreamPing = 15 * time.Second
	}
	if o.DefaultMaxOutput <= 0 {
		o.DefaultMaxOutput = 4096
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 10 * time.Minute
	}
	if o.StaleTTL <= 0 {
		o.StaleTTL = time.Hour
	}
	return &Gateway{opts: o, router: o.Router, log: o.Logger, clk: o.Clock,
		idem:  newReplayCache(o.IdempotencyTTL, 10000, o.Clock.Now),
		stale: newReplayCache(o.StaleTTL, 10000, o.Clock.Now)}
}

// Router returns the gateway's router.
func (g *Gateway) Router() *Router { return g.router }

// Client returns the codec for a client format.
func (g *Gateway) Client(f provider.Format) provider.ClientCodec { return g.opts.Clients[f] }

// exchange is the state of one request through the pipeline.
type exchange struct {
	c      *Call
	cc     provider.ClientCodec
	policy ModelPolicy

	req    *provider.Request // canonical request, decoded once when needed
	reqErr error

	adm       Admission // what governance sees of the request
	tok       reqTokens // adm.Tokens
	capN      int       // outputCap, once capDone
	capSure   bool
	capDone   bool
	ticket    Ticket        // governance reservation, settled in finish
	paceWait  time.Duration // how long this attempt may wait for rate-limit capacity
	attempts  int
	replayed  bool // answered from the idempotency or stale cache
	served    *Deployment
	fallback  bool
	committed bool // response headers sent: no more retries
	status    int
	err       *provider.Error
	usage     provider.Usage
	estimated bool
	ttft      time.Duration
	text      bytes.Buffer // completion text, when content storage is on
}

func (x *exchange) canonical() (*provider.Request, error) {
	if x.req == nil && x.reqErr == nil {
		x.req, x.reqErr = x.cc.DecodeRequest(x.c.Body)
		if x.req != nil {
			if provider.SpecOf(x.c.Format).ModelInURL { // model and stream come from the URL
				x.req.Model, x.req.Stream = x.c.Model, x.c.Stream
			}
		}
	}
	return x.req, x.reqErr
}

// Handle runs c through the pipeline and writes the answer to w. When the
// request fails before anything was written it returns the error instead,
// with the response headers that say what happened (request id, attempts,
// provider) already set on w; the caller writes it in the client's format
// (server.writeError: the one error writer). It returns nil when the
// answer was written, or when the client is gone.
func (g *Gateway) Handle(w http.ResponseWriter, r *http.Request, c *Call) *provider.Error {
	x := &exchange{c: c, cc: g.opts.Clients[c.Format]}
	if g.opts.Policy != nil {
		x.policy = g.opts.Policy(c.Model)
	}
	defer g.finish(x)
	chain, err := g.router.Resolve(c.Model)
	if err != nil {
		return g.fail(w, x, provider.AsError(err))
	}
	// Idempotency-Key: a repeat within the TTL gets the first answer; a
	// concurrent duplicate waits for it.
	if ik := c.Header.Get("Idempotency-Key"); ik != "" {
		key := hashKey("idempotency", c.KeyID, c.ClientKey, string(c.Format), string(c.Op), ik)
		resp, owner, conflict := g.idem.begin(r.Context().Done(), key, sha256.Sum256(c.Body))
		switch {
		case conflict:
			return g.fail(w, x, &provider.Error{Kind: provider.KindBadRequest, Param: "Idempotency-Key",
				Message: fmt.Sprintf("Idempotency-Key %q was already used with a different request body: use a new key for a new request", ik)})
		case resp != nil:
			x.replayed, x.status = true, resp.status
			resp.writeTo(w, map[string]string{"X-Llmgate-Idempotent-Replay": "true"})
			return nil
		case !owner:
			x.status = provider.KindCanceled.Status() // the client left while waiting
			return nil
		}
		var release func(*saved)
		if g.opts.Shared != nil {
			// Owner here; across the fleet another replica may be first.
			var resp *saved
			var conflict bool
			resp, conflict, release = g.claimShared(r.Context(), key, sha256.Sum256(c.Body))
			switch {
			case conflict:
				g.idem.finish(key, nil)
				return g.fail(w, x, &provider.Error{Kind: provider.KindBadRequest, Param: "Idempotency-Key",
					Message: fmt.Sprintf("Idempotency-Key %q was already used with a different request body: use a new key for a new request", ik)})
			case resp != nil:
				g.idem.finish(key, resp)
				x.replayed, x.status = true, resp.status
				resp.writeTo(w, map[string]string{"X-Llmgate-Idempotent-Replay": "true"})
				return nil
			}
		}
		cw := &capture{ResponseWriter: w}
		w = cw
		defer func() {
			s, ok := cw.result()
			if !ok {
				s = nil
			}
			g.idem.finish(key, s)
			if release != nil {
				release(s)
			}
		}()
	}
	if g.opts.Admitter != nil {
		t, err := g.opts.Admitter.Admit(r.Context(), g.admission(x, chain))
		if err != nil {
			return g.fail(w, x, provider.AsError(err))
		}
		x.ticket = t
		if hs, ok := t.(HeaderSetter); ok {
			hs.SetHeaders(w.Header())
		} else {
			for k, v := range t.Header() {
				w.Header()[k] = v
			}
		}
		chain = g.permitted(x, chain, true)
	}
	var staleKey [32]byte
	var staleCW *capture
	if x.policy.StaleIfError && !c.Stream && c.Op == provider.OpChat {
		// Scoped to the caller like idempotency keys: one tenant's answers
		// are never served to another.
		staleKey = hashKey("stale", c.KeyID, c.ClientKey, string(c.Format), c.Model, string(c.Body))
		staleCW = &capture{ResponseWriter: w}
		w = staleCW
	}
	// x-llmgate-timeout can only shorten the operator's deadline.
	timeout := g.opts.RequestTimeout
	if c.Timeout > 0 && c.Timeout < timeout {
		timeout = c.Timeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	perr := g.run(ctx, w, x, chain)
	if perr == nil && staleCW != nil {
		if s, ok := staleCW.result(); ok {
			g.storeStale(staleKey, s)
		}
	}
	if perr == nil || x.committed {
		return nil
	}
	if staleCW != nil && r.Context().Err() == nil {
		if s, ok := g.getStale(r.Context(), staleKey); ok {
			x.err, x.status, x.replayed = perr, s.status, true
			s.writeTo(w, map[string]string{"X-Llmgate-Stale": "true", "X-Request-Id": c.RequestID, "Request-Id": c.RequestID})
			return nil
		}
	}
	if r.Context().Err() != nil {
		x.err, x.status = perr, provider.KindCanceled.Status()
		return nil // the client is gone: nobody to answer
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && perr.Kind == provider.KindTimeout {
		perr = &provider.Error{Kind: provider.KindTimeout, Provider: perr.Provider, Cause: perr,
			Message: fmt.Sprintf("llmgate gave up after %s (resilience.request_timeout, or a lower x-llmgate-timeout header); raise resilience.request_timeout if answers take longer", timeout)}
	}
	return g.fail(w, x, perr)
}
