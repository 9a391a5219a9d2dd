// Package metrics exposes llmgate's Prometheus metrics. Label values come
// from small fixed sets (wire formats, configured provider names, configured
// model names, status classes, error kinds); never key ids, user ids or
// model names clients invent (those count as model "other").
package metrics

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/store"
)

// Registry holds the gateway's metrics. It is safe for concurrent use.
type Registry struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	attempts  *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	ttft      *prometheus.HistogramVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	rejected  prometheus.Counter
	models    atomic.Pointer[map[string]bool] // model label values; others are "other"

	mu         sync.Mutex // protects following
	collectors []prometheus.Collector
}

// OtherModel is the model label of requests for a model that is not
// configured.
const OtherModel = "other"

// New returns a Registry with Go runtime and process collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_requests_total",
		Help: "Requests answered, by client wire format, provider that served (or failed), model asked (configured models; others as \"other\"), status class and error kind."},
		[]string{"client_format", "provider", "model", "status_class", "error_kind"})
	r.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_upstream_attempts_total",
		Help: "Upstream attempts, retries and fallbacks included, each under the provider and model it went to, by outcome (success or the error kind)."}, []string{"provider", "model", "outcome"})
	r.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_fallbacks_total",
		Help: "Requests served by a route other than the first."}, []string{"provider", "model"})
	r.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmgate_request_duration_seconds",
		Help: "Time from arrival to the last byte sent.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)},
		[]string{"client_format", "provider", "model"})
	r.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmgate_time_to_first_token_seconds",
		Help: "Time from arrival to the first streamed token (streamed requests only).", Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10)},
		[]string{"provider", "model"})
	r.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_tokens_total",
		Help: "Tokens by provider, model asked and direction (input, output)."}, []string{"provider", "model", "direction"})
	r.cost = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_cost_usd_total",
		Help: "Spend in USD by provider and model asked, at the price table's prices."}, []string{"provider", "model"})
	r.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_request_log_dropped_total",
		Help: "Request-log records lost, by reason: queue_full (the write queue stayed full), closed (recorded after shutdown began), write_failed (every write attempt of their batch failed), shutdown (not written before the shutdown deadline)."},
		[]string{"reason"})
	for _, reason := range DropReasons {
		r.dropped.WithLabelValues(reason) // exported at 0 from the start
	}
	r.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "llmgate_connections_rejected_total",
		Help: "Client connections answered 503 and closed because server.max_connections were open."})
	r.Register(r.requests)
	for _, c := range []prometheus.Collector{r.attempts, r.fallbacks, r.duration, r.ttft, r.tokens, r.cost, r.dropped, r.rejected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		r.Register(c)
	}
	return r
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Register adds another collector (breakers, limits).
func (r *Registry) Register(c prometheus.Collector) {
	r.reg.MustRegister(c)
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names lists, sorted, every metric family the registry can export, with or
// without series yet (a histogram is one name, without _bucket). Tests use
// it to check dashboards and docs against what exists.
func (r *Registry) Names() []string {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SetModels sets the model names that are label values of their own (the
// configured models); requests for any other model count as "other". It
// may be called again after a configuration reload.
func (r *Registry) SetModels(names []string) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	r.models.Store(&m)
}

// modelLabel bounds a model name to the configured set.
func (r *Registry) modelLabel(model string) string {
	if m := r.models.Load(); m != nil && (*m)[model] {
		return model
	}
	return OtherModel
}

// DropReasons are the reason label values of
// llmgate_request_log_dropped_total (reqlog.DropReasons); any other reason
// counts as "other".
var DropReasons = []string{"queue_full", "closed", "write_failed", "shutdown"}

// RecordDropped counts n request-log records lost for reason (reqlog's
// Options.OnDrop).
func (r *Registry) RecordDropped(n int, reason string) {
	known := false
	for _, v := range DropReasons {
		known = known || v == reason
	}
	if !known {
		reason = "other"
	}
	r.dropped.WithLabelValues(reason).Add(float64(n))
}

// ObserveAttempt counts one upstream attempt (the gateway's OnAttempt).
// Models are the configured route targets, so the label stays bounded.
func (r *Registry) ObserveAttempt(provider, model, outcome string) {
	r.attempts.WithLabelValues(provider, model, outcome).Inc()
}

// ConnectionRejected counts one connection refused over the cap.
func (r *Registry) ConnectionRejected() { r.rejected.Inc() }

// Observe counts one finished request.
func (r *Registry) Observe(rec store.Record) {
	class := "0xx"
	if rec.Status > 0 {
		class = strconv.Itoa(rec.Status/100) + "xx"
	}
	model := r.modelLabel(rec.ModelAsked)
	r.requests.WithLabelValues(rec.ClientFormat, rec.Provider, model, class, rec.ErrorKind).Inc()
	if rec.Fallback {
		r.fallbacks.WithLabelValues(rec.Provider, model).Inc()
	}
	r.duration.WithLabelValues(rec.ClientFormat, rec.Provider, model).Observe(rec.Latency.Seconds())
	if rec.TTFT > 0 {
		r.ttft.WithLabelValues(rec.Provider, model).Observe(rec.TTFT.Seconds())
	}
	if rec.InputTokens > 0 {
		r.tokens.WithLabelValues(rec.Provider, model, "input").Add(float64(rec.InputTokens))
	}
	if rec.OutputTokens > 0 {
		r.tokens.WithLabelValues(rec.Provider, model, "output").Add(float64(rec.OutputTokens))
	}
	if rec.CostUSD > 0 {
		r.cost.WithLabelValues(rec.Provider, model).Add(rec.CostUSD)
	}
}

// WatchBreakers exports how many deployments of each provider have their
// breaker in each state, for the router rt returns at each scrape (the
// live one after configuration reloads).
func (r *Registry) WatchBreakers(rt func() *gateway.Router) {
	r.Register(&breakerCollector{rt: rt, desc: prometheus.NewDesc("llmgate_breakers",
		"Deployments by provider and circuit-breaker state.", []string{"provider", "state"}, nil)})
}

type breakerCollector struct {
	rt   func() *gateway.Router
	desc *prometheus.Desc
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[[2]string]int{}
	rt := c.rt()
	for _, u := range rt.Upstreams() {
		for _, s := range []string{"closed", "open", "half_open", "cooling"} {
			counts[[2]string{u.Name, s}] = 0
		}
	}
	for _, d := range rt.Deployments() {
		if s := d.State(); s != "" {
			counts[[2]string{d.Upstream.Name, s}]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

// WatchProcess exports the process watcher's view: whether open file
// descriptors are near the limit (process_open_fds and process_max_fds
// give the counts) and the client connections open.
func (r *Registry) WatchProcess(near func() bool, conns func() int64) {
	r.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llmgate_descriptors_near_limit",
		Help: "1 while the process's open file descriptors are at or above 80% of its open-file limit (see GET /health's descriptors), else 0."},
		func() float64 {
			if near() {
				return 1
			}
			return 0
		}))
	r.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llmgate_client_connections",
		Help: "Client connections open now (idle keep-alives included)."},
		func() float64 { return float64(conns()) }))
}
