package config

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// redacted replaces secrets in printed configuration.
const redacted = "REDACTED"

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := *c
	if c.Auth.Required != nil {
		out.Auth.Required = ptr(*c.Auth.Required)
	}
	if c.RequestLog.Persist != nil {
		out.RequestLog.Persist = ptr(*c.RequestLog.Persist)
	}
	if c.Providers != nil {
		out.Providers = make(map[string]*Provider, len(c.Providers))
		for name, p := range c.Providers {
			out.Providers[name] = p.clone()
		}
	}
	if c.Models != nil {
		out.Models = make(map[string]*Model, len(c.Models))
		for name, m := range c.Models {
			out.Models[name] = m.clone()
		}
	}
	out.Governance.Prices = maps.Clone(c.Governance.Prices)
	out.Telemetry.Headers = maps.Clone(c.Telemetry.Headers)
	return &out
}

func (p *Provider) clone() *Provider {
	if p == nil {
		return nil
	}
	out := *p
	out.Headers = maps.Clone(p.Headers)
	out.Models = slices.Clone(p.Models)
	out.Prefixes = slices.Clone(p.Prefixes)
	if p.StreamUsage != nil {
		out.StreamUsage = ptr(*p.StreamUsage)
	}
	if p.Timeouts != nil {
		out.Timeouts = ptr(*p.Timeouts)
	}
	if p.Breaker != nil {
		out.Breaker = ptr(*p.Breaker)
	}
	return &out
}

func (m *Model) clone() *Model {
	if m == nil {
		return nil
	}
	out := *m
	out.Route = slices.Clone(m.Route)
	out.ContextFallback = slices.Clone(m.ContextFallback)
	if m.Hedge != nil {
		out.Hedge = ptr(*m.Hedge)
	}
	if m.Timeouts != nil {
		out.Timeouts = ptr(*m.Timeouts)
	}
	return &out
}

func ptr[T any](v T) *T { return &v }

// Redacted returns a deep copy of c safe to print or log: the master key,
// provider API keys, credential-bearing headers, passwords in the storage
// DSN and credentials in URLs are replaced by "REDACTED". Empty secrets
// stay empty, so the output still shows which providers pass client keys
// through.
func (c *Config) Redacted() *Config {
	out := c.Clone()
	if out == nil {
		return nil
	}
	out.MasterKey = redactNonEmpty(out.MasterKey)
	out.Storage.DSN = redactDSN(out.Storage.DSN)
	out.Governance.BudgetWebhook = redactURL(out.Governance.BudgetWebhook)
	out.Governance.Redis.Password = redactNonEmpty(out.Governance.Redis.Password)
	out.Telemetry.Endpoint = redactURL(out.Telemetry.Endpoint)
	for h, v := range out.Telemetry.Headers {
		if sensitiveName(h) {
			out.Telemetry.Headers[h] = redactNonEmpty(v)
		}
	}
	for _, p := range out.Providers {
		if p == nil {
			continue
		}
		p.APIKey = redactNonEmpty(p.APIKey)
		p.BaseURL = redactURL(p.BaseURL)
		for h, v := range p.Headers {
			if sensitiveName(h) {
				p.Headers[h] = redactNonEmpty(v)
			}
		}
	}
	return out
}

// String renders the configuration as YAML with secrets redacted, for
// `llmgate validate` and logs. Fields left at their zero value are left
// out; $ is written as $$, so the output loads back to the same config.
func (c *Config) String() string {
	n := encode(reflect.ValueOf(c.Redacted()).Elem(), false)
	if n == nil {
		return "{}\n"
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "config: " + err.Error()
	}
	_ = enc.Close()
	return b.String()
}

// encode turns a config value into a YAML node, or nil when it is zero and
// keepZero is false. Values behind pointers, in maps and in lists are kept
// even when zero: there, presence means something (stream_usage: false,
// hedge: {}).
func encode(v reflect.Value, keepZero bool) *yaml.Node {
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	if !keepZero && v.IsZero() {
		return nil
	}
	if v.Type() == durationType {
		return scalar("!!str", time.Duration(v.Int()).String())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return encode(v.Elem(), true)
	case reflect.String:
		return scalar("!!str", strings.ReplaceAll(v.String(), "$", "$$"))
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return scalar("!!float", strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits()))
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range yamlFields(v.Type()) {
			if n := encode(v.Field(f.index), false); n != nil {
				m.Content = append(m.Content, scalar("!!str", f.name), n)
			}
		}
		return m
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			n := encode(v.MapIndex(k), true)
			if n == nil {
				n = scalar("!!null", "")
			}
			m.Content = append(m.Content, scalar("!!str", k.String()), n)
		}
		return m
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			n := encode(v.Index(i), true)
			if n == nil {
				n = scalar("!!null", "")
			}
			s.Content = append(s.Content, n)
		}
		return s
	}
	return scalar("!!str", fmt.Sprint(v.Interface()))
}

func redactNonEmpty(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// sensitiveName reports whether a header or query parameter name suggests
// it carries a credential.
func sensitiveName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "key", "token", "secret", "password", "passwd", "cookie", "signature", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactURL hides the password in a URL's user info and the values of
// credential-like query parameters. A value that does not parse as a URL
// but might hold credentials is hidden entirely.
func redactURL(raw string) string {
	if raw == "" || !strings.ContainsAny(raw, "@?") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return redacted
		}
		for k := range q {
			if sensitiveName(k) {
				q[k] = []string{redacted}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactDSN hides the password in a PostgreSQL connection string, in URL
// form (postgres://user:pass@host/db?password=...) or key/value form
// (host=db user=u password='p w').
func redactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	if strings.Contains(dsn, "://") {
		return redactURL(dsn)
	}
	var b strings.Builder
	for i := 0; i < len(dsn); {
		// Copy whitespace.
		if dsn[i] == ' ' || dsn[i] == '\t' || dsn[i] == '\n' {
			b.WriteByte(dsn[i])
			i++
			continue
		}
		// Key up to '='.
		eq := strings.IndexByte(dsn[i:], '=')
		if eq < 0 {
			b.WriteString(dsn[i:])
			break
		}
		key := strings.TrimSpace(dsn[i : i+eq])
		b.WriteString(dsn[i : i+eq+1])
		i += eq + 1
		for i < len(dsn) && dsn[i] == ' ' {
			b.WriteByte(' ')
			i++
		}
		// Value: quoted with '...' (\' escapes) or up to whitespace.
		start := i
		if i < len(dsn) && dsn[i] == '\'' {
			i++
			for i < len(dsn) && dsn[i] != '\'' {
				if dsn[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i+1, len(dsn))
		} else {
			for i < len(dsn) && dsn[i] != ' ' && dsn[i] != '\t' && dsn[i] != '\n' {
				i++
			}
		}
		if key == "password" || sensitiveName(key) {
			b.WriteString(redacted)
		} else {
			b.WriteString(dsn[start:i])
		}
	}
	return b.String()
}
