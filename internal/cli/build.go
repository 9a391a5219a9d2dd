package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/llmgate/llmgate/internal/catalog"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/fleet"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/retry"
	"github.com/llmgate/llmgate/internal/server"
	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/postgres"
	"github.com/llmgate/llmgate/internal/store/sqlite"
	"github.com/llmgate/llmgate/internal/telemetry"
	"github.com/llmgate/llmgate/internal/tokens"
)

// loadConfig loads the config file, or builds the zero-config one from the
// environment when path is "".
func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	if path == "" {
		return config.FromEnv(getenv), nil
	}
	return config.Load(path, getenv)
}

// buildUpstream makes the run-time provider for one configured provider.
func buildUpstream(cfg *config.Config, name string, p *config.Provider) (*gateway.Upstream, error) {
	u := &gateway.Upstream{
		Name:     name,
		Vendor:   vendorOf(name, p),
		Format:   provider.Format(p.Type),
		Models:   p.Models,
		Prefixes: p.Prefixes,
		Timeouts: cfg.TimeoutsFor(name, ""),
		Weight:   p.Weight,
		Endpoint: provider.Endpoint{Provider: name, BaseURL: p.BaseURL, APIKey: p.APIKey, Header: headerOf(p.Headers)},
	}
	u.RequiresKey = gateway.RequiresKey(p.BaseURL)
	u.Client = &http.Client{Transport: gateway.NewTransport(u.Timeouts, p.Protocol)}
	wf := wireFormats[u.Format]
	if wf.upstream == nil {
		return nil, fmt.Errorf("provider %s: unknown type %q", name, p.Type)
	}
	wf.upstream(u, p)
	return u, nil
}

// vendorOf names the vendor behind a provider: its name when that is a
// known vendor, else guessed from the base URL host.
func vendorOf(name string, p *config.Provider) string {
	switch name {
	case "openai", "anthropic", "gemini", "deepseek", "mistral", "groq", "openrouter", "ollama":
		return name
	}
	if u, err := url.Parse(p.BaseURL); err == nil {
		h := u.Hostname()
		for host, v := range map[string]string{"api.openai.com": "openai", "api.anthropic.com": "anthropic",
			"generativelanguage.googleapis.com": "gemini", "api.deepseek.com": "deepseek", "api.mistral.ai": "mistral",
			"api.groq.com": "groq", "openrouter.ai": "openrouter"} {
			if h == host {
				return v
			}
		}
	}
	return ""
}

func headerOf(m map[string]string) http.Header {
	if len(m) == 0 {
		return nil
	}
	h := make(http.Header, len(m))
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// parts are the components built from a config, before anything listens.
type parts struct {
	cfg     *config.Config
	router  *gateway.Router
	gateway *gateway.Gateway
	models  func() []server.ModelInfo
}

// buildParts builds the router and gateway from cfg. rec may be nil.
func buildParts(cfg *config.Config, rec gateway.Recorder, opts gateway.Options) (*parts, error) {
	return rebuildParts(cfg, rec, opts, carry{})
}

// carry is what a generation of parts takes from the app: all optional.
type carry struct {
	// prev is the generation being replaced: providers whose settings did
	// not change keep its Upstream (connections, health).
	prev *parts
	// keep carries deployment state (breakers, retry budgets, pacers)
	// across generations.
	keep *stateKeeper
	// tel traces upstream attempts of new Upstreams.
	tel *telemetry.Tracing
	// bus shares deployment state with the other replicas.
	bus *fleet.Bus
}

// rebuildParts is buildParts for the app and its configuration reloads.
func rebuildParts(cfg *config.Config, rec gateway.Recorder, opts gateway.Options, c carry) (*parts, error) {
	prev, keep := c.prev, c.keep
	names := make([]string, 0, len(cfg.Providers))
	for n := range cfg.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	ups := make([]*gateway.Upstream, 0, len(names))
	for _, n := range names {
		if prev != nil && sameProvider(prev.cfg, cfg, n) {
			if u, ok := prev.router.Upstream(n); ok {
				ups = append(ups, u)
				continue
			}
		}
		u, err := buildUpstream(cfg, n, cfg.Providers[n])
		if err != nil {
			return nil, err
		}
		if c.tel != nil {
			u.Client.Transport = c.tel.Transport(n, u.Client.Transport)
		}
		ups = append(ups, u)
	}
	routes := map[string][]string{}
	ctxFall := map[string][]string{}
	for m, mc := range cfg.Models {
		routes[m] = mc.Route
		if len(mc.ContextFallback) > 0 {
			ctxFall[m] = mc.ContextFallback
		}
	}
	clk := clock.Real{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rc := gateway.RouterConfig{Upstreams: ups, Routes: routes, ContextFallback: ctxFall,
		VendorForModel: catalog.VendorForModel, Setup: newSetup(cfg, clk, opts.Logger, c.bus)}
	if keep != nil {
		rc.Setup, rc.Reuse = keep.setup(cfg, rc.Setup), keep.reuse(cfg)
	}
	router := gateway.NewRouter(rc)
	res := cfg.Resilience
	opts.Router = router
	opts.Clients = clientCodecs()
	opts.Recorder = rec
	opts.Clock = clk
	opts.MaxAttempts = res.MaxAttempts
	opts.RequestTimeout = res.RequestTimeout
	opts.Backoff = retry.Policy{Base: res.Retry.Base, Multiplier: res.Retry.Multiplier, Cap: res.Retry.Cap}
	opts.MaxRetryWait = res.Retry.MaxRetryWait
	opts.Estimate = tokens.EstimateRequest
	opts.InputBound = tokens.BodyBound
	opts.CountText = tokens.Count
	opts.StoreContent = cfg.RequestLog.StoreContent
	opts.MaxQueueWait = res.MaxQueueWait
	opts.StreamPing = cfg.Server.StreamPing
	opts.IdempotencyTTL = res.IdempotencyTTL
	opts.MaxResponseBytes = res.MaxResponseBytes
	opts.MaxStreamBytes = res.MaxStreamBytes
	opts.StreamHold = res.StreamHold
	opts.Timeouts = cfg.TimeoutsFor
	opts.ContextWindow = func(model string) int {
		if m, ok := catalog.Lookup(model); ok {
			return m.ContextWindow
		}
		return 0
	}
	opts.MaxOutput = func(model string) int {
		if m, ok := catalog.Lookup(model); ok {
			return m.MaxOutput
		}
		return 0
	}
	opts.Policy = func(model string) gateway.ModelPolicy {
		mc := cfg.Models[model]
		if mc == nil {
			return gateway.ModelPolicy{}
		}
		mp := gateway.ModelPolicy{Strategy: mc.Strategy, Truncate: mc.TruncateOnOverflow, ContextWindow: mc.ContextWindow,
			StaleIfError: mc.StaleIfError, FallbackOutsideKeyModels: mc.FallbackOutsideKeyModels}
		if mc.Hedge != nil {
			mp.Hedge, mp.HedgeDelay = true, mc.Hedge.Delay
		}
		return mp
	}
	g := gateway.New(opts)
	return &parts{cfg: cfg, router: router, gateway: g, models: modelLister(cfg, router)}, nil
}

// modelLister lists what GET /v1/models reports: configured routes, each
// provider's listed models, and the catalog's models for configured vendors.
func modelLister(cfg *config.Config, r *gateway.Router) func() []server.ModelInfo {
	return func() []server.ModelInfo {
		seen := map[string]bool{}
		var out []server.ModelInfo
		add := func(id, owner string) {
			if seen[id] {
				return
			}
			seen[id] = true
			mi := server.ModelInfo{ID: id, OwnedBy: owner}
			if m, ok := catalog.Lookup(id); ok {
				mi.DisplayName, mi.Created, mi.Context, mi.MaxOutput = m.DisplayName, m.Created, m.ContextWindow, m.MaxOutput
			}
			out = append(out, mi)
		}
		for _, m := range r.ModelNames() {
			owner := "llmgate"
			if mc, ok := cfg.Models[m]; ok && len(mc.Route) > 0 {
				owner, _, _ = strings.Cut(mc.Route[0], "/")
			}
			add(m, owner)
		}
		for _, u := range r.Upstreams() {
			if u.Vendor == "" {
				continue
			}
			for _, m := range catalog.ForVendor(u.Vendor) {
				add(m.ID, u.Name)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out
	}
}

// openStore opens the configured store.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, string, error) {
	switch cfg.Storage.Driver {
	case "postgres":
		s, err := postgres.Open(ctx, cfg.Storage.DSN)
		if err != nil {
			return nil, "", fmt.Errorf("opening PostgreSQL (storage.dsn): %w", err)
		}
		return s, "postgres", nil
	default:
		path := filepath.Join(cfg.Storage.DataDir, "llmgate.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, "", fmt.Errorf("opening the SQLite store %s (storage.data_dir): %w", path, err)
		}
		return s, path, nil
	}
}
