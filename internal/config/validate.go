package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks the configuration as a whole and returns every problem,
// each with the path of the field at fault (positions are filled in by
// Load). It expects defaults to be applied: a zero value that has a
// default is reported as missing. It does not modify c.
func (c *Config) Validate() []Problem {
	v := &validator{file: c.File}
	c.validate(v)
	return v.problems
}

// validator collects problems.
type validator struct {
	file     string
	problems []Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// addKey reports a problem with the key of path (e.g. a bad name).
func (v *validator) addKey(path, format string, args ...any) {
	v.add(path, format, args...)
	v.problems[len(v.problems)-1].atKey = true
}

func (v *validator) nonNegative(path string, d time.Duration) {
	if d < 0 {
		v.add(path, "must not be negative, got %s; use a duration like \"30s\"", d)
	}
}

func (v *validator) nonNegativeInt(path string, n int64) {
	if n < 0 {
		v.add(path, "must not be negative, got %d", n)
	}
}

func (v *validator) nonNegativeFloat(path string, f float64) {
	if !(f >= 0) {
		v.add(path, "must not be negative, got %v", f)
	}
}

func (v *validator) ratio(path string, f float64) {
	if !(f >= 0 && f <= 1) {
		v.add(path, "must be between 0 and 1, got %v", f)
	}
}

func (c *Config) validate(v *validator) {
	validateListen(v, c.Listen)

	v.nonNegativeInt("server.max_body_bytes", c.Server.MaxBodyBytes)
	v.nonNegative("server.read_header_timeout", c.Server.ReadHeaderTimeout)
	v.nonNegative("server.body_read_timeout", c.Server.BodyReadTimeout)
	v.nonNegativeInt("server.max_connections", int64(c.Server.MaxConnections))
	v.nonNegative("server.idle_timeout", c.Server.IdleTimeout)
	v.nonNegative("server.shutdown_timeout", c.Server.ShutdownTimeout)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}
	v.nonNegativeInt("request_log.ring_size", int64(c.RequestLog.RingSize))

	switch c.Telemetry.Protocol {
	case "", "grpc", "http/protobuf":
	default:
		v.add("telemetry.protocol", "unknown protocol %q (want grpc or http/protobuf)", c.Telemetry.Protocol)
	}
	if r := c.Telemetry.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		v.add("telemetry.sample_ratio", "must be between 0 and 1, got %v", *r)
	}

	switch c.Storage.Driver {
	case "sqlite":
		if c.Storage.DSN != "" {
			v.add("storage.dsn", "is set but storage.driver is sqlite; set driver: postgres to use it, or remove dsn")
		}
	case "postgres":
		if c.Storage.DSN == "" {
			v.add("storage.dsn", "required with driver postgres; set it, e.g. dsn: postgres://llmgate:${PGPASSWORD}@db:5432/llmgate")
		}
	default:
		v.add("storage.driver", "unknown driver %q (want sqlite or postgres)", c.Storage.Driver)
	}

	validateResilience(v, "resilience", &c.Resilience)

	if len(c.Providers) == 0 {
		v.add("providers", "no providers configured; add at least one, e.g. providers: {openai: {type: openai, api_key: ${OPENAI_API_KEY}}}")
	}
	for _, name := range sortedKeys(c.Providers) {
		validateProvider(v, name, c.Providers[name])
	}
	for _, name := range sortedKeys(c.Models) {
		c.validateModel(v, name, c.Models[name])
	}
	validateGovernance(v, &c.Governance)
}

func validateListen(v *validator, listen string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		v.add("listen", "%q is not host:port; write e.g. 127.0.0.1:8766, or :8766 for every interface", listen)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.add("listen", "port %q in %q is not a number from 0 to 65535", port, listen)
	}
	if strings.ContainsAny(host, " /") {
		v.add("listen", "host %q in %q is not a host name or IP address", host, listen)
	}
}

func validateResilience(v *validator, path string, r *Resilience) {
	validateRetry(v, path+".retry", &r.Retry)
	validateBreaker(v, path+".breaker", &r.Breaker)
	validateTimeouts(v, path+".timeouts", &r.Timeouts)
	v.nonNegativeInt(path+".max_attempts", int64(r.MaxAttempts))
	v.nonNegative(path+".request_timeout", r.RequestTimeout)
	v.nonNegative(path+".max_queue_wait", r.MaxQueueWait)
	v.nonNegative(path+".idempotency_ttl", r.IdempotencyTTL)
	v.nonNegativeInt(path+".max_response_bytes", r.MaxResponseBytes)
	v.nonNegativeInt(path+".max_stream_bytes", r.MaxStreamBytes)
}

func validateRetry(v *validator, path string, r *Retry) {
	v.nonNegative(path+".base", r.Base)
	v.nonNegative(path+".cap", r.Cap)
	v.nonNegative(path+".max_retry_wait", r.MaxRetryWait)
	if !(r.Multiplier >= 1) {
		v.add(path+".multiplier", "must be at least 1 (backoff never shrinks), got %v", r.Multiplier)
	}
	if r.Cap > 0 && r.Base > r.Cap {
		v.add(path+".cap", "%s is below base %s; raise cap or lower base", r.Cap, r.Base)
	}
	v.ratio(path+".budget_ratio", r.BudgetRatio)
}

func validateBreaker(v *validator, path string, b *Breaker) {
	if b.Failures < -1 {
		v.add(path+".failures", "must be a count of consecutive failures, or -1 to disable the rule; got %d", b.Failures)
	}
	if b.Ratio != -1 {
		v.ratio(path+".ratio", b.Ratio)
	}
	v.nonNegativeInt(path+".min_requests", int64(b.MinRequests))
	v.nonNegative(path+".window", b.Window)
	v.nonNegative(path+".ejection_time", b.EjectionTime)
	v.nonNegative(path+".max_ejection_time", b.MaxEjectionTime)
	v.nonNegative(path+".recovery_timeout", b.RecoveryTimeout)
	if b.EjectionTime > 0 && b.MaxEjectionTime > 0 && b.MaxEjectionTime < b.EjectionTime {
		v.add(path+".max_ejection_time", "%s is below ejection_time %s; raise it or lower ejection_time", b.MaxEjectionTime, b.EjectionTime)
	}
	v.nonNegativeInt(path+".half_open_requests", int64(b.HalfOpenRequests))
}

func validateTimeouts(v *validator, path string, t *Timeouts) {
	v.nonNegative(path+".connect", t.Connect)
	v.nonNegative(path+".response_header", t.ResponseHeader)
	v.nonNegative(path+".first_token", t.FirstToken)
	v.nonNegative(path+".idle", t.Idle)
	v.nonNegative(path+".total", t.Total)
}

// validName reports whether a provider name is made of [a-z0-9_-].
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validateProvider(v *validator, name string, p *Provider) {
	path := joinPath("providers", name)
	if !validName(name) {
		v.addKey(path, "provider name %q may only use a-z, 0-9, _ and -; rename it (and the routes that use it)", name)
	}
	if p == nil {
		v.add(path, "is empty; set at least type: openai, anthropic or gemini")
		return
	}
	typeOK := true
	switch p.Type {
	case "openai", "anthropic", "gemini":
	case "":
		typeOK = false
		v.add(path+".type", "missing; set type: openai, anthropic or gemini (openai also covers every OpenAI-compatible server)")
	default:
		typeOK = false
		v.add(path+".type", "unknown provider type %q (want openai, anthropic or gemini)", p.Type)
	}
	if p.BaseURL != "" || typeOK {
		validateURL(v, path+".base_url", p.BaseURL, "https://api.example.com/v1")
	}
	for _, h := range sortedKeys(p.Headers) {
		val := p.Headers[h]
		hp := joinPath(path+".headers", h)
		if !validHeaderName(h) {
			v.addKey(hp, "%q is not a valid HTTP header name", h)
		}
		if strings.ContainsAny(val, "\r\n") {
			v.add(hp, "header value must not contain line breaks")
		}
	}
	for i, m := range p.Models {
		if strings.TrimSpace(m) == "" {
			v.add(indexPath(path+".models", i), "empty model name; remove it or name a model")
		}
	}
	for i, m := range p.Prefixes {
		if m == "" {
			v.add(indexPath(path+".prefixes", i), "empty prefix would match every model; remove it")
		}
	}
	switch {
	case p.API == "" || p.API == APIChatCompletions || p.API == APIResponses:
		if p.API != "" && typeOK && p.Type != "openai" {
			v.add(path+".api", "api applies only to type: openai providers; a provider of type %s speaks its own API: remove it", p.Type)
		}
	default:
		v.add(path+".api", "unknown API %q (want chat_completions or responses: responses only if the server implements POST /responses)", p.API)
	}
	switch p.MaxTokensField {
	case "max_tokens", "max_completion_tokens":
	default:
		v.add(path+".max_tokens_field", "unknown field %q (want max_tokens or max_completion_tokens)", p.MaxTokensField)
	}
	v.nonNegativeInt(path+".rpm", int64(p.RPM))
	v.nonNegativeInt(path+".tpm", int64(p.TPM))
	v.nonNegativeInt(path+".weight", int64(p.Weight))
	switch p.Protocol {
	case "", ProtocolAuto, ProtocolH2C, ProtocolHTTP1:
	default:
		v.add(path+".protocol", "unknown protocol %q (want auto, h2c or http1)", p.Protocol)
	}
	if p.Timeouts != nil {
		validateTimeouts(v, path+".timeouts", p.Timeouts)
	}
	if p.Breaker != nil {
		validateBreaker(v, path+".breaker", p.Breaker)
	}
}

// validateURL reports a value that is not an absolute http(s) URL.
func validateURL(v *validator, path, raw, example string) {
	u, err := url.Parse(raw)
	if raw == "" {
		v.add(path, "missing; set an absolute http(s) URL, e.g. %s", example)
		return
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, "%q is not an absolute http(s) URL; write e.g. %s", redactURL(raw), example)
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (c *Config) validateModel(v *validator, name string, m *Model) {
	path := joinPath("models", name)
	if strings.TrimSpace(name) == "" {
		v.addKey(path, "empty model name; name the model clients ask for")
	}
	if m == nil {
		v.add(path+".route", "missing; list at least one provider/model entry, e.g. route: [openai/gpt-4o]")
		return
	}
	if len(m.Route) == 0 {
		v.add(path+".route", "missing or empty; list at least one provider/model entry, e.g. route: [openai/gpt-4o]")
	}
	c.validateChain(v, path+".route", m.Route)
	c.validateChain(v, path+".context_fallback", m.ContextFallback)
	switch m.Strategy {
	case "", "ordered", "weighted", "least_busy", "latency":
	default:
		v.add(path+".strategy", "unknown strategy %q (want ordered, weighted, least_busy or latency)", m.Strategy)
	}
	v.nonNegativeInt(path+".context_window", int64(m.ContextWindow))
	if m.Hedge != nil {
		v.nonNegative(path+".hedge.delay", m.Hedge.Delay)
	}
	if m.Timeouts != nil {
		validateTimeouts(v, path+".timeouts", m.Timeouts)
	}
}

// validateChain checks route-like lists: provider/model entries naming
// configured providers, none repeated.
func (c *Config) validateChain(v *validator, path string, chain []string) {
	first := make(map[string]int, len(chain))
	for i, e := range chain {
		ep := indexPath(path, i)
		prov, model, ok := strings.Cut(e, "/")
		if !ok || prov == "" || strings.TrimSpace(model) == "" {
			v.add(ep, "%q is not provider/model; write e.g. openai/gpt-4o", e)
			continue
		}
		if _, known := c.Providers[prov]; !known {
			v.add(ep, "%s", c.unknownProviderMsg(prov, e))
			continue
		}
		if j, dup := first[e]; dup {
			v.add(ep, "%q repeats entry %d of the chain; remove it (a chain that repeats an entry loops)", e, j)
			continue
		}
		first[e] = i
	}
}

func (c *Config) unknownProviderMsg(prov, entry string) string {
	names := sortedKeys(c.Providers)
	msg := fmt.Sprintf("unknown provider %q in %q", prov, entry)
	if len(names) == 0 {
		return msg + "; configure it under providers:"
	}
	if s := suggest(prov, names); s != "" {
		return msg + fmt.Sprintf("; did you mean %s?", s)
	}
	return msg + fmt.Sprintf(" (configured: %s)", strings.Join(names, ", "))
}

func validateGovernance(v *validator, g *Governance) {
	v.nonNegativeFloat("governance.spend_guard.hourly", g.SpendGuard.Hourly)
	v.nonNegativeFloat("governance.spend_guard.daily", g.SpendGuard.Daily)
	v.nonNegativeFloat("governance.max_request_cost", g.MaxRequestCost)
	switch g.UnknownPrice {
	case "record", "block":
	default:
		v.add("governance.unknown_price", "unknown value %q (want record or block)", g.UnknownPrice)
	}
	for _, model := range sortedKeys(g.Prices) {
		p := g.Prices[model]
		path := joinPath("governance.prices", model)
		v.nonNegativeFloat(path+".input", p.Input)
		v.nonNegativeFloat(path+".output", p.Output)
		v.nonNegativeFloat(path+".cached_input", p.CachedInput)
	}
	if g.BudgetWebhook != "" {
		validateURL(v, "governance.budget_webhook", g.BudgetWebhook, "https://hooks.example.com/llmgate")
	}
	v.nonNegative("governance.key_cache_ttl", g.KeyCacheTTL)
	if g.HoldTTL != 0 && g.HoldTTL < 100*time.Millisecond {
		v.add("governance.hold_ttl", "must be at least 100ms (replicas renew their holds every hold_ttl/4), not %v; the default is 15s", g.HoldTTL)
	}
	if addr := g.Redis.Addr; addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || strings.ContainsAny(host, " /") {
			v.add("governance.redis.addr", "%q is not host:port; write e.g. 127.0.0.1:6379", addr)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			v.add("governance.redis.addr", "port %q in %q is not a number from 0 to 65535", port, addr)
		}
	}
	if g.Redis.DB < 0 {
		v.add("governance.redis.db", "must be 0 or more, not %d", g.Redis.DB)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
