package governance

import "github.com/prometheus/client_golang/prometheus"

// denyReasons are the label values of llmgate_governance_refused_total: a
// fixed set, never key ids or team names.
var denyReasons = []string{
	"unknown_key", "revoked_key", "expired_key", "model_not_allowed", "unpriced", "rpm", "tpm", "parallel",
	"cost_cap", "budget", "balance", "team_budget", "spend_guard", "unavailable",
}

// govMetrics are the governance counters. It is a prometheus.Collector
// and safe for concurrent use.
type govMetrics struct {
	refused        *prometheus.CounterVec
	soft           *prometheus.CounterVec
	webhookFailed  prometheus.Counter
	webhookDropped prometheus.Counter
	unpriced       prometheus.Counter
}

func newGovMetrics() *govMetrics {
	m := &govMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_governance_refused_total",
			Help: "Requests refused by governance, by reason (unknown/revoked/expired key, model not allowed, rate limits, budgets, spend guard)."},
			[]string{"reason"}),
		soft: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmgate_budget_soft_limit_total",
			Help: "Times a key or team passed its soft budget threshold, by scope (key, team)."}, []string{"scope"}),
		webhookFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmgate_budget_webhook_failures_total",
			Help: "Budget webhook calls that failed (error or non-2xx answer)."}),
		webhookDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmgate_budget_webhook_dropped_total",
			Help: "Budget webhook events dropped because the delivery queue was full."}),
		unpriced: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmgate_unpriced_requests_total",
			Help: "Requests served by a model without a price (recorded with cost 0; add it under governance.prices)."}),
	}
	for _, r := range denyReasons {
		m.refused.WithLabelValues(r)
	}
	for _, s := range []string{"key", "team"} {
		m.soft.WithLabelValues(s)
	}
	return m
}

func (m *govMetrics) deny(reason string) { m.refused.WithLabelValues(reason).Inc() }

// Describe implements prometheus.Collector.
func (m *govMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.refused.Describe(ch)
	m.soft.Describe(ch)
	m.webhookFailed.Describe(ch)
	m.webhookDropped.Describe(ch)
	m.unpriced.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *govMetrics) Collect(ch chan<- prometheus.Metric) {
	m.refused.Collect(ch)
	m.soft.Collect(ch)
	m.webhookFailed.Collect(ch)
	m.webhookDropped.Collect(ch)
	m.unpriced.Collect(ch)
}
