// Package mock is a fault-injecting fake LLM provider. One http.Handler
// serves realistic OpenAI (Chat Completions, Responses, Embeddings, Models),
// Anthropic (Messages, count_tokens, Models) and Gemini (generateContent,
// streamGenerateContent, countTokens, models) endpoints, so the official SDKs
// can be pointed at it by base URL: OpenAI at root+"/v1", Anthropic and
// Gemini at root.
//
// Replies are deterministic: a short text that echoes the last user message,
// or one tool call whose arguments are generated from the tool's JSON schema.
// Faults (error statuses, latency, slow tokens, hangs, cut streams, in-stream
// errors, garbage, context overflow) are chosen per mock (Options.Faults),
// per request (the X-Mock-Fault header, see ParseFault), or by a test script
// (Options.Script). The mock records what it received for tests to inspect.
//
// For people chaos-testing their own apps through `llmgate mock`, a fault
// for one request is a header away:
//
//	curl -H 'X-Mock-Fault: status=429,retry_after=2s' ...
//	curl -H 'X-Mock-Fault: cut_after=3' ...       (stream breaks after 3 events)
//	curl -H 'X-Mock-Fault: token_delay=200ms' ... (slow tokens)
//
// It writes every wire format by hand and imports none of llmgate's
// provider adapters, so it can check them.
package mock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// FaultHeader is the request header that picks a fault for one request; its
// value is a spec for ParseFault ("none" or "" for a healthy reply). It
// overrides Options.Script and Options.Faults. A spec that does not parse
// gets a 400 saying why.
const FaultHeader = "X-Mock-Fault"

// Clock is the mock's time source. Tests inject a fake one to make
// timestamps and delays deterministic.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure a Mock. The zero value serves healthy default replies.
type Options struct {
	// Text, when set, is the reply text of every text reply. Empty means
	// "Mock reply to: " and the first 8 words of the last user message.
	Text string
	// Call, when set, decides tool calls instead of the default (call the
	// first tool offered whenever tools are offered): it gets the names of
	// the offered tools and the text of the last user message, and returns
	// the tool to call with its JSON-object arguments, or "" for a text
	// reply. It is not asked when the last message is a tool result or
	// tool_choice is none. It is called concurrently.
	Call func(tools []string, lastUser string) (name, args string)
	// Faults applies to every request that neither the X-Mock-Fault header
	// nor Script gives a fault.
	Faults Fault
	// Script, when set, picks the fault of request n (1-based, counted since
	// New or Reset); nil falls back to Faults. It is called concurrently and
	// may read r.Body, which holds the request body.
	Script func(r *http.Request, n int) *Fault
	// Rand drives Fault.Rate. Nil means a generator with a fixed seed, so
	// runs are reproducible. The mock serializes its use.
	Rand *rand.Rand
	// ContextWindow, when positive, is the model's context window in
	// (estimated) tokens: longer prompts get the format's context-overflow
	// 400, and the model lists report it.
	ContextWindow int
	// Model names the model in replies when the request names none; empty
	// means gpt-4o-mini, claude-sonnet-4-5 or gemini-2.5-flash by format.
	Model string
	// TokenDelay is the default delay between stream events.
	TokenDelay time.Duration
	// FirstTokenDelay is the default delay before the first stream event
	// with content (see Fault.FirstTokenDelay).
	FirstTokenDelay time.Duration
	// Latency is the default delay before the response headers.
	Latency time.Duration
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// IgnoreMaxTokens sends the whole Text even past the request's
	// max_tokens: a runaway upstream.
	IgnoreMaxTokens bool
	// MaxRecorded caps the requests kept for Requests (the latest win).
	// Zero means 1000; negative records nothing (counters still work).
	MaxRecorded int
}

// Recorded is one request the mock received.
type Recorded struct {
	N      int // ordinal, 1-based since New or Reset
	Method string
	Path   string
	Query  string // raw query, without '?'
	Header http.Header
	Body   []byte
	Time   time.Time
}

// Mock is the fake provider: an http.Handler, safe for concurrent use.
// Create it with New; the zero Mock is not usable.
type Mock struct {
	opts   Options
	clock  Clock
	models modelLists // precomputed list bodies

	closed    chan struct{}
	closeOnce sync.Once

	count    atomic.Int64
	canceled atomic.Int64
	active   atomic.Int64
	reset    cachedReset

	randMu sync.Mutex // protects rng
	rng    *rand.Rand

	recMu sync.Mutex // protects following
	recs  []Recorded
	next  int // next slot in recs once it is full
	max   int
}

// New returns a Mock configured by opts.
func New(opts Options) *Mock {
	m := &Mock{opts: opts, clock: opts.Clock, rng: opts.Rand, closed: make(chan struct{})}
	if m.clock == nil {
		m.clock = realClock{}
	}
	if m.rng == nil {
		m.rng = rand.New(rand.NewPCG(1, 2))
	}
	m.max = opts.MaxRecorded
	if m.max == 0 {
		m.max = 1000
	}
	m.models = buildModelLists(opts)
	return m
}

// Close breaks the connections of hanging requests, cuts short every
// latency and token delay, and makes later requests skip them too (later
// hangs break at once). The mock keeps serving otherwise. Close is
// idempotent; Serve calls it on shutdown.
func (m *Mock) Close() {
	m.closeOnce.Do(func() { close(m.closed) })
}

// Count is the number of requests received since New or Reset.
func (m *Mock) Count() int { return int(m.count.Load()) }

// Canceled is the number of requests whose client went away (its context
// was canceled) before the mock finished answering.
func (m *Mock) Canceled() int { return int(m.canceled.Load()) }

// Active is the number of requests being served right now.
func (m *Mock) Active() int { return int(m.active.Load()) }

// Requests returns the recorded requests, oldest first.
func (m *Mock) Requests() []Recorded {
	m.recMu.Lock()
	defer m.recMu.Unlock()
	out := make([]Recorded, 0, len(m.recs))
	out = append(out, m.recs[m.next:]...)
	return append(out, m.recs[:m.next]...)
}

// Reset forgets the recorded requests and zeroes Count and Canceled, so
// Script ordinals start again at 1.
func (m *Mock) Reset() {
	m.recMu.Lock()
	m.recs, m.next = nil, 0
	m.count.Store(0)
	m.canceled.Store(0)
	m.recMu.Unlock()
}

func (m *Mock) record(r *http.Request, body []byte, now time.Time, n int) {
	if m.max < 0 {
		return
	}
	rec := Recorded{N: n, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Time: now}
	m.recMu.Lock()
	if len(m.recs) < m.max {
		m.recs = append(m.recs, rec)
	} else {
		m.recs[m.next] = rec
		m.next = (m.next + 1) % m.max
	}
	m.recMu.Unlock()
}

// maxBody is the largest request body accepted (Anthropic's limit).
const maxBody = 32 << 20

// exchange is one request being served.
type exchange struct {
	m       *Mock
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	ep      route
	n       int
	start   time.Time
	reqID   string
	fault   Fault
	failing bool // fault's failure modes apply
	gone    bool // the client went away before the mock finished
	inTok   int  // estimated prompt tokens, for headers
}

// ServeHTTP serves one request.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{m: m, w: w, r: r, ctx: r.Context(), ep: parseRoute(r)}
	x.start = m.clock.Now()
	m.active.Add(1)
	defer x.finish()
	x.n = int(m.count.Add(1))
	x.reqID = requestID(x.n)

	body, err := readBody(r)
	m.record(r, body, x.start, x.n)
	if err != nil {
		if x.clientGone() {
			return
		}
		if errors.Is(err, errTooLarge) {
			x.writeError(http.StatusRequestEntityTooLarge, "Request body is too large.")
		} else {
			x.writeError(http.StatusBadRequest, "Could not read the request body.")
		}
		return
	}
	if !x.chooseFault(body) {
		return
	}
	if !x.wait(x.latency()) {
		return
	}
	if x.failing && x.fault.Hang {
		x.hang()
		return
	}
	if x.ep.kind == epUnknown {
		x.notFound()
		return
	}
	if x.ep.method != r.Method {
		x.w.Header()["Allow"] = []string{x.ep.method}
		x.writeError(http.StatusMethodNotAllowed, "Method "+r.Method+" is not allowed on "+r.URL.Path+".")
		return
	}
	if x.failing && x.fault.Status != 0 {
		x.writeError(x.fault.Status, "")
		return
	}
	x.serve(body)
}

// finish does the bookkeeping when the handler returns (or panics to abort
// the connection).
func (x *exchange) finish() {
	if x.gone {
		x.m.canceled.Add(1)
	}
	x.m.active.Add(-1)
}

// clientGone reports (and remembers) whether the client has gone away.
func (x *exchange) clientGone() bool {
	if !x.gone && x.ctx.Err() != nil {
		x.gone = true
	}
	return x.gone
}

// chooseFault picks the request's fault. It reports false when it already
// answered (a bad X-Mock-Fault header).
func (x *exchange) chooseFault(body []byte) bool {
	m := x.m
	switch v := x.r.Header[FaultHeader]; {
	case len(v) > 0:
		f, err := ParseFault(v[0])
		if err != nil {
			x.writeError(http.StatusBadRequest, "Bad "+FaultHeader+" header: "+err.Error())
			return false
		}
		x.fault = f
	case m.opts.Script != nil:
		x.r.Body = io.NopCloser(bytes.NewReader(body))
		if f := m.opts.Script(x.r, x.n); f != nil {
			x.fault = *f
		} else {
			x.fault = m.opts.Faults
		}
	default:
		x.fault = m.opts.Faults
	}
	x.failing = x.fault.failing()
	if x.failing && x.fault.Rate > 0 && x.fault.Rate < 1 {
		m.randMu.Lock()
		x.failing = m.rng.Float64() < x.fault.Rate
		m.randMu.Unlock()
	}
	return true
}

func (x *exchange) latency() time.Duration {
	if x.fault.Latency > 0 {
		return x.fault.Latency
	}
	return x.m.opts.Latency
}

func (x *exchange) tokenDelay() time.Duration {
	if x.fault.TokenDelay > 0 {
		return x.fault.TokenDelay
	}
	return x.m.opts.TokenDelay
}

func (x *exchange) firstTokenDelay() time.Duration {
	if x.fault.FirstTokenDelay > 0 {
		return x.fault.FirstTokenDelay
	}
	return x.m.opts.FirstTokenDelay
}

// wait waits d on the mock's clock. It reports false when the client went
// away meanwhile (the handler must return).
func (x *exchange) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-x.m.clock.After(d):
		return true
	case <-x.m.closed:
		return true
	case <-x.ctx.Done():
		x.gone = true
		return false
	}
}

// hang waits until the client gives up or the mock is closed; in the latter
// case it breaks the connection without answering.
func (x *exchange) hang() {
	select {
	case <-x.ctx.Done():
		x.gone = true
	case <-x.m.closed:
		x.abort()
	}
}

// abort breaks the connection: HTTP/1 closes it without the final chunk,
// HTTP/2 resets the stream. It does not return.
func (x *exchange) abort() {
	panic(http.ErrAbortHandler)
}

var errTooLarge = errors.New("request body too large")

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := 512
	if r.ContentLength > 0 && r.ContentLength <= maxBody {
		size = int(r.ContentLength) + 1 // +1 so ReadFrom sees EOF without growing
	}
	var buf bytes.Buffer
	buf.Grow(size)
	_, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if buf.Len() > maxBody {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}
