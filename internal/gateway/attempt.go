package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/retry"
)

// errUnservable marks a route that cannot take the request (its format
// lacks what the request needs); no upstream call was made.
var errUnservable = errors.New("route cannot serve this request")

// errPaced marks an attempt that pacing held back before any upstream call.
var errPaced = errors.New("held back by pacing")

// errConnLost marks an upstream connection that was established and then
// lost (reset, closed) before any response: retried, and recorded in the
// provider's health, but not counted by its breaker. Over HTTP/2 one lost
// connection fails every request it carried at once, hundreds of them;
// counting each would eject the deployment on a single event. An upstream
// that is down refuses or times out the next dial, which does count.
var errConnLost = errors.New("the upstream connection was lost before any response")

// errLocal marks a failure of the gateway's own resources (out of file
// descriptors or ports), which must not count against the upstream.
var errLocal = errors.New("the gateway host is out of resources")

// attempt sends the request to one deployment and, on success, writes the
// response. It returns nil on success; an error after the response was
// committed has already been reported to the client in-stream.
func (g *Gateway) attempt(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment) *provider.Error {
	u, c := d.Upstream.For(x.c.Format), x.c
	x.usage, x.estimated, x.ttft = provider.Usage{}, false, 0
	x.text.Reset()
	tm := u.Timeouts
	if g.opts.Timeouts != nil {
		tm = g.opts.Timeouts(u.Name, c.Model)
	}
	ep := u.Endpoint
	ownKey := ep.APIKey != ""
	if !ownKey {
		if c.ClientKey != "" && provider.SameCredentials(c.Format, u.Format) {
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
		if perr := trimmed.Portable(u.Format); perr != nil && u.Format != c.Format {
			perr.Cause = errUnservable
			return perr
		}
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
		if len(req.Dropped) > 0 { // what the translation cannot carry
			g.log.Debug("translation dropped request members", "request_id", c.RequestID, "from", c.Format, "to", u.Format, "dropped", req.Dropped)
		}
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
	if c.Stream && resp.StatusCode < 300 {
		limit := g.streamLimit(x)
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: limit, limit: limit}
	}
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
	case isLocalExhaustion(err):
		return &provider.Error{Kind: provider.KindUnavailable, Cause: errors.Join(errLocal, err),
			Message: "llmgate could not open a connection to the upstream because the gateway host is out of file descriptors or ports (" +
				err.Error() + "); raise the process's open-file limit (LimitNOFILE, ulimit -n) or spread the load over more replicas"}
	case errors.Is(err, context.DeadlineExceeded) || actx.Err() != nil || isTimeout(err):
		return &provider.Error{Kind: provider.KindTimeout, Message: "the upstream did not answer in time", Cause: err}
	case isConnLost(err):
		return &provider.Error{Kind: provider.KindConnect, Cause: errors.Join(errConnLost, err),
			Message: "the upstream connection was lost before any response: " + err.Error()}
	}
	return &provider.Error{Kind: provider.KindConnect, Message: "could not reach the upstream: " + err.Error(), Cause: err}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func rewriteModel(body []byte, f provider.Format, model string) ([]byte, error) {
	if provider.SpecOf(f).ModelInURL {
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

// isConnLost reports whether err is a connection the upstream reset or
// closed after it was established (not a failed dial) before answering.
func isConnLost(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// isLocalExhaustion reports whether a dial failed for lack of the gateway's
// own resources rather than anything the upstream did.
func isLocalExhaustion(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EADDRNOTAVAIL, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// streamLimit is how many bytes of upstream stream x may take:
// resilience.max_stream_bytes, and for a request with an output cap
// 256 KiB + 1 KiB per token, several times what that many tokens take in
// any format's events.
func (g *Gateway) streamLimit(x *exchange) int64 {
	limit := g.opts.MaxStreamBytes
	if mt := maxTokensHint(x); mt > 0 {
		limit = min(limit, 256<<10+int64(mt)<<10)
	}
	return limit
}

// maxTokensHint is the request's output cap, without decoding the body
// when it has not been decoded already; 0 when it sets none or its caps
// cannot be read without a decode.
func maxTokensHint(x *exchange) int {
	if n, sure := x.outputCap(); sure {
		return n
	}
	if x.req != nil && x.req.MaxTokens != nil {
		return *x.req.MaxTokens
	}
	return 0
}

// cappedBody ends an upstream stream with an error past its byte limit.
type cappedBody struct {
	io.ReadCloser
	left, limit int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, &provider.Error{Kind: provider.KindBadGateway,
			Message: fmt.Sprintf("the upstream stream passed %d bytes, far more than the request's max_tokens (or resilience.max_stream_bytes) allows; llmgate ended it", c.limit)}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}
