package config_test

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/config"
)

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// issueConfig is the shape from the design issue; it must load verbatim.
const issueConfig = `listen: 127.0.0.1:8766
providers:
  openai:    {type: openai,    api_key: ${OPENAI_API_KEY}}           # base_url defaults per type
  anthropic: {type: anthropic, api_key: ${ANTHROPIC_API_KEY}}
  local:     {type: openai,    base_url: http://127.0.0.1:11434/v1}   # Ollama, no key
models:
  gpt-4o:            {route: [openai/gpt-4o, anthropic/claude-sonnet-4-5]}
  claude-sonnet-4-5: {route: [anthropic/claude-sonnet-4-5, openai/gpt-4o]}
`

// problems returns the lines of a Parse error, or nil.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want *config.Errors: %v", err, err)
	}
	lines := make([]string, len(errs.Problems))
	for i, p := range errs.Problems {
		lines[i] = p.String()
	}
	if got := strings.Join(lines, "\n"); got != err.Error() {
		t.Errorf("Error() = %q, want the problem lines %q", err.Error(), got)
	}
	return lines
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  env
		want []string
	}{
		{
			name: "issue shape is valid",
			yaml: issueConfig,
		},
		{
			name: "several problems at once",
			yaml: `listen: 127.0.0.1
providers:
  openai: {type: opena, base_url: api.openai.com}
  Bad_Name: {type: openai}
models:
  gpt-4o: {route: [openai/gpt-4o, openai/gpt-4o, nope/x, opena/x, gpt-4o]}
  empty: {route: []}
log: {level: loud}
`,
			want: []string{
				`llmgate.yaml:1:9: listen: "127.0.0.1" is not host:port; write e.g. 127.0.0.1:8766, or :8766 for every interface`,
				`llmgate.yaml:3:18: providers.openai.type: unknown provider type "opena" (want openai, anthropic or gemini)`,
				`llmgate.yaml:3:35: providers.openai.base_url: "api.openai.com" is not an absolute http(s) URL; write e.g. https://api.example.com/v1`,
				`llmgate.yaml:4:3: providers.Bad_Name: provider name "Bad_Name" may only use a-z, 0-9, _ and -; rename it (and the routes that use it)`,
				`llmgate.yaml:6:35: models.gpt-4o.route[1]: "openai/gpt-4o" repeats entry 0 of the chain; remove it (a chain that repeats an entry loops)`,
				`llmgate.yaml:6:50: models.gpt-4o.route[2]: unknown provider "nope" in "nope/x" (configured: Bad_Name, openai)`,
				`llmgate.yaml:6:58: models.gpt-4o.route[3]: unknown provider "opena" in "opena/x"; did you mean openai?`,
				`llmgate.yaml:6:67: models.gpt-4o.route[4]: "gpt-4o" is not provider/model; write e.g. openai/gpt-4o`,
				`llmgate.yaml:7:18: models.empty.route: missing or empty; list at least one provider/model entry, e.g. route: [openai/gpt-4o]`,
				`llmgate.yaml:8:14: log.level: unknown level "loud" (want debug, info, warn or error)`,
			},
		},
		{
			name: "redis address and database",
			yaml: `governance: {redis: {addr: localhost, db: -1}}
providers: {openai: {type: openai}}
`,
			want: []string{
				`llmgate.yaml:1:28: governance.redis.addr: "localhost" is not host:port; write e.g. 127.0.0.1:6379`,
				`llmgate.yaml:1:43: governance.redis.db: must be 0 or more, not -1`,
			},
		},
		{
			name: "unknown keys suggest the closest known key",
			yaml: `providers:
  openai:
    type: openai
    baseurl: https://api.openai.com/v1
    apiKey: sk-1
    colour: blue
modles: {}
`,
			want: []string{
				`llmgate.yaml:4:5: providers.openai.baseurl: unknown key "baseurl"; did you mean base_url?`,
				`llmgate.yaml:5:5: providers.openai.apiKey: unknown key "apiKey"; did you mean api_key?`,
				`llmgate.yaml:6:5: providers.openai.colour: unknown key "colour"; known keys are type, base_url, api_key, headers, models, prefixes, api, max_tokens_field, stream_usage, timeouts, breaker, rpm, tpm, weight, protocol`,
				`llmgate.yaml:7:1: modles: unknown key "modles"; did you mean models?`,
			},
		},
		{
			name: "wrong types",
			yaml: `providers:
  openai: {type: openai, stream_usage: maybe, rpm: 1.5, models: gpt-4o}
  other: [openai]
server:
  max_body_bytes: lots
  idle_timeout: 5
resilience:
  retry: {multiplier: fast}
  timeouts: 10s
models:
  m: {route: openai/gpt-4o}
`,
			want: []string{
				`llmgate.yaml:2:40: providers.openai.stream_usage: want true or false, got "maybe"`,
				`llmgate.yaml:2:52: providers.openai.rpm: want an integer, got "1.5"`,
				`llmgate.yaml:2:65: providers.openai.models: want a list, got "gpt-4o"; write [gpt-4o]`,
				`llmgate.yaml:3:10: providers.other: want a mapping (key: value), got a list`,
				`llmgate.yaml:5:19: server.max_body_bytes: want an integer, got "lots"`,
				`llmgate.yaml:6:17: server.idle_timeout: want a duration like "30s" or "5m", got "5"`,
				`llmgate.yaml:8:23: resilience.retry.multiplier: want a number, got "fast"`,
				`llmgate.yaml:9:13: resilience.timeouts: want a mapping (key: value), got "10s"`,
				`llmgate.yaml:11:14: models.m.route: want a list, got "openai/gpt-4o"; write [openai/gpt-4o]`,
			},
		},
		{
			name: "bad env reference",
			yaml: `providers:
  openai: {type: openai, api_key: "${OPENAI_API_KEY", base_url: "${1X}"}
`,
			want: []string{
				`llmgate.yaml:2:35: providers.openai.api_key: unterminated ${ in value; close it with } or write $$ for a literal $`,
				`llmgate.yaml:2:65: providers.openai.base_url: invalid ${1X}: write ${NAME} or ${NAME:-default} with NAME made of letters, digits and _ (or $$ for a literal $)`,
			},
		},
		{
			name: "unsupported tag, and secrets are not echoed",
			yaml: `providers:
  openai: {type: openai, api_key: !env OPENAI_API_KEY}
  other: {type: openai, api_key: "${sk-live-123}"}
`,
			want: []string{
				`llmgate.yaml:2:35: providers.openai.api_key: unsupported tag !env; read the environment with ${VAR} instead`,
				`llmgate.yaml:3:34: providers.other.api_key: invalid ${...}: write ${NAME} or ${NAME:-default} with NAME made of letters, digits and _ (or $$ for a literal $)`,
			},
		},
		{
			name: "env references in keys are not expanded",
			yaml: `providers:
  ${NAME}: {type: openai}
`,
			env: env{"NAME": "openai"},
			want: []string{
				`llmgate.yaml:2:3: providers.${NAME}: provider name "${NAME}" may only use a-z, 0-9, _ and -; rename it (and the routes that use it)`,
			},
		},
		{
			name: "duplicate keys",
			yaml: `providers:
  openai: {type: openai}
  openai: {type: anthropic}
models:
  m:
    route: [openai/a]
    route: [openai/b]
`,
			want: []string{
				`llmgate.yaml:3:3: providers.openai: duplicate key "openai" (first at line 2); remove one`,
				`llmgate.yaml:7:5: models.m.route: duplicate key "route" (first at line 6); remove one`,
			},
		},
		{
			name: "api values and types",
			yaml: `providers:
  openai: {type: openai, api: response}
  an: {type: anthropic, api: responses}
models:
  m: {route: [openai/gpt-4o]}
`,
			want: []string{
				`llmgate.yaml:2:31: providers.openai.api: unknown API "response" (want chat_completions or responses: responses only if the server implements POST /responses)`,
				`llmgate.yaml:3:30: providers.an.api: api applies only to type: openai providers; a provider of type anthropic speaks its own API: remove it`,
			},
		},
		{
			name: "missing type and empty provider",
			yaml: `providers:
  openai: {api_key: sk-1}
  local:
models:
  m:
`,
			want: []string{
				`llmgate.yaml:2:11: providers.openai.type: missing; set type: openai, anthropic or gemini (openai also covers every OpenAI-compatible server)`,
				`llmgate.yaml:3:9: providers.local.type: missing; set type: openai, anthropic or gemini (openai also covers every OpenAI-compatible server)`,
				`llmgate.yaml:5:5: models.m.route: missing or empty; list at least one provider/model entry, e.g. route: [openai/gpt-4o]`,
			},
		},
		{
			name: "storage, governance and resilience ranges",
			yaml: `storage: {driver: postgres}
log: {format: xml}
providers:
  openai:
    type: openai
    max_tokens_field: max_output_tokens
    weight: -1
    headers: {"Bad Header": x}
    breaker: {ratio: 1.5}
resilience:
  retry: {multiplier: 0.5, base: 1s, cap: 100ms, budget_ratio: 2, max_retry_wait: -1s}
  breaker: {ratio: -0.1}
  timeouts: {total: -1m}
governance:
  unknown_price: allow
  prices:
    gpt-4o: {input: -2.5, output: 10}
  budget_webhook: hooks.example.com
models:
  m: {route: [openai/a], context_fallback: [openai/b, openai/b], strategy: fastest}
`,
			want: []string{
				`llmgate.yaml:1:10: storage.dsn: required with driver postgres; set it, e.g. dsn: postgres://llmgate:${PGPASSWORD}@db:5432/llmgate`,
				`llmgate.yaml:2:15: log.format: unknown format "xml" (want text or json)`,
				`llmgate.yaml:6:23: providers.openai.max_tokens_field: unknown field "max_output_tokens" (want max_tokens or max_completion_tokens)`,
				`llmgate.yaml:7:13: providers.openai.weight: must not be negative, got -1`,
				`llmgate.yaml:8:15: providers.openai.headers.Bad Header: "Bad Header" is not a valid HTTP header name`,
				`llmgate.yaml:9:22: providers.openai.breaker.ratio: must be between 0 and 1, got 1.5`,
				`llmgate.yaml:11:23: resilience.retry.multiplier: must be at least 1 (backoff never shrinks), got 0.5`,
				`llmgate.yaml:11:43: resilience.retry.cap: 100ms is below base 1s; raise cap or lower base`,
				`llmgate.yaml:11:64: resilience.retry.budget_ratio: must be between 0 and 1, got 2`,
				`llmgate.yaml:11:83: resilience.retry.max_retry_wait: must not be negative, got -1s; use a duration like "30s"`,
				`llmgate.yaml:12:20: resilience.breaker.ratio: must be between 0 and 1, got -0.1`,
				`llmgate.yaml:13:21: resilience.timeouts.total: must not be negative, got -1m0s; use a duration like "30s"`,
				`llmgate.yaml:15:18: governance.unknown_price: unknown value "allow" (want record or block)`,
				`llmgate.yaml:17:21: governance.prices.gpt-4o.input: must not be negative, got -2.5`,
				`llmgate.yaml:18:19: governance.budget_webhook: "hooks.example.com" is not an absolute http(s) URL; write e.g. https://hooks.example.com/llmgate`,
				`llmgate.yaml:20:55: models.m.context_fallback[1]: "openai/b" repeats entry 0 of the chain; remove it (a chain that repeats an entry loops)`,
				`llmgate.yaml:20:76: models.m.strategy: unknown strategy "fastest" (want ordered, weighted, least_busy or latency)`,
			},
		},
		{
			name: "dsn without postgres",
			yaml: `storage: {dsn: "postgres://u:p@db/llmgate"}
providers: {openai: {type: openai}}
`,
			want: []string{
				`llmgate.yaml:1:16: storage.dsn: is set but storage.driver is sqlite; set driver: postgres to use it, or remove dsn`,
			},
		},
		{
			name: "empty file",
			yaml: "# nothing yet\n",
			want: []string{
				`llmgate.yaml: providers: no providers configured; add at least one, e.g. providers: {openai: {type: openai, api_key: ${OPENAI_API_KEY}}}`,
			},
		},
		{
			name: "not a mapping",
			yaml: "- listen: 127.0.0.1:8766\n",
			want: []string{
				`llmgate.yaml:1:1: the config must be a mapping of settings (listen:, providers:, models:, ...)`,
			},
		},
		{
			name: "yaml syntax error",
			yaml: "providers: [\n",
			want: []string{
				`llmgate.yaml:1: invalid YAML: did not find expected node content`,
			},
		},
		{
			name: "two documents",
			yaml: "providers: {openai: {type: openai}}\n---\nlisten: :80\n",
			want: []string{
				`llmgate.yaml:2:1: a second YAML document; the config is one document, remove the extra ---`,
			},
		},
		{
			name: "merge keys share settings",
			yaml: `providers:
  base: &base {type: openai, rpm: -5}
  p2: {<<: *base, base_url: "http://127.0.0.1:1/v1"}
  p3: {<<: [*base], type: anthropic, tpm: x}
`,
			want: []string{
				`llmgate.yaml:2:35: providers.base.rpm: must not be negative, got -5`,
				`llmgate.yaml:2:35: providers.p2.rpm: must not be negative, got -5`,
				`llmgate.yaml:2:35: providers.p3.rpm: must not be negative, got -5`,
				`llmgate.yaml:4:43: providers.p3.tpm: want an integer, got "x"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("llmgate.yaml", []byte(tt.yaml), tt.env.get)
			got := problems(t, err)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if (err == nil) != (c != nil) {
				t.Errorf("Parse returned config %v with error %v; want exactly one", c != nil, err)
			}
		})
	}
}

func TestParseIssueShape(t *testing.T) {
	c, err := config.Parse("llmgate.yaml", []byte(issueConfig), env{"OPENAI_API_KEY": "sk-openai", "HOME": "/home/u"}.get)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ typ, baseURL, key, maxTokens string }{
		"openai":    {"openai", "https://api.openai.com/v1", "sk-openai", "max_completion_tokens"},
		"anthropic": {"anthropic", "https://api.anthropic.com", "", "max_tokens"},
		"local":     {"openai", "http://127.0.0.1:11434/v1", "", "max_tokens"},
	}
	if len(c.Providers) != len(want) {
		t.Errorf("got %d providers, want %d", len(c.Providers), len(want))
	}
	for name, w := range want {
		p := c.Providers[name]
		if p == nil {
			t.Errorf("provider %s missing", name)
			continue
		}
		if p.Type != w.typ || p.BaseURL != w.baseURL || p.APIKey != w.key || p.MaxTokensField != w.maxTokens {
			t.Errorf("provider %s = {%s %s %q %s}, want %v", name, p.Type, p.BaseURL, p.APIKey, p.MaxTokensField, w)
		}
	}
	if got := strings.Join(c.Models["gpt-4o"].Route, ","); got != "openai/gpt-4o,anthropic/claude-sonnet-4-5" {
		t.Errorf("gpt-4o route = %s", got)
	}
	if got := strings.Join(c.Models["claude-sonnet-4-5"].Route, ","); got != "anthropic/claude-sonnet-4-5,openai/gpt-4o" {
		t.Errorf("claude-sonnet-4-5 route = %s", got)
	}
	if c.File != "llmgate.yaml" || c.Listen != "127.0.0.1:8766" || c.AuthRequired() {
		t.Errorf("File=%q Listen=%q AuthRequired=%v", c.File, c.Listen, c.AuthRequired())
	}
}

func TestEnvExpansion(t *testing.T) {
	e := env{"K": "v", "EMPTY": "", "COLON": "a: b", "PORT": "9000"}
	tests := []struct {
		name, value, want string
	}{
		{"plain", `${K}`, "v"},
		{"unset is empty", `${UNSET}`, ""},
		{"default when unset", `${UNSET:-def}`, "def"},
		{"default when empty", `${EMPTY:-def}`, "def"},
		{"set wins over default", `${K:-def}`, "v"},
		{"default with a colon", `"${UNSET:-http://h:1/v1}"`, "http://h:1/v1"},
		{"nested default", `${UNSET:-${K}}`, "v"},
		{"embedded", `"pre-${K}-post"`, "pre-v-post"},
		{"double dollar escapes", `$$K`, "$K"},
		{"escaped reference", `$${K}`, "${K}"},
		{"lone dollar kept", `a$b$`, "a$b$"},
		{"single quoted", `'${K}'`, "v"},
		{"value is not re-parsed as YAML", `${COLON}`, "a: b"},
		{"two references", `${K}${PORT}`, "v9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "providers:\n  p:\n    type: openai\n    headers: {X-V: " + tt.value + "}\n"
			c, err := config.Parse("t.yaml", []byte(src), e.get)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Providers["p"].Headers["X-V"]; got != tt.want {
				t.Errorf("%s expanded to %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

func TestEnvExpansionTypedFields(t *testing.T) {
	src := `listen: 127.0.0.1:${PORT:-8766}
server: {max_body_bytes: ${MAX}, idle_timeout: "${IDLE:-90s}"}
request_log: {persist: ${PERSIST}}
providers:
  openai: {type: openai, stream_usage: ${STREAM_USAGE:-false}, rpm: ${RPM:-60}, tpm: 010, weight: 0x10}
`
	c, err := config.Parse("t.yaml", []byte(src), env{"MAX": "1024", "PORT": "9000"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" {
		t.Errorf("Listen = %q", c.Listen)
	}
	if c.Server.MaxBodyBytes != 1024 || c.Server.IdleTimeout != 90*time.Second {
		t.Errorf("Server = %+v", c.Server)
	}
	if c.RequestLog.Persist == nil || !*c.RequestLog.Persist {
		t.Error("persist: ${PERSIST} with PERSIST unset should take the default (true)")
	}
	p := c.Providers["openai"]
	if p.StreamUsage == nil || *p.StreamUsage || p.RPM != 60 {
		t.Errorf("stream_usage=%v rpm=%d, want false and 60", p.StreamUsage, p.RPM)
	}
	if p.TPM != 10 || p.Weight != 16 {
		t.Errorf("tpm: 010 = %d (want 10, YAML 1.2 has no leading-zero octal), weight: 0x10 = %d (want 16)", p.TPM, p.Weight)
	}
}

func TestApplyDefaults(t *testing.T) {
	src := `providers:
  openai: {type: openai}
  deepseek: {type: openai}
  groq: {type: openai, base_url: "https://api.groq.com/openai/v1/"}
  ollama: {type: openai}
  gemini: {type: gemini}
  claude: {type: anthropic, timeouts: {connect: 1s}, breaker: {failures: 9}}
  mistral: {type: anthropic}
models:
  m: {route: [openai/gpt-4o]}
`
	c, err := config.Parse("t.yaml", []byte(src), env{"HOME": "/home/u", "LLMGATE_MASTER_KEY": "mk", "LLMGATE_LOG_LEVEL": "debug"}.get)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8766"},
		{"master key from env", c.MasterKey, "mk"},
		{"max body", c.Server.MaxBodyBytes, int64(32 << 20)},
		{"read header timeout", c.Server.ReadHeaderTimeout, 10 * time.Second},
		{"idle timeout", c.Server.IdleTimeout, 120 * time.Second},
		{"shutdown timeout", c.Server.ShutdownTimeout, 30 * time.Second},
		{"log level from env", c.Log.Level, "debug"},
		{"log format", c.Log.Format, "text"},
		{"ring size", c.RequestLog.RingSize, 1000},
		{"persist", *c.RequestLog.Persist, true},
		{"driver", c.Storage.Driver, "sqlite"},
		{"data dir", c.Storage.DataDir, "/home/u/.llmgate"},
		{"openai url", c.Providers["openai"].BaseURL, "https://api.openai.com/v1"},
		{"deepseek url by name", c.Providers["deepseek"].BaseURL, "https://api.deepseek.com/v1"},
		{"trailing slash trimmed", c.Providers["groq"].BaseURL, "https://api.groq.com/openai/v1"},
		{"ollama url by name", c.Providers["ollama"].BaseURL, "http://127.0.0.1:11434/v1"},
		{"gemini url", c.Providers["gemini"].BaseURL, "https://generativelanguage.googleapis.com"},
		{"anthropic url by type", c.Providers["claude"].BaseURL, "https://api.anthropic.com"},
		{"vendor name with another type uses the type's url", c.Providers["mistral"].BaseURL, "https://api.anthropic.com"},
		{"openai max tokens field", c.Providers["openai"].MaxTokensField, "max_completion_tokens"},
		{"deepseek max tokens field", c.Providers["deepseek"].MaxTokensField, "max_tokens"},
		{"openai serves the Responses API", c.Providers["openai"].API, "responses"},
		{"deepseek is chat-completions only", c.Providers["deepseek"].API, "chat_completions"},
		{"anthropic has no api", c.Providers["claude"].API, ""},
		{"stream usage", *c.Providers["openai"].StreamUsage, true},
		{"weight", c.Providers["openai"].Weight, 1},
		{"provider timeout override kept", c.Providers["claude"].Timeouts.Connect, time.Second},
		{"provider timeout override filled", c.Providers["claude"].Timeouts.Total, 10 * time.Minute},
		{"provider breaker override filled", c.Providers["claude"].Breaker.Window, 30 * time.Second},
		{"strategy", c.Models["m"].Strategy, "ordered"},
		{"retry base", c.Resilience.Retry.Base, 250 * time.Millisecond},
		{"retry multiplier", c.Resilience.Retry.Multiplier, 2.0},
		{"retry cap", c.Resilience.Retry.Cap, 8 * time.Second},
		{"max retry wait", c.Resilience.Retry.MaxRetryWait, 10 * time.Second},
		{"budget ratio", c.Resilience.Retry.BudgetRatio, 0.5},
		{"breaker failures", c.Resilience.Breaker.Failures, 5},
		{"breaker window", c.Resilience.Breaker.Window, 30 * time.Second},
		{"breaker ejection", c.Resilience.Breaker.EjectionTime, 5 * time.Second},
		{"breaker max ejection", c.Resilience.Breaker.MaxEjectionTime, 2 * time.Minute},
		{"breaker half open", c.Resilience.Breaker.HalfOpenRequests, 1},
		{"breaker min requests", c.Resilience.Breaker.MinRequests, 20},
		{"breaker ratio", c.Resilience.Breaker.Ratio, 0.5},
		{"connect", c.Resilience.Timeouts.Connect, 10 * time.Second},
		{"response header", c.Resilience.Timeouts.ResponseHeader, 60 * time.Second},
		{"first token", c.Resilience.Timeouts.FirstToken, 60 * time.Second},
		{"idle", c.Resilience.Timeouts.Idle, 60 * time.Second},
		{"total", c.Resilience.Timeouts.Total, 10 * time.Minute},
		{"max attempts", c.Resilience.MaxAttempts, 5},
		{"request timeout", c.Resilience.RequestTimeout, 10 * time.Minute},
		{"max queue wait", c.Resilience.MaxQueueWait, 10 * time.Second},
		{"idempotency ttl", c.Resilience.IdempotencyTTL, 10 * time.Minute},
		{"unknown price", c.Governance.UnknownPrice, "record"},
		{"key cache ttl", c.Governance.KeyCacheTTL, 5 * time.Second},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	// Applying defaults again changes nothing.
	before := c.String()
	c.ApplyDefaults(env{"HOME": "/elsewhere", "LLMGATE_LOG_LEVEL": "error"}.get)
	if after := c.String(); after != before {
		t.Errorf("second ApplyDefaults changed the config:\n%s\nwant:\n%s", after, before)
	}
}

func TestDataDir(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        env
		want       string
	}{
		{"home", "", env{"HOME": "/home/u"}, "/home/u/.llmgate"},
		{"env wins", "", env{"HOME": "/home/u", "LLMGATE_DATA_DIR": "/var/lib/llmgate"}, "/var/lib/llmgate"},
		{"file wins", "storage: {data_dir: /data}\n", env{"LLMGATE_DATA_DIR": "/var/lib/llmgate"}, "/data"},
		{"tilde", "storage: {data_dir: ~/gate}\n", env{"HOME": "/home/u"}, "/home/u/gate"},
		{"no home", "", nil, ".llmgate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("t.yaml", []byte(tt.yaml+"providers: {openai: {type: openai}}\n"), tt.env.get)
			if err != nil {
				t.Fatal(err)
			}
			if c.Storage.DataDir != tt.want {
				t.Errorf("DataDir = %q, want %q", c.Storage.DataDir, tt.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	type prov struct{ key, baseURL string }
	tests := []struct {
		name   string
		env    env
		listen string
		want   map[string]prov
	}{
		{
			name:   "no keys: the three wire formats pass client keys through",
			env:    env{},
			listen: "127.0.0.1:8766",
			want: map[string]prov{
				"openai":    {"", "https://api.openai.com/v1"},
				"anthropic": {"", "https://api.anthropic.com"},
				"gemini":    {"", "https://generativelanguage.googleapis.com"},
			},
		},
		{
			name: "keys, base URL overrides and optional vendors",
			env: env{
				"OPENAI_API_KEY": "sk-o", "OPENAI_BASE_URL": "http://127.0.0.1:9999/v1/",
				"ANTHROPIC_API_KEY": "sk-a", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9998",
				"GOOGLE_API_KEY": "g-google", "DEEPSEEK_API_KEY": "sk-d", "MISTRAL_API_KEY": "m",
				"GROQ_API_KEY": "gsk", "LLMGATE_LISTEN": "0.0.0.0:8080",
			},
			listen: "0.0.0.0:8080",
			want: map[string]prov{
				"openai":    {"sk-o", "http://127.0.0.1:9999/v1"},
				"anthropic": {"sk-a", "http://127.0.0.1:9998"},
				"gemini":    {"g-google", "https://generativelanguage.googleapis.com"},
				"deepseek":  {"sk-d", "https://api.deepseek.com/v1"},
				"mistral":   {"m", "https://api.mistral.ai/v1"},
				"groq":      {"gsk", "https://api.groq.com/openai/v1"},
			},
		},
		{
			name:   "GEMINI_API_KEY wins over GOOGLE_API_KEY",
			env:    env{"GEMINI_API_KEY": "g-gemini", "GOOGLE_API_KEY": "g-google"},
			listen: "127.0.0.1:8766",
			want: map[string]prov{
				"openai":    {"", "https://api.openai.com/v1"},
				"anthropic": {"", "https://api.anthropic.com"},
				"gemini":    {"g-gemini", "https://generativelanguage.googleapis.com"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.FromEnv(tt.env.get)
			if c.Listen != tt.listen {
				t.Errorf("Listen = %q, want %q", c.Listen, tt.listen)
			}
			if len(c.Providers) != len(tt.want) {
				t.Errorf("got %d providers, want %d", len(c.Providers), len(tt.want))
			}
			for name, w := range tt.want {
				p := c.Providers[name]
				if p == nil {
					t.Errorf("provider %s missing", name)
					continue
				}
				if p.APIKey != w.key || p.BaseURL != w.baseURL {
					t.Errorf("provider %s: key %q url %q, want %q %q", name, p.APIKey, p.BaseURL, w.key, w.baseURL)
				}
			}
			if ps := c.Validate(); len(ps) != 0 {
				t.Errorf("FromEnv config has problems: %v", ps)
			}
			if c.Log.Level != "info" || c.Resilience.MaxAttempts != 5 {
				t.Error("FromEnv did not apply defaults")
			}
		})
	}
}

func TestAuthRequired(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name     string
		listen   string
		required *bool
		want     bool
	}{
		{"default listen", "", nil, false},
		{"ipv4 loopback", "127.0.0.1:8766", nil, false},
		{"other 127/8 address", "127.1.2.3:80", nil, false},
		{"ipv6 loopback", "[::1]:8766", nil, false},
		{"localhost", "localhost:8766", nil, false},
		{"all interfaces", ":8766", nil, true},
		{"0.0.0.0", "0.0.0.0:8766", nil, true},
		{"lan address", "192.168.1.10:8766", nil, true},
		{"host name", "gateway.internal:8766", nil, true},
		{"unparsable", "nonsense", nil, true},
		{"explicit true on loopback", "127.0.0.1:8766", &yes, true},
		{"explicit false on all interfaces", ":8766", &no, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Config{Listen: tt.listen, Auth: config.Auth{Required: tt.required}}
			if got := c.AuthRequired(); got != tt.want {
				t.Errorf("AuthRequired() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := config.FromEnv(nil)
	c.Providers["openai"].BaseURL = "ftp://example.com"
	c.Models = map[string]*config.Model{"m": {Route: []string{"gemini/gemini-2.5-pro", "azure/gpt-4o"}}}
	var got []string
	for _, p := range c.Validate() {
		got = append(got, p.String())
	}
	want := []string{
		`providers.openai.base_url: "ftp://example.com" is not an absolute http(s) URL; write e.g. https://api.example.com/v1`,
		`models.m.route[1]: unknown provider "azure" in "azure/gpt-4o" (configured: anthropic, gemini, openai)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate():\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := config.AsError(c.Validate()); err == nil || !strings.Contains(err.Error(), "azure") {
		t.Errorf("AsError = %v", err)
	}
	if err := config.AsError(nil); err != nil {
		t.Errorf("AsError(nil) = %v, want nil", err)
	}
}

func TestRedacted(t *testing.T) {
	src := `master_key: mk-secret-1
storage: {driver: postgres, dsn: "postgres://llmgate:pg-secret-2@db:5432/llmgate?sslmode=disable&password=pg-secret-3"}
governance: {budget_webhook: "https://hooks.example.com/x?token=hook-secret-4&team=a", redis: {addr: "127.0.0.1:6379", password: redis-secret-8}}
providers:
  openai:
    type: openai
    api_key: sk-secret-5
    base_url: https://user:url-secret-6@api.example.com/v1
    headers: {Authorization: "Bearer hdr-secret-7", X-Team: visible-team}
  local: {type: openai, base_url: "http://127.0.0.1:11434/v1"}
`
	c, err := config.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := c.String()
	for _, secret := range []string{"mk-secret-1", "pg-secret-2", "pg-secret-3", "hook-secret-4", "sk-secret-5", "url-secret-6", "hdr-secret-7", "redis-secret-8"} {
		if strings.Contains(out, secret) {
			t.Errorf("String() leaks %s:\n%s", secret, out)
		}
	}
	for _, visible := range []string{"visible-team", "sslmode=disable", "team=a", "api.example.com", "REDACTED"} {
		if !strings.Contains(out, visible) {
			t.Errorf("String() lost %q:\n%s", visible, out)
		}
	}
	if c.Providers["openai"].APIKey != "sk-secret-5" || c.MasterKey != "mk-secret-1" {
		t.Error("Redacted modified the original config")
	}
	if c.Redacted().Providers["local"].APIKey != "" {
		t.Error("an empty key must stay empty (it means pass-through)")
	}
	// The printed config loads back.
	if _, err := config.Parse("printed.yaml", []byte(out), nil); err != nil {
		t.Errorf("printed config does not load:\n%v\n%s", err, out)
	}
}

func TestRedactKeyValueDSN(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"plain", "host=db user=u password=s3cret dbname=x", "host=db user=u password=REDACTED dbname=x"},
		{"quoted", `host=db password='a b\' c' dbname=x`, "host=db password=REDACTED dbname=x"},
		{"spaces around =", "password = s3cret host=db", "password = REDACTED host=db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Config{Storage: config.Storage{Driver: "postgres", DSN: tt.dsn}}
			if got := c.Redacted().Storage.DSN; got != tt.want {
				t.Errorf("redacted DSN = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTimeoutsAndBreakerFor(t *testing.T) {
	src := `providers:
  slow: {type: openai, timeouts: {first_token: 5m}, breaker: {failures: 10}}
  fast: {type: openai}
models:
  big: {route: [slow/x], timeouts: {total: 30m}}
`
	c, err := config.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.TimeoutsFor("slow", "big")
	if got.FirstToken != 5*time.Minute || got.Total != 30*time.Minute || got.Connect != 10*time.Second {
		t.Errorf("TimeoutsFor(slow, big) = %+v", got)
	}
	if got := c.TimeoutsFor("fast", "unknown"); got != c.Resilience.Timeouts {
		t.Errorf("TimeoutsFor(fast, unknown) = %+v, want the global timeouts", got)
	}
	if b := c.BreakerFor("slow"); b.Failures != 10 || b.Window != 30*time.Second || b.EjectionTime != 5*time.Second {
		t.Errorf("BreakerFor(slow) = %+v", b)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "llmgate.yaml")
	if err := os.WriteFile(path, []byte(issueConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path {
		t.Errorf("File = %q, want %q", c.File, path)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

// TestExamples loads every shipped example with a fake environment.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d examples, want at least 3", len(files))
	}
	fake := env{
		"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test", "GEMINI_API_KEY": "g-test",
		"DEEPSEEK_API_KEY": "sk-ds", "MISTRAL_API_KEY": "m-test", "GROQ_API_KEY": "gsk-test",
		"OPENROUTER_API_KEY": "or-test", "LLMGATE_MASTER_KEY": "mk-test", "HOME": "/home/test",
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, e := range []env{fake, nil} {
				c, err := config.Load(f, e.get)
				if err != nil {
					t.Fatalf("env %v:\n%v", e != nil, err)
				}
				if len(c.Providers) == 0 || len(c.Models) == 0 {
					t.Errorf("example has %d providers and %d models; show both", len(c.Providers), len(c.Models))
				}
			}
		})
	}
}

func TestMergeKeys(t *testing.T) {
	src := `providers:
  base: &base {type: openai, rpm: 5, headers: {X-A: a}}
  p2: {<<: *base, rpm: 7}
  p3:
    <<: [*base]
    type: anthropic
`
	c, err := config.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, p3 := c.Providers["p2"], c.Providers["p3"]
	if p2.Type != "openai" || p2.RPM != 7 || p2.Headers["X-A"] != "a" {
		t.Errorf("p2 = %+v, want merged type and header with its own rpm", p2)
	}
	if p3.Type != "anthropic" || p3.RPM != 5 {
		t.Errorf("p3 = %+v, want its own type and the merged rpm", p3)
	}
}

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestStringGolden pins what `llmgate validate` prints for an example: the
// effective configuration with defaults filled and secrets redacted.
func TestStringGolden(t *testing.T) {
	c, err := config.Load("../../examples/multi-provider.yaml", env{
		"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test", "LLMGATE_MASTER_KEY": "mk-test", "HOME": "/home/test",
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	got := c.String()
	golden := filepath.Join("testdata", "multi-provider.golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("String() differs from %s (run go test -update if intended):\n%s", golden, got)
	}
	for _, secret := range []string{"sk-test", "sk-ant-test", "mk-test"} {
		if strings.Contains(got, secret) {
			t.Errorf("String() leaks %s", secret)
		}
	}
}
