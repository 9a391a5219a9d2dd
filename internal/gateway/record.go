package gateway

import (
	"net/http"
	"strconv"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// setHeaders adds what every response says: request ids and what served it.
func (g *Gateway) setHeaders(h http.Header, x *exchange, d *Deployment) {
	h.Set("X-Request-Id", x.c.RequestID)
	h.Set("Request-Id", x.c.RequestID)
	if d != nil {
		h.Set("X-Llmgate-Provider", d.Upstream.Name)
		h.Set("X-Llmgate-Model", d.Model)
	}
	h.Set("X-Llmgate-Attempts", strconv.Itoa(x.attempts))
	h.Set("X-Llmgate-Fallback", strconv.FormatBool(x.fallback))
}

// fail ends a request that gets no answer from the pipeline: it records
// the error and the status the client will see, and sets the headers that
// say what happened; the server writes the error (server.writeError).
func (g *Gateway) fail(w http.ResponseWriter, x *exchange, e *provider.Error) *provider.Error {
	x.err = e
	x.status = x.cc.StatusFor(e)
	g.setHeaders(w.Header(), x, x.served)
	return e
}

// observe is the one place an attempt's result is recorded: the
// deployment's breaker, the provider's health, a 429 cooldown and the
// per-attempt metric, all as decide said.
func (g *Gateway) observe(x *exchange, d *Deployment, done func(Outcome), perr *provider.Error, v verdict) {
	done(v.outcome)
	now := g.clk.Now()
	switch {
	case perr == nil:
		d.Upstream.health.record(true, "", now)
	case v.unhealthy:
		d.Upstream.health.record(false, perr.Message, now)
	}
	if v.cooldown > 0 {
		d.Guard.Cooldown(now.Add(v.cooldown))
	}
	if !v.counted {
		return
	}
	if g.opts.OnAttempt != nil {
		outcome := "success"
		if perr != nil {
			outcome = string(perr.Kind)
		}
		g.opts.OnAttempt(d.Upstream.Name, d.Model, outcome)
	}
	if perr != nil {
		g.log.Debug("upstream attempt failed", "request_id", x.c.RequestID, "deployment", d.Name,
			"attempt", x.attempts, "kind", perr.Kind, "next", v.act.String(), "err", perr)
	}
}

// estimateUsage fills the token counts the upstream did not report from
// local counts, keeping those it did.
func (g *Gateway) estimateUsage(x *exchange, d *Deployment) {
	if x.usage.InputTokens == 0 && g.opts.Estimate != nil {
		if req, err := x.canonical(); err == nil && req != nil {
			x.usage.InputTokens = g.opts.Estimate(d.Model, req)
			x.estimated = true
		}
	}
	if x.usage.OutputTokens == 0 && g.opts.CountText != nil && x.text.Len() > 0 {
		x.usage.OutputTokens = g.opts.CountText(d.Model, x.text.String())
		x.estimated = true
	}
}

// admission describes x for governance. It is x's own, so building it
// allocates nothing unless the request may take several routes.
func (g *Gateway) admission(x *exchange, chain []*Deployment) *Admission {
	x.adm = Admission{Principal: x.c.Principal, Model: x.c.Model, Op: x.c.Op, Stream: x.c.Stream}
	a := &x.adm
	if len(chain) > 0 {
		a.PriceModel, a.Provider = chain[0].Model, chain[0].Upstream.Name
	}
	// Every route the request may take, the context fallback's included:
	// the reservation is priced at the dearest, so no fallback can
	// overshoot a budget.
	// Built only when a budget needs pricing.
	if len(chain) > 1 || g.router.hasContextFallback(x.c.Model) {
		a.Routes = func() []Route {
			alt, _ := g.router.ContextFallback(x.c.Model)
			routes := make([]Route, 0, len(chain)+len(alt))
			for _, d := range append(chain[:len(chain):len(chain)], alt...) {
				routes = append(routes, Route{Provider: d.Upstream.Name, Model: d.Model})
			}
			return routes
		}
	}
	x.tok = reqTokens{g: g, x: x, model: a.PriceModel}
	a.Tokens = &x.tok
	return a
}

// finish settles the reservation and records the request.
func (g *Gateway) finish(x *exchange) {
	c := x.c
	var cost float64
	var priced bool
	if g.opts.Pricer != nil && x.served != nil && !x.usage.IsZero() {
		cost, priced = g.opts.Pricer.Cost(x.served.Upstream.Name, x.served.Model, x.usage)
	}
	if x.ticket != nil {
		x.ticket.Settle(x.usage, cost, priced)
	}
	if g.opts.Recorder == nil {
		return
	}
	rec := store.Record{
		ID:              c.RequestID,
		Time:            c.Start.UTC(),
		ClientFormat:    string(c.Format),
		Op:              string(c.Op),
		ModelAsked:      c.Model,
		Status:          x.status,
		Attempts:        x.attempts,
		Fallback:        x.fallback,
		Stream:          c.Stream,
		Latency:         g.clk.Now().Sub(c.Start),
		TTFT:            x.ttft,
		InputTokens:     x.usage.InputTokens,
		OutputTokens:    x.usage.OutputTokens,
		CachedTokens:    x.usage.CachedTokens,
		ReasoningTokens: x.usage.ReasoningTokens,
		TokensEstimated: x.estimated,
		KeyID:           c.KeyID,
		Team:            c.Team,
		CostUSD:         cost,
		Priced:          priced,
	}
	if x.served != nil {
		rec.Provider, rec.ModelServed = x.served.Upstream.Name, x.served.Model
	}
	if x.err != nil {
		rec.ErrorKind, rec.ErrorMessage = string(x.err.Kind), x.err.Message
		if x.status == 0 {
			rec.Status = x.err.HTTPStatus()
		}
	}
	if g.opts.StoreContent {
		rec.Prompt = string(c.Body)
		rec.Completion = x.text.String()
	}
	if ch, ok := x.ticket.(Charger); ok {
		rec.Charges = ch.Charges()
	}
	g.opts.Recorder.Record(rec)
}
