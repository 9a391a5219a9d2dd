package governance

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// Spend counter scopes.
const (
	scopeKey     = "key"
	scopeTeam    = "team"
	scopeBalance = "balance"
	scopeGlobal  = "global"
)

// settleTimeout bounds writing a settlement to a shared ledger.
const settleTimeout = 10 * time.Second

// nanos converts USD to the ledger's nano-dollars.
func nanos(usd float64) int64 { return int64(math.Round(usd * store.NanosPerUSD)) }

// usd converts nano-dollars to USD.
func usd(n int64) float64 { return float64(n) / store.NanosPerUSD }

// fmtUSD formats an amount for messages: "$12.5", "$0.000063".
func fmtUSD(v float64) string {
	return "$" + strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// holdInfo says what a hold is for, to word a refusal and to notice a
// soft budget being passed.
type holdInfo struct {
	kind   string // budget, balance, team_budget, spend_guard
	scope  string // key or team, for soft-budget events
	key    *store.Key
	team   *store.Team
	period Period
	limit  int64   // nano-dollars (0 for balances)
	soft   float64 // share of limit that warns; 0: none
	guard  string  // hourly or daily, for the spend guard
}

// ticket is an admitted request's reservation. Settle is safe to call from
// any goroutine, once; later calls do nothing.
//
// Its holds, infos and rate-limit takes live in fixed arrays inside it
// (a request holds on at most maxHolds counters and takes from at most
// two subjects, its key and its team), so admission allocates the ticket
// and nothing else for them.
type ticket struct {
	g       *Governor
	header  http.Header // built by Header on first use
	taken   []taken     // in takenBuf
	holds   []store.Hold
	info    []holdInfo
	settled atomic.Bool
	charged int64 // nano-dollars settled on every hold, for Charges

	takenBuf [2]taken
	holdBuf  [maxHolds]store.Hold
	infoBuf  [maxHolds]holdInfo
	chBuf    [maxHolds]store.Charge
}

// maxHolds is the most counters a request reserves on: its key's budget,
// its prepaid balance, its team's budget and the hourly and daily spend
// guards.
const maxHolds = 5

var (
	_ gateway.Charger      = (*ticket)(nil)
	_ gateway.HeaderSetter = (*ticket)(nil)
)

// Charges returns what Settle charged, one per counter, for the request's
// record when the record carries them to the store
// (Options.ChargesOnRecords); nil otherwise. Call it after Settle.
func (t *ticket) Charges() []store.Charge {
	if t.charged == 0 || !t.g.chargesOnRecords {
		return nil
	}
	out := t.chBuf[:len(t.holds)]
	for i, h := range t.holds {
		out[i] = store.Charge{SpendKey: h.SpendKey, Amount: t.charged}
	}
	return out
}

// Header returns the X-RateLimit-* headers of the request's tightest
// limits, as they stood when it was admitted. Call it from the request's
// goroutine.
func (t *ticket) Header() http.Header {
	if t.header == nil {
		t.header = rateHeaders(t.taken)
	}
	return t.header
}

// SetHeaders sets the headers Header returns on h.
func (t *ticket) SetHeaders(h http.Header) { setRateHeaders(h, t.taken) }

// noTicket is the ticket of a request governance holds nothing for.
type noTicket struct{}

func (noTicket) Header() http.Header                  { return nil }
func (noTicket) Settle(provider.Usage, float64, bool) {}

// Admit checks a request against its key's permissions and limits, its
// team's, the unknown-price policy, the per-request cost cap and the spend
// guard, and reserves its worst-case cost on every budget that applies.
// Refusals are *provider.Error values that say what to do: 403 (model not
// allowed, model not priced), 429 (RPM, TPM, requests in flight; with
// Retry-After and X-RateLimit-* headers), 400 (worst case over
// governance.max_request_cost), 402 (budget, balance or spend guard) and
// 503 (the ledger is unreachable: budgets fail closed).
//
// The input tokens it takes from TPM buckets and prices into reservations
// are a bound from the body's bytes (gateway.Tokens.InputBound), which
// costs no decode, until that bound is refused: then it counts them
// exactly and tries once more, so a request is refused only on its exact
// count. A prepaid balance is always reserved on the exact count. The
// bound only sizes reservations: settling replaces them with the usage
// the upstream reported.
func (g *Governor) Admit(ctx context.Context, a *gateway.Admission) (gateway.Ticket, error) {
	now := g.clk.Now()
	var (
		k    *store.Key
		team *store.Team
	)
	if a.Principal != nil {
		if e, ok := a.Principal.Ref.(*keyEntry); ok {
			k = e.key
		}
	}
	if k != nil {
		if !allowed(k.Models, a.Model) {
			g.met.deny("model_not_allowed")
			return nil, &provider.Error{Kind: provider.KindPermission, Code: "model_not_allowed", Param: "model",
				Message: fmt.Sprintf("key %s may not use model %q; it may use: %s. Ask your gateway admin to allow it (llmgate keys update %s --models ...)",
					describeKey(k), a.Model, strings.Join(k.Models, ", "), k.ID)}
		}
		var err error
		if team, err = g.team(ctx, k.Team, now); err != nil {
			return nil, g.unavailable(err)
		}
	}
	if g.prices != nil {
		if err := g.prices.Check(a.Provider, a.PriceModel); err != nil {
			g.met.deny("unpriced")
			return nil, err
		}
	}

	r := admitRun{g: g, a: a, k: k, team: team, now: now, sz: size{tok: a.Tokens}}
	if k != nil {
		if l := (rateLimits{key: k, rpm: k.RPM, tpm: k.TPM, maxParallel: k.MaxParallel}); l.any() {
			r.lims[r.n] = l
			r.n++
		}
	}
	if team != nil {
		if l := (rateLimits{team: team, rpm: team.RPM, tpm: team.TPM}); l.any() {
			r.lims[r.n] = l
			r.n++
		}
	}
	r.costly = g.guarded || (k != nil && (k.BudgetUSD > 0 || k.Prepaid)) || (team != nil && team.BudgetUSD > 0)
	if r.n == 0 && !r.costly {
		return noTicket{}, nil
	}
	if k != nil && k.Prepaid {
		r.sz.sharpen() // money paid in: reserve on the exact count
	}
	t := &ticket{g: g}
	for {
		reason, sized, err := r.once(ctx, t)
		if err == nil {
			return t, nil
		}
		// Refused for its size on a bound: count exactly and retry, if
		// that makes it smaller. Nothing is held between the tries.
		if sized && r.sz.sharpen() {
			continue
		}
		if reason != "" {
			g.met.deny(reason)
		}
		return nil, err
	}
}

// size is a request's size as admission prices it: input tokens from the
// byte bound until sharpen counts them exactly, and the output cap.
type size struct {
	tok           gateway.Tokens // nil: the request counts nothing
	in, out       int
	inSet, outSet bool
	exact         bool // in is Tokens.Input, not a bound
}

func (s *size) input() int {
	if !s.inSet {
		s.inSet = true
		switch n, ok := s.bound(); {
		case ok:
			s.in = n
		case s.tok != nil:
			s.in, s.exact = s.tok.Input(), true
		}
	}
	return s.in
}

func (s *size) bound() (int, bool) {
	if s.tok == nil {
		return 0, false
	}
	return s.tok.InputBound()
}

// sharpen replaces a bound by the exact count; it reports whether that
// made the input smaller (worth another try).
func (s *size) sharpen() bool {
	if s.exact || s.tok == nil {
		return false
	}
	was, had := s.in, s.inSet
	s.in, s.inSet, s.exact = s.tok.Input(), true, true
	return !had || s.in < was
}

func (s *size) output() int {
	if !s.outSet {
		s.outSet = true
		if s.tok != nil {
			s.out = s.tok.MaxOutput()
		}
	}
	return s.out
}

// admitRun is one request's admission: what applies to it, and its size.
type admitRun struct {
	g      *Governor
	a      *gateway.Admission
	k      *store.Key
	team   *store.Team
	now    time.Time
	lims   [2]rateLimits
	n      int
	costly bool
	sz     size
}

// once tries to admit the request at its current size into t. On refusal
// it gives back whatever it took and returns the metric reason (empty when
// already counted), whether the request's size was what refused it (TPM,
// the cost cap, a budget), and the error for the client.
func (r *admitRun) once(ctx context.Context, t *ticket) (reason string, sized bool, err error) {
	g := r.g
	t.header, t.taken = nil, t.takenBuf[:0]
	var spare *localLease
	if r.n > 0 {
		in := 0
		if r.lims[0].tpm > 0 || r.lims[1].tpm > 0 {
			in = r.sz.input()
		}
		for i := range r.n {
			// The limits go through the interface from the ticket, which
			// is on the heap anyway: a local copy would be moved there.
			tk := &t.takenBuf[len(t.taken)]
			*tk = taken{limits: r.lims[i]}
			spare = &tk.local
			lease, lv, ref, err := g.limits.take(ctx, r.now, &tk.limits, in, spare)
			if err != nil {
				t.undo()
				g.log.Error("governance: rate limits could not be checked; refusing the request", "err", err)
				return "unavailable", false, &provider.Error{Kind: provider.KindUnavailable, Cause: err,
					Message: "llmgate could not check this request's rate limits: their shared store (Redis) is unavailable; retry shortly"}
			}
			tk.lease, tk.lv = lease, lv
			if ref != nil {
				h := rateHeaders(t.takenBuf[:len(t.taken)+1])
				t.undo()
				return ref.reason, ref.reason == "tpm", &provider.Error{Kind: provider.KindRateLimited, Code: "rate_limit_exceeded",
					Message: ref.msg, RetryAfter: max(ref.wait, time.Second), Header: h}
			}
			t.taken = t.takenBuf[:len(t.taken)+1]
		}
	}
	if !r.costly {
		return "", false, nil
	}

	// The worst case is priced at the dearest route the request may take,
	// so a fallback to a pricier deployment cannot overshoot a budget.
	var worst int64
	var cost float64
	priced, priceModel := false, r.a.PriceModel
	if g.prices != nil {
		one := [1]gateway.Route{{Provider: r.a.Provider, Model: r.a.PriceModel}}
		routes := one[:]
		if r.a.Routes != nil {
			routes = r.a.Routes()
		}
		for _, rt := range routes {
			price, ok := g.prices.Price(rt.Provider, rt.Model)
			if !ok {
				continue
			}
			u := provider.Usage{InputTokens: r.sz.input(), OutputTokens: r.sz.output()}
			if c := price.Cost(u); !priced || c > cost {
				cost, priceModel = c, rt.Model
			}
			priced = true
		}
	}
	if priced {
		worst = nanos(cost)
		if capUSD := g.cfg.MaxRequestCost; capUSD > 0 && cost > capUSD {
			h := rateHeaders(t.taken)
			t.undo()
			return "cost_cap", true, &provider.Error{Kind: provider.KindBadRequest, Code: "request_cost_too_high", Header: h,
				Message: fmt.Sprintf("this request could cost up to %s (about %d input tokens and up to %d output tokens of %s), more than this gateway allows per request (governance.max_request_cost %s): lower max_tokens or shorten the prompt",
					fmtUSD(cost), r.sz.input(), r.sz.output(), priceModel, fmtUSD(capUSD))}
		}
	}
	g.holds(t, r.k, r.team, r.now, worst)
	if len(t.holds) == 0 {
		return "", false, nil
	}
	var (
		states  []store.Spend
		refused int
	)
	if g.mem != nil {
		var buf [maxHolds]store.Spend // on the stack: the in-memory ledger keeps nothing of it
		states, refused = g.mem.reserve(buf[:len(t.holds)], t.holds)
	} else {
		states, refused, err = g.ledger.ReserveSpend(ctx, t.holds)
	}
	if err != nil {
		t.undo()
		t.holds = nil
		return "", false, g.unavailable(err)
	}
	if refused >= 0 {
		h := rateHeaders(t.taken)
		t.undo()
		info := &t.info[refused]
		t.holds = nil
		return info.kind, true, &provider.Error{Kind: provider.KindPayment, Code: paymentCode(info.kind), Header: h,
			Message: refusalMessage(info, &states[refused], worst, r.now)}
	}
	return "", false, nil
}

// holds lists the counters a request of worst cost reserves on.
func (g *Governor) holds(t *ticket, k *store.Key, team *store.Team, now time.Time, worst int64) {
	t.holds, t.info = t.holdBuf[:0], t.infoBuf[:0]
	add := func(sk store.SpendKey, limit int64, credit bool, info holdInfo) {
		t.holds = append(t.holds, store.Hold{SpendKey: sk, Amount: worst, Limit: limit, AgainstCredit: credit})
		t.info = append(t.info, info)
	}
	if k != nil && k.BudgetUSD > 0 {
		p := Period(k.BudgetPeriod)
		lim := nanos(k.BudgetUSD)
		add(store.SpendKey{Scope: scopeKey, Subject: k.ID, Start: p.Start(now)}, lim, false,
			holdInfo{kind: "budget", scope: scopeKey, key: k, period: p, limit: lim, soft: k.SoftBudget})
	}
	if k != nil && k.Prepaid {
		add(store.SpendKey{Scope: scopeBalance, Subject: k.ID, Start: store.Epoch}, 0, true,
			holdInfo{kind: "balance", key: k, period: Total})
	}
	if team != nil && team.BudgetUSD > 0 {
		p := Period(team.BudgetPeriod)
		lim := nanos(team.BudgetUSD)
		add(store.SpendKey{Scope: scopeTeam, Subject: team.Name, Start: p.Start(now)}, lim, false,
			holdInfo{kind: "team_budget", scope: scopeTeam, team: team, key: k, period: p, limit: lim, soft: team.SoftBudget})
	}
	if v := g.cfg.SpendGuard.Hourly; v > 0 {
		lim := nanos(v)
		add(store.SpendKey{Scope: scopeGlobal, Subject: string(Hourly), Start: Hourly.Start(now)}, lim, false,
			holdInfo{kind: "spend_guard", period: Hourly, limit: lim, guard: "hourly"})
	}
	if v := g.cfg.SpendGuard.Daily; v > 0 {
		lim := nanos(v)
		add(store.SpendKey{Scope: scopeGlobal, Subject: string(Daily), Start: Daily.Start(now)}, lim, false,
			holdInfo{kind: "spend_guard", period: Daily, limit: lim, guard: "daily"})
	}
}

func paymentCode(kind string) string {
	switch kind {
	case "balance":
		return "insufficient_balance"
	case "spend_guard":
		return "spend_guard_reached"
	}
	return "budget_exceeded"
}

// resets words when a period that started at start resets.
func resets(p Period, start, now time.Time) string {
	end := p.End(start)
	if end.IsZero() {
		return "It does not reset"
	}
	return fmt.Sprintf("It resets at %s (in %s)", end.Format(time.RFC3339), end.Sub(now).Round(time.Minute))
}

// refusalMessage says which budget refused, how much is left and when it
// resets, and what to do.
func refusalMessage(info *holdInfo, sp *store.Spend, worst int64, now time.Time) string {
	left := usd(max(info.limit-sp.Spent-sp.Reserved, 0))
	held := usd(sp.InFlight())
	cost := usd(worst)
	switch info.kind {
	case "budget":
		k := info.key
		return fmt.Sprintf("key %s has used %s of its %s %s budget: %s left (%s more held by requests in flight), and this request could cost up to %s. %s; until then ask your gateway admin to raise it (llmgate keys update %s --budget N)",
			describeKey(k), fmtUSD(usd(sp.Settled())), fmtUSD(k.BudgetUSD), info.period.noun(), fmtUSD(left), fmtUSD(held), fmtUSD(cost),
			resets(info.period, sp.Start, now), k.ID)
	case "balance":
		k := info.key
		bal := usd(max(sp.Credit-sp.Spent-sp.Reserved, 0))
		return fmt.Sprintf("the prepaid balance of key %s is too low: %s left (%s more held by requests in flight) of %s topped up, and this request could cost up to %s. Top it up: llmgate topup %s --amount 10",
			describeKey(k), fmtUSD(bal), fmtUSD(held), fmtUSD(usd(sp.Credit)), fmtUSD(cost), k.ID)
	case "team_budget":
		tm := info.team
		return fmt.Sprintf("team %q has used %s of its %s %s budget: %s left (%s more held by requests in flight), and this request could cost up to %s. %s; until then ask your gateway admin to raise it (llmgate teams update %s --budget N)",
			tm.Name, fmtUSD(usd(sp.Settled())), fmtUSD(tm.BudgetUSD), info.period.noun(), fmtUSD(left), fmtUSD(held), fmtUSD(cost),
			resets(info.period, sp.Start, now), tm.Name)
	}
	return fmt.Sprintf("this gateway's %s spend cap is reached (governance.spend_guard.%s %s): %s spent and %s held by requests in flight this %s, and this request could cost up to %s. %s; an admin can raise the cap in the config",
		info.guard, info.guard, fmtUSD(usd(info.limit)), fmtUSD(usd(sp.Settled())), fmtUSD(held),
		map[string]string{"hourly": "hour", "daily": "day"}[info.guard], fmtUSD(cost), resets(info.period, sp.Start, now))
}

// unavailable is the refusal when the store or ledger cannot be reached:
// budgets fail closed.
func (g *Governor) unavailable(err error) error {
	g.met.deny("unavailable")
	g.log.Error("governance: ledger unavailable; refusing the request", "err", err)
	return &provider.Error{Kind: provider.KindUnavailable, Cause: err,
		Message: "llmgate could not check this request's budget: its store is unavailable; retry shortly"}
}

// undo gives back the rate-limit capacity a refused request took.
func (t *ticket) undo() {
	for i := range t.taken {
		t.taken[i].undo()
	}
	t.taken = nil
}

// Settle replaces the reservation with the real cost (zero when not
// priced), frees the request's rate-limit slot and charges its real
// tokens; it notices a soft budget being passed. Only the first call
// counts.
func (t *ticket) Settle(u provider.Usage, cost float64, priced bool) {
	if !t.settled.CompareAndSwap(false, true) {
		return
	}
	g := t.g
	now := g.clk.Now()
	if len(t.taken) > 0 {
		used := u.Total()
		for i := range t.taken {
			t.taken[i].settle(now, used)
		}
	}
	if len(t.holds) == 0 {
		return
	}
	var spend int64
	if priced {
		spend = nanos(cost)
	}
	// On the stack for the in-memory ledger; a shared store gets a copy.
	var stsBuf [maxHolds]store.Settlement
	sts := stsBuf[:len(t.holds)]
	for i, h := range t.holds {
		// On a shared ledger whose records carry the charges, the spend
		// stays held by this replica until its ledger row is written.
		sts[i] = store.Settlement{SpendKey: h.SpendKey, Release: h.Amount, Spend: spend,
			OnRecord: g.chargesOnRecords && g.mem == nil}
	}
	ctx := context.Background()
	if g.mem == nil { // a database round trip: bound it
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, settleTimeout)
		defer cancel()
	}
	t.charged = spend
	var (
		states []store.Spend
		err    error
	)
	if g.mem != nil {
		var buf [maxHolds]store.Spend
		states = g.mem.settle(buf[:len(sts)], sts)
	} else {
		states, err = g.ledger.SettleSpend(ctx, append([]store.Settlement(nil), sts...))
	}
	if err != nil {
		g.log.Error("governance: settling a request's spend failed; its reservation stays held",
			"err", err, "spend_usd", usd(spend))
		return
	}
	for i := range t.info {
		info := &t.info[i]
		if info.soft <= 0 || info.limit <= 0 || spend == 0 {
			continue
		}
		thr := int64(math.Round(info.soft * float64(info.limit)))
		if after := states[i].Settled(); after >= thr && after-spend < thr {
			g.softBudget(info, &states[i], now)
		}
	}
}

// softBudget reports a key or team passing its soft budget: a warning, a
// metric and, if configured, a webhook call.
func (g *Governor) softBudget(info *holdInfo, sp *store.Spend, now time.Time) {
	ev := BudgetEvent{Event: "budget.soft_limit", Scope: info.scope, Period: string(info.period),
		SpentUSD: usd(sp.Settled()), BudgetUSD: usd(info.limit), Threshold: info.soft, Time: now.UTC()}
	if end := info.period.End(sp.Start); !end.IsZero() {
		ev.ResetsAt = &end
	}
	if info.scope == scopeKey {
		ev.ID, ev.Name, ev.Team = info.key.ID, info.key.Name, info.key.Team
	} else {
		ev.ID = info.team.Name
	}
	g.met.soft.WithLabelValues(info.scope).Inc()
	g.log.Warn("budget passed its soft limit", "scope", ev.Scope, "id", ev.ID, "name", ev.Name,
		"spent_usd", ev.SpentUSD, "budget_usd", ev.BudgetUSD, "threshold", ev.Threshold, "period", ev.Period)
	g.notify.send(ev)
}
