// Package chaos runs repeatable failure scenarios against a fully wired
// llmgate: two in-process mock providers (internal/mock) with scripted
// faults, the gateway built by cli.NewApp and served on a loopback
// listener, and a bounded load of client requests in the three wire
// formats. It measures what clients see (success rate, latency), what the
// failures cost upstream (attempts per request), and whether anything is
// left in flight or running afterwards.
//
// Every run is bounded: a fixed number of requests, a deadline on the load
// phase and on each request, and a full shutdown of what it started.
// bench/chaos is the command-line front end; the package's tests run small
// versions of each scenario against their targets.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/tokens"
)

// Options configure a run. The zero value runs 300 requests, 16 at a time.
type Options struct {
	// Requests is the number of client requests per scenario. Default 300.
	Requests int
	// Concurrency is the number of clients sending at once. Default 16.
	Concurrency int
	// MaxDuration bounds the load phase of one scenario: requests still
	// running then are canceled and no more are sent. Default 2m.
	MaxDuration time.Duration
	// RequestTimeout bounds one client request. Default 30s.
	RequestTimeout time.Duration
	// Seed makes the random faults repeatable. Runs with the same seed draw
	// the same faults, though concurrency decides which request meets which.
	Seed uint64
	// DataDir holds the gateway's request log (SQLite). "" uses a temporary
	// directory, removed afterwards.
	DataDir string
	// Logger receives the gateway's log; nil discards it.
	Logger *slog.Logger
	// SkipDirect leaves out the direct-to-provider comparison run.
	SkipDirect bool
}

func (o Options) withDefaults() Options {
	if o.Requests <= 0 {
		o.Requests = 300
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 2 * time.Minute
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Result is what one scenario measured.
type Result struct {
	Scenario string
	About    string
	// Requests were sent; OK succeeded as the client sees it (a 200 with a
	// complete body, or a stream that ended cleanly). Partial streams began
	// and then ended with an error event or a broken connection. Failed got
	// an error status or no answer.
	Requests, OK, Partial, Failed int
	// Statuses counts requests by the HTTP status the client saw (0: no
	// answer at all).
	Statuses map[int]int
	// ClientTimeouts are requests that hit the client's own deadline
	// (Options.RequestTimeout or MaxDuration): the gateway did not answer.
	ClientTimeouts int
	// P50 and P99 are client latencies to the last byte, over all requests.
	P50, P99 time.Duration
	// UpstreamCalls is the sum of both mocks' request counts.
	UpstreamCalls int
	// InFlight is the requests the gateway still had in progress after the
	// load ended (and a short settle); UpstreamActive the mocks'.
	InFlight, UpstreamActive int
	// Goroutines before the run started anything and after it stopped it.
	GoroutinesBefore, GoroutinesAfter int
	Elapsed                           time.Duration
	// Concurrency is Options.Concurrency.
	Concurrency int

	// AfterOpen is, for failover, the requests the secondary served in one
	// attempt (the primary's breaker was open), and P99AfterOpen their p99.
	AfterOpen    int
	P99AfterOpen time.Duration
	// Baseline is the healthy run with the same load, for failover, and
	// PairedBaselineP99 its p99 over the same request positions as
	// AfterOpen (the requests sent at the same point of the load).
	Baseline          *Result
	PairedBaselineP99 time.Duration

	// Direct is the same load and faults sent straight to the primary
	// provider by a client that retries as the official SDKs do (3
	// attempts, exponential backoff from 0.5 s, Retry-After honoured):
	// what the application would get without llmgate.
	Direct *Result
	// PrimaryCalls is the primary mock's request count.
	PrimaryCalls int
	// Refused counts failed requests that got no upstream attempt at all
	// (X-Llmgate-Attempts: 0).
	Refused int
	// WrongFailures lists failure answers that break the README's rules
	// (status and type for the client's format, X-Should-Retry: false),
	// with a count each; RetryAfter counts failures that carried one.
	WrongFailures map[string]int
	RetryAfter    int
	// FirstOKAfterRecovery is, for blip, how long after the fault ended the
	// first request that started after it succeeded (-1: none did).
	FirstOKAfterRecovery time.Duration
	// BudgetUSD and SpentUSD are, for budget, the key's budget and what it
	// was charged.
	BudgetUSD, SpentUSD float64

	samples   []sample
	afterOpen []int // indices of the AfterOpen requests
}

// SuccessRate is OK / Requests.
func (r *Result) SuccessRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.OK) / float64(r.Requests)
}

// AttemptsPerRequest is UpstreamCalls / Requests.
func (r *Result) AttemptsPerRequest() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.UpstreamCalls) / float64(r.Requests)
}

// Run runs the named scenario (Failover, Random5xx, Mixed or Baseline).
// Failover runs a healthy Baseline gateway beside it, driven with the same
// load in alternating rounds so that both meet the same machine noise, and
// keeps it in Result.Baseline.
func Run(ctx context.Context, name string, o Options) (*Result, error) {
	o = o.withDefaults()
	sc, err := lookup(name)
	if err != nil {
		return nil, err
	}
	scs := []scenario{sc}
	if name == Failover {
		base, _ := lookup(Baseline)
		scs = []scenario{base, sc}
	}
	rs, err := run(ctx, scs, o)
	if err != nil {
		return nil, err
	}
	r := rs[0]
	if name == Failover {
		base, fail := rs[0], rs[1]
		fail.Baseline = base
		fail.PairedBaselineP99 = percentile(pick(base.samples, fail.afterOpen), 0.99)
		r = fail
	}
	if o.SkipDirect {
		return r, nil
	}
	d, err := runDirect(ctx, sc, o)
	if err != nil {
		return nil, err
	}
	r.Direct = d
	return r, nil
}

// runDirect sends the scenario's load straight to a fresh primary mock
// with the same faults, retrying as an SDK would.
func runDirect(ctx context.Context, sc scenario, o Options) (*Result, error) {
	e, err := startMock(sc.primary(o.Seed))
	if err != nil {
		return nil, err
	}
	e.direct = true
	// The direct client mostly sleeps in backoffs; more of them at once
	// keep the run short and change no success rate. The blip is about
	// timing, so it keeps the gateway run's concurrency.
	if sc.recovered == nil {
		o.Concurrency = max(o.Concurrency, 64)
	}
	e.client = newClient(o)
	defer func() { _ = e.stop() }()
	lctx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	defer cancel()
	samples := make([]sample, o.Requests)
	t0 := time.Now()
	e.load(lctx, sc, o, samples, 0, o.Requests)
	r := summarize(sc, samples)
	r.Scenario, r.Elapsed = sc.name+" (direct)", time.Since(t0)
	r.UpstreamCalls = e.mocks[0].Count()
	return r, nil
}

// startMock serves one mock on a loopback listener.
func startMock(opts mock.Options) (*env, error) {
	e := &env{}
	mctx, stop := context.WithCancel(context.Background())
	e.mockStop = stop
	var lc net.ListenConfig
	ln, err := lc.Listen(mctx, "tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		return nil, fmt.Errorf("chaos: mock listener: %w", err)
	}
	opts.MaxRecorded = -1
	m := mock.New(opts)
	e.mocks[0] = m
	e.mockDone[0] = make(chan error, 1)
	go func(done chan<- error) { done <- mock.Serve(mctx, ln, m, slog.New(slog.DiscardHandler)) }(e.mockDone[0])
	e.url = "http://" + ln.Addr().String()
	return e, nil
}

func newClient(o Options) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, IdleConnTimeout: 30 * time.Second,
		DisableCompression: true,
	}}
}

// run starts a gateway and its two mocks per scenario, drives the load,
// and stops everything again. With several scenarios the load alternates
// between them in rounds of a few times the concurrency.
func run(ctx context.Context, scs []scenario, o Options) (res []*Result, err error) {
	tokens.Warm() // tokenizer vocabularies are built once per process, not per run
	before := runtime.NumGoroutine()
	envs := make([]*env, 0, len(scs))
	defer func() {
		for _, e := range envs {
			if serr := e.stop(); serr != nil && err == nil {
				err = serr
			}
		}
		after := settle(ctx, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
		for _, r := range res {
			r.GoroutinesBefore, r.GoroutinesAfter = before, after
		}
	}()
	for _, sc := range scs {
		e, err := start(sc, o)
		if err != nil {
			return nil, err
		}
		envs = append(envs, e)
	}
	lctx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	defer cancel()
	for _, e := range envs {
		e.warm(lctx, o)
	}
	round := o.Requests
	if len(scs) > 1 {
		round = max(4*o.Concurrency, 50)
	}
	samples := make([][]sample, len(scs))
	elapsed := make([]time.Duration, len(scs))
	for k := range samples {
		samples[k] = make([]sample, o.Requests)
	}
	for n, lo := 0, 0; lo < o.Requests && lctx.Err() == nil; n, lo = n+1, lo+round {
		hi := min(lo+round, o.Requests)
		for j := range envs {
			k := j
			if n%2 == 1 { // ABBA order: neither run always goes first
				k = len(envs) - 1 - j
			}
			t0 := time.Now()
			envs[k].load(lctx, scs[k], o, samples[k], lo, hi)
			elapsed[k] += time.Since(t0)
		}
	}
	for k, e := range envs {
		r := summarize(scs[k], samples[k])
		r.Elapsed = elapsed[k]
		settle(ctx, 2*time.Second, func() bool { return e.inFlight() == 0 && e.upstreamActive() == 0 })
		r.InFlight, r.UpstreamActive = e.inFlight(), e.upstreamActive()
		for _, m := range e.mocks {
			r.UpstreamCalls += m.Count()
		}
		r.PrimaryCalls, r.Concurrency = e.mocks[0].Count(), o.Concurrency
		if scs[k].budgetUSD > 0 {
			r.BudgetUSD = scs[k].budgetUSD
			if r.SpentUSD, err = e.spent(ctx); err != nil {
				return nil, err
			}
		}
		res = append(res, r)
	}
	return res, nil
}

// pick returns the latencies of samples at the indices idx.
func pick(samples []sample, idx []int) []time.Duration {
	out := make([]time.Duration, 0, len(idx))
	for _, i := range idx {
		out = append(out, samples[i].latency)
	}
	return out
}

// settle polls done every 10ms for up to d and returns the goroutine
// count when it stops.
func settle(ctx context.Context, d time.Duration, done func() bool) int {
	clk := clock.Real{}
	deadline := clk.Now().Add(d)
	for !done() && clk.Now().Before(deadline) {
		if clock.Sleep(ctx, clk, 10*time.Millisecond) != nil {
			break
		}
	}
	return runtime.NumGoroutine()
}

// env is one scenario's running parts.
type env struct {
	mocks     [2]*mock.Mock
	mockStop  context.CancelFunc
	mockDone  [2]chan error
	app       *cli.App
	srv       *http.Server
	srvDone   chan error
	url       string
	client    *http.Client
	removeDir string
	direct    bool   // the client calls the mock itself, retrying like an SDK
	key       string // the virtual key's secret, for budget
	keyID     string
}

// spent is what the budget key was charged.
func (e *env) spent(ctx context.Context) (float64, error) {
	k, err := e.app.Governor.Key(ctx, e.keyID)
	if err != nil {
		return 0, fmt.Errorf("chaos: reading the key: %w", err)
	}
	if k.Budget == nil {
		return 0, nil
	}
	return k.Budget.SpentUSD, nil
}

// Provider names in the gateway config: the route is primary, then secondary.
const (
	primaryName   = "primary"
	secondaryName = "secondary"
)

func start(sc scenario, o Options) (e *env, err error) {
	e = &env{}
	defer func() {
		if err != nil {
			_ = e.stop()
		}
	}()
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "llmgate-chaos-"); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		e.removeDir = dir
	}
	quiet := slog.New(slog.DiscardHandler)
	mctx, stop := context.WithCancel(context.Background())
	e.mockStop = stop
	var urls [2]string
	for i, opts := range []mock.Options{sc.primary(o.Seed), sc.secondary(o.Seed)} {
		var lc net.ListenConfig
		ln, lerr := lc.Listen(mctx, "tcp", "127.0.0.1:0")
		if lerr != nil {
			return nil, fmt.Errorf("chaos: mock listener: %w", lerr)
		}
		opts.MaxRecorded = -1 // counters only
		m := mock.New(opts)
		e.mocks[i] = m
		e.mockDone[i] = make(chan error, 1)
		go func(done chan<- error) { done <- mock.Serve(mctx, ln, m, quiet) }(e.mockDone[i])
		urls[i] = "http://" + ln.Addr().String()
	}
	route := fmt.Sprintf("[%s/gpt-4o-mini, %s/claude-sonnet-4-5]", primaryName, secondaryName)
	extra := ""
	switch {
	case sc.single:
		route = fmt.Sprintf("[%s/gpt-4o-mini]", primaryName)
	case sc.budgetUSD > 0:
		route = fmt.Sprintf("[%s/cheap-model, %s/pricey-model]", primaryName, secondaryName)
		extra = `governance:
  prices:
    cheap-model: {input: 0.1, output: 0.4}
    pricey-model: {input: 2, output: 8}
`
	}
	// No resilience block: every scenario runs on the defaults.
	y := fmt.Sprintf(`storage: {data_dir: %q}
providers:
  %s: {type: openai, base_url: %q, api_key: chaos-primary}
  %s: {type: anthropic, base_url: %q, api_key: chaos-secondary}
models:
  chat: {route: %s}
%s`, dir, primaryName, urls[0]+"/v1", secondaryName, urls[1], route, extra)
	cfg, err := config.Parse("chaos-"+sc.name+".yaml", []byte(y), func(string) string { return "" })
	if err != nil {
		return nil, fmt.Errorf("chaos: scenario %s config: %w", sc.name, err)
	}
	if e.app, err = cli.NewApp(context.Background(), cfg, o.Logger); err != nil {
		return nil, fmt.Errorf("chaos: building the gateway: %w", err)
	}
	if sc.budgetUSD > 0 {
		k, err := e.app.Governor.CreateKey(context.Background(), governance.KeySpec{Name: "chaos-budget",
			BudgetUSD: sc.budgetUSD, BudgetPeriod: "total"})
		if err != nil {
			return nil, fmt.Errorf("chaos: creating the budget key: %w", err)
		}
		e.key, e.keyID = k.Secret, k.Key.ID
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: gateway listener: %w", err)
	}
	e.url = "http://" + ln.Addr().String()
	e.srv = &http.Server{Handler: e.app.Handler, ReadHeaderTimeout: 10 * time.Second}
	e.srvDone = make(chan error, 1)
	go func() { e.srvDone <- e.srv.Serve(ln) }()
	e.client = newClient(o)
	return e, nil
}

// stop shuts down what start started, in order: the gateway (draining
// in-flight requests), its request log, its upstream connections, then the
// mocks.
func (e *env) stop() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.srv != nil {
		if err := e.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("chaos: gateway shutdown: %w", err), e.srv.Close())
		}
		if err := <-e.srvDone; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("chaos: gateway: %w", err))
		}
	}
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	if e.app != nil {
		e.app.Close(ctx)
		for _, u := range e.app.Router.Upstreams() {
			u.Client.CloseIdleConnections()
		}
	}
	if e.mockStop != nil {
		e.mockStop()
		for i, done := range e.mockDone {
			if done != nil {
				if err := <-done; err != nil {
					errs = append(errs, fmt.Errorf("chaos: mock %d: %w", i, err))
				}
			}
		}
	}
	if e.removeDir != "" {
		if err := os.RemoveAll(e.removeDir); err != nil {
			errs = append(errs, fmt.Errorf("chaos: %w", err))
		}
	}
	return errors.Join(errs...)
}

// inFlight is the requests the gateway's deployments have in progress.
func (e *env) inFlight() int {
	if e.app == nil {
		return 0
	}
	n := int64(0)
	for _, d := range e.app.Router.Deployments() {
		n += d.Inflight()
	}
	return int(n)
}

// upstreamActive is the requests the mocks are serving.
func (e *env) upstreamActive() int {
	n := 0
	for _, m := range e.mocks {
		if m != nil {
			n += m.Active()
		}
	}
	return n
}

// summarize turns samples into a Result.
func summarize(sc scenario, samples []sample) *Result {
	r := &Result{Scenario: sc.name, About: sc.about, Statuses: map[int]int{}, WrongFailures: map[string]int{},
		FirstOKAfterRecovery: -1, samples: samples}
	var all []time.Duration
	for i, s := range samples {
		if !s.sent {
			continue
		}
		r.Requests++
		r.Statuses[s.status]++
		switch s.outcome {
		case outcomeOK:
			r.OK++
		case outcomePartial:
			r.Partial++
		default:
			r.Failed++
		}
		if s.clientTimeout {
			r.ClientTimeouts++
		}
		if s.outcome == outcomeFailed && s.status != 0 {
			if s.attempts == 0 && !s.direct {
				r.Refused++
			}
			if s.retryAfter {
				r.RetryAfter++
			}
			if !s.direct {
				for _, w := range s.wrong {
					r.WrongFailures[w]++
				}
				if sc.name == Overload && s.format == "anthropic" && s.status != 529 {
					r.WrongFailures[fmt.Sprintf("anthropic client got HTTP %d for an overloaded upstream, not 529", s.status)]++
				}
			}
		}
		all = append(all, s.latency)
		if s.provider == secondaryName && s.attempts == 1 && s.outcome == outcomeOK {
			r.afterOpen = append(r.afterOpen, i)
		}
	}
	r.P50, r.P99 = percentile(all, 0.50), percentile(all, 0.99)
	if sc.recovered != nil {
		r.FirstOKAfterRecovery = firstOKAfterRecovery(samples, sc.recovered())
	}
	if sc.name == Failover {
		r.AfterOpen, r.P99AfterOpen = len(r.afterOpen), percentile(pick(samples, r.afterOpen), 0.99)
	}
	return r
}

// percentile is the nearest-rank q-quantile of ds (which it sorts).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// statusList formats Statuses as "200×297 503×3", by status.
func (r *Result) statusList() string {
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		name := fmt.Sprint(c)
		if c == 0 {
			name = "no-answer"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, r.Statuses[c]))
	}
	return strings.Join(parts, " ")
}

// firstOKAfterRecovery is how long after recovered the first request
// that started after it succeeded; -1 when none did.
func firstOKAfterRecovery(samples []sample, recovered time.Time) time.Duration {
	best := time.Duration(-1)
	for _, s := range samples {
		if s.sent && s.outcome == outcomeOK && !s.start.Before(recovered) {
			if d := s.end.Sub(recovered); best < 0 || d < best {
				best = d
			}
		}
	}
	return best
}
