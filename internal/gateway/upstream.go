package gateway

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/provider"
)

// Upstream is one configured provider at run time: its wire format, codecs,
// endpoint and HTTP client. It is safe for concurrent use.
type Upstream struct {
	Name   string
	Vendor string // openai, anthropic, gemini, deepseek, ... or "" for custom
	Format provider.Format

	Endpoint provider.Endpoint
	Codec    provider.UpstreamCodec
	Pass     provider.Passthrough
	Client   *http.Client

	// RequiresKey is true for public vendor APIs, which reject keyless
	// requests; a local server (Ollama, vLLM) may need none.
	RequiresKey bool

	Models   []string
	Prefixes []string
	Timeouts config.Timeouts
	// Weight is the provider's share in weighted pools (default 1).
	Weight int

	// Also holds the other wire formats this provider speaks natively, as
	// the same provider with that format's codecs: an OpenAI provider with
	// api: responses also serves the Responses API, so Responses clients
	// are passed through to it rather than translated. Nil: only Format.
	Also map[provider.Format]*Upstream

	health health
}

// For returns the provider as it serves clients of format f: its sibling
// in Also when it speaks f natively, else itself (which then translates
// unless f is its Format). The sibling shares the provider's name,
// endpoint and HTTP client; health and breakers stay with u.
func (u *Upstream) For(f provider.Format) *Upstream {
	if a := u.Also[f]; a != nil {
		return a
	}
	return u
}

// WithFormat returns a sibling of u speaking format f with the given
// codecs, for Also.
func (u *Upstream) WithFormat(f provider.Format, codec provider.UpstreamCodec, pass provider.Passthrough) *Upstream {
	return &Upstream{Name: u.Name, Vendor: u.Vendor, Format: f, Endpoint: u.Endpoint, Codec: codec, Pass: pass,
		Client: u.Client, RequiresKey: u.RequiresKey, Models: u.Models, Prefixes: u.Prefixes, Timeouts: u.Timeouts, Weight: u.Weight}
}

// HasKey reports whether the gateway holds a key for this provider.
func (u *Upstream) HasKey() bool { return u.Endpoint.APIKey != "" }

// KeyHint says how to give the gateway this provider's key.
func (u *Upstream) KeyHint() string {
	if env := keyEnv(u.Name); env != "" {
		return env + " is not set: export it or add providers." + u.Name + ".api_key"
	}
	return "providers." + u.Name + ".api_key is not set: add it to the config"
}

// NewTransport returns the HTTP transport for one provider: pooled keep-alive
// connections, the configured connect timeout, and no transparent
// compression (SSE must not be buffered by gzip). Response-header,
// first-token and idle timeouts are the pipeline's (a non-streamed answer
// sends its headers only when the whole answer is ready). protocol is a
// config.Provider.Protocol: "" and auto negotiate HTTP/2 over TLS, h2c
// speaks HTTP/2 to http:// URLs by prior knowledge, http1 never HTTP/2.
func NewTransport(t config.Timeouts, protocol string) *http.Transport {
	d := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	tr := newTransport(d, t)
	switch protocol {
	case config.ProtocolH2C:
		var p http.Protocols
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
		// Without a cap, every request of a burst that arrives before the
		// first connection is up dials its own (the extras are closed once
		// HTTP/2 is known), which at thousands of streams spends a descriptor
		// each. With one, the burst waits for the first connection and shares
		// it; a connection whose streams are full still makes room for a new
		// dial.
		tr.MaxConnsPerHost = h2cDialers
	case config.ProtocolHTTP1:
		var p http.Protocols
		p.SetHTTP1(true)
		tr.Protocols = &p
		tr.ForceAttemptHTTP2 = false
	}
	return tr
}

// h2cDialers bounds the connections an h2c transport dials at once.
const h2cDialers = 8

func newTransport(d *net.Dialer, t config.Timeouts) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   t.Connect,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// publicHosts are vendor APIs that always need a key.
var publicHosts = []string{
	"api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "api.deepseek.com",
	"api.mistral.ai", "api.groq.com", "openrouter.ai", "openai.azure.com",
}

// RequiresKey reports whether baseURL is a public vendor API.
func RequiresKey(baseURL string) bool {
	u, err := url.Parse(baseURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	for _, p := range publicHosts {
		if h == p || strings.HasSuffix(h, "."+p) {
			return true
		}
	}
	return false
}

// Deployment is one model on one provider: the unit that retries, breakers,
// pacing and pool selection act on. It is safe for concurrent use.
type Deployment struct {
	Name     string // provider/model
	Upstream *Upstream
	Model    string

	Guard  Guard       // circuit breaker; never nil
	Budget RetryBudget // retries allowed to this deployment; never nil
	Pacer  Pacer       // pacing under its rate limits; never nil

	inflight atomic.Int64
	latency  ewma
}

func newDeployment(u *Upstream, model string) *Deployment {
	return &Deployment{Name: u.Name + "/" + model, Upstream: u, Model: model,
		Guard: noGuard{}, Budget: noBudget{}, Pacer: noPacer{}}
}

// Inflight is the number of requests now in progress on the deployment.
func (d *Deployment) Inflight() int64 { return d.inflight.Load() }

// Outcome is what an attempt did, as breakers count it.
type Outcome uint8

// Attempt outcomes.
const (
	OutcomeSuccess Outcome = iota + 1
	OutcomeFailure         // an upstream fault: counts toward opening the breaker
	OutcomeIgnore          // client cancellations and the client's own 4xx
)

// Guard admits attempts to a deployment (a circuit breaker).
type Guard interface {
	// Allow admits one attempt; done reports its outcome. An error means the
	// deployment should be skipped now; it may say when it is ready again
	// (ReadyAt() time.Time) and whether it is a 429 cooldown
	// (CoolingDown() bool).
	Allow() (done func(Outcome), err error)
	// Force admits one attempt whatever the state, for when every route of
	// a model is ejected (panic mode): refusing would make a partial
	// outage total.
	Force() (done func(Outcome))
	// Cooldown keeps the deployment out of rotation until t (a 429 reset)
	// without counting a failure.
	Cooldown(until time.Time)
}

// RetryBudget caps retries to a deployment at a share of its recent
// requests, so an outage does not become a retry storm.
type RetryBudget interface {
	// OnRequest counts a first attempt.
	OnRequest()
	// TryRetry consumes one retry, reporting false when none is left.
	TryRetry() bool
}

type noBudget struct{}

func (noBudget) OnRequest()     {}
func (noBudget) TryRetry() bool { return true }

// Pacer holds requests back until the deployment has rate-limit capacity.
type Pacer interface {
	// Wait blocks until estTokens can be sent, at most maxWait; settle
	// reports the tokens really used.
	Wait(ctx context.Context, estTokens int, maxWait time.Duration) (settle func(actual int), err error)
	// Learn updates limits from an upstream response's rate-limit headers.
	Learn(h http.Header, now time.Time)
}

type noPacer struct{}

func (noPacer) Wait(context.Context, int, time.Duration) (func(int), error) {
	return settleNothing, nil
}
func (noPacer) Learn(http.Header, time.Time) {}
func settleNothing(int)                      {}

type noGuard struct{}

func (noGuard) Allow() (func(Outcome), error) { return func(Outcome) {}, nil }
func (noGuard) Force() func(Outcome)          { return func(Outcome) {} }
func (noGuard) Cooldown(time.Time)            {}

// ewma is a decaying average of attempt latency, for latency-based pools,
// and a window of recent latencies for the hedging delay (p95).
type ewma struct {
	mu     sync.Mutex // protects following
	v      float64    // seconds
	recent [64]time.Duration
	n, pos int
}

func (e *ewma) observe(d time.Duration) {
	e.mu.Lock()
	if e.v == 0 {
		e.v = d.Seconds()
	} else {
		e.v = 0.8*e.v + 0.2*d.Seconds()
	}
	e.recent[e.pos] = d
	e.pos = (e.pos + 1) % len(e.recent)
	e.n = min(e.n+1, len(e.recent))
	e.mu.Unlock()
}

// p95 is the 95th percentile of recent latencies, 0 with fewer than 5.
func (e *ewma) p95() time.Duration {
	e.mu.Lock()
	if e.n < 5 {
		e.mu.Unlock()
		return 0
	}
	s := slices.Clone(e.recent[:e.n])
	e.mu.Unlock()
	slices.Sort(s)
	return s[(len(s)*95+99)/100-1]
}

func (e *ewma) value() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.v
}

// Health reports the provider's health from recent outcomes.
func (u *Upstream) Health() HealthReport { return u.health.report() }

// State is the deployment's breaker state ("closed", "open", "half_open",
// "cooling"), or "" when it has no breaker.
func (d *Deployment) State() string {
	if s, ok := d.Guard.(interface{ StateName() string }); ok {
		return s.StateName()
	}
	return ""
}
