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
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/jsonscan"
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
	// fallbacks. Default 4.
	MaxAttempts int
	// RequestTimeout is the total deadline per request. Default 10m.
	RequestTimeout time.Duration
	// Backoff configures waits between retries (exponential, full jitter).
	Backoff retry.Policy
	// MaxRetryWait is the longest upstream-requested wait honoured before
	// retrying the same deployment; a longer one moves on. Default 10s.
	MaxRetryWait time.Duration
	// MaxResponseBytes bounds a non-streamed upstream body. Default 64 MiB.
	MaxResponseBytes int64
	// Estimate counts a request's input tokens (for Anthropic message_start
	// and for usage when an upstream reports none). Optional.
	Estimate func(model string, req *provider.Request) int
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
	// IdempotencyTTL keeps Idempotency-Key answers. Default 10m.
	IdempotencyTTL time.Duration
	// StaleTTL keeps answers for stale-if-error. Default 1h.
	StaleTTL time.Duration
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
		o.MaxAttempts = 4
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
		o.MaxResponseBytes = 64 << 20
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
			if x.c.Format == provider.FormatGemini { // model and stream come from the URL
				x.req.Model, x.req.Stream = x.c.Model, x.c.Stream
			}
		}
	}
	return x.req, x.reqErr
}

// Serve runs c through the pipeline and writes the response to w.
func (g *Gateway) Serve(w http.ResponseWriter, r *http.Request, c *Call) {
	x := &exchange{c: c, cc: g.opts.Clients[c.Format]}
	if g.opts.Policy != nil {
		x.policy = g.opts.Policy(c.Model)
	}
	defer g.finish(x)
	chain, err := g.router.Resolve(c.Model)
	if err != nil {
		g.writeError(w, x, provider.AsError(err))
		return
	}
	// Idempotency-Key: a repeat within the TTL gets the first answer; a
	// concurrent duplicate waits for it.
	if ik := c.Header.Get("Idempotency-Key"); ik != "" {
		key := hashKey("idempotency", c.KeyID, c.ClientKey, string(c.Format), string(c.Op), ik)
		resp, owner, conflict := g.idem.begin(r.Context().Done(), key, sha256.Sum256(c.Body))
		switch {
		case conflict:
			g.writeError(w, x, &provider.Error{Kind: provider.KindBadRequest, Param: "Idempotency-Key",
				Message: fmt.Sprintf("Idempotency-Key %q was already used with a different request body: use a new key for a new request", ik)})
			return
		case resp != nil:
			x.replayed, x.status = true, resp.status
			resp.writeTo(w, map[string]string{"X-Llmgate-Idempotent-Replay": "true"})
			return
		case !owner:
			x.status = provider.KindCanceled.Status() // the client left while waiting
			return
		}
		cw := &capture{ResponseWriter: w}
		w = cw
		defer func() {
			s, ok := cw.result()
			if !ok {
				s = nil
			}
			g.idem.finish(key, s)
		}()
	}
	if g.opts.Admitter != nil {
		t, err := g.opts.Admitter.Admit(r.Context(), g.admission(x, chain))
		if err != nil {
			g.writeError(w, x, provider.AsError(err))
			return
		}
		x.ticket = t
		for k, v := range t.Header() {
			w.Header()[k] = v
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
	timeout := g.opts.RequestTimeout
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	perr := g.run(ctx, w, x, chain)
	if perr == nil && staleCW != nil {
		if s, ok := staleCW.result(); ok {
			g.stale.store(staleKey, s)
		}
	}
	if perr == nil || x.committed {
		return
	}
	if staleCW != nil && r.Context().Err() == nil {
		if s, ok := g.stale.get(staleKey); ok {
			x.err, x.status, x.replayed = perr, s.status, true
			s.writeTo(w, map[string]string{"X-Llmgate-Stale": "true", "X-Request-Id": c.RequestID, "Request-Id": c.RequestID})
			return
		}
	}
	if r.Context().Err() != nil {
		x.err, x.status = perr, provider.KindCanceled.Status()
		return // the client is gone: nobody to answer
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && perr.Kind == provider.KindTimeout {
		perr = &provider.Error{Kind: provider.KindTimeout, Provider: perr.Provider, Cause: perr,
			Message: fmt.Sprintf("llmgate gave up after %s (resilience.request_timeout); raise it, or send the header x-llmgate-timeout", timeout)}
	}
	g.writeError(w, x, perr)
}

// run tries the chain's deployments until one answers, the attempt cap is
// reached, or the failure is one no retry can fix.
func (g *Gateway) run(ctx context.Context, w http.ResponseWriter, x *exchange, chain []*Deployment) *provider.Error {
	chain = order(chain, x.policy.Strategy, g.opts.Rand)
	var (
		lastErr    *provider.Error
		tried      = make([]int, len(chain))  // attempts per deployment
		dead       = make([]bool, len(chain)) // failed in a way a retry cannot fix, or out of retry budget
		idx        = 0
		wrapped    = false // the chain was walked past its end: every later attempt is a retry
		retrySame  = false
		usedCtx    = false
		pacedSkips = 0
	)
	if x.policy.Hedge && !x.c.Stream && x.c.Op == provider.OpChat && len(chain) > 1 {
		ok, perr, n := g.runHedged(ctx, w, x, chain[0], chain[1])
		if ok {
			return nil
		}
		if n > 0 {
			lastErr = perr
			for i := range n {
				tried[i]++
			}
			idx = n
			if perr != nil && !perr.Kind.Retryable() && !perr.Kind.Fallback() {
				return perr
			}
		}
	}
	for x.attempts < g.opts.MaxAttempts && ctx.Err() == nil {
		var (
			d    *Deployment
			done func(Outcome)
			skip *provider.Error
		)
		// The next deployment, from idx, that its retry budget and breaker admit.
		for n := 0; n < len(chain); n++ {
			i := (idx + n) % len(chain)
			if dead[i] {
				continue
			}
			c := chain[i]
			if tried[i] > 0 && !c.Budget.TryRetry() {
				dead[i] = true
				skip = &provider.Error{Kind: provider.KindUnavailable, Provider: c.Upstream.Name,
					Message: fmt.Sprintf("%s is failing and its retry budget is spent (resilience.retry.budget_ratio)", c.Name)}
				continue
			}
			dn, err := c.Guard.Allow()
			if err != nil {
				skip = &provider.Error{Kind: provider.KindUnavailable, Provider: c.Upstream.Name, Cause: err,
					Message: fmt.Sprintf("every route for model %q is unavailable; %s: %v. It is tried again after "+
						"resilience.breaker.recovery_timeout (GET /health shows breaker states); add a fallback route to models.%s.route to stay up meanwhile",
						x.c.Model, c.Name, err, x.c.Model)}
				continue
			}
			if i < idx || idx >= len(chain) {
				wrapped = true
			}
			idx, d, done = i, c, dn
			break
		}
		if d == nil {
			if lastErr == nil || (skip != nil && lastErr.Kind != provider.KindRateLimited) {
				lastErr = skip
			}
			break
		}
		if tried[idx] == 0 {
			d.Budget.OnRequest()
		}
		// Wait for rate-limit capacity only when no other route could take
		// the request now (or after every route was found at its limit).
		x.paceWait = g.opts.MaxQueueWait
		if pacedSkips < len(chain) && hasAlternative(dead, idx) {
			x.paceWait = 0
		}
		if x.attempts > 0 && (retrySame || wrapped) {
			// A retry of a deployment already tried: back off first.
			wait := g.opts.Backoff.Backoff(x.attempts-1, g.opts.Rand())
			if retrySame && lastErr != nil && lastErr.RetryAfter > 0 {
				wait = lastErr.RetryAfter
			}
			if err := clock.Sleep(ctx, g.clk, wait); err != nil {
				done(OutcomeIgnore)
				break
			}
		}
		tried[idx]++
		x.attempts++
		if d != chain[0] || usedCtx {
			x.fallback = true
		}
		perr := g.attempt(ctx, w, x, d)
		if perr == nil {
			done(OutcomeSuccess)
			x.served = d
			d.Upstream.health.record(true, "", g.clk.Now())
			return nil
		}
		if errors.Is(perr, errUnservable) {
			// This route cannot take the request at all; no upstream call
			// was made. Another route might.
			x.attempts--
			tried[idx]--
			done(OutcomeIgnore)
			lastErr = perr
			dead[idx] = true
			idx++
			continue
		}
		if errors.Is(perr, errPaced) {
			// Held back locally by pacing: no upstream call was made.
			x.attempts--
			tried[idx]--
			done(OutcomeIgnore)
			lastErr = perr
			if x.paceWait > 0 {
				dead[idx] = true // it could not get capacity even waiting
			}
			pacedSkips++
			idx++
			continue
		}
		if perr.Provider == "" {
			perr.Provider = d.Upstream.Name
		}
		lastErr = perr
		x.served = d
		g.log.Debug("upstream attempt failed", "request_id", x.c.RequestID, "deployment", d.Name,
			"attempt", x.attempts, "kind", perr.Kind, "err", perr)
		now := g.clk.Now()
		switch {
		case perr.Kind == provider.KindCanceled || ctx.Err() != nil:
			done(OutcomeIgnore)
		case perr.Kind == provider.KindRateLimited:
			done(OutcomeIgnore) // a 429 cools the deployment instead
			d.Upstream.health.record(false, perr.Message, now)
		case perr.Kind.Retryable():
			done(OutcomeFailure)
			d.Upstream.health.record(false, perr.Message, now)
		default:
			done(OutcomeIgnore)
			if perr.UpstreamStatus != 0 && perr.Kind.Fallback() {
				d.Upstream.health.record(false, perr.Message, now)
			}
		}
		if x.committed || ctx.Err() != nil {
			return perr
		}
		retrySame = false
		switch {
		case perr.Kind == provider.KindContextLength:
			if usedCtx {
				return perr
			}
			usedCtx = true
			alt, err := g.router.ContextFallback(x.c.Model)
			alt = g.permitted(x, alt, false)
			if err != nil || len(alt) == 0 {
				return perr
			}
			chain, tried, dead, idx, wrapped = alt, make([]int, len(alt)), make([]bool, len(alt)), 0, false
		case perr.Kind == provider.KindRateLimited && perr.RetryAfter > 0 && perr.RetryAfter <= g.opts.MaxRetryWait:
			retrySame = true // a short wait: the same deployment will have room
		case perr.Kind == provider.KindRateLimited:
			if perr.RetryAfter > 0 {
				d.Guard.Cooldown(now.Add(perr.RetryAfter))
			}
			idx++
		case perr.Kind.Retryable():
			idx++ // the next route first; come back after a backoff
		case perr.Kind.Fallback():
			dead[idx] = true
			idx++
		default:
			return perr
		}
	}
	if lastErr == nil {
		lastErr = provider.Errorf(provider.KindTimeout, "the request deadline passed before any upstream answered")
	}
	return lastErr
}

// hasAlternative reports whether a deployment other than idx is still usable.
func hasAlternative(dead []bool, idx int) bool {
	for i, d := range dead {
		if i != idx && !d {
			return true
		}
	}
	return false
}

// errUnservable marks a route that cannot take the request (its format
// lacks what the request needs); no upstream call was made.
var errUnservable = errors.New("route cannot serve this request")

// errPaced marks an attempt that pacing held back before any upstream call.
var errPaced = errors.New("held back by pacing")

// attempt sends the request to one deployment and, on success, writes the
// response. It returns nil on success; an error after the response was
// committed has already been reported to the client in-stream.
func (g *Gateway) attempt(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment) *provider.Error {
	u, c := d.Upstream, x.c
	x.usage, x.estimated, x.ttft = provider.Usage{}, false, 0
	x.text.Reset()
	tm := u.Timeouts
	if g.opts.Timeouts != nil {
		tm = g.opts.Timeouts(u.Name, c.Model)
	}
	ep := u.Endpoint
	ownKey := ep.APIKey != ""
	if !ownKey {
		if c.ClientKey != "" && c.Format == u.Format {
			ep.APIKey = c.ClientKey
		} else if u.RequiresKey {
			return &provider.Error{Kind: provider.KindAuth, Message: u.KeyHint()}
		}
	}
	passthrough := c.Format == u.Format
	var trimmed *provider.Request
	if c.Op == provider.OpChat {
		var perr *provider.Error
		if trimmed, perr = g.fitContext(x, d); perr != nil {
			return perr
		}
	}
	var (
		body       []byte
		wantsUsage = true
		err        error
	)
	switch {
	case trimmed != nil:
		passthrough = false
		body, err = u.Codec.EncodeRequest(trimmed, d.Model)
	case c.Op != provider.OpChat:
		if u.Format != c.Format {
			return &provider.Error{Kind: provider.KindBadRequest, Param: "model", Cause: errUnservable,
				Message: fmt.Sprintf("%s requests are served only by %s-type providers, and model %q routes to %s (%s)", c.Op, c.Format, c.Model, u.Name, u.Format)}
		}
		body, err = rewriteModel(c.Body, c.Format, d.Model)
	case passthrough:
		body, wantsUsage, err = u.Pass.RewriteRequest(c.Body, d.Model, c.Stream)
	default:
		req, derr := x.canonical()
		if derr != nil {
			return provider.AsError(derr)
		}
		if perr := req.Portable(u.Format); perr != nil {
			perr.Cause = errUnservable
			return perr
		}
		body, err = u.Codec.EncodeRequest(req, d.Model)
	}
	if err != nil {
		return provider.AsError(err)
	}

	// One context per attempt: the watchdogs cancel it, and timeouts.total
	// bounds it.
	var (
		actx   context.Context
		cancel context.CancelFunc
	)
	if tm.Total > 0 {
		actx, cancel = context.WithTimeout(ctx, tm.Total)
	} else {
		actx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	hreq, err := u.Codec.NewHTTPRequest(actx, &provider.Target{Endpoint: ep, Op: c.Op, Model: d.Model,
		Stream: c.Stream, Body: body, ClientHeader: c.Header, ClientQuery: c.Query})
	if err != nil {
		return provider.AsError(err)
	}
	settle, err := d.Pacer.Wait(ctx, len(body)/4, x.paceWait)
	if err != nil {
		if ctx.Err() != nil {
			return &provider.Error{Kind: provider.KindCanceled, Message: "the request ended while waiting for rate-limit capacity", Cause: err}
		}
		perr := &provider.Error{Kind: provider.KindRateLimited, Cause: errors.Join(errPaced, err),
			Message: fmt.Sprintf("%s is at its rate limit and no capacity frees up within resilience.max_queue_wait", d.Name)}
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			perr.RetryAfter = ra.RetryAfter()
		}
		return perr
	}
	used := 0
	defer func() { settle(used) }()
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	// Streams must start answering quickly: headers within
	// response_header, the first event within first_token, then no gap over
	// idle. A non-streamed answer comes whole when it is done, so only the
	// total timeout bounds the wait for it, and idle bounds reading it.
	var wd *watchdog
	if c.Stream {
		wd = newWatchdog(tm.ResponseHeader, tm.Idle, cancel)
		defer wd.stop()
	}
	sent := g.clk.Now()
	resp, err := u.Client.Do(hreq)
	if err != nil {
		if wd != nil && wd.timedOut.Load() {
			return &provider.Error{Kind: provider.KindTimeout, Cause: err,
				Message: fmt.Sprintf("the upstream sent no response headers within %s (timeouts.response_header)", tm.ResponseHeader)}
		}
		return transportError(ctx, actx, err)
	}
	defer resp.Body.Close()
	if wd != nil {
		wd.reset(tm.FirstToken)
	} else {
		wd = newWatchdog(tm.Idle, tm.Idle, cancel)
		defer wd.stop()
	}
	d.Pacer.Learn(resp.Header, g.clk.Now())
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		perr := u.Codec.DecodeError(resp.StatusCode, resp.Header, b)
		if perr.RetryAfter == 0 {
			// HTTP dates and rate-limit reset headers the codecs leave out.
			perr.RetryAfter, _ = retry.ParseRetryAfter(resp.Header, g.clk.Now())
		}
		if perr.Kind == provider.KindAuth && ownKey {
			perr.Status = http.StatusBadGateway
			perr.Message = fmt.Sprintf("provider %s rejected the API key llmgate holds for it (HTTP %d: %s); check providers.%s.api_key",
				u.Name, resp.StatusCode, perr.Message, u.Name)
		}
		return perr
	}
	x.status = http.StatusOK
	var perr *provider.Error
	switch {
	case c.Op != provider.OpChat && c.Stream:
		perr = g.pumpRaw(actx, w, x, d, resp)
	case c.Op != provider.OpChat:
		perr = g.writeRaw(actx, w, x, d, resp, wd)
	case c.Stream && passthrough:
		perr = g.pumpPassthrough(actx, w, x, d, resp, wantsUsage, wd)
	case c.Stream:
		perr = g.pumpTranslated(actx, w, x, d, resp, wd)
	default:
		perr = g.writeUnary(actx, w, x, d, resp, passthrough, wd)
	}
	if perr == nil {
		d.latency.observe(g.clk.Now().Sub(sent))
	}
	used = x.usage.Total()
	return perr
}

// fitContext checks the prompt against the deployment's context window. It
// returns a truncated copy of the request when truncation is configured and
// needed, or a KindContextLength error (413) with the token counts.
func (g *Gateway) fitContext(x *exchange, d *Deployment) (*provider.Request, *provider.Error) {
	win := x.policy.ContextWindow
	if win == 0 && g.opts.ContextWindow != nil {
		win = g.opts.ContextWindow(d.Model)
	}
	// A body with fewer bytes than the window has tokens cannot overflow it.
	if win <= 0 || g.opts.Estimate == nil || len(x.c.Body) < win {
		return nil, nil
	}
	req, err := x.canonical()
	if err != nil {
		return nil, provider.AsError(err)
	}
	est := g.opts.Estimate(d.Model, req)
	if est <= win {
		return nil, nil
	}
	if x.policy.Truncate {
		if t := truncate(req, win, func(r *provider.Request) int { return g.opts.Estimate(d.Model, r) }); t != nil {
			return t, nil
		}
	}
	return nil, &provider.Error{Kind: provider.KindContextLength, Status: http.StatusRequestEntityTooLarge,
		Code: "context_length_exceeded", Param: "messages",
		Message: fmt.Sprintf("the prompt is about %d tokens, more than the %d-token context window of %s: shorten it, or configure models.%s.context_fallback or truncate_on_overflow",
			est, win, d.Name, x.c.Model)}
}

// truncate drops the oldest non-system turns until the request fits win,
// never splitting a tool call from its result and keeping the conversation
// starting with a user turn. It returns nil if even the last turn alone
// does not fit.
func truncate(req *provider.Request, win int, estimate func(*provider.Request) int) *provider.Request {
	t := *req
	msgs := req.Messages
	for len(msgs) > 1 {
		msgs = msgs[1:]
		for len(msgs) > 1 && (msgs[0].Role != provider.RoleUser || hasToolResults(msgs[0])) {
			msgs = msgs[1:]
		}
		t.Messages = msgs
		if estimate(&t) <= win {
			return &t
		}
	}
	return nil
}

func hasToolResults(m provider.Message) bool {
	for _, p := range m.Parts {
		if p.Type == provider.PartToolResult {
			return true
		}
	}
	return false
}

// transportError classifies a failure to get a response at all.
func transportError(parent, actx context.Context, err error) *provider.Error {
	switch {
	case parent.Err() != nil && errors.Is(parent.Err(), context.Canceled):
		return &provider.Error{Kind: provider.KindCanceled, Message: "the client closed the request", Cause: err}
	case errors.Is(err, context.DeadlineExceeded) || actx.Err() != nil || isTimeout(err):
		return &provider.Error{Kind: provider.KindTimeout, Message: "the upstream did not answer in time", Cause: err}
	}
	return &provider.Error{Kind: provider.KindConnect, Message: "could not reach the upstream: " + err.Error(), Cause: err}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func rewriteModel(body []byte, f provider.Format, model string) ([]byte, error) {
	if f == provider.FormatGemini {
		return body, nil
	}
	v, ok, err := jsonscan.Get(body, "model")
	if err != nil {
		return nil, &provider.Error{Kind: provider.KindBadRequest, Message: err.Error(), Cause: err}
	}
	if s, _ := jsonscan.String(v); ok && s == model {
		return body, nil
	}
	return jsonscan.SetString(body, "model", model)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads a complete upstream body, bounded.
func (g *Gateway) readBody(ctx context.Context, r io.Reader, buf *bytes.Buffer, wd *watchdog) *provider.Error {
	n, err := buf.ReadFrom(io.LimitReader(r, g.opts.MaxResponseBytes+1))
	if err != nil {
		if wd.timedOut.Load() || ctx.Err() != nil {
			return wd.streamErr(ctx, err)
		}
		return &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream connection broke while sending its answer", Cause: err}
	}
	if n > g.opts.MaxResponseBytes {
		return &provider.Error{Kind: provider.KindBadGateway, Message: fmt.Sprintf("the upstream answer is larger than %d bytes", g.opts.MaxResponseBytes)}
	}
	return nil
}

// writeUnary reads a complete answer and writes it in the client's format.
func (g *Gateway) writeUnary(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment, resp *http.Response, passthrough bool, wd *watchdog) *provider.Error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if perr := g.readBody(ctx, resp.Body, buf, wd); perr != nil {
		return perr
	}
	u := d.Upstream
	var out []byte
	if passthrough {
		out = buf.Bytes()
		if perr := checkAnswer(u, provider.OpChat, out); perr != nil {
			return perr
		}
		x.usage, _ = u.Pass.ResponseUsage(out)
		if g.opts.StoreContent {
			if r, err := u.Codec.DecodeResponse(out); err == nil {
				x.text.WriteString(r.Text())
			}
		}
	} else {
		r, err := u.Codec.DecodeResponse(buf.Bytes())
		if err != nil {
			return garbage(u, buf.Bytes())
		}
		x.usage = r.Usage
		if g.opts.StoreContent {
			x.text.WriteString(r.Text())
		}
		if out, err = x.cc.EncodeResponse(r); err != nil {
			return provider.AsError(err)
		}
	}
	if x.usage.IsZero() {
		g.estimateUsage(x, d)
	}
	x.served = d
	h := w.Header()
	h.Set("Content-Type", "application/json")
	g.setHeaders(h, x, d)
	w.WriteHeader(http.StatusOK)
	x.committed = true
	_, _ = w.Write(out)
	return nil
}

func garbage(u *Upstream, body []byte) *provider.Error {
	snip := body
	if len(snip) > 120 {
		snip = snip[:120]
	}
	return &provider.Error{Kind: provider.KindBadGateway,
		Message: fmt.Sprintf("provider %s sent an answer that is not valid %s JSON (starts %q)", u.Name, u.Format, snip)}
}

// writeRaw forwards a non-chat answer (embeddings, responses) unchanged.
func (g *Gateway) writeRaw(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment, resp *http.Response, wd *watchdog) *provider.Error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if perr := g.readBody(ctx, resp.Body, buf, wd); perr != nil {
		return perr
	}
	if perr := checkAnswer(d.Upstream, x.c.Op, buf.Bytes()); perr != nil {
		return perr
	}
	x.usage, _ = d.Upstream.Pass.ResponseUsage(buf.Bytes())
	x.served = d
	h := w.Header()
	h.Set("Content-Type", resp.Header.Get("Content-Type"))
	g.setHeaders(h, x, d)
	w.WriteHeader(http.StatusOK)
	x.committed = true
	_, _ = w.Write(buf.Bytes())
	return nil
}

// setHeaders adds what every response says: request ids and what served it.
func (g *Gateway) setHeaders(h http.Header, x *exchange, d *Deployment) {
	h.Set("X-Request-Id", x.c.RequestID)
	h.Set("Request-Id", x.c.RequestID)
	if d != nil {
		h.Set("X-Llmgate-Provider", d.Upstream.Name)
		h.Set("X-Llmgate-Model", d.Model)
	}
	h.Set("X-Llmgate-Attempts", strconv.Itoa(x.attempts))
	h.Set("X-Llmgate-Fallback", strconv.FormatBool(x.fallback))
}

// writeError answers in the client's error format. The pipeline has given
// up by now, so SDKs are told not to retry on top.
func (g *Gateway) writeError(w http.ResponseWriter, x *exchange, e *provider.Error) {
	x.err = e
	cc := x.cc
	status := cc.StatusFor(e)
	x.status = status
	h := w.Header()
	h.Set("Content-Type", "application/json")
	g.setHeaders(h, x, x.served)
	for k, v := range e.Header {
		h[k] = v
	}
	if e.Kind == provider.KindRateLimited && e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if x.attempts > 0 || !e.Kind.Retryable() {
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(status)
	_, _ = w.Write(cc.EncodeError(e, x.c.RequestID))
}

// estimateUsage fills the token counts the upstream did not report from
// local counts, keeping those it did.
func (g *Gateway) estimateUsage(x *exchange, d *Deployment) {
	if x.usage.InputTokens == 0 && g.opts.Estimate != nil {
		if req, err := x.canonical(); err == nil && req != nil {
			x.usage.InputTokens = g.opts.Estimate(d.Model, req)
			x.estimated = true
		}
	}
	if x.usage.OutputTokens == 0 && g.opts.CountText != nil && x.text.Len() > 0 {
		x.usage.OutputTokens = g.opts.CountText(d.Model, x.text.String())
		x.estimated = true
	}
}

// admission describes x for governance.
func (g *Gateway) admission(x *exchange, chain []*Deployment) *Admission {
	a := &Admission{Principal: x.c.Principal, Model: x.c.Model, Op: x.c.Op, Stream: x.c.Stream}
	if len(chain) > 0 {
		a.PriceModel, a.Provider = chain[0].Model, chain[0].Upstream.Name
	}
	a.Tokens = func() (int, int) {
		req, err := x.canonical()
		if err != nil || req == nil {
			return len(x.c.Body) / 4, g.opts.DefaultMaxOutput
		}
		in := len(x.c.Body) / 4
		if g.opts.Estimate != nil {
			in = g.opts.Estimate(a.PriceModel, req)
		}
		out := 0
		if req.MaxTokens != nil {
			out = *req.MaxTokens
		} else if g.opts.MaxOutput != nil {
			out = g.opts.MaxOutput(a.PriceModel)
		}
		if out <= 0 {
			out = g.opts.DefaultMaxOutput
		}
		return in, out
	}
	return a
}

// finish settles the reservation and records the request.
func (g *Gateway) finish(x *exchange) {
	c := x.c
	var cost float64
	var priced bool
	if g.opts.Pricer != nil && x.served != nil && !x.usage.IsZero() {
		cost, priced = g.opts.Pricer.Cost(x.served.Upstream.Name, x.served.Model, x.usage)
	}
	if x.ticket != nil {
		x.ticket.Settle(x.usage, cost, priced)
	}
	if g.opts.Recorder == nil {
		return
	}
	rec := store.Record{
		ID:              c.RequestID,
		Time:            c.Start.UTC(),
		ClientFormat:    string(c.Format),
		Op:              string(c.Op),
		ModelAsked:      c.Model,
		Status:          x.status,
		Attempts:        x.attempts,
		Fallback:        x.fallback,
		Stream:          c.Stream,
		Latency:         g.clk.Now().Sub(c.Start),
		TTFT:            x.ttft,
		InputTokens:     x.usage.InputTokens,
		OutputTokens:    x.usage.OutputTokens,
		CachedTokens:    x.usage.CachedTokens,
		ReasoningTokens: x.usage.ReasoningTokens,
		TokensEstimated: x.estimated,
		KeyID:           c.KeyID,
		Team:            c.Team,
		CostUSD:         cost,
		Priced:          priced,
	}
	if x.served != nil {
		rec.Provider, rec.ModelServed = x.served.Upstream.Name, x.served.Model
	}
	if x.err != nil {
		rec.ErrorKind, rec.ErrorMessage = string(x.err.Kind), x.err.Message
		if x.status == 0 {
			rec.Status = x.err.HTTPStatus()
		}
	}
	if g.opts.StoreContent {
		rec.Prompt = string(c.Body)
		rec.Completion = x.text.String()
	}
	if ch, ok := x.ticket.(Charger); ok {
		rec.Charges = ch.Charges()
	}
	g.opts.Recorder.Record(rec)
}
