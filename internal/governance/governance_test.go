package governance_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/provider"
)

var ctx = context.Background()

func TestAuthenticate(t *testing.T) {
	e := newEnv(t, config.Governance{})
	k, secret := e.key(t, governance.KeySpec{Name: "ci", Team: "", ExpiresAt: &governance.Expiry{Time: t0.Add(time.Hour)}})
	kr, revoked := e.key(t, governance.KeySpec{Name: "old"})
	if _, err := e.g.RevokeKey(ctx, kr.ID); err != nil {
		t.Fatal(err)
	}
	p, err := e.g.Authenticate(ctx, secret)
	if err != nil || p == nil || p.KeyID != k.ID {
		t.Fatalf("Authenticate(valid) = %+v, %v", p, err)
	}
	for _, tc := range []struct {
		name, cred, want string
	}{
		{"unknown", governance.NewSecret(), "not known to this gateway"},
		{"malformed", "sk-lg-short", "is not one"},
		{"revoked", revoked, "was revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.g.Authenticate(ctx, tc.cred)
			pe := perr(t, err, 401)
			if !strings.Contains(pe.Message, tc.want) || strings.Contains(pe.Message, tc.cred[6:]) && tc.name != "malformed" {
				t.Errorf("message %q: want %q and never the secret", pe.Message, tc.want)
			}
		})
	}
	if p, err := e.g.Authenticate(ctx, "sk-proj-providerkey"); p != nil || err != nil {
		t.Errorf("a provider key must pass through: %v, %v", p, err)
	}
	e.clk.Advance(2 * time.Hour)
	_, err = e.g.Authenticate(ctx, secret)
	if pe := perr(t, err, 401); !strings.Contains(pe.Message, "expired") || !strings.Contains(pe.Message, "keys update "+k.ID) {
		t.Errorf("expired: %q", pe.Message)
	}
}

// TestRevocationTakesEffectWithinTTL: a change made through this gateway
// applies at once; one made elsewhere (another replica writing the store)
// applies once the cache entry expires.
func TestRevocationTakesEffectWithinTTL(t *testing.T) {
	e := newEnv(t, config.Governance{KeyCacheTTL: 5 * time.Second})
	k, secret := e.key(t, governance.KeySpec{})
	e.principal(t, secret) // cached now
	sk, err := e.st.Key(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	sk.RevokedAt = t0
	if err := e.st.UpdateKey(ctx, sk); err != nil { // behind the Governor's back
		t.Fatal(err)
	}
	e.clk.Advance(4 * time.Second)
	if _, err := e.g.Authenticate(ctx, secret); err != nil {
		t.Fatalf("within the TTL the cached key still works; got %v", err)
	}
	e.clk.Advance(2 * time.Second)
	if _, err := e.g.Authenticate(ctx, secret); err == nil {
		t.Fatal("after the TTL a key revoked elsewhere still works")
	}

	k2, secret2 := e.key(t, governance.KeySpec{})
	e.principal(t, secret2)
	if _, err := e.g.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.Authenticate(ctx, secret2); err == nil {
		t.Fatal("a key revoked through this gateway still works")
	}
}

func TestModelNotAllowed(t *testing.T) {
	e := newEnv(t, config.Governance{})
	_, secret := e.key(t, governance.KeySpec{Models: []string{"gpt-4o*", "claude-*"}})
	p := e.principal(t, secret)
	for model, ok := range map[string]bool{"gpt-4o-mini": true, "claude-haiku-4-5": true, "gemini-2.5-flash": false, "o3": false} {
		tk, err := e.g.Admit(ctx, admission(p, model, 10, 10))
		if ok {
			if err != nil {
				t.Errorf("%s: %v", model, err)
			} else {
				tk.Settle(provider.Usage{}, 0, false)
			}
			continue
		}
		pe := perr(t, err, 403)
		if !strings.Contains(pe.Message, "gpt-4o*, claude-*") || !strings.Contains(pe.Message, model) {
			t.Errorf("%s: message %q should name the model and list the allowed ones", model, pe.Message)
		}
	}
}

// TestRPMConcurrent: N concurrent requests against an RPM of M admit
// exactly M; one more is admitted once 60/M seconds passed.
func TestRPMConcurrent(t *testing.T) {
	const n, m = 50, 7
	e := newEnv(t, config.Governance{})
	_, secret := e.key(t, governance.KeySpec{RPM: m})
	p := e.principal(t, secret)
	var (
		wg       sync.WaitGroup
		admitted atomic.Int64
		mu       sync.Mutex
		refusals []*provider.Error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 10, 10))
			if err != nil {
				mu.Lock()
				refusals = append(refusals, perr(t, err, 429))
				mu.Unlock()
				return
			}
			admitted.Add(1)
			tk.Settle(provider.Usage{InputTokens: 10, OutputTokens: 5}, 0, true)
		}()
	}
	wg.Wait()
	if admitted.Load() != m {
		t.Fatalf("%d of %d concurrent requests admitted under RPM %d, want exactly %d", admitted.Load(), n, m, m)
	}
	r := refusals[0]
	if r.RetryAfter <= 0 || r.Header.Get("X-RateLimit-Limit-Requests") != fmt.Sprint(m) ||
		r.Header.Get("X-RateLimit-Remaining-Requests") != "0" || r.Header.Get("X-RateLimit-Reset-Requests") == "" {
		t.Errorf("429 lacks Retry-After or rate-limit headers: retry %v, header %v", r.RetryAfter, r.Header)
	}
	if !strings.Contains(r.Message, "7 requests per minute") || !strings.Contains(r.Message, "--rpm") {
		t.Errorf("429 message %q should give the limit and how to raise it", r.Message)
	}
	e.clk.Advance(60 * time.Second / m)
	tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 10, 10))
	if err != nil {
		t.Fatalf("after 60/M seconds one more request should be admitted: %v", err)
	}
	if got := tk.Header().Get("X-RateLimit-Remaining-Requests"); got != "0" {
		t.Errorf("remaining after taking the refilled request = %q, want 0", got)
	}
	if _, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 10, 10)); err == nil {
		t.Fatal("a second one too")
	}
}

func TestTokensPerMinute(t *testing.T) {
	e := newEnv(t, config.Governance{})
	_, secret := e.key(t, governance.KeySpec{TPM: 1000})
	p := e.principal(t, secret)
	tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 600, 4000))
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Header().Get("X-RateLimit-Remaining-Tokens"); got != "400" {
		t.Errorf("remaining tokens after a 600-token prompt = %s, want 400", got)
	}
	if _, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 500, 10)); err == nil {
		t.Fatal("500 more tokens fit in 400")
	} else if pe := perr(t, err, 429); !strings.Contains(pe.Message, "tokens per minute") {
		t.Errorf("message %q", pe.Message)
	}
	// The real usage (600 in + 900 out) is charged at the end: the bucket
	// owes 500 tokens, so even a small request waits.
	tk.Settle(provider.Usage{InputTokens: 600, OutputTokens: 900}, 0, true)
	if _, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1, 1)); err == nil {
		t.Fatal("a bucket in debt admitted a request")
	}
	e.clk.Advance(31 * time.Second) // 516 tokens refilled: back above zero
	if _, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1, 1)); err != nil {
		t.Fatalf("after the debt was repaid: %v", err)
	}
	// A prompt larger than the whole allowance waits for a full bucket.
	e.clk.Advance(time.Hour)
	if _, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 5000, 1)); err != nil {
		t.Fatalf("a full bucket admits an oversized prompt: %v", err)
	}
}

func TestMaxParallel(t *testing.T) {
	e := newEnv(t, config.Governance{})
	_, secret := e.key(t, governance.KeySpec{MaxParallel: 2})
	p := e.principal(t, secret)
	a, _ := e.g.Admit(ctx, admission(p, "m", 1, 1))
	b, _ := e.g.Admit(ctx, admission(p, "m", 1, 1))
	_, err := e.g.Admit(ctx, admission(p, "m", 1, 1))
	if pe := perr(t, err, 429); !strings.Contains(pe.Message, "in flight") || pe.RetryAfter <= 0 {
		t.Errorf("third parallel request: %q retry %v", pe.Message, pe.RetryAfter)
	}
	a.Settle(provider.Usage{}, 0, false)
	a.Settle(provider.Usage{}, 0, false) // a second Settle must not free a second slot
	c, err := e.g.Admit(ctx, admission(p, "m", 1, 1))
	if err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	if _, err := e.g.Admit(ctx, admission(p, "m", 1, 1)); err == nil {
		t.Fatal("a double Settle freed two slots")
	}
	b.Settle(provider.Usage{}, 0, false)
	c.Settle(provider.Usage{}, 0, false)
}

// TestTokensOnlyWhenNeeded: far from its limits a request is sized by
// its byte bound and never counted exactly (in the gateway, never decoded
// for governance); without a bound (a body with images) it is counted
// once, and only when a TPM limit, a budget or a guard needs it; a prepaid
// key is always counted exactly, once.
func TestTokensOnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		name               string
		gc                 config.Governance
		spec               governance.KeySpec
		bounded, unbounded int // exact counts with a bound and without one
	}{
		{"rpm only", config.Governance{}, governance.KeySpec{RPM: 100, MaxParallel: 3}, 0, 0},
		{"no limits", config.Governance{}, governance.KeySpec{}, 0, 0},
		{"tpm", config.Governance{}, governance.KeySpec{TPM: 10000}, 0, 1},
		{"budget", config.Governance{}, governance.KeySpec{BudgetUSD: 5}, 0, 1},
		{"tpm and budget", config.Governance{}, governance.KeySpec{TPM: 10000, BudgetUSD: 5}, 0, 1},
		{"spend guard", config.Governance{SpendGuard: config.SpendGuard{Daily: 100}}, governance.KeySpec{}, 0, 1},
		{"prepaid", config.Governance{}, governance.KeySpec{BalanceUSD: ptr(10.0)}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.gc)
			_, secret := e.key(t, tc.spec)
			p := e.principal(t, secret)
			for _, bound := range []int{40, 0} {
				s := &sized{bound: bound, in: 10, out: 10}
				a := admission(p, "gpt-4o-mini", 10, 10)
				a.Tokens = s
				tk, err := e.g.Admit(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				tk.Settle(provider.Usage{}, 0, false)
				want := tc.unbounded
				if bound > 0 {
					want = tc.bounded
				}
				if s.counts != want {
					t.Errorf("bound %d: counted exactly %d times, want %d", bound, s.counts, want)
				}
			}
		})
	}
}

// TestNearLimitCountsExactly: a request whose byte bound would not fit
// its key's TPM, budget or the cost cap is counted exactly and admitted
// when its exact count fits; refused only on its exact count, and the
// refusal says that count. Settling charges what the upstream reported,
// whatever was reserved.
func TestNearLimitCountsExactly(t *testing.T) {
	t.Run("tpm", func(t *testing.T) {
		e := newEnv(t, config.Governance{})
		_, secret := e.key(t, governance.KeySpec{TPM: 1000})
		p := e.principal(t, secret)
		// Far from the limit: reserved on the bound (600 of 1000).
		s := &sized{bound: 600, in: 150, out: 10}
		a := admission(p, "gpt-4o-mini", 0, 0)
		a.Tokens = s
		first, err := e.g.Admit(ctx, a)
		if err != nil || s.counts != 0 {
			t.Fatalf("first request: %v, %d exact counts", err, s.counts)
		}
		if got := first.Header().Get("X-RateLimit-Remaining-Tokens"); got != "400" {
			t.Fatalf("remaining after a bound of 600: %q, want 400", got)
		}
		// Near it: a bound of 600 does not fit in 400, its exact 150 does.
		s2 := &sized{bound: 600, in: 150, out: 10}
		a.Tokens = s2
		second, err := e.g.Admit(ctx, a)
		if err != nil {
			t.Fatalf("second request, exactly 150 tokens with 400 left: %v", err)
		}
		if s2.counts != 1 {
			t.Errorf("second request counted exactly %d times, want 1", s2.counts)
		}
		if got := second.Header().Get("X-RateLimit-Remaining-Tokens"); got != "250" {
			t.Errorf("remaining after an exact 150: %q, want 250", got)
		}
		// The first one used 100 tokens, not its 600: 500 come back.
		first.Settle(provider.Usage{InputTokens: 90, OutputTokens: 10}, 0, false)
		// Exactly 900 does not fit in 750: refused, on the exact count.
		s3 := &sized{bound: 2000, in: 900, out: 10}
		a.Tokens = s3
		_, err = e.g.Admit(ctx, a)
		pe := perr(t, err, 429)
		if !strings.Contains(pe.Message, "needs about 900") {
			t.Errorf("429 message %q does not give the exact count 900", pe.Message)
		}
		if got := pe.Header.Get("X-RateLimit-Remaining-Tokens"); got != "750" {
			t.Errorf("remaining on the refusal: %q, want 750", got)
		}
		second.Settle(provider.Usage{InputTokens: 150, OutputTokens: 10}, 0, false)
	})
	t.Run("budget", func(t *testing.T) {
		e := newEnv(t, config.Governance{})
		// Room for the exact worst case of 1000 in + 1000 out, not for
		// its bound of 4000 in.
		k, secret := e.key(t, governance.KeySpec{BudgetUSD: 1.5 * worst, BudgetPeriod: "total"})
		p := e.principal(t, secret)
		s := &sized{bound: 4000, in: 1000, out: 1000}
		a := admission(p, "gpt-4o-mini", 0, 0)
		a.Tokens = s
		tk, err := e.g.Admit(ctx, a)
		if err != nil {
			t.Fatalf("exact worst case %v within a budget of %v: %v", worst, 1.5*worst, err)
		}
		if s.counts != 1 {
			t.Errorf("counted exactly %d times, want 1", s.counts)
		}
		info, _ := e.g.Key(ctx, k.ID)
		if b := info.Budget; math.Abs(b.ReservedUSD-worst) > 1e-9 {
			t.Errorf("reserved %v, want the exact worst case %v", b.ReservedUSD, worst)
		}
		tk.Settle(provider.Usage{InputTokens: 1000, OutputTokens: 100}, worst/10, true)
		info, _ = e.g.Key(ctx, k.ID)
		if b := info.Budget; math.Abs(b.SpentUSD-worst/10) > 1e-9 || b.ReservedUSD != 0 {
			t.Errorf("after settling: spent %v reserved %v, want %v and 0", b.SpentUSD, b.ReservedUSD, worst/10)
		}
		// Exactly 4000 in + 1000 out does not fit what is left: refused on
		// that count.
		a.Tokens = &sized{bound: 9000, in: 4000, out: 1000}
		_, err = e.g.Admit(ctx, a)
		pe := perr(t, err, 402)
		if want := fmtUSD((4000*0.15 + 1000*0.60) / 1e6); !strings.Contains(pe.Message, "could cost up to "+want) {
			t.Errorf("402 message %q does not price the exact count (%s)", pe.Message, want)
		}
		info, _ = e.g.Key(ctx, k.ID)
		if b := info.Budget; b.ReservedUSD != 0 {
			t.Errorf("a refused request left %v reserved", b.ReservedUSD)
		}
	})
	t.Run("cost cap", func(t *testing.T) {
		e := newEnv(t, config.Governance{MaxRequestCost: 1.5 * worst})
		_, secret := e.key(t, governance.KeySpec{})
		p := e.principal(t, secret)
		a := admission(p, "gpt-4o-mini", 0, 0)
		s := &sized{bound: 4000, in: 1000, out: 1000}
		a.Tokens = s
		tk, err := e.g.Admit(ctx, a)
		if err != nil {
			t.Fatalf("exact worst case under the cap: %v", err)
		}
		tk.Settle(provider.Usage{}, 0, false)
		a.Tokens = &sized{bound: 9000, in: 4000, out: 1000}
		_, err = e.g.Admit(ctx, a)
		pe := perr(t, err, 400)
		if !strings.Contains(pe.Message, "about 4000 input tokens") {
			t.Errorf("400 message %q does not give the exact count", pe.Message)
		}
	})
}

// fmtUSD formats as the refusal messages do.
func fmtUSD(v float64) string {
	return "$" + strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// worst is the reserved cost of admission(p, "gpt-4o-mini", 1000, 1000).
const worst = (1000*0.15 + 1000*0.60) / 1e6

func TestBudget(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []envOpt
	}{{"memory", nil}, {"shared", []envOpt{shared}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, config.Governance{}, mode.opts...)
			k, secret := e.key(t, governance.KeySpec{Name: "ci", BudgetUSD: 3 * worst, BudgetPeriod: "daily"})
			p := e.principal(t, secret)
			var held []gateway.Ticket
			for range 3 {
				tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, tk)
			}
			info, _ := e.g.Key(ctx, k.ID)
			if b := info.Budget; b == nil || math.Abs(b.ReservedUSD-3*worst) > 1e-9 || b.RemainingUSD != 0 {
				t.Fatalf("with three requests in flight: budget %+v", info.Budget)
			}
			_, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
			pe := perr(t, err, 402)
			for _, want := range []string{"daily budget", "$0 left", "held by requests in flight", "resets at 2025-03-15T00:00:00Z", "keys update " + k.ID} {
				if !strings.Contains(pe.Message, want) {
					t.Errorf("402 message %q lacks %q", pe.Message, want)
				}
			}
			// Each request really cost a third of its reservation: two more fit.
			for _, tk := range held {
				tk.Settle(provider.Usage{}, worst/3, true)
			}
			for range 2 {
				tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
				if err != nil {
					t.Fatalf("after settling: %v", err)
				}
				tk.Settle(provider.Usage{}, worst/3, true)
			}
			info, _ = e.g.Key(ctx, k.ID)
			if b := info.Budget; math.Abs(b.SpentUSD-5*worst/3) > 1e-9 || b.ReservedUSD != 0 {
				t.Errorf("spent %v reserved %v, want %v and 0", b.SpentUSD, b.ReservedUSD, 5*worst/3)
			}
			// A failed request releases everything.
			tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
			if err != nil {
				t.Fatal(err)
			}
			tk.Settle(provider.Usage{}, 0, false)
			// Tomorrow the budget is fresh.
			e.clk.Advance(9 * time.Hour)
			info, _ = e.g.Key(ctx, k.ID)
			if b := info.Budget; b.SpentUSD != 0 || !b.PeriodStart.Equal(time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("next day: %+v", b)
			}
		})
	}
}

// TestBudgetConcurrent: many concurrent requests against a small budget;
// at every moment spend stays within the budget plus what is reserved, and
// in the end within the budget.
func TestBudgetConcurrent(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []envOpt
	}{{"memory", nil}, {"shared", []envOpt{shared}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, config.Governance{}, mode.opts...)
			budget := 10 * worst
			k, secret := e.key(t, governance.KeySpec{BudgetUSD: budget, BudgetPeriod: "total"})
			p := e.principal(t, secret)
			var (
				wg       sync.WaitGroup
				admitted atomic.Int64
				spent    atomic.Int64 // nano-dollars actually charged
			)
			for i := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
					if err != nil {
						perr(t, err, 402)
						return
					}
					admitted.Add(1)
					info, err := e.g.Key(ctx, k.ID)
					if err != nil {
						t.Error(err)
					} else if b := info.Budget; b.SpentUSD+b.ReservedUSD > budget+1e-12 {
						t.Errorf("spent %v + reserved %v passed the budget %v", b.SpentUSD, b.ReservedUSD, budget)
					}
					cost := worst * float64(1+i%4) / 4 // never more than reserved
					spent.Add(int64(math.Round(cost * 1e9)))
					tk.Settle(provider.Usage{}, cost, true)
				}()
			}
			wg.Wait()
			info, _ := e.g.Key(ctx, k.ID)
			b := info.Budget
			if b.ReservedUSD != 0 || math.Abs(b.SpentUSD-float64(spent.Load())/1e9) > 1e-9 || b.SpentUSD > budget+1e-12 {
				t.Errorf("end: spent %v (charged %v) reserved %v, budget %v", b.SpentUSD, float64(spent.Load())/1e9, b.ReservedUSD, budget)
			}
			if admitted.Load() < 10 {
				t.Errorf("only %d requests admitted; at least 10 fit", admitted.Load())
			}
		})
	}
}

func TestBalance(t *testing.T) {
	e := newEnv(t, config.Governance{})
	k, secret := e.key(t, governance.KeySpec{Name: "contractor", BalanceUSD: ptr(1.5 * worst)})
	p := e.principal(t, secret)
	tk, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	tk.Settle(provider.Usage{}, worst, true)
	_, err = e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
	pe := perr(t, err, 402)
	for _, want := range []string{"prepaid balance", "too low", "llmgate topup " + k.ID} {
		if !strings.Contains(pe.Message, want) {
			t.Errorf("message %q lacks %q", pe.Message, want)
		}
	}
	if pe.Code != "insufficient_balance" {
		t.Errorf("code %q", pe.Code)
	}
	info, err := e.g.TopUp(ctx, k.ID, 10, "invoice 42")
	if err != nil {
		t.Fatal(err)
	}
	if bal := info.Balance; math.Abs(bal.RemainingUSD-(10+0.5*worst)) > 1e-9 || len(info.TopUps) != 2 || info.TopUps[1].Note != "invoice 42" {
		t.Errorf("after top-up: %+v topups %+v", info.Balance, info.TopUps)
	}
	if _, err := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000)); err != nil {
		t.Fatalf("after top-up: %v", err)
	}
	// Topping up a key that was not prepaid makes it prepaid.
	k2, _ := e.key(t, governance.KeySpec{})
	if info, err := e.g.TopUp(ctx, k2.ID, 1, ""); err != nil || !info.Prepaid || info.Balance.RemainingUSD != 1 {
		t.Errorf("TopUp of a postpaid key: %+v, %v", info, err)
	}
}

func TestTeamSharesBudgetAndRPM(t *testing.T) {
	e := newEnv(t, config.Governance{})
	if _, err := e.g.CreateTeam(ctx, governance.TeamSpec{Name: "platform", BudgetUSD: 2 * worst, BudgetPeriod: "weekly", RPM: 3}); err != nil {
		t.Fatal(err)
	}
	_, s1 := e.key(t, governance.KeySpec{Name: "a", Team: "platform"})
	_, s2 := e.key(t, governance.KeySpec{Name: "b", Team: "platform"})
	p1, p2 := e.principal(t, s1), e.principal(t, s2)
	if p1.Team != "platform" {
		t.Fatalf("principal team %q", p1.Team)
	}
	a, err := e.g.Admit(ctx, admission(p1, "gpt-4o-mini", 1000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.g.Admit(ctx, admission(p2, "gpt-4o-mini", 1000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.g.Admit(ctx, admission(p1, "gpt-4o-mini", 1000, 1000))
	if pe := perr(t, err, 402); !strings.Contains(pe.Message, `team "platform"`) || !strings.Contains(pe.Message, "weekly budget") ||
		!strings.Contains(pe.Message, "2025-03-17T00:00:00Z") {
		t.Errorf("team budget message %q", pe.Message)
	}
	a.Settle(provider.Usage{}, 0, true)
	b.Settle(provider.Usage{}, 0, true)
	// The third request of the team this minute (the refused one gave
	// its request back) is admitted; the fourth is over the team's RPM.
	if _, err := e.g.Admit(ctx, admission(p2, "m", 1, 1)); err != nil {
		t.Fatal(err)
	}
	_, err = e.g.Admit(ctx, admission(p1, "m", 1, 1))
	if pe := perr(t, err, 429); !strings.Contains(pe.Message, `team "platform"`) {
		t.Errorf("team rpm message %q", pe.Message)
	}
}

func TestSpendGuardAndCostCap(t *testing.T) {
	e := newEnv(t, config.Governance{SpendGuard: config.SpendGuard{Hourly: 2 * worst, Daily: 100}, MaxRequestCost: 2 * worst})
	// No key at all: the guard applies to master-key and open requests.
	for range 2 {
		tk, err := e.g.Admit(ctx, admission(nil, "gpt-4o-mini", 1000, 1000))
		if err != nil {
			t.Fatal(err)
		}
		tk.Settle(provider.Usage{}, worst, true)
	}
	_, err := e.g.Admit(ctx, admission(nil, "gpt-4o-mini", 1000, 1000))
	if pe := perr(t, err, 402); !strings.Contains(pe.Message, "hourly spend cap") || !strings.Contains(pe.Message, "governance.spend_guard.hourly") ||
		!strings.Contains(pe.Message, "2025-03-14T16:00:00Z") {
		t.Errorf("guard message %q", pe.Message)
	}
	e.clk.Advance(time.Hour)
	tk, err := e.g.Admit(ctx, admission(nil, "gpt-4o-mini", 1000, 1000))
	if err != nil {
		t.Fatalf("next hour: %v", err)
	}
	tk.Settle(provider.Usage{}, 0, false)

	_, err = e.g.Admit(ctx, admission(nil, "gpt-4o-mini", 1000, 100000))
	if pe := perr(t, err, 400); !strings.Contains(pe.Message, "governance.max_request_cost") || !strings.Contains(pe.Message, "max_tokens") {
		t.Errorf("cost cap message %q", pe.Message)
	}
}

func TestUnknownPrice(t *testing.T) {
	block := newEnv(t, config.Governance{UnknownPrice: "block"})
	_, err := block.g.Admit(ctx, admission(nil, "house-model", 10, 10))
	if pe := perr(t, err, 403); !strings.Contains(pe.Message, "governance.prices") {
		t.Errorf("message %q", pe.Message)
	}
	// Record: a budgeted key may use an unpriced model; nothing is held.
	rec := newEnv(t, config.Governance{UnknownPrice: "record"})
	k, secret := rec.key(t, governance.KeySpec{BudgetUSD: 1})
	tk, err := rec.g.Admit(ctx, admission(rec.principal(t, secret), "house-model", 10, 10))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := rec.g.Key(ctx, k.ID); info.Budget.ReservedUSD != 0 {
		t.Errorf("an unpriced request reserved %v", info.Budget.ReservedUSD)
	}
	tk.Settle(provider.Usage{InputTokens: 10}, 0, false)
}

// TestSpendSurvivesRestart: in-memory spend is written behind to the store
// by Run and loaded again by the next Governor; reservations are not.
func TestSpendSurvivesRestart(t *testing.T) {
	gc := config.Governance{}
	e := newEnv(t, gc)
	k, secret := e.key(t, governance.KeySpec{BudgetUSD: 1, BudgetPeriod: "monthly"})
	p := e.principal(t, secret)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.g.Run(runCtx) }()
	tk, _ := e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000))
	tk.Settle(provider.Usage{}, 0.25, true)
	_, _ = e.g.Admit(ctx, admission(p, "gpt-4o-mini", 1000, 1000)) // still in flight at shutdown
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	g2 := e.open(t, gc)
	info, err := g2.Key(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b := info.Budget; b.SpentUSD != 0.25 || b.ReservedUSD != 0 {
		t.Errorf("after restart: spent %v reserved %v, want 0.25 and 0", b.SpentUSD, b.ReservedUSD)
	}
}

func TestManageErrors(t *testing.T) {
	e := newEnv(t, config.Governance{})
	for _, tc := range []struct {
		name  string
		spec  governance.KeySpec
		field string
	}{
		{"no name", governance.KeySpec{Name: " "}, "name"},
		{"negative rpm", governance.KeySpec{Name: "x", RPM: -1}, "rpm"},
		{"bad period", governance.KeySpec{Name: "x", BudgetUSD: 1, BudgetPeriod: "yearly"}, "budget_period"},
		{"soft over 1", governance.KeySpec{Name: "x", BudgetUSD: 1, SoftBudget: 1.5}, "soft_budget"},
		{"unknown team", governance.KeySpec{Name: "x", Team: "ghosts"}, "team"},
		{"empty model", governance.KeySpec{Name: "x", Models: []string{""}}, "models[0]"},
		{"past expiry", governance.KeySpec{Name: "x", ExpiresAt: &governance.Expiry{Time: t0.Add(-time.Minute)}}, "expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.g.CreateKey(ctx, tc.spec)
			ie, ok := err.(*governance.InputError)
			if !ok || ie.Field != tc.field {
				t.Fatalf("CreateKey = %v, want an InputError on %s", err, tc.field)
			}
		})
	}
	if _, err := e.g.Key(ctx, "key_nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Key(unknown) = %v", err)
	}
	if _, err := e.g.CreateTeam(ctx, governance.TeamSpec{Name: "a b"}); err == nil {
		t.Error("a team name with a space was accepted")
	}
	nk, err := e.g.CreateKey(ctx, governance.KeySpec{Name: "x", BudgetUSD: 5})
	if err != nil || nk.Key.BudgetPeriod != "monthly" || nk.Secret == "" || strings.Contains(fmt.Sprint(nk.Key), nk.Secret) {
		t.Errorf("CreateKey with a budget: %+v, %v (period defaults to monthly; the secret is never in the view)", nk.Key, err)
	}
	info, err := e.g.UpdateKey(ctx, nk.Key.ID, governance.KeyPatch{RPM: ptr(30), Models: &[]string{"gpt-*"}, ExpiresAt: &governance.Expiry{}})
	if err != nil || info.RPM != 30 || info.Models[0] != "gpt-*" || info.BudgetUSD != 5 || info.ExpiresAt != nil {
		t.Errorf("UpdateKey: %+v, %v", info, err)
	}
	if err := e.g.DeleteKey(ctx, nk.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.Authenticate(ctx, nk.Secret); err == nil {
		t.Error("a deleted key still authenticates")
	}
}
