package e2e_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/pricing"
)

var govFormats = []string{"openai", "anthropic", "gemini"}

// sdkStatus returns the HTTP status of an SDK error, checking that each
// SDK reports it through its own API error type.
func sdkStatus(t *testing.T, f string, err error) (int, string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: the request succeeded", f)
	}
	switch f {
	case "openai":
		var e *openai.Error
		if !errors.As(err, &e) {
			t.Fatalf("openai-go returned %T (%v), not *openai.Error", err, err)
		}
		return e.StatusCode, e.Message
	case "anthropic":
		var e *anthropic.Error
		if !errors.As(err, &e) {
			t.Fatalf("anthropic-sdk-go returned %T (%v), not *anthropic.Error", err, err)
		}
		return e.StatusCode, e.Error()
	}
	var e genai.APIError
	if !errors.As(err, &e) {
		t.Fatalf("genai returned %T (%v), not genai.APIError", err, err)
	}
	return e.Code, e.Message
}

// TestGovernanceRateLimitSDKs: a key over its RPM gets 429 in every SDK,
// with Retry-After and the X-RateLimit headers; admitted requests carry
// the headers too.
func TestGovernanceRateLimitSDKs(t *testing.T) {
	g := newGovGate(t, govGateOptions{})
	for _, f := range govFormats {
		t.Run(f, func(t *testing.T) {
			_, secret := g.newKey(t, governance.KeySpec{RPM: 2, TPM: 100000})
			model := govModels[f]
			for i := range 2 {
				h, err := govChat(t, g.URL, secret, f, model, i == 1)
				if err != nil {
					t.Fatalf("request %d within the RPM: %v", i+1, err)
				}
				if h.Get("X-RateLimit-Limit-Requests") != "2" || h.Get("X-RateLimit-Remaining-Requests") != fmt.Sprint(1-i) ||
					h.Get("X-RateLimit-Reset-Requests") == "" || h.Get("X-RateLimit-Limit-Tokens") != "100000" ||
					h.Get("X-RateLimit-Remaining-Tokens") == "" || h.Get("X-RateLimit-Reset-Tokens") == "" {
					t.Errorf("request %d: rate-limit headers %v", i+1, h)
				}
			}
			_, err := govChat(t, g.URL, secret, f, model, false)
			status, msg := sdkStatus(t, f, err)
			if status != 429 || !strings.Contains(msg, "2 requests per minute") {
				t.Errorf("over the RPM: %d %q", status, msg)
			}
			// The raw answer: Retry-After and the headers on the 429 itself.
			resp, body := govRaw(t, g.URL, secret, f, model)
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-RateLimit-Remaining-Requests") != "0" ||
				resp.Header.Get("X-RateLimit-Limit-Requests") != "2" || resp.Header.Get("X-RateLimit-Reset-Requests") == "" {
				t.Errorf("raw 429: %d %v %s", resp.StatusCode, resp.Header, body)
			}
		})
	}
}

// govRaw sends one chat request in client format f with plain HTTP.
func govRaw(t *testing.T, base, key, f, model string) (*http.Response, []byte) {
	t.Helper()
	var (
		path string
		body string
		h    = http.Header{}
	)
	switch f {
	case "openai":
		path, body = "/v1/chat/completions", fmt.Sprintf(`{"model": %q, "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}`, model)
		h.Set("Authorization", "Bearer "+key)
	case "anthropic":
		path, body = "/v1/messages", fmt.Sprintf(`{"model": %q, "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}`, model)
		h.Set("X-Api-Key", key)
		h.Set("Anthropic-Version", "2023-06-01")
	default:
		path, body = "/v1beta/models/"+model+":generateContent", `{"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 200}}`
		h.Set("X-Goog-Api-Key", key)
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestGovernanceRefusalsSDKs: an exhausted budget gets 402, a disallowed
// model 403, a revoked key 401, each through every SDK's error type and
// with a message that says what to do.
func TestGovernanceRefusalsSDKs(t *testing.T) {
	g := newGovGate(t, govGateOptions{})
	broke, brokeSecret := g.newKey(t, governance.KeySpec{Name: "broke", BudgetUSD: 1e-7, BudgetPeriod: "daily"})
	_, narrow := g.newKey(t, governance.KeySpec{Name: "narrow", Models: []string{"gpt-4o*"}})
	gone, goneSecret := g.newKey(t, governance.KeySpec{Name: "gone"})
	for _, f := range govFormats {
		if _, err := govChat(t, g.URL, goneSecret, f, govModels[f], false); err != nil {
			t.Fatalf("%s: before revocation: %v", f, err)
		}
	}
	govAdmin(t, g.URL, http.MethodPost, "/admin/keys/"+gone.ID+"/revoke", nil, &governance.KeyInfo{})
	cases := []struct {
		name, secret string
		model        func(f string) string
		status       int
		want         []string
	}{
		{"budget", brokeSecret, func(f string) string { return govModels[f] }, 402,
			[]string{"daily budget", "left", "resets at", "keys update " + broke.ID}},
		{"model", narrow, func(string) string { return govAN }, 403, []string{govAN, "gpt-4o*"}},
		{"revoked", goneSecret, func(f string) string { return govModels[f] }, 401, []string{"revoked", "new key"}},
	}
	for _, tc := range cases {
		for _, f := range govFormats {
			t.Run(tc.name+"/"+f, func(t *testing.T) {
				_, err := govChat(t, g.URL, tc.secret, f, tc.model(f), false)
				status, msg := sdkStatus(t, f, err)
				if status != tc.status {
					t.Fatalf("status %d (%s), want %d", status, msg, tc.status)
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
			})
		}
	}
}

// TestGovernanceSpendMatchesUsage: for every client format, every upstream
// format, streamed or not, the spend charged to the key and the cost in
// the usage ledger equal the upstream's reported usage times the price.
func TestGovernanceSpendMatchesUsage(t *testing.T) {
	g := newGovGate(t, govGateOptions{})
	prices := pricing.New(config.Governance{}, nil)
	for _, client := range govFormats {
		for _, up := range govFormats {
			for _, stream := range []bool{false, true} {
				name := fmt.Sprintf("%s-client/%s-upstream/stream=%v", client, up, stream)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					k, secret := g.newKey(t, governance.KeySpec{BudgetUSD: 100, BudgetPeriod: "monthly"})
					marker := "spend check " + k.ID
					if _, err := govChatPrompt(t, g.URL, secret, client, govModels[up], stream, marker); err != nil {
						t.Fatal(err)
					}
					xs := g.Tees[up].find(marker)
					if len(xs) != 1 {
						t.Fatalf("the %s upstream answered %d times, want once", up, len(xs))
					}
					u := upstreamUsage(t, up, xs[0].Response)
					p, ok := prices.Price("", govModels[up])
					if !ok {
						t.Fatalf("no price for %s", govModels[up])
					}
					want := p.Cost(u)
					if want <= 0 {
						t.Fatalf("usage %+v costs nothing", u)
					}
					// A stream's client can read its last byte before the
					// gateway settles the reservation: wait for the settle.
					info := g.key(t, k.ID)
					for deadline := time.Now().Add(5 * time.Second); (info.Budget.ReservedUSD != 0 || info.Budget.SpentUSD == 0) && time.Now().Before(deadline); {
						time.Sleep(10 * time.Millisecond)
						info = g.key(t, k.ID)
					}
					if b := info.Budget; math.Abs(b.SpentUSD-want) > 1e-9 || b.ReservedUSD != 0 {
						t.Errorf("key spend %v (reserved %v), want %v = %+v at %+v", b.SpentUSD, b.ReservedUSD, want, u, p)
					}
					row := g.usage(t, k.ID, 1)
					if math.Abs(row.CostUSD-want) > 1e-9 || row.InputTokens != int64(u.InputTokens) || row.OutputTokens != int64(u.OutputTokens) {
						t.Errorf("ledger row %+v, want cost %v and usage %+v", row, want, u)
					}
				})
			}
		}
	}
}

// TestGovernanceBudgetConcurrency: concurrent clients spend a small budget
// through the whole gateway until it refuses them. While they run, spend
// plus reservations never pass the budget; in the end the budget is used
// up as far as a worst-case reservation allows, the key's spend and the
// ledger agree, and neither passes the budget.
func TestGovernanceBudgetConcurrency(t *testing.T) {
	g := newGovGate(t, govGateOptions{Mock: mock.Options{Latency: 5 * time.Millisecond}})
	// One request reserves ~8 input and 200 output tokens at gpt-4o-mini's
	// price, about $0.000121, and really costs about a tenth of that.
	const (
		budget  = 0.0004
		worst   = 0.000125
		workers = 16
	)
	k, secret := g.newKey(t, governance.KeySpec{BudgetUSD: budget, BudgetPeriod: "total"})
	var (
		wg          sync.WaitGroup
		ok, refused atomic.Int64
		stop        = make(chan struct{})
		violations  atomic.Int64
		samples     atomic.Int64
	)
	watchDone := make(chan struct{})
	go func() { // samples the key's counters while requests run
		defer close(watchDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			info := g.key(t, k.ID)
			samples.Add(1)
			if b := info.Budget; b.SpentUSD+b.ReservedUSD > budget+1e-12 {
				violations.Add(1)
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 { // until the budget refuses this client
				resp, body := govRaw(t, g.URL, secret, "openai", govOA)
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
					continue
				case 402:
					refused.Add(1)
				default:
					t.Errorf("HTTP %d: %s", resp.StatusCode, body)
				}
				return
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-watchDone
	if violations.Load() > 0 {
		t.Errorf("spend plus reservations passed the budget in %d of %d samples", violations.Load(), samples.Load())
	}
	info := g.key(t, k.ID)
	b := info.Budget
	if b.SpentUSD > budget || b.ReservedUSD != 0 {
		t.Errorf("end: spent %v reserved %v, budget %v", b.SpentUSD, b.ReservedUSD, budget)
	}
	if b.RemainingUSD >= worst {
		t.Errorf("the budget refused requests with %v left, more than a request's worst case %v", b.RemainingUSD, worst)
	}
	total := ok.Load() + refused.Load()
	row := g.usage(t, k.ID, total)
	if row.Requests != total || row.Errors != refused.Load() || math.Abs(row.CostUSD-b.SpentUSD) > 1e-9 {
		t.Errorf("ledger %+v; key spent %v, %d admitted, %d refused", row, b.SpentUSD, ok.Load(), refused.Load())
	}
	t.Logf("%d admitted, %d refused; spent $%.6f of $%.6f; %d samples of the counters", ok.Load(), refused.Load(), b.SpentUSD, budget, samples.Load())
}

// TestGovernanceRPMExact: N concurrent requests against an RPM of M admit
// exactly M within the window.
func TestGovernanceRPMExact(t *testing.T) {
	const n, m = 30, 7
	g := newGovGate(t, govGateOptions{Mock: mock.Options{Latency: 10 * time.Millisecond}})
	_, secret := g.newKey(t, governance.KeySpec{RPM: m})
	var (
		wg                 sync.WaitGroup
		admitted, limited  atomic.Int64
		missingRetryHeader atomic.Int64
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := govRaw(t, g.URL, secret, "anthropic", govAN)
			switch resp.StatusCode {
			case 200:
				admitted.Add(1)
			case 429:
				limited.Add(1)
				if resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("rate_limit_error")) {
					missingRetryHeader.Add(1)
				}
			default:
				t.Errorf("HTTP %d: %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != m || limited.Load() != n-m {
		t.Errorf("%d admitted and %d limited of %d requests under RPM %d; want exactly %d admitted", admitted.Load(), limited.Load(), n, m, m)
	}
	if missingRetryHeader.Load() > 0 {
		t.Errorf("%d 429s lacked Retry-After or the Anthropic error type", missingRetryHeader.Load())
	}
}

// TestGovernanceBalanceAndTopUp: a prepaid key stops at its balance and
// works again after a top-up through the admin API.
func TestGovernanceBalanceAndTopUp(t *testing.T) {
	g := newGovGate(t, govGateOptions{})
	zero := 0.0
	k, secret := g.newKey(t, governance.KeySpec{BalanceUSD: &zero})
	_, err := govChat(t, g.URL, secret, "gemini", govGE, false)
	status, msg := sdkStatus(t, "gemini", err)
	if status != 402 || !strings.Contains(msg, "llmgate topup "+k.ID) {
		t.Fatalf("empty balance: %d %q", status, msg)
	}
	var info governance.KeyInfo
	govAdmin(t, g.URL, http.MethodPost, "/admin/keys/"+k.ID+"/topup", map[string]any{"amount_usd": 1}, &info)
	if _, err := govChat(t, g.URL, secret, "gemini", govGE, true); err != nil {
		t.Fatalf("after a top-up: %v", err)
	}
	info = g.key(t, k.ID)
	if bal := info.Balance; bal.SpentUSD <= 0 || math.Abs(bal.RemainingUSD-(1-bal.SpentUSD)) > 1e-9 {
		t.Errorf("balance after one request: %+v", bal)
	}
}

// TestGovernanceSpendGuardWithoutKey: the gateway-wide guard applies to
// requests without a virtual key too.
func TestGovernanceSpendGuardWithoutKey(t *testing.T) {
	g := newGovGate(t, govGateOptions{YAML: "governance: {spend_guard: {hourly: 0.0000001}}"})
	resp, body := govRaw(t, g.URL, "", "openai", govOA)
	if resp.StatusCode != 402 || !bytes.Contains(body, []byte("spend_guard.hourly")) {
		t.Errorf("no key, guard reached: %d %s", resp.StatusCode, body)
	}
}

// TestGovernanceSharedPostgres runs two gateway replicas on one PostgreSQL
// database against one small budget: together they never overspend it.
func TestGovernanceSharedPostgres(t *testing.T) {
	dsn := govPostgres(t)
	govClearEnv(t)
	_, _, urls := govUpstreams(t, mock.Options{Latency: 10 * time.Millisecond})
	storage := fmt.Sprintf("storage: {driver: postgres, dsn: %q}", dsn)
	o := govGateOptions{Storage: storage, YAML: "governance: {key_cache_ttl: 1s}"}
	_, a := govStart(t, govConfig(t, urls, o))
	_, b := govStart(t, govConfig(t, urls, o))
	const budget = 0.0003
	var nk governance.NewKey
	govAdmin(t, a, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "shared", BudgetUSD: budget, BudgetPeriod: "daily"}, &nk)
	var (
		wg          sync.WaitGroup
		ok, refused atomic.Int64
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := a
			if i%2 == 1 {
				base = b
			}
			resp, body := govRaw(t, base, nk.Secret, "openai", govOA)
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 402:
				refused.Add(1)
			default:
				t.Errorf("HTTP %d: %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	var info governance.KeyInfo
	govAdmin(t, b, http.MethodGet, "/admin/keys/"+nk.Key.ID, nil, &info)
	if info.Budget.SpentUSD > budget || info.Budget.ReservedUSD != 0 || ok.Load() == 0 || refused.Load() == 0 {
		t.Errorf("two replicas: %d admitted, %d refused, spent %v reserved %v of %v", ok.Load(), refused.Load(),
			info.Budget.SpentUSD, info.Budget.ReservedUSD, budget)
	}
	// A key revoked through one replica stops working on the other within
	// governance.key_cache_ttl.
	govAdmin(t, a, http.MethodPost, "/admin/keys/"+nk.Key.ID+"/revoke", nil, &governance.KeyInfo{})
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, _ := govRaw(t, b, nk.Secret, "openai", govOA)
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other replica still answers %d after the cache TTL", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkGovernanceHotPath compares a request with a virtual key (auth
// through the cache, RPM/TPM limits, a budget reservation and its
// settlement, the ledger record) with the same request without a key. The
// difference of the two ns/op is what governance adds per request.
func BenchmarkGovernanceHotPath(b *testing.B) {
	for k, v := range map[string]string{"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "LLMGATE_MASTER_KEY": ""} {
		b.Setenv(k, v)
	}
	m := mock.New(mock.Options{MaxRecorded: -1})
	up := httptest.NewServer(m)
	defer up.Close()
	srv := up.URL
	cfg, err := config.Parse("bench.yaml", []byte(fmt.Sprintf(`master_key: %q
storage: {data_dir: %q}
resilience: {max_attempts: 1}
providers:
  oa: {type: openai, base_url: %q, api_key: up}
models:
  %s: {route: [oa/%s]}
`, govMaster, b.TempDir(), srv+"/v1", govOA, govOA)), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	_, base := govStart(b, cfg)
	var nk governance.NewKey
	govAdmin(b, base, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "bench", RPM: 1 << 30, TPM: 1 << 30, BudgetUSD: 1e6}, &nk)
	body := []byte(fmt.Sprintf(`{"model": %q, "max_tokens": 50, "messages": [{"role": "user", "content": "hello there"}]}`, govOA))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	run := func(b *testing.B, key string) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("HTTP %d", resp.StatusCode)
			}
		}
	}
	b.Run("no-key", func(b *testing.B) { run(b, "") })
	b.Run("virtual-key", func(b *testing.B) { run(b, nk.Secret) })
}
