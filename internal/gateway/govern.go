package gateway

import (
	"context"
	"net/http"

	"github.com/llmgate/llmgate/internal/provider"
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
	// Routes are every deployment the request may be served by (nil when
	// it is only the first route); the worst-case cost is the dearest's.
	Routes []Route
	Stream bool
	// Tokens estimates the request's input tokens and its output cap (the
	// client's max tokens, else the model's). It decodes the body, so call
	// it only when a limit or budget needs it.
	Tokens func() (input, maxOutput int)
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

// Pricer prices usage of a model served by a provider.
type Pricer interface {
	Cost(provider, model string, u provider.Usage) (cost float64, priced bool)
}
