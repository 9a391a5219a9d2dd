package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/provider"
)

// routes is one request's view of its chain of deployments.
type routes struct {
	chain  []*Deployment
	tried  []int             // attempts per route
	dead   []bool            // cannot serve this request any more
	last   []*provider.Error // each route's last failure
	refuse []refusal         // each route's last refusal by its breaker
	idx    int               // where the next pick starts
	skip   *provider.Error   // why a route was passed over without an attempt
	paced  int               // routes passed over by pacing
	waits  int               // cooldowns waited out
}

// refusal is a breaker's no: until when, and whether for a 429 cooldown
// (the upstream's own request) or an ejection.
type refusal struct {
	until   time.Time
	cooling bool
	set     bool
}

func newRoutes(chain []*Deployment) *routes {
	n := len(chain)
	return &routes{chain: chain, tried: make([]int, n), dead: make([]bool, n),
		last: make([]*provider.Error, n), refuse: make([]refusal, n)}
}

// alternative reports whether a route other than i is still usable.
func (rs *routes) alternative(i int) bool {
	for j, d := range rs.dead {
		if j != i && !d {
			return true
		}
	}
	return false
}

// pick is the route the next attempt goes to.
type pick struct {
	i      int
	d      *Deployment
	done   func(Outcome)
	waited bool // a cooldown was waited out just before
}

// readiness is what a Guard's refusal may say about when it ends.
type readiness interface {
	ReadyAt() time.Time
	CoolingDown() bool
}

// pick chooses the next route, from rs.idx on: the first its breaker and
// retry budget admit. When every usable route is refused it never refuses
// the request outright: it waits for a 429 cooldown that ends within
// resilience.retry.max_retry_wait and the deadline, else forces an attempt
// through the ejected route whose ejection ends first (panic mode). It
// returns a nil d only when no route can take the request.
func (g *Gateway) pick(ctx context.Context, x *exchange, rs *routes) (pick, *provider.Error) {
	for {
		ejected, cooling := -1, -1
		for n := range len(rs.chain) {
			i := (rs.idx + n) % len(rs.chain)
			if rs.dead[i] {
				continue
			}
			d := rs.chain[i]
			done, err := d.Guard.Allow()
			if err != nil {
				ref := refusal{set: true}
				var rd readiness
				if errors.As(err, &rd) {
					ref.until, ref.cooling = rd.ReadyAt(), rd.CoolingDown()
				}
				rs.refuse[i] = ref
				best := &ejected
				if ref.cooling {
					best = &cooling
				}
				if *best < 0 || ref.until.Before(rs.refuse[*best].until) {
					*best = i
				}
				continue
			}
			if rs.tried[i] > 0 && !d.Budget.TryRetry() {
				done(OutcomeIgnore)
				rs.dead[i] = true
				rs.skip = &provider.Error{Kind: provider.KindUnavailable, Provider: d.Upstream.Name,
					Message: fmt.Sprintf("%s is failing and its retry budget is spent (resilience.retry.budget_ratio)", d.Name)}
				continue
			}
			return pick{i: i, d: d, done: done}, nil
		}
		now := g.clk.Now()
		if cooling >= 0 {
			wait := rs.refuse[cooling].until.Sub(now)
			if wait <= g.opts.MaxRetryWait && rs.waits < g.opts.MaxAttempts && fits(ctx, now, wait) {
				// The upstream asked for a short rest: wait it out, without
				// using an attempt, and look again.
				rs.waits++
				if err := clock.Sleep(ctx, g.clk, wait); err != nil {
					return pick{}, &provider.Error{Kind: provider.KindCanceled, Message: "the request ended while waiting for a rate limit to reset", Cause: err}
				}
				p, perr := g.pick(ctx, x, rs)
				p.waited = true
				return p, perr
			}
		}
		if ejected >= 0 {
			d := rs.chain[ejected]
			if rs.tried[ejected] > 0 && !d.Budget.TryRetry() {
				rs.dead[ejected] = true
				rs.skip = &provider.Error{Kind: provider.KindUnavailable, Provider: d.Upstream.Name,
					Message: fmt.Sprintf("%s is failing and its retry budget is spent (resilience.retry.budget_ratio)", d.Name)}
				continue
			}
			g.log.Debug("every route is ejected: trying the one whose ejection ends first", "request_id", x.c.RequestID, "deployment", d.Name)
			return pick{i: ejected, d: d, done: d.Guard.Force()}, nil
		}
		if cooling >= 0 {
			d := rs.chain[cooling]
			wait := rs.refuse[cooling].until.Sub(now)
			return pick{}, &provider.Error{Kind: provider.KindRateLimited, Provider: d.Upstream.Name, RetryAfter: wait,
				Message: fmt.Sprintf("%s answered 429 and asked llmgate to wait %s, longer than resilience.retry.max_retry_wait (or the request's deadline); retry after that, or add a fallback route to models.%s.route",
					d.Name, wait.Round(time.Second), x.c.Model)}
		}
		return pick{}, rs.skip
	}
}

// fits reports whether waiting d leaves ctx time to make an attempt.
func fits(ctx context.Context, now time.Time, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || now.Add(d).Before(dl)
}

// run tries the chain's deployments until one answers, the attempt cap is
// reached, or the failure is one no retry can fix. What happens after each
// attempt is decide's verdict.
func (g *Gateway) run(ctx context.Context, w http.ResponseWriter, x *exchange, chain []*Deployment) *provider.Error {
	chain = order(chain, x.policy.Strategy, g.opts.Rand)
	first := chain[0]
	rs := newRoutes(chain)
	var lastErr *provider.Error // the last attempt's failure
	usedCtx := false
	if x.policy.Hedge && !x.c.Stream && x.c.Op == provider.OpChat && len(chain) > 1 {
		ok, perr, n := g.runHedged(ctx, w, x, chain[0], chain[1])
		if ok {
			return nil
		}
		if n > 0 {
			lastErr = perr
			for i := range n {
				rs.tried[i]++
				rs.last[i] = perr
			}
			rs.idx = n
			if perr != nil && !perr.Kind.Retryable() && !perr.Kind.Fallback() {
				return perr
			}
		}
	}
	for x.attempts < g.opts.MaxAttempts && ctx.Err() == nil {
		p, skip := g.pick(ctx, x, rs)
		if p.d == nil {
			if lastErr == nil {
				lastErr = skip
			}
			break
		}
		d := p.d
		rs.idx = p.i
		if rs.tried[p.i] == 0 {
			d.Budget.OnRequest()
		}
		// Wait for pacing capacity only when no other route could take the
		// request now (or after every route was found at its limit).
		x.paceWait = g.opts.MaxQueueWait
		if rs.paced < len(rs.chain) && rs.alternative(p.i) {
			x.paceWait = 0
		}
		if rs.tried[p.i] > 0 && !p.waited {
			// A retry of a deployment already tried: back off first, as
			// long as it asked if it said (within max_retry_wait).
			wait := g.opts.Backoff.Backoff(max(x.attempts-1, 0), g.opts.Rand())
			if last := rs.last[p.i]; last != nil && last.RetryAfter > 0 && last.RetryAfter <= g.opts.MaxRetryWait {
				wait = max(wait, last.RetryAfter)
			}
			if err := clock.Sleep(ctx, g.clk, wait); err != nil {
				p.done(OutcomeIgnore)
				break
			}
		}
		rs.tried[p.i]++
		x.attempts++
		if d != first || usedCtx {
			x.fallback = true
		}
		perr := g.attempt(ctx, w, x, d)
		v := decide(perr, attemptState{committed: x.committed, ended: ctx.Err() != nil, usedContext: usedCtx})
		if !v.counted {
			x.attempts--
			rs.tried[p.i]--
		}
		g.observe(x, d, p.done, perr, v)
		if perr == nil {
			x.served = d
			return nil
		}
		if v.counted {
			if perr.Provider == "" {
				perr.Provider = d.Upstream.Name
			}
			x.served = d
		}
		lastErr, rs.last[p.i] = perr, perr
		switch v.act {
		case actStop:
			if x.committed || ctx.Err() != nil {
				return perr
			}
			return g.finalError(x, rs, perr)
		case actContext:
			alt, err := g.router.ContextFallback(x.c.Model)
			alt = g.permitted(x, alt, false)
			if err != nil || len(alt) == 0 {
				return perr
			}
			usedCtx = true
			rs = newRoutes(alt)
			continue
		case actDrop:
			rs.dead[p.i] = true
		case actNext:
			if v.paced {
				rs.paced++
				if x.paceWait > 0 {
					rs.dead[p.i] = true // it could not get capacity even waiting
				}
			}
		}
		rs.idx = p.i + 1
	}
	if lastErr == nil {
		lastErr = provider.Errorf(provider.KindTimeout, "the request deadline passed before any upstream answered")
	}
	if x.committed || ctx.Err() != nil {
		return lastErr
	}
	return g.finalError(x, rs, lastErr)
}

// finalError is the error the client gets when every attempt failed: the
// last upstream failure, as it was classified (its status and type per the
// README's table), with a Retry-After when the gateway knows when a route
// will take traffic again, and, when several routes were involved, what
// became of each.
func (g *Gateway) finalError(x *exchange, rs *routes, last *provider.Error) *provider.Error {
	e := *last
	now := g.clk.Now()
	if e.RetryAfter <= 0 {
		if at := soonestReady(rs.chain, now); at.After(now) {
			e.RetryAfter = at.Sub(now)
		}
	}
	if len(rs.chain) > 1 {
		var parts []string
		for i, d := range rs.chain {
			if s := routeState(rs, i, d, now); s != "" {
				parts = append(parts, d.Name+": "+s)
			}
		}
		if len(parts) > 1 {
			e.Message = fmt.Sprintf("%s (model %s, %d attempts; routes: %s)", strings.TrimRight(e.Message, "."), x.c.Model, x.attempts, strings.Join(parts, "; "))
		}
	}
	return &e
}

// routeState says in a few words what became of route i in this request.
func routeState(rs *routes, i int, d *Deployment, now time.Time) string {
	var s string
	if e := rs.last[i]; e != nil {
		s = string(e.Kind)
		if e.UpstreamStatus != 0 {
			s = fmt.Sprintf("HTTP %d %s", e.UpstreamStatus, e.Kind)
		}
	}
	if at, ok := readyAt(d.Guard); ok && at.After(now) {
		what := "ejected"
		if c, ok := d.Guard.(interface{ CoolingDown() bool }); ok && c.CoolingDown() {
			what = "cooling down after a 429"
		}
		s = strings.TrimPrefix(s+", ", ", ") + fmt.Sprintf("%s for %s more", what, at.Sub(now).Round(100*time.Millisecond))
	} else if rs.refuse[i].set && s == "" {
		s = "refused by its breaker"
	}
	if s == "" && rs.tried[i] == 0 {
		if rs.dead[i] {
			return "skipped"
		}
		return "not tried"
	}
	return s
}

// readyAt asks a guard when it takes traffic again, if it can say.
func readyAt(gd Guard) (time.Time, bool) {
	r, ok := gd.(interface{ ReadyAt() time.Time })
	if !ok {
		return time.Time{}, false
	}
	return r.ReadyAt(), true
}

// soonestReady is when the first of chain takes traffic again: zero when
// one does now or none can say.
func soonestReady(chain []*Deployment, now time.Time) time.Time {
	var soonest time.Time
	for _, d := range chain {
		at, ok := readyAt(d.Guard)
		if !ok || !at.After(now) {
			return time.Time{}
		}
		if soonest.IsZero() || at.Before(soonest) {
			soonest = at
		}
	}
	return soonest
}
