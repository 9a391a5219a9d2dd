package e2e_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/governance"
)

// With request_log.persist: false, virtual keys still work: the admin API
// creates them, their spend and ledger rows survive a restart, and only
// the rows of requests without a key (and all content) stay in memory.
func TestPersistOffKeepsKeysSpendAndLedger(t *testing.T) {
	govClearEnv(t)
	_, _, urls := govUpstreams(t, govGateOptions{}.Mock)
	cfg := govConfig(t, urls, govGateOptions{
		Storage: fmt.Sprintf("storage: {data_dir: %q}", t.TempDir()),
		YAML:    "request_log: {persist: false, store_content: true}\n",
	})
	start := func() (*cli.App, *httptest.Server) {
		app, err := cli.NewApp(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("cli.NewApp: %v", err)
		}
		return app, httptest.NewServer(app.Handler)
	}
	stop := func(app *cli.App, srv *httptest.Server) {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Close(ctx)
	}

	app, srv := start()
	var nk governance.NewKey
	govAdmin(t, srv.URL, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "persist-off", BudgetUSD: 10, BudgetPeriod: "total"}, &nk)
	const n = 5
	for range n {
		if _, err := govChat(t, srv.URL, nk.Secret, "openai", govOA, false); err != nil {
			t.Fatal(err)
		}
	}
	// One request without a virtual key: memory only.
	if _, err := govChat(t, srv.URL, govMaster, "openai", govOA, false); err != nil {
		t.Fatal(err)
	}
	var logs struct {
		Records []map[string]any `json:"data"`
	}
	govAdmin(t, srv.URL, http.MethodGet, "/logs", nil, &logs)
	if len(logs.Records) != n+1 {
		t.Errorf("GET /logs before restart = %d records, want %d (the in-memory ring)", len(logs.Records), n+1)
	}
	g := &govGate{URL: srv.URL}
	before := g.key(t, nk.Key.ID)
	if before.Budget == nil || before.Budget.SpentUSD <= 0 {
		t.Fatalf("before restart: budget %+v, want some spend", before.Budget)
	}
	stop(app, srv)

	app, srv = start()
	defer stop(app, srv)
	g.URL = srv.URL
	after := g.key(t, nk.Key.ID) // the key itself survived
	if after.Budget == nil || after.Budget.SpentUSD != before.Budget.SpentUSD {
		t.Fatalf("after restart: budget %+v, want spent $%.9f", after.Budget, before.Budget.SpentUSD)
	}
	var rep admin.UsageReport
	govAdmin(t, srv.URL, http.MethodGet, "/admin/usage?group_by=key", nil, &rep)
	var keyed *admin.UsageRow
	for i := range rep.Rows {
		switch rep.Rows[i].Group {
		case nk.Key.ID:
			keyed = &rep.Rows[i]
		case "":
			t.Errorf("a request without a key was stored: %+v", rep.Rows[i])
		}
	}
	if keyed == nil || keyed.Requests != n || math.Abs(keyed.CostUSD-after.Budget.SpentUSD) > 1e-9*n {
		t.Fatalf("ledger after restart %+v, want %d requests costing the key's spend $%.9f", rep.Rows, n, after.Budget.SpentUSD)
	}
	// GET /logs is the in-memory ring: empty after the restart.
	logs.Records = nil
	govAdmin(t, srv.URL, http.MethodGet, "/logs", nil, &logs)
	if len(logs.Records) != 0 {
		t.Errorf("GET /logs after restart = %d records, want 0 (persist: false keeps them in memory)", len(logs.Records))
	}
}
