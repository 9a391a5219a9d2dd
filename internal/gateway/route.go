package gateway

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/llmgate/llmgate/internal/provider"
)

// maxDeployments bounds the deployments the router remembers.
const maxDeployments = 4096

// Router resolves the model name a client asks for to an ordered chain of
// deployments. It is safe for concurrent use.
type Router struct {
	upstreams map[string]*Upstream // by provider name
	order     []string             // provider names, sorted
	routes    map[string][]string  // model -> chain of "provider/model"
	ctxFall   map[string][]string  // model -> context fallback chain
	vendorOf  func(model string) (string, bool)
	setup     func(d *Deployment)

	mu          sync.Mutex
	deployments map[string]*Deployment // by "provider/model"
}

// RouterConfig is what NewRouter needs.
type RouterConfig struct {
	Upstreams []*Upstream
	// Routes maps a model name to its chain of "provider/model" entries.
	Routes map[string][]string
	// ContextFallback maps a model name to larger-context routes.
	ContextFallback map[string][]string
	// VendorForModel gives the vendor a bare model name belongs to by prefix
	// (gpt- -> openai, claude- -> anthropic, ...).
	VendorForModel func(model string) (vendor string, ok bool)
	// Setup gives a new deployment its breaker, retry budget and pacer;
	// nil leaves it with none.
	Setup func(d *Deployment)
}

// NewRouter builds a Router.
func NewRouter(c RouterConfig) *Router {
	r := &Router{
		upstreams:   make(map[string]*Upstream, len(c.Upstreams)),
		routes:      c.Routes,
		ctxFall:     c.ContextFallback,
		vendorOf:    c.VendorForModel,
		setup:       c.Setup,
		deployments: make(map[string]*Deployment),
	}
	for _, u := range c.Upstreams {
		r.upstreams[u.Name] = u
		r.order = append(r.order, u.Name)
	}
	sort.Strings(r.order)
	if r.vendorOf == nil {
		r.vendorOf = func(string) (string, bool) { return "", false }
	}
	return r
}

// Upstream returns the provider named name.
func (r *Router) Upstream(name string) (*Upstream, bool) {
	u, ok := r.upstreams[name]
	return u, ok
}

// Upstreams returns every provider, sorted by name.
func (r *Router) Upstreams() []*Upstream {
	out := make([]*Upstream, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.upstreams[n])
	}
	return out
}

// deployment returns the shared Deployment for provider/model.
func (r *Router) deployment(u *Upstream, model string) *Deployment {
	key := u.Name + "/" + model
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.deployments[key]
	if !ok {
		d = newDeployment(u, model)
		if r.setup != nil {
			r.setup(d)
		}
		// Clients can invent model names that prefix routing accepts;
		// past the cap they get a deployment nobody else shares.
		if len(r.deployments) < maxDeployments {
			r.deployments[key] = d
		}
	}
	return d
}

// Deployment returns the deployment called name (provider/model), made
// on first use; nil when the provider is not configured.
func (r *Router) Deployment(name string) *Deployment {
	p, m, ok := strings.Cut(name, "/")
	u := r.upstreams[p]
	if !ok || u == nil || m == "" {
		return nil
	}
	return r.deployment(u, m)
}

// Deployments returns every deployment used so far, sorted by name.
func (r *Router) Deployments() []*Deployment {
	r.mu.Lock()
	out := make([]*Deployment, 0, len(r.deployments))
	for _, d := range r.deployments {
		out = append(out, d)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Resolve returns the chain for model: an explicit route from config, else
// an explicit provider/model name, else the provider serving that model or
// prefix. An unknown model is a KindNotFound error naming what is available.
func (r *Router) Resolve(model string) ([]*Deployment, error) {
	if model == "" {
		return nil, &provider.Error{Kind: provider.KindBadRequest, Param: "model",
			Message: "the request has no model: set \"model\" to one of the models this gateway serves (GET /v1/models lists them)"}
	}
	if chain, ok := r.routes[model]; ok {
		return r.chain(chain)
	}
	if p, m, ok := strings.Cut(model, "/"); ok {
		if u, ok := r.upstreams[p]; ok && m != "" {
			return []*Deployment{r.deployment(u, m)}, nil
		}
	}
	if u := r.byModel(model); u != nil {
		return []*Deployment{r.deployment(u, model)}, nil
	}
	if vendor, ok := r.vendorOf(model); ok {
		if u := r.forVendor(vendor); u != nil {
			return []*Deployment{r.deployment(u, model)}, nil
		}
		return nil, &provider.Error{Kind: provider.KindNotFound, Param: "model", Code: "model_not_found",
			Message: fmt.Sprintf("model %q is served by %s, which is not configured: %s", model, vendor, keyHint(vendor))}
	}
	msg := fmt.Sprintf("model %q is not served by this gateway", model)
	if near := closest(model, r.ModelNames(), 3); len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, ", ") + "?"
	}
	return nil, &provider.Error{Kind: provider.KindNotFound, Param: "model", Code: "model_not_found",
		Message: fmt.Sprintf("%s Available: %s. Add it under models: in the config, or ask for provider/model (e.g. %s)",
			msg, strings.Join(r.Available(12), ", "), r.example(model))}
}

// ContextFallback returns the larger-context chain configured for model.
func (r *Router) ContextFallback(model string) ([]*Deployment, error) {
	chain, ok := r.ctxFall[model]
	if !ok {
		return nil, nil
	}
	return r.chain(chain)
}

func (r *Router) hasContextFallback(model string) bool {
	_, ok := r.ctxFall[model]
	return ok
}

func (r *Router) chain(entries []string) ([]*Deployment, error) {
	out := make([]*Deployment, 0, len(entries))
	for _, e := range entries {
		p, m, _ := strings.Cut(e, "/")
		u, ok := r.upstreams[p]
		if !ok { // validation rejects this; be safe at run time
			return nil, provider.Errorf(provider.KindServer, "route entry %q names unknown provider %q", e, p)
		}
		out = append(out, r.deployment(u, m))
	}
	return out, nil
}

func (r *Router) byModel(model string) *Upstream {
	for _, n := range r.order {
		u := r.upstreams[n]
		for _, m := range u.Models {
			if m == model {
				return u
			}
		}
	}
	for _, n := range r.order {
		u := r.upstreams[n]
		for _, p := range u.Prefixes {
			if strings.HasPrefix(model, p) {
				return u
			}
		}
	}
	return nil
}

// forVendor finds the provider for a vendor: the provider named after it,
// else the only provider of the vendor's wire format when the vendor is a
// format name itself (openai, anthropic, gemini).
func (r *Router) forVendor(vendor string) *Upstream {
	if u, ok := r.upstreams[vendor]; ok {
		return u
	}
	var found *Upstream
	for _, n := range r.order {
		u := r.upstreams[n]
		if string(u.Format) == vendor && u.Vendor == vendor {
			if found != nil {
				return nil
			}
			found = u
		}
	}
	return found
}

// Available lists model names clients can ask for: configured routes and
// each provider's listed models (at most max, then "...").
func (r *Router) Available(max int) []string {
	names := r.ModelNames()
	if len(names) == 0 {
		for _, n := range r.order {
			names = append(names, n+"/<model>")
		}
	}
	if max > 0 && len(names) > max {
		names = append(names[:max:max], "...")
	}
	return names
}

// ModelNames lists configured routes and providers' listed models, sorted.
func (r *Router) ModelNames() []string {
	seen := map[string]bool{}
	var names []string
	for m := range r.routes {
		if !seen[m] {
			seen[m] = true
			names = append(names, m)
		}
	}
	for _, n := range r.order {
		for _, m := range r.upstreams[n].Models {
			if !seen[m] {
				seen[m] = true
				names = append(names, m)
			}
		}
	}
	sort.Strings(names)
	return names
}

func (r *Router) example(model string) string {
	if len(r.order) == 0 {
		return "openai/gpt-4o"
	}
	return r.order[0] + "/" + model
}

// keyHint says how to configure a vendor's provider.
func keyHint(vendor string) string {
	if env := keyEnv(vendor); env != "" {
		return fmt.Sprintf("export %s or add providers.%s to the config", env, vendor)
	}
	return fmt.Sprintf("add providers.%s to the config", vendor)
}

// keyEnv is the environment variable zero-config mode reads for a vendor.
func keyEnv(vendor string) string {
	switch vendor {
	case "openai":
		return "OPENAI_API_KEY"
	case "anthropic":
		return "ANTHROPIC_API_KEY"
	case "gemini":
		return "GEMINI_API_KEY"
	case "deepseek":
		return "DEEPSEEK_API_KEY"
	case "mistral":
		return "MISTRAL_API_KEY"
	case "groq":
		return "GROQ_API_KEY"
	}
	return ""
}

// Unroutable lists configured models none of whose routes can work without
// a key from the client (the providers need keys the gateway lacks).
func (r *Router) Unroutable() []string {
	var out []string
	for m, chain := range r.routes {
		ok := false
		var why []string
		for _, e := range chain {
			p, _, _ := strings.Cut(e, "/")
			u := r.upstreams[p]
			if u == nil {
				continue
			}
			if u.HasKey() || !u.RequiresKey {
				ok = true
				break
			}
			why = append(why, u.KeyHint())
		}
		if !ok {
			out = append(out, m+": "+strings.Join(why, "; "))
		}
	}
	sort.Strings(out)
	return out
}
