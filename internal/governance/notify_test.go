package governance_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/provider"
)

// hook is a webhook receiver that records events; it answers slowly so
// that deliveries are still queued when the governor shuts down.
type hook struct {
	mu     sync.Mutex
	events []governance.BudgetEvent
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(50 * time.Millisecond)
	b, _ := io.ReadAll(r.Body)
	var ev governance.BudgetEvent
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &ev) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *hook) got() []governance.BudgetEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]governance.BudgetEvent(nil), h.events...)
}

func counter(t *testing.T, c prometheus.Collector, name, label, value string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}

// TestSoftBudget: passing the soft threshold logs, counts and calls the
// webhook once per crossing; queued calls are delivered before Run
// returns at shutdown.
func TestSoftBudget(t *testing.T) {
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	gc := config.Governance{BudgetWebhook: srv.URL + "/budget"}
	e := newEnv(t, gc)
	if _, err := e.g.CreateTeam(ctx, governance.TeamSpec{Name: "data", BudgetUSD: 10, SoftBudget: 0.5}); err != nil {
		t.Fatal(err)
	}
	k, secret := e.key(t, governance.KeySpec{Name: "etl", Team: "data", BudgetUSD: 1, BudgetPeriod: "daily", SoftBudget: 0.8})
	p := e.principal(t, secret)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.g.Run(runCtx) }()

	for _, cost := range []float64{0.5, 0.35, 0.1} { // the key passes 80% on the second request only
		tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 10, 10))
		if err != nil {
			t.Fatal(err)
		}
		tk.Settle(provider.Usage{InputTokens: 10}, cost, true)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := h.got()
	if len(evs) != 1 {
		t.Fatalf("%d webhook calls, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Event != "budget.soft_limit" || ev.Scope != "key" || ev.ID != k.ID || ev.Name != "etl" || ev.Team != "data" ||
		ev.BudgetUSD != 1 || ev.Threshold != 0.8 || ev.SpentUSD != 0.85 || ev.Period != "daily" || ev.ResetsAt == nil {
		t.Errorf("event = %+v", ev)
	}
	if n := counter(t, e.g.Collector(), "llmgate_budget_soft_limit_total", "scope", "key"); n != 1 {
		t.Errorf("soft-limit counter = %v, want 1", n)
	}
	if n := counter(t, e.g.Collector(), "llmgate_governance_refused_total", "reason", "budget"); n != 0 {
		t.Errorf("refused{budget} = %v, want 0", n)
	}
}

func TestWebhookFailureIsCounted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	e := newEnv(t, config.Governance{BudgetWebhook: srv.URL})
	_, secret := e.key(t, governance.KeySpec{BudgetUSD: 1, SoftBudget: 0.1})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.g.Run(runCtx) }()
	tk, err := e.g.Admit(ctx, admission(e.principal(t, secret), "gpt-4o-mini", 10, 10))
	if err != nil {
		t.Fatal(err)
	}
	tk.Settle(provider.Usage{}, 0.5, true)
	stop()
	<-done
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.g.Collector())
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "llmgate_budget_webhook_failures_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("webhook failures = %v, want 1", v)
			}
			return
		}
	}
	t.Error("no webhook failure metric")
}
