package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/server"
)

// Configuration reload (SIGHUP, POST /admin/reload): the file is read and
// validated whole, a new generation of router and gateway is built from it,
// and the server's atomic pointer is swapped. Requests in flight keep the
// gateway they started with; new requests use the new one. Deployments that
// did not change keep their breaker, retry budget and pacer (stateKeeper);
// providers that did not change keep their Upstream (connection pool,
// health). What only a restart can change is reported, not applied.

// reloadable are the config sections a reload applies to new requests;
// every other changed section is reported as needing a restart.
var reloadable = map[string]bool{
	"providers":                 true,
	"models":                    true,
	"resilience":                true,
	"server.stream_ping":        true,
	"request_log.store_content": true,
}

// diffSections lists the yaml paths of the sections that differ between
// two configurations, split into those a reload applies and the rest.
// server and request_log are compared field by field, since only some of
// their fields are reloadable.
func diffSections(old, cur *config.Config) (applied, restart []string) {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem()
	t := ov.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		of, nf := ov.Field(i), nv.Field(i)
		if reflect.DeepEqual(of.Interface(), nf.Interface()) {
			continue
		}
		paths := []string{tag}
		if tag == "server" || tag == "request_log" {
			paths = paths[:0]
			st := of.Type()
			for j := range st.NumField() {
				sub, _, _ := strings.Cut(st.Field(j).Tag.Get("yaml"), ",")
				if !reflect.DeepEqual(of.Field(j).Interface(), nf.Field(j).Interface()) {
					paths = append(paths, tag+"."+sub)
				}
			}
		}
		for _, p := range paths {
			if reloadable[p] {
				applied = append(applied, p)
			} else {
				restart = append(restart, p)
			}
		}
	}
	return applied, restart
}

// sameProvider reports whether provider name is configured identically in
// both configurations, so its Upstream (HTTP client, health) can be kept.
func sameProvider(old, cur *config.Config, name string) bool {
	op, np := old.Providers[name], cur.Providers[name]
	return op != nil && np != nil && reflect.DeepEqual(op, np) &&
		old.TimeoutsFor(name, "") == cur.TimeoutsFor(name, "")
}

// maxKept bounds the deployments whose state survives reloads.
const maxKept = 4096

// stateKeeper carries deployment state across configuration generations.
// A deployment is the same one when its provider name, model, base URL and
// API key are; each of its breaker, retry budget and pacer is kept while the
// settings it was built from are unchanged. It is safe for concurrent use.
type stateKeeper struct {
	mu sync.Mutex // protects following
	m  map[string]keptDeployment
}

type keptDeployment struct {
	d        *gateway.Deployment
	name     string // provider name
	provider string // identity of the provider: name, base URL, key hash
	settings deploymentSettings
}

// deploymentSettings are what a deployment's guard, budget and pacer were
// built from.
type deploymentSettings struct{ guard, budget, pacer string }

func newStateKeeper() *stateKeeper { return &stateKeeper{m: map[string]keptDeployment{}} }

// providerIdentity names a provider by what its deployments' state depends
// on; the key is hashed so the map holds no secret.
func providerIdentity(name, baseURL, apiKey string) string {
	h := sha256.Sum256([]byte(apiKey))
	return name + "\x00" + baseURL + "\x00" + hex.EncodeToString(h[:8])
}

func settingsOf(cfg *config.Config, u *gateway.Upstream) deploymentSettings {
	var s deploymentSettings
	s.guard = fmt.Sprintf("%+v", cfg.BreakerFor(u.Name))
	s.budget = fmt.Sprint(cfg.Resilience.Retry.BudgetRatio)
	if p := cfg.Providers[u.Name]; p != nil {
		s.pacer = fmt.Sprint(p.RPM, "/", p.TPM)
	}
	return s
}

// setup wraps base (which gives a new deployment fresh state): a deployment
// known from an earlier generation gets back each part whose settings are
// unchanged, and every deployment is remembered for the next generation.
func (k *stateKeeper) setup(cfg *config.Config, base func(*gateway.Deployment)) func(*gateway.Deployment) {
	return func(d *gateway.Deployment) {
		base(d)
		u := d.Upstream
		prov := providerIdentity(u.Name, u.Endpoint.BaseURL, u.Endpoint.APIKey)
		id := prov + "\x00" + d.Model
		s := settingsOf(cfg, u)
		k.mu.Lock()
		defer k.mu.Unlock()
		if old, ok := k.m[id]; ok {
			if old.settings.guard == s.guard {
				d.Guard = old.d.Guard
			}
			if old.settings.budget == s.budget {
				d.Budget = old.d.Budget
			}
			if old.settings.pacer == s.pacer {
				d.Pacer = old.d.Pacer
			}
		}
		if _, ok := k.m[id]; ok || len(k.m) < maxKept {
			k.m[id] = keptDeployment{d: d, name: u.Name, provider: prov, settings: s}
		}
	}
}

// reuse returns the earlier generation's deployment itself (in-flight
// count and latency included) when its provider is the same Upstream and
// its settings are unchanged.
func (k *stateKeeper) reuse(cfg *config.Config) func(*gateway.Upstream, string) *gateway.Deployment {
	return func(u *gateway.Upstream, model string) *gateway.Deployment {
		id := providerIdentity(u.Name, u.Endpoint.BaseURL, u.Endpoint.APIKey) + "\x00" + model
		k.mu.Lock()
		old, ok := k.m[id]
		k.mu.Unlock()
		if ok && old.d.Upstream == u && old.settings == settingsOf(cfg, u) {
			return old.d
		}
		return nil
	}
}

// warm makes r create, now, the deployments earlier generations knew for
// its providers, so /health and metrics show their kept breaker states
// before the first request after a reload reaches them.
func (k *stateKeeper) warm(r *gateway.Router) {
	k.mu.Lock()
	names := make([]string, 0, len(k.m))
	for _, e := range k.m {
		names = append(names, e.name+"/"+e.d.Model)
	}
	k.mu.Unlock()
	for _, n := range names {
		_, _ = r.Resolve(n)
	}
}

// prune forgets deployments of providers cfg no longer has.
func (k *stateKeeper) prune(cfg *config.Config) {
	live := map[string]bool{}
	for n, p := range cfg.Providers {
		live[providerIdentity(n, p.BaseURL, p.APIKey)] = true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, e := range k.m {
		if !live[e.provider] {
			delete(k.m, id)
		}
	}
}

// Live returns the generation of router and gateway new requests use now
// (App.Router and App.Gateway are the first one).
func (a *App) Live() (*gateway.Router, *gateway.Gateway) {
	p := a.live.Load()
	return p.router, p.gateway
}

// LiveConfig is the configuration new requests are served with.
func (a *App) LiveConfig() *config.Config { return a.live.Load().cfg }

// Reload re-reads the configuration with a.LoadConfig, validates it whole,
// and swaps it in for new requests. An invalid file keeps the running
// configuration; the result (also logged, and shown by GET /health) says
// why, with file:line:col. Reloads are serialized.
func (a *App) Reload(ctx context.Context) server.ReloadResult {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cur := a.live.Load()
	a.statusMu.Lock()
	res := server.ReloadResult{File: cur.cfg.File, Generation: a.generation, Time: time.Now().UTC()}
	a.statusMu.Unlock()
	fail := func(err error) server.ReloadResult {
		res.Error = "the configuration was not reloaded; the running one stays: " + err.Error()
		var ce *config.Errors
		if errors.As(err, &ce) {
			res.Error = fmt.Sprintf("the configuration was not reloaded; the running one stays: %d problem(s) in %s", len(ce.Problems), res.File)
			for _, p := range ce.Problems {
				res.Problems = append(res.Problems, p.String())
			}
		}
		a.logger.Error("config reload failed", "file", res.File, "err", err)
		a.statusMu.Lock()
		a.lastReload = &res
		a.statusMu.Unlock()
		return res
	}
	if a.LoadConfig == nil {
		return fail(errors.New("llmgate runs in zero-config mode (no --config file): there is nothing to re-read; restart it to pick up new environment variables"))
	}
	cfg, err := a.LoadConfig()
	if err != nil {
		return fail(err)
	}
	res.File = cfg.File
	p, err := rebuildParts(cfg, a.rec, a.gwOpts, carry{prev: cur, keep: a.keep, tel: a.tel, bus: a.bus})
	if err != nil {
		return fail(err)
	}
	p.gateway.Inherit(cur.gateway)
	a.keep.prune(cfg)
	a.keep.warm(p.router)
	a.live.Store(p)
	a.Server.SetGateway(p.gateway, p.models)
	a.Metrics.SetModels(modelNames(cfg))
	// Idle connections of providers that changed are closed now; busy ones
	// close when their requests finish.
	for _, u := range cur.router.Upstreams() {
		if nu, ok := p.router.Upstream(u.Name); !ok || nu != u {
			u.Client.CloseIdleConnections()
		}
	}
	res.OK = true
	res.Applied, res.RestartRequired = diffSections(cur.cfg, cfg)
	a.statusMu.Lock()
	a.generation++
	a.loadedAt = res.Time
	res.Generation = a.generation
	a.lastReload = &res
	a.statusMu.Unlock()
	a.logger.Info("config reloaded", "file", res.File, "generation", res.Generation,
		"applied", strings.Join(res.Applied, ","), "restart_required", strings.Join(res.RestartRequired, ","))
	if len(res.RestartRequired) > 0 {
		a.logger.Warn("config reload: some changes need a restart; their running values stay",
			"sections", strings.Join(res.RestartRequired, ","))
	}
	return res
}

// configStatus is GET /health's view of the running configuration.
func (a *App) configStatus() server.ConfigStatus {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	st := server.ConfigStatus{File: a.live.Load().cfg.File, Generation: a.generation, LoadedAt: a.loadedAt}
	if a.lastReload != nil {
		r := *a.lastReload
		st.LastReload = &r
	}
	return st
}

// modelNames are the configured model names, routes and providers'
// listed models (the bounded set of model label values in metrics).
func modelNames(cfg *config.Config) []string {
	out := make([]string, 0, len(cfg.Models))
	for m := range cfg.Models {
		out = append(out, m)
	}
	for _, p := range cfg.Providers {
		out = append(out, p.Models...)
	}
	return out
}
