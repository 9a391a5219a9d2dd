package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/pricing"
	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlite"
)

var now = time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g, err := governance.New(context.Background(), governance.Options{Store: st, Prices: pricing.New(config.Governance{}, nil),
		Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(admin.Options{Keys: g, Teams: g, Usage: st, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	return srv, st
}

// call sends a request and decodes the JSON answer into out (if not nil).
func call(t *testing.T, srv *httptest.Server, method, path, body string, wantStatus int, out any) string {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return string(b)
}

func TestKeyLifecycle(t *testing.T) {
	srv, _ := setup(t)
	call(t, srv, "POST", "/admin/teams", `{"name": "platform", "budget_usd": 100, "rpm": 600}`, 201, nil)
	var nk governance.NewKey
	call(t, srv, "POST", "/admin/keys", `{"name": "ci-bot", "owner": "ana", "team": "platform", "models": ["gpt-4o*"],
		"rpm": 60, "budget_usd": 10, "budget_period": "daily", "soft_budget": 0.8, "balance_usd": 5,
		"expires_at": "2026-01-01T00:00:00Z", "metadata": {"ticket": "OPS-1"}}`, 201, &nk)
	if !governance.IsVirtualKey(nk.Secret) || nk.Key.ID == "" || nk.Key.Team != "platform" || nk.Key.Balance.RemainingUSD != 5 ||
		nk.Key.Budget.LimitUSD != 10 || nk.Key.ExpiresAt == nil || nk.Key.Metadata["ticket"] != "OPS-1" {
		t.Fatalf("created %+v", nk)
	}
	id := nk.Key.ID
	secret := nk.Secret[len(governance.KeyPrefix):]
	for _, path := range []string{"/admin/keys", "/admin/keys/" + id} {
		if body := call(t, srv, "GET", path, "", 200, nil); strings.Contains(body, secret) {
			t.Errorf("GET %s shows the secret", path)
		}
	}
	var k governance.KeyInfo
	call(t, srv, "PATCH", "/admin/keys/"+id, `{"rpm": 30, "models": [], "expires_at": "never"}`, 200, &k)
	if k.RPM != 30 || len(k.Models) != 0 || k.ExpiresAt != nil || k.BudgetUSD != 10 {
		t.Errorf("after PATCH: %+v", k)
	}
	call(t, srv, "POST", "/admin/keys/"+id+"/topup", `{"amount_usd": 2.5, "note": "PO 7"}`, 200, &k)
	if k.Balance.RemainingUSD != 7.5 || len(k.TopUps) != 2 {
		t.Errorf("after top-up: %+v %+v", k.Balance, k.TopUps)
	}
	call(t, srv, "POST", "/admin/keys/"+id+"/revoke", "", 200, &k)
	if k.Status != "revoked" || k.RevokedAt == nil {
		t.Errorf("after revoke: %+v", k)
	}
	var list admin.KeyList
	call(t, srv, "GET", "/admin/keys", "", 200, &list)
	if len(list.Keys) != 0 {
		t.Errorf("revoked keys are listed by default: %+v", list)
	}
	call(t, srv, "GET", "/admin/keys?include_revoked=true&team=platform", "", 200, &list)
	if len(list.Keys) != 1 {
		t.Errorf("include_revoked: %+v", list)
	}
	call(t, srv, "DELETE", "/admin/keys/"+id, "", 204, nil)
	call(t, srv, "GET", "/admin/keys/"+id, "", 404, nil)

	var team governance.TeamInfo
	call(t, srv, "PATCH", "/admin/teams/platform", `{"budget_usd": 50, "tpm": 100000}`, 200, &team)
	if team.BudgetUSD != 50 || team.TPM != 100000 || team.RPM != 600 || team.Budget == nil {
		t.Errorf("team after PATCH: %+v", team)
	}
	var teams admin.TeamList
	call(t, srv, "GET", "/admin/teams", "", 200, &teams)
	if len(teams.Teams) != 1 || teams.Teams[0].Name != "platform" {
		t.Errorf("teams: %+v", teams)
	}
}

func TestErrors(t *testing.T) {
	srv, _ := setup(t)
	call(t, srv, "POST", "/admin/teams", `{"name": "a"}`, 201, nil)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field, contains          string
	}{
		{"invalid field value", "POST", "/admin/keys", `{"name": "x", "rpm": -5}`, 400, "rpm", "negative"},
		{"unknown field", "POST", "/admin/keys", `{"name": "x", "rmp": 5}`, 400, "", `unknown field "rmp"`},
		{"no body", "POST", "/admin/keys", ``, 400, "", "no body"},
		{"bad expiry", "POST", "/admin/keys", `{"name": "x", "expires_at": "tomorrow"}`, 400, "", "RFC 3339"},
		{"unknown team", "POST", "/admin/keys", `{"name": "x", "team": "b"}`, 400, "team", "teams create b"},
		{"duplicate team", "POST", "/admin/teams", `{"name": "a"}`, 409, "", "exists"},
		{"unknown key", "GET", "/admin/keys/key_nope", ``, 404, "", "key_nope"},
		{"unknown team get", "PATCH", "/admin/teams/zz", `{"rpm": 1}`, 404, "", "zz"},
		{"bad top-up", "POST", "/admin/keys/key_nope/topup", `{"amount_usd": -1}`, 400, "amount_usd", "positive"},
		{"bad group", "GET", "/admin/usage?group_by=color", ``, 400, "group_by", "color"},
		{"bad since", "GET", "/admin/usage?since=yesterday", ``, 400, "since", "24h"},
		{"unknown endpoint", "GET", "/admin/nope", ``, 404, "", "unknown admin endpoint"},
		{"bad flag", "GET", "/admin/keys?include_revoked=maybe", ``, 400, "include_revoked", "true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var eb admin.ErrorBody
			call(t, srv, tc.method, tc.path, tc.body, tc.status, &eb)
			if eb.Error.Field != tc.field || !strings.Contains(eb.Error.Message, tc.contains) || eb.Error.Type == "" {
				t.Errorf("error %+v, want field %q and a message containing %q", eb.Error, tc.field, tc.contains)
			}
		})
	}
	call(t, srv, "PUT", "/admin/keys", "{}", 405, nil)
}

func TestUsage(t *testing.T) {
	srv, st := setup(t)
	var nk governance.NewKey
	call(t, srv, "POST", "/admin/keys", `{"name": "ci-bot"}`, 201, &nk)
	recs := []store.Record{
		{ID: "1", Time: now.Add(-2 * time.Hour), KeyID: nk.Key.ID, Team: "t", Provider: "openai", ModelServed: "gpt-4o", Status: 200, InputTokens: 10, OutputTokens: 5, CostUSD: 0.5},
		{ID: "2", Time: now.Add(-time.Hour), KeyID: nk.Key.ID, Team: "t", Provider: "openai", ModelServed: "gpt-4o", Status: 402, CostUSD: 0},
		{ID: "3", Time: now.Add(-30 * time.Hour), Provider: "anthropic", ModelServed: "claude-haiku-4-5", Status: 200, InputTokens: 7, CostUSD: 0.25},
	}
	if err := st.WriteRecords(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	var rep admin.UsageReport
	call(t, srv, "GET", "/admin/usage?group_by=key&since=24h", "", 200, &rep)
	if len(rep.Rows) != 1 || rep.Rows[0].Group != nk.Key.ID || rep.Rows[0].Name != "ci-bot" || rep.Rows[0].Requests != 2 ||
		rep.Rows[0].Errors != 1 || rep.Rows[0].CostUSD != 0.5 || rep.Since == nil || !rep.Since.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("by key since 24h: %+v", rep)
	}
	call(t, srv, "GET", "/admin/usage?group_by=provider", "", 200, &rep)
	if len(rep.Rows) != 2 || rep.Total.Requests != 3 || rep.Total.CostUSD != 0.75 || rep.Total.InputTokens != 17 {
		t.Errorf("by provider: %+v", rep)
	}
	call(t, srv, "GET", "/admin/usage?group_by=day&team=t", "", 200, &rep)
	if len(rep.Rows) != 1 || rep.Rows[0].Group != "2025-03-14" {
		t.Errorf("by day for team t: %+v", rep)
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2025-03-01", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"2025-03-01T12:00:00+02:00", time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)},
		{"24h", now.Add(-24 * time.Hour)},
		{"7d", now.AddDate(0, 0, -7)},
		{"90m", now.Add(-90 * time.Minute)},
	} {
		got, err := admin.ParseTime(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "-5h", "-3d", "2025-13-01"} {
		if _, err := admin.ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"", "24h", "7d", "2025-03-01", "2025-03-01T12:00:00Z", "1d", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := admin.ParseTime(s, now)
		if err != nil {
			return
		}
		if s != "" && got.IsZero() {
			t.Fatalf("ParseTime(%q) = the zero time without an error", s)
		}
		if got.Location() != time.UTC && !got.IsZero() {
			t.Fatalf("ParseTime(%q) = %v, not UTC", s, got)
		}
	})
}
