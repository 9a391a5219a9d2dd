package admin

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// LogReader reads the request log (reqlog.Log implements it: the in-memory
// ring merged with the store).
type LogReader interface {
	Query(ctx context.Context, f store.Filter) ([]store.Record, error)
}

// Limits of GET /admin/stats.
const (
	maxStatsWindow  = 7 * 24 * time.Hour
	maxStatsBuckets = 1440
)

// StatsPoint is one bucket of GET /admin/stats, or the whole window
// (Total). Latencies are in milliseconds over the requests of the bucket;
// TTFT over its streamed requests that sent a first byte. Percentiles are
// nearest-rank; zero when the bucket has no request.
type StatsPoint struct {
	Start        time.Time `json:"start"`
	Requests     int       `json:"requests"`
	Errors       int       `json:"errors"`
	ErrorRate    float64   `json:"error_rate"`
	RPS          float64   `json:"rps"`
	P50MS        float64   `json:"p50_ms"`
	P99MS        float64   `json:"p99_ms"`
	TTFTP50MS    float64   `json:"ttft_p50_ms"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CostUSD      float64   `json:"cost_usd"`
	Fallbacks    int       `json:"fallbacks"`
	Retried      int       `json:"retried"` // requests that took more than one attempt
}

// Stats is the answer to GET /admin/stats: the request log of the last
// Window in buckets of Step, oldest first. Truncated says the window held
// more than store.MaxLimit records and only the newest were counted.
type Stats struct {
	Window    string       `json:"window"`
	Step      string       `json:"step"`
	Since     time.Time    `json:"since"`
	Until     time.Time    `json:"until"`
	Truncated bool         `json:"truncated"`
	Total     StatsPoint   `json:"total"`
	Series    []StatsPoint `json:"series"`
}

// ComputeStats buckets recs (any order) into [since, until) by step. Rates
// count only the time up to now, so the bucket in progress is not diluted.
func ComputeStats(recs []store.Record, since, until, now time.Time, step time.Duration) (total StatsPoint, series []StatsPoint) {
	n := int((until.Sub(since) + step - 1) / step)
	type acc struct {
		lat, ttft []float64
		p         StatsPoint
	}
	buckets := make([]acc, n)
	var all acc
	for i := range recs {
		r := &recs[i]
		if r.Time.Before(since) || !r.Time.Before(until) {
			continue
		}
		b := &buckets[int(r.Time.Sub(since)/step)]
		for _, a := range []*acc{b, &all} {
			a.p.Requests++
			if !r.OK() {
				a.p.Errors++
			}
			if r.Fallback {
				a.p.Fallbacks++
			}
			if r.Attempts > 1 {
				a.p.Retried++
			}
			a.p.InputTokens += int64(r.InputTokens)
			a.p.OutputTokens += int64(r.OutputTokens)
			a.p.CostUSD += r.CostUSD
			a.lat = append(a.lat, float64(r.Latency.Microseconds())/1000)
			if r.Stream && r.TTFT > 0 {
				a.ttft = append(a.ttft, float64(r.TTFT.Microseconds())/1000)
			}
		}
	}
	finish := func(a *acc, start time.Time, length time.Duration) StatsPoint {
		p := a.p
		p.Start = start
		if p.Requests > 0 {
			p.ErrorRate = float64(p.Errors) / float64(p.Requests)
		}
		if length > 0 {
			p.RPS = float64(p.Requests) / length.Seconds()
		}
		p.P50MS, p.P99MS = percentile(a.lat, 0.50), percentile(a.lat, 0.99)
		p.TTFTP50MS = percentile(a.ttft, 0.50)
		return p
	}
	series = make([]StatsPoint, n)
	for i := range buckets {
		start := since.Add(time.Duration(i) * step)
		series[i] = finish(&buckets[i], start, min(step, until.Sub(start), now.Sub(start)))
	}
	return finish(&all, since, min(until.Sub(since), now.Sub(since))), series
}

// percentile is the nearest-rank q-quantile of v (sorted in place).
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[max(0, min(i, len(v)-1))]
}

// stats answers GET /admin/stats?window=1h&step=1m (also key, team,
// model, provider filters, as /logs takes them).
func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	if h.o.Log == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "", "stats need the request log, which this gateway does not keep")
		return
	}
	v := r.URL.Query()
	window, step := time.Hour, time.Minute
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"window", &window}, {"step", &step}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", p.name, fmt.Sprintf("%s %q is not a positive duration: use e.g. 1h or 30s", p.name, s))
			return
		}
		*p.dst = d
	}
	if window > maxStatsWindow {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "window", "window is at most 168h (7 days); use /admin/usage for longer reports")
		return
	}
	if step < time.Second || window/step > maxStatsBuckets {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "step",
			fmt.Sprintf("step must be at least 1s and give at most %d buckets over the window", maxStatsBuckets))
		return
	}
	// Align buckets to the step so successive polls agree on them.
	now := h.o.Now().UTC()
	until := now.Truncate(step).Add(step)
	since := until.Add(-window)
	f := store.Filter{Since: since, Until: until, Limit: store.MaxLimit, KeyID: v.Get("key"), Team: v.Get("team"),
		Model: v.Get("model"), Provider: v.Get("provider")}
	recs, err := h.o.Log.Query(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st := Stats{Window: window.String(), Step: step.String(), Since: since, Until: until, Truncated: len(recs) >= store.MaxLimit}
	st.Total, st.Series = ComputeStats(recs, since, until, now, step)
	writeJSON(w, http.StatusOK, st)
}
