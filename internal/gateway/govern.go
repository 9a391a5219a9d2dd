package gateway

import (
	"context"
	"net/http"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// Principal is who a request acts for: a virtual key and its team.
type Principal struct {
	KeyID string
	Team  string
	// Ref is the governance layer's own record of the key; the pipeline
	// never looks inside.
	Ref any
}

// Authenticator recognises the gateway's virtual keys.
type Authenticator interface {
	// Authenticate returns the principal for a virtual key; (nil, nil)
	// when credential is not a virtual key (a provider key to pass
	// through, or empty); an *provider.Error (401) for an unknown, expired
	// or revoked virtual key.
	Authenticate(ctx context.Context, credential string) (*Principal, error)
}

// Admission is what governance sees of a request before it is sent.
type Admission struct {
	Principal *Principal // nil for master-key or open requests
	Model     string     // as asked
	Op        provider.Op
	// PriceModel and Provider are the first route's upstream model and
	// provider.
	PriceModel string
	Provider   string
	// Routes lists every deployment the request may be served by (nil
	// when it is only the first route); the worst-case cost is the
	// dearest's. It allocates, so call it only when pricing.
	Routes func() []Route
	Stream bool
	// Tokens sizes the request: a bound on its input tokens from its bytes,
	// an exact count (which decodes the body) and its output cap. Nil
	// counts nothing.
	Tokens Tokens
}

// Tokens is what governance asks of a request's size. Every answer is
// worked out on the first call and kept; none allocates except Input's
// decode, so a request far from its limits is never decoded for them.
type Tokens interface {
	// InputBound is an upper bound on what Input returns, from the body's
	// length alone (tokens.BodyBound); ok is false when the body may
	// carry images, audio or documents (priced per part, not by bytes),
	// and only Input can answer.
	InputBound() (n int, ok bool)
	// Input estimates the request's input tokens for the first route's
	// model (tokens.EstimateRequest on the decoded body).
	Input() int
	// MaxOutput is the request's output cap: the largest of the caps its
	// format names (see outputCap), else the model's maximum output, else
	// the gateway's default.
	MaxOutput() int
}

// Route is one deployment a request may be served by.
type Route struct{ Provider, Model string }

// Admitter enforces limits, budgets and spend guards (governance).
type Admitter interface {
	// Admit checks the request against the principal's permissions, rate
	// limits and budgets and the gateway's spend guards, and reserves its
	// worst-case cost. A refusal is an *provider.Error (403, 429 or 402)
	// whose Header carries rate-limit headers.
	Admit(ctx context.Context, a *Admission) (Ticket, error)
}

// Ticket is an admitted request's reservation.
type Ticket interface {
	// Header holds headers to send on the response (X-RateLimit-*).
	Header() http.Header
	// Settle replaces the reservation with the real usage and cost
	// (priced false: the model has no price) once the request ended,
	// successfully or not. It is called exactly once.
	Settle(u provider.Usage, cost float64, priced bool)
}

// HeaderSetter is an optional capability of a Ticket: it sets the headers
// Header would return on h directly, without building a map of its own.
type HeaderSetter interface {
	SetHeaders(h http.Header)
}

// Charger is an optional capability of a Ticket: the spend counters its
// settlement charged, which the request's record carries to the store so
// that counters and rows are written in one transaction
// (store.Record.Charges). Called after Settle.
type Charger interface {
	Charges() []store.Charge
}

// Pricer prices usage of a model served by a provider.
type Pricer interface {
	Cost(provider, model string, u provider.Usage) (cost float64, priced bool)
}

// ModelACL is an optional capability of an Admitter: whether the
// principal's allow-list lets model at provider serve it. Admit checks the
// name the client asked for; the pipeline asks MayServe about the route
// targets it would fall back to (see permitted).
type ModelACL interface {
	MayServe(p *Principal, provider, model string) bool
}

// permitted returns chain without the deployments x's principal may not be
// served by. With primary true the first entry is kept: it is what the
// asked name means, and Admit allowed that name; so are entries serving
// the same upstream model at another provider. Every other entry (all of
// them when primary is false, as for context fallbacks) must be allowed by
// the key's own models list, unless the asked model's config opts in with
// fallback_outside_key_models. chain is not modified.
func (g *Gateway) permitted(x *exchange, chain []*Deployment, primary bool) []*Deployment {
	acl, ok := g.opts.Admitter.(ModelACL)
	if !ok || x.c.Principal == nil || x.policy.FallbackOutsideKeyModels || len(chain) == 0 {
		return chain
	}
	var out []*Deployment
	for i, d := range chain {
		keep := primary && (i == 0 || d.Model == chain[0].Model) || acl.MayServe(x.c.Principal, d.Upstream.Name, d.Model)
		switch {
		case keep && out != nil:
			out = append(out, d)
		case !keep && out == nil:
			out = append(make([]*Deployment, 0, len(chain)), chain[:i]...)
		}
	}
	if out == nil {
		return chain
	}
	return out
}
