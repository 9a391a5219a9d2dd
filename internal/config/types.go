// Package config defines llmgate's configuration file, loads it strictly
// (unknown keys are errors, ${VAR} and ${VAR:-default} are expanded) and
// validates it as a whole, reporting every problem with file:line:column and
// the field path.
//
// A Config is immutable once loaded: it is passed to constructors, never
// read from globals.
package config

import "time"

// Config is the whole configuration file. The zero value of every field
// means "use the default" documented on it; Load applies the defaults.
// Once loaded it is only read, so it is safe for concurrent use; its
// methods never modify it (except ApplyDefaults).
type Config struct {
	// Listen is the address to serve on. Default 127.0.0.1:8766 (loopback).
	Listen string `yaml:"listen"`
	// MasterKey authenticates admin calls and, when auth is required, client
	// requests. Default: $LLMGATE_MASTER_KEY.
	MasterKey string `yaml:"master_key"`
	// Auth says when clients must present a gateway key.
	Auth Auth `yaml:"auth"`

	Server     Server     `yaml:"server"`
	Log        Log        `yaml:"log"`
	RequestLog RequestLog `yaml:"request_log"`
	Storage    Storage    `yaml:"storage"`

	// Providers are upstreams by name. Zero-config mode (no file) fills it
	// from the environment.
	Providers map[string]*Provider `yaml:"providers"`
	// Models are explicit routes by the model name clients ask for.
	Models map[string]*Model `yaml:"models"`

	// Resilience holds the defaults for retries, breakers and timeouts;
	// providers and models may override parts of it.
	Resilience Resilience `yaml:"resilience"`

	// Governance configures virtual keys, budgets and prices.
	Governance Governance `yaml:"governance"`

	// Telemetry exports OpenTelemetry traces over OTLP. Off unless
	// configured here or by OTEL_EXPORTER_OTLP_ENDPOINT.
	Telemetry Telemetry `yaml:"telemetry"`

	// File is the path the config was loaded from ("" in zero-config mode).
	File string `yaml:"-"`
}

// Auth says when clients must authenticate to the gateway.
type Auth struct {
	// Required forces every request to carry the master key or a virtual
	// key. Default: true when Listen is not a loopback address, else false.
	Required *bool `yaml:"required"`
	// ProtectMetrics makes GET /metrics and the details of GET /health
	// (providers, errors, breakers, config) need the master key;
	// /health/live and /health/ready stay open. Default: true when Listen
	// is not a loopback address, else false.
	ProtectMetrics *bool `yaml:"protect_metrics"`
}

// Server tunes the HTTP server.
type Server struct {
	// MaxBodyBytes bounds a request body. Default 32 MiB (room for images).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading request headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyReadTimeout bounds reading one request body, from the end of its
	// headers; a client still sending when it passes gets a 408 and its
	// connection is closed. It is a per-request deadline, not
	// http.Server.ReadTimeout, which would also end long streamed answers.
	// Default 30s: a 32 MiB body of images needs about 9 Mbit/s; raise it
	// for slow links, lower it to free trickling connections sooner.
	BodyReadTimeout time.Duration `yaml:"body_read_timeout"`
	// MaxConnections caps the client connections open at once (idle
	// keep-alives included); one over the cap is answered 503 with
	// Retry-After: 1 and closed at once, never queued. Default 4096.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// StreamPing is how long a client stream may stay quiet (its upstream
	// thinking) before llmgate writes a keep-alive: an Anthropic ping event
	// or an OpenAI ": keep-alive" comment. Default 15s.
	StreamPing time.Duration `yaml:"stream_ping"`
}

// Log configures the process log.
type Log struct {
	// Level is debug, info, warn or error. Default: $LLMGATE_LOG_LEVEL or info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
	// File writes the log to a file instead of stderr.
	File string `yaml:"file"`
}

// RequestLog configures the per-request log (GET /logs, llmgate logs).
type RequestLog struct {
	// RingSize is how many recent requests are kept in memory. Default 1000.
	RingSize int `yaml:"ring_size"`
	// StoreContent keeps prompt and completion text. Default false.
	StoreContent bool `yaml:"store_content"`
	// Persist writes entries to the store. Default true.
	Persist *bool `yaml:"persist"`
}

// Storage selects the store.
type Storage struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver"`
	// DataDir holds the SQLite database. Default: $LLMGATE_DATA_DIR, else
	// ~/.llmgate.
	DataDir string `yaml:"data_dir"`
	// DSN is the PostgreSQL connection string when Driver is postgres.
	DSN string `yaml:"dsn"`
}

// Provider is one upstream: a wire format, a base URL and a key.
type Provider struct {
	// Type is the wire format: openai (also every OpenAI-compatible vendor),
	// anthropic or gemini. Required.
	Type string `yaml:"type"`
	// BaseURL follows the official SDK convention of the type: for openai it
	// includes /v1, for anthropic and gemini it is the root. Default: the
	// vendor's public URL for known names, else the type's.
	BaseURL string `yaml:"base_url"`
	// APIKey is the provider key. Empty: clients' own keys are passed
	// through (and never stored).
	APIKey string `yaml:"api_key"`
	// Headers are sent on every upstream request.
	Headers map[string]string `yaml:"headers"`
	// Models lists models this provider serves, for GET /v1/models and for
	// routing a bare model name to this provider.
	Models []string `yaml:"models"`
	// Prefixes routes bare model names starting with any of these to this
	// provider (e.g. ["llama", "qwen"] for a local Ollama).
	Prefixes []string `yaml:"prefixes"`
	// API is which OpenAI API an openai-type provider serves:
	// "chat_completions" (only /chat/completions; Responses API requests are
	// translated to it) or "responses" (also /responses, to which Responses
	// requests are forwarded untouched). Default: responses for
	// api.openai.com, chat_completions for every other base URL (DeepSeek,
	// Mistral, Groq, OpenRouter, Ollama, vLLM and custom servers), because a
	// translated request works everywhere and a forwarded one only where
	// the server implements the Responses API. Only for type openai.
	API string `yaml:"api"`
	// MaxTokensField is the field an openai-type upstream reads for the
	// output cap when translating: max_completion_tokens (OpenAI) or
	// max_tokens (DeepSeek, Mistral, most others). Default by vendor.
	MaxTokensField string `yaml:"max_tokens_field"`
	// StreamUsage asks openai-type upstreams for usage in streams
	// (stream_options.include_usage). Default true; turn off for servers
	// that reject stream_options.
	StreamUsage *bool `yaml:"stream_usage"`
	// Timeouts overrides resilience.timeouts for this provider. Nil: use
	// resilience.timeouts; zero fields inherit it (ApplyDefaults fills them
	// in, so a non-nil override is complete once loaded).
	Timeouts *Timeouts `yaml:"timeouts"`
	// Breaker overrides resilience.breaker for this provider; nil and zero
	// fields inherit as for Timeouts. See Config.BreakerFor.
	Breaker *Breaker `yaml:"breaker"`
	// RPM and TPM pace requests to this provider below its rate limits
	// (0: none, learn from headers).
	RPM int `yaml:"rpm"`
	TPM int `yaml:"tpm"`
	// Weight is this deployment's share in a pool. Default 1.
	Weight int `yaml:"weight"`
	// Protocol is the HTTP version spoken to the provider: "auto" (the
	// default: HTTP/2 over TLS when the server offers it, which every public
	// vendor does, HTTP/1.1 on plain http://), "h2c" (HTTP/2 without TLS, by
	// prior knowledge, for local servers that speak it such as vLLM or
	// `llmgate mock --h2c`: many streams share a few connections instead of
	// one descriptor each) or "http1" (never HTTP/2).
	Protocol string `yaml:"protocol"`
}

// Provider protocols.
const (
	ProtocolAuto  = "auto"
	ProtocolH2C   = "h2c"
	ProtocolHTTP1 = "http1"
)

// Model is an explicit route for a model name.
type Model struct {
	// Route is the ordered chain of provider/model entries to try.
	Route []string `yaml:"route"`
	// Strategy chooses among route entries that serve the same model:
	// ordered (default), weighted, least_busy or latency.
	Strategy string `yaml:"strategy"`
	// ContextFallback lists routes with larger context windows to use when
	// the prompt does not fit.
	ContextFallback []string `yaml:"context_fallback"`
	// TruncateOnOverflow drops the oldest non-system turns to fit.
	TruncateOnOverflow bool `yaml:"truncate_on_overflow"`
	// ContextWindow overrides the known context size (tokens).
	ContextWindow int `yaml:"context_window"`
	// Hedge sends a second request to the next route after a delay.
	Hedge *Hedge `yaml:"hedge"`
	// StaleIfError serves a cached answer when every route fails.
	StaleIfError bool `yaml:"stale_if_error"`
	// FallbackOutsideKeyModels lets the fallback entries of Route (and
	// ContextFallback) serve a virtual key whose models list does not allow
	// them. Default false: a key allowed "gpt-4o-mini*" that asks for this
	// model is served by the first entry, entries of the same upstream
	// model, and entries its list allows; other fallbacks are skipped.
	FallbackOutsideKeyModels bool `yaml:"fallback_outside_key_models"`
	// Timeouts overrides provider and global timeouts for this model; zero
	// fields inherit. Config.TimeoutsFor merges the three levels.
	Timeouts *Timeouts `yaml:"timeouts"`
}

// Hedge configures hedged requests for a model.
type Hedge struct {
	// Delay before hedging; 0 uses the route's observed p95.
	Delay time.Duration `yaml:"delay"`
}

// Resilience holds retry, breaker, timeout and pacing defaults.
type Resilience struct {
	Retry    Retry    `yaml:"retry"`
	Breaker  Breaker  `yaml:"breaker"`
	Timeouts Timeouts `yaml:"timeouts"`
	// MaxAttempts caps upstream attempts per request across retries and
	// fallbacks. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// RequestTimeout is the total deadline per request (a client's
	// x-llmgate-timeout header can only shorten it). Default 10m.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxQueueWait bounds waiting for upstream rate-limit capacity. Default 10s.
	MaxQueueWait time.Duration `yaml:"max_queue_wait"`
	// IdempotencyTTL keeps answers for repeated Idempotency-Key requests.
	// Default 10m.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	// MaxResponseBytes bounds a non-streamed upstream answer; a larger one
	// is a 502. Default 16777216 (16 MiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// MaxStreamBytes bounds a streamed upstream answer (a request with
	// max_tokens is also cut at 256 KiB + 1 KiB per token). Default
	// 67108864 (64 MiB).
	MaxStreamBytes int64 `yaml:"max_stream_bytes"`
	// StreamHold bounds how long a stream's opening events are held back
	// waiting for the first content event (while held, a failure can still
	// be retried on another route); past it the stream is committed to the
	// client without content. Default 1s; a negative value holds until
	// content (as before this setting existed).
	StreamHold time.Duration `yaml:"stream_hold"`
}

// Retry configures backoff.
type Retry struct {
	// Base is the first backoff. Default 250ms.
	Base time.Duration `yaml:"base"`
	// Multiplier grows it per retry. Default 2.
	Multiplier float64 `yaml:"multiplier"`
	// Cap bounds one backoff. Default 8s.
	Cap time.Duration `yaml:"cap"`
	// MaxRetryWait is the longest upstream-requested wait honoured; a longer
	// one moves on to the next route. Default 10s.
	MaxRetryWait time.Duration `yaml:"max_retry_wait"`
	// BudgetRatio caps retries at this share of recent requests per
	// upstream. Default 0.5.
	BudgetRatio float64 `yaml:"budget_ratio"`
}

// Breaker configures a circuit breaker.
type Breaker struct {
	// Failures is how many consecutive upstream failures eject a
	// deployment. Default 5; -1 disables the rule.
	Failures int `yaml:"failures"`
	// Ratio of failures over at least MinRequests counted requests in
	// Window that ejects it too. Default 0.5 of 20 in 30s; -1 disables it.
	Ratio       float64 `yaml:"ratio"`
	MinRequests int     `yaml:"min_requests"`
	// Window is the ratio rule's sliding window. Default 30s.
	Window time.Duration `yaml:"window"`
	// EjectionTime is the first ejection's length; each consecutive one
	// doubles it up to MaxEjectionTime, with up to 20% jitter. Defaults 5s
	// and 2m.
	EjectionTime    time.Duration `yaml:"ejection_time"`
	MaxEjectionTime time.Duration `yaml:"max_ejection_time"`
	// RecoveryTimeout is the old name of EjectionTime, still accepted.
	RecoveryTimeout time.Duration `yaml:"recovery_timeout"`
	// HalfOpenRequests is how many probes go through when half-open. Default 1.
	HalfOpenRequests int `yaml:"half_open_requests"`
}

// Timeouts bound one upstream attempt.
type Timeouts struct {
	// Connect bounds dialing. Default 10s.
	Connect time.Duration `yaml:"connect"`
	// ResponseHeader bounds waiting for response headers. Default 60s.
	ResponseHeader time.Duration `yaml:"response_header"`
	// FirstToken bounds waiting for the first stream event. Default 60s.
	FirstToken time.Duration `yaml:"first_token"`
	// Idle bounds the gap between stream events. Default 60s.
	Idle time.Duration `yaml:"idle"`
	// Total bounds one attempt. Default 10m.
	Total time.Duration `yaml:"total"`
}

// Governance configures virtual keys, budgets and prices.
type Governance struct {
	// SpendGuard caps gateway-wide spend in USD (0: no cap).
	SpendGuard SpendGuard `yaml:"spend_guard"`
	// MaxRequestCost rejects a request whose worst-case cost exceeds it.
	MaxRequestCost float64 `yaml:"max_request_cost"`
	// UnknownPrice is "record" (default: record as unpriced with a warning)
	// or "block".
	UnknownPrice string `yaml:"unknown_price"`
	// Prices overrides or adds model prices, per million tokens.
	Prices map[string]Price `yaml:"prices"`
	// BudgetWebhook is called when a key or team passes its soft budget.
	BudgetWebhook string `yaml:"budget_webhook"`
	// KeyCacheTTL bounds how stale a cached key may be. Default 5s.
	KeyCacheTTL time.Duration `yaml:"key_cache_ttl"`
	// HoldTTL is how long a replica's budget reservations (storage on
	// PostgreSQL) and max_parallel slots (in Redis) outlive its last
	// heartbeat: a killed replica's holds are released within about this
	// time. Each replica renews its own every HoldTTL/4 (PostgreSQL) or
	// HoldTTL/3 (Redis). Default 15s.
	HoldTTL time.Duration `yaml:"hold_ttl"`
	// Redis shares the per-key and per-team rate limits (RPM, TPM,
	// max_parallel) between gateway replicas. Empty Addr (the default)
	// keeps them in each process.
	Redis Redis `yaml:"redis"`
}

// Redis is a Redis server that holds shared rate-limit state.
type Redis struct {
	// Addr is the server's host:port; empty means no Redis.
	Addr string `yaml:"addr"`
	// Password authenticates to the server (AUTH); optional.
	Password string `yaml:"password"`
	// DB is the database number. Default 0.
	DB int `yaml:"db"`
	// Prefix starts every key llmgate writes. Default "llmgate:".
	Prefix string `yaml:"prefix"`
}

// SpendGuard caps gateway-wide spend.
type SpendGuard struct {
	Hourly float64 `yaml:"hourly"`
	Daily  float64 `yaml:"daily"`
}

// Price is a model's price in USD per million tokens.
type Price struct {
	Input       float64 `yaml:"input"`
	Output      float64 `yaml:"output"`
	CachedInput float64 `yaml:"cached_input"`
	// CacheWrite is the price of writing the prompt cache (Anthropic).
	CacheWrite float64 `yaml:"cache_write"`
}

// Telemetry configures OpenTelemetry tracing. Fields left empty fall back
// to the standard OTEL_* environment variables, then to the OTel defaults.
type Telemetry struct {
	// Enabled turns tracing on or off. Default: on when Endpoint or
	// $OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set and
	// $OTEL_SDK_DISABLED is not "true".
	Enabled *bool `yaml:"enabled"`
	// Endpoint is the OTLP receiver's URL, e.g. http://collector:4318
	// (http/protobuf) or http://collector:4317 (grpc). Default
	// $OTEL_EXPORTER_OTLP_ENDPOINT, else localhost on the protocol's port.
	Endpoint string `yaml:"endpoint"`
	// Protocol is grpc or http/protobuf. Default
	// $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.
	Protocol string `yaml:"protocol"`
	// ServiceName is the service.name resource attribute. Default
	// $OTEL_SERVICE_NAME, else llmgate.
	ServiceName string `yaml:"service_name"`
	// SampleRatio samples this share of new traces (0 to 1); a sampled
	// parent (traceparent from the client) is always followed. Default:
	// $OTEL_TRACES_SAMPLER (and _ARG), else every trace.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// Headers are sent with every export (e.g. an API key of a tracing
	// vendor). Default $OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string `yaml:"headers"`
}
