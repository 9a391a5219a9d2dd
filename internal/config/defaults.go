package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults that are not derived from the environment or the vendor.
const (
	DefaultListen            = "127.0.0.1:8766"
	DefaultMaxBodyBytes      = 32 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyReadTimeout   = 30 * time.Second
	DefaultMaxConnections    = 4096
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultRingSize          = 1000
	DefaultKeyCacheTTL       = 5 * time.Second
	DefaultHoldTTL           = 15 * time.Second
	DefaultRedisPrefix       = "llmgate:"
)

// typeBaseURLs are the default base URLs per wire format.
var typeBaseURLs = map[string]string{
	"openai":    "https://api.openai.com/v1",
	"anthropic": "https://api.anthropic.com",
	"gemini":    "https://generativelanguage.googleapis.com",
}

// vendor is a well-known upstream: a provider with this name and type gets
// this base URL by default.
type vendor struct{ typ, baseURL string }

var vendors = map[string]vendor{
	"openai":     {"openai", "https://api.openai.com/v1"},
	"anthropic":  {"anthropic", "https://api.anthropic.com"},
	"gemini":     {"gemini", "https://generativelanguage.googleapis.com"},
	"deepseek":   {"openai", "https://api.deepseek.com/v1"},
	"mistral":    {"openai", "https://api.mistral.ai/v1"},
	"groq":       {"openai", "https://api.groq.com/openai/v1"},
	"openrouter": {"openai", "https://openrouter.ai/api/v1"},
	"ollama":     {"openai", "http://127.0.0.1:11434/v1"},
}

// DefaultBaseURL returns the base URL a provider named name of wire format
// typ gets when none is configured: the vendor's for a known name of that
// type, else the type's; "" for an unknown type.
func DefaultBaseURL(name, typ string) string {
	if v, ok := vendors[name]; ok && v.typ == typ {
		return v.baseURL
	}
	return typeBaseURLs[typ]
}

// DefaultResilience returns resilience settings with every default filled.
func DefaultResilience() Resilience {
	return Resilience{
		Retry: Retry{
			Base:         250 * time.Millisecond,
			Multiplier:   2,
			Cap:          8 * time.Second,
			MaxRetryWait: 10 * time.Second,
			BudgetRatio:  0.5,
		},
		Breaker: Breaker{
			Failures:         5,
			Ratio:            0.5,
			MinRequests:      20,
			Window:           30 * time.Second,
			EjectionTime:     5 * time.Second,
			MaxEjectionTime:  2 * time.Minute,
			HalfOpenRequests: 1,
		},
		Timeouts: Timeouts{
			Connect:        10 * time.Second,
			ResponseHeader: 60 * time.Second,
			FirstToken:     60 * time.Second,
			Idle:           60 * time.Second,
			Total:          10 * time.Minute,
		},
		MaxAttempts:      5,
		RequestTimeout:   10 * time.Minute,
		MaxQueueWait:     10 * time.Second,
		IdempotencyTTL:   10 * time.Minute,
		MaxResponseBytes: 16 << 20,
		MaxStreamBytes:   64 << 20,
		StreamHold:       time.Second,
	}
}

// ApplyDefaults fills every zero field with the default documented on it,
// reading LLMGATE_MASTER_KEY, LLMGATE_LOG_LEVEL, LLMGATE_DATA_DIR and HOME
// through getenv (nil: an empty environment). It also trims a trailing /
// from base URLs, expands a leading ~/ in the data dir, and fills the zero
// fields of per-provider timeouts and breaker overrides from resilience.
// Applying it twice changes nothing. Load and FromEnv call it.
func (c *Config) ApplyDefaults(getenv func(string) string) {
	if getenv == nil {
		getenv = noEnv
	}
	setString(&c.Listen, DefaultListen)
	setString(&c.MasterKey, getenv("LLMGATE_MASTER_KEY"))

	setInt(&c.Server.MaxBodyBytes, DefaultMaxBodyBytes)
	setInt(&c.Server.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setInt(&c.Server.BodyReadTimeout, DefaultBodyReadTimeout)
	setInt(&c.Server.MaxConnections, DefaultMaxConnections)
	setInt(&c.Server.IdleTimeout, DefaultIdleTimeout)
	setInt(&c.Server.ShutdownTimeout, DefaultShutdownTimeout)

	setString(&c.Log.Level, getenv("LLMGATE_LOG_LEVEL"))
	setString(&c.Log.Level, "info")
	setString(&c.Log.Format, "text")

	setInt(&c.RequestLog.RingSize, DefaultRingSize)
	setBool(&c.RequestLog.Persist, true)

	setString(&c.Storage.Driver, "sqlite")
	setString(&c.Storage.DataDir, getenv("LLMGATE_DATA_DIR"))
	home := strings.TrimSuffix(getenv("HOME"), "/")
	if c.Storage.DataDir == "" {
		c.Storage.DataDir = ".llmgate"
		if home != "" {
			c.Storage.DataDir = home + "/.llmgate"
		}
	} else if rest, ok := strings.CutPrefix(c.Storage.DataDir, "~/"); ok && home != "" {
		c.Storage.DataDir = home + "/" + rest
	}

	r := &c.Resilience
	def := DefaultResilience()
	fillRetry(&r.Retry, def.Retry)
	fillBreaker(&r.Breaker, def.Breaker)
	fillTimeouts(&r.Timeouts, def.Timeouts)
	setInt(&r.MaxAttempts, def.MaxAttempts)
	setInt(&r.RequestTimeout, def.RequestTimeout)
	setInt(&r.MaxQueueWait, def.MaxQueueWait)
	setInt(&r.IdempotencyTTL, def.IdempotencyTTL)
	setInt(&r.MaxResponseBytes, def.MaxResponseBytes)
	setInt(&r.MaxStreamBytes, def.MaxStreamBytes)
	setInt(&r.StreamHold, def.StreamHold)

	for name, p := range c.Providers {
		if p == nil {
			continue
		}
		setString(&p.BaseURL, DefaultBaseURL(name, p.Type))
		if p.BaseURL != "" && strings.HasSuffix(p.BaseURL, "/") {
			p.BaseURL = strings.TrimRight(p.BaseURL, "/")
		}
		setString(&p.MaxTokensField, defaultMaxTokensField(p.BaseURL))
		if p.Type == "openai" {
			setString(&p.API, DefaultAPI(p.BaseURL))
		}
		setBool(&p.StreamUsage, true)
		setInt(&p.Weight, 1)
		if p.Timeouts != nil {
			fillTimeouts(p.Timeouts, r.Timeouts)
		}
		if p.Breaker != nil {
			fillBreaker(p.Breaker, r.Breaker)
		}
	}
	for _, m := range c.Models {
		if m != nil {
			setString(&m.Strategy, "ordered")
		}
	}

	setString(&c.Governance.UnknownPrice, "record")
	setInt(&c.Governance.KeyCacheTTL, DefaultKeyCacheTTL)
	setInt(&c.Governance.HoldTTL, DefaultHoldTTL)
	setString(&c.Governance.Redis.Prefix, DefaultRedisPrefix)
}

// The OpenAI APIs an openai-type provider may serve (Provider.API).
const (
	APIChatCompletions = "chat_completions"
	APIResponses       = "responses"
)

// DefaultAPI is responses for OpenAI itself and chat_completions for every
// other OpenAI-compatible server: most implement only chat completions,
// and the gateway translates Responses requests for them.
func DefaultAPI(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && strings.EqualFold(u.Hostname(), "api.openai.com") {
		return APIResponses
	}
	return APIChatCompletions
}

// defaultMaxTokensField is max_completion_tokens for OpenAI itself and
// max_tokens for every other OpenAI-compatible server.
func defaultMaxTokensField(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && strings.EqualFold(u.Hostname(), "api.openai.com") {
		return "max_completion_tokens"
	}
	return "max_tokens"
}

func fillRetry(r *Retry, def Retry) {
	setInt(&r.Base, def.Base)
	setFloat(&r.Multiplier, def.Multiplier)
	setInt(&r.Cap, def.Cap)
	setInt(&r.MaxRetryWait, def.MaxRetryWait)
	setFloat(&r.BudgetRatio, def.BudgetRatio)
}

func fillBreaker(b *Breaker, def Breaker) {
	if b.EjectionTime == 0 {
		b.EjectionTime = b.RecoveryTimeout // the old name
	}
	b.RecoveryTimeout = 0
	setInt(&b.Failures, def.Failures)
	setFloat(&b.Ratio, def.Ratio)
	setInt(&b.MinRequests, def.MinRequests)
	setInt(&b.Window, def.Window)
	setInt(&b.EjectionTime, def.EjectionTime)
	if b.MaxEjectionTime == 0 {
		// A long first ejection (or the old recovery_timeout) sets the cap
		// too, rather than contradicting the default one.
		b.MaxEjectionTime = max(def.MaxEjectionTime, b.EjectionTime)
	}
	setInt(&b.HalfOpenRequests, def.HalfOpenRequests)
}

func fillTimeouts(t *Timeouts, def Timeouts) {
	setInt(&t.Connect, def.Connect)
	setInt(&t.ResponseHeader, def.ResponseHeader)
	setInt(&t.FirstToken, def.FirstToken)
	setInt(&t.Idle, def.Idle)
	setInt(&t.Total, def.Total)
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt[T ~int | ~int64](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

func setFloat(p *float64, def float64) {
	if *p == 0 {
		*p = def
	}
}

func setBool(p **bool, def bool) {
	if *p == nil {
		*p = &def
	}
}

func noEnv(string) string { return "" }

// AuthRequired reports whether clients must present the master key or a
// virtual key: auth.required when set, else true unless Listen is a
// loopback address (127.0.0.0/8, ::1 or localhost). An unparsable Listen
// or one without a host (":8766", all interfaces) requires auth.
func (c *Config) AuthRequired() bool {
	if c.Auth.Required != nil {
		return *c.Auth.Required
	}
	return !c.loopback()
}

// MetricsProtected reports whether /metrics and /health details need the
// master key: auth.protect_metrics when set, else true unless Listen is a
// loopback address (as for AuthRequired).
func (c *Config) MetricsProtected() bool {
	if c.Auth.ProtectMetrics != nil {
		return *c.Auth.ProtectMetrics
	}
	return !c.loopback()
}

// loopback reports whether Listen is a loopback address.
func (c *Config) loopback() bool {
	listen := c.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FromEnv builds the zero-config configuration used when there is no config
// file. Providers openai (OPENAI_API_KEY, OPENAI_BASE_URL), anthropic
// (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL) and gemini (GEMINI_API_KEY or
// GOOGLE_API_KEY) are always present: without a key they pass clients' own
// keys through. deepseek (DEEPSEEK_API_KEY), mistral (MISTRAL_API_KEY) and
// groq (GROQ_API_KEY) are added when their key is set. Each provider routes
// the bare model names of its vendor (gpt-*, claude-*, gemini-*, ...) by
// prefix. Listen comes from LLMGATE_LISTEN when set; every other field is
// defaulted as by ApplyDefaults.
func FromEnv(getenv func(string) string) *Config {
	if getenv == nil {
		getenv = noEnv
	}
	geminiKey := getenv("GEMINI_API_KEY")
	if geminiKey == "" {
		geminiKey = getenv("GOOGLE_API_KEY")
	}
	c := &Config{
		Listen: getenv("LLMGATE_LISTEN"),
		Providers: map[string]*Provider{
			"openai": {
				Type: "openai", APIKey: getenv("OPENAI_API_KEY"), BaseURL: getenv("OPENAI_BASE_URL"),
				Prefixes: []string{"gpt-", "chatgpt-", "o1", "o3", "o4", "text-embedding-", "omni-moderation-", "dall-e-", "tts-", "whisper-"},
			},
			"anthropic": {
				Type: "anthropic", APIKey: getenv("ANTHROPIC_API_KEY"), BaseURL: getenv("ANTHROPIC_BASE_URL"),
				Prefixes: []string{"claude-"},
			},
			"gemini": {
				Type: "gemini", APIKey: geminiKey,
				Prefixes: []string{"gemini-", "gemma-"},
			},
		},
	}
	optional := []struct {
		name, env string
		prefixes  []string
	}{
		{"deepseek", "DEEPSEEK_API_KEY", []string{"deepseek-"}},
		{"mistral", "MISTRAL_API_KEY", []string{"mistral-", "open-mistral-", "codestral-", "devstral-", "magistral-", "ministral-", "pixtral-"}},
		{"groq", "GROQ_API_KEY", nil},
	}
	for _, o := range optional {
		if key := getenv(o.env); key != "" {
			c.Providers[o.name] = &Provider{Type: "openai", APIKey: key, Prefixes: o.prefixes}
		}
	}
	c.ApplyDefaults(getenv)
	return c
}
