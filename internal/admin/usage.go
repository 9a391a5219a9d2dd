package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// UsageRow is one group of a usage report.
type UsageRow struct {
	Group           string  `json:"group"`
	Name            string  `json:"name,omitempty"` // the key's name, when grouped by key
	Requests        int64   `json:"requests"`
	Errors          int64   `json:"errors"`
	InputTokens     int64   `json:"input_tokens"`
	OutputTokens    int64   `json:"output_tokens"`
	CachedTokens    int64   `json:"cached_tokens"`
	ReasoningTokens int64   `json:"reasoning_tokens"`
	CostUSD         float64 `json:"cost_usd"`
}

// UsageReport is the answer to GET /admin/usage. Since and Until are nil
// when unbounded.
type UsageReport struct {
	GroupBy string     `json:"group_by"`
	Since   *time.Time `json:"since,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
	Key     string     `json:"key,omitempty"`
	Team    string     `json:"team,omitempty"`
	Rows    []UsageRow `json:"rows"`
	Total   UsageRow   `json:"total"`
}

// ParseTime reads a report bound: an RFC 3339 time, a day (2006-01-02,
// UTC midnight), or a duration back from now ("24h", "90m", "7d"). "" is
// the zero time (unbounded).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.UTC().AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.UTC().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use 2025-03-14, 2025-03-14T15:00:00Z, or a duration back from now like 24h or 7d", s)
}

// Report builds a usage report from r, naming keys through names when
// grouping by key.
func Report(ctx context.Context, r store.UsageReporter, q store.UsageQuery, names map[string]string) (UsageReport, error) {
	rows, err := r.Usage(ctx, q)
	if err != nil {
		return UsageReport{}, err
	}
	rep := UsageReport{GroupBy: string(q.GroupBy), Key: q.KeyID, Team: q.Team, Rows: make([]UsageRow, 0, len(rows))}
	if !q.Since.IsZero() {
		rep.Since = &q.Since
	}
	if !q.Until.IsZero() {
		rep.Until = &q.Until
	}
	rep.Total.Group = "total"
	for _, u := range rows {
		row := UsageRow{Group: u.Group, Requests: u.Requests, Errors: u.Errors, InputTokens: u.InputTokens,
			OutputTokens: u.OutputTokens, CachedTokens: u.CachedTokens, ReasoningTokens: u.ReasoningTokens, CostUSD: u.CostUSD}
		if q.GroupBy == store.GroupKey {
			row.Name = names[u.Group]
		}
		rep.Rows = append(rep.Rows, row)
		t := &rep.Total
		t.Requests += u.Requests
		t.Errors += u.Errors
		t.InputTokens += u.InputTokens
		t.OutputTokens += u.OutputTokens
		t.CachedTokens += u.CachedTokens
		t.ReasoningTokens += u.ReasoningTokens
		t.CostUSD += u.CostUSD
	}
	return rep, nil
}

func (h *handler) usage(w http.ResponseWriter, r *http.Request) {
	if h.o.Usage == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "", "usage reports need a store that sums the ledger: this gateway was started without one (storage)")
		return
	}
	v := r.URL.Query()
	now := h.o.Now()
	q := store.UsageQuery{GroupBy: store.GroupBy(v.Get("group_by")), KeyID: v.Get("key"), Team: v.Get("team")}
	if q.GroupBy == "" {
		q.GroupBy = store.GroupKey
	}
	var err error
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if *b.dst, err = ParseTime(v.Get(b.name), now); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", b.name, b.name+": "+err.Error())
			return
		}
	}
	var names map[string]string
	if q.GroupBy == store.GroupKey && h.o.Keys != nil {
		if ks, err := h.o.Keys.Keys(r.Context(), store.KeyFilter{IncludeRevoked: true}); err == nil {
			names = make(map[string]string, len(ks))
			for _, k := range ks {
				names[k.ID] = k.Name
			}
		}
	}
	rep, err := Report(r.Context(), h.o.Usage, q, names)
	if errors.Is(err, store.ErrInvalidQuery) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "group_by", strings.TrimPrefix(err.Error(), "store: "))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
