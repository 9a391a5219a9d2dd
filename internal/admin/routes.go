package admin

import (
	"net/http"
	"time"

	"github.com/llmgate/llmgate/internal/gateway"
)

// ProviderState is one provider in GET /admin/routes: its health from
// recent real outcomes (as GET /health computes it).
type ProviderState struct {
	Name    string `json:"name"`
	Format  string `json:"format"`
	BaseURL string `json:"base_url"`
	gateway.HealthReport
}

// DeploymentState is one provider/model in GET /admin/routes. State is the
// breaker's ("closed", "open", "half_open", "cooling", or "" without a
// breaker); ReadyAt, when set, is when an ejected or cooling deployment
// takes traffic again (its next probe).
type DeploymentState struct {
	Name     string     `json:"name"`
	Provider string     `json:"provider"`
	Model    string     `json:"model"`
	State    string     `json:"state"`
	ReadyAt  *time.Time `json:"ready_at,omitempty"`
	Inflight int64      `json:"inflight"`
}

// RouteState is a model name clients can ask for and the chain of
// deployments that serves it, in order (first target, then fallbacks).
type RouteState struct {
	Model string   `json:"model"`
	Chain []string `json:"chain,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Routes is the answer to GET /admin/routes.
type Routes struct {
	Providers   []ProviderState   `json:"providers"`
	Routes      []RouteState      `json:"routes"`
	Deployments []DeploymentState `json:"deployments"`
}

// RoutesOf describes r: providers, the configured and listed models with
// their chains, and every deployment used so far.
func RoutesOf(r *gateway.Router) Routes {
	out := Routes{Providers: []ProviderState{}, Routes: []RouteState{}, Deployments: []DeploymentState{}}
	for _, u := range r.Upstreams() {
		out.Providers = append(out.Providers, ProviderState{Name: u.Name, Format: string(u.Format),
			BaseURL: u.Endpoint.BaseURL, HealthReport: u.Health()})
	}
	for _, m := range r.ModelNames() {
		rs := RouteState{Model: m}
		chain, err := r.Resolve(m)
		if err != nil {
			rs.Error = err.Error()
		}
		for _, d := range chain {
			rs.Chain = append(rs.Chain, d.Name)
		}
		out.Routes = append(out.Routes, rs)
	}
	for _, d := range r.Deployments() {
		ds := DeploymentState{Name: d.Name, Provider: d.Upstream.Name, Model: d.Model, State: d.State(), Inflight: d.Inflight()}
		if g, ok := d.Guard.(interface{ ReadyAt() time.Time }); ok {
			if at := g.ReadyAt(); !at.IsZero() {
				at = at.UTC()
				ds.ReadyAt = &at
			}
		}
		out.Deployments = append(out.Deployments, ds)
	}
	return out
}

func (h *handler) routes(w http.ResponseWriter, r *http.Request) {
	if h.o.Router == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "", "this admin API has no router to describe")
		return
	}
	writeJSON(w, http.StatusOK, RoutesOf(h.o.Router()))
}
