package mock

import (
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"strings"
	"testing"
)

func TestArgsFromSchema(t *testing.T) {
	for _, tc := range []struct {
		name, schema, want string
	}{
		{"no schema", ``, `{}`},
		{"not JSON", `{`, `{}`},
		{"not an object schema", `{"type":"string"}`, `{}`},
		{"only required properties", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}},"required":["b"]}`, `{"b":1}`},
		{"scalars in required order", `{"type":"object","properties":{"s":{"type":"string"},"i":{"type":"integer"},"b":{"type":"boolean"},"n":{"type":"null"}},"required":["b","s","i","n"]}`,
			`{"b":true,"s":"test","i":1,"n":null}`},
		{"enum const default", `{"type":"object","properties":{"e":{"type":"string","enum":["x","y"]},"c":{"const":42},"d":{"type":"integer","default":7}},"required":["e","c","d"]}`,
			`{"e":"x","c":42,"d":7}`},
		{"nullable type list", `{"type":"object","properties":{"a":{"type":["null","string"]}},"required":["a"]}`, `{"a":"test"}`},
		{"anyOf skips null", `{"type":"object","properties":{"a":{"anyOf":[{"type":"null"},{"type":"integer"}]}},"required":["a"]}`, `{"a":1}`},
		{"arrays", `{"type":"object","properties":{"l":{"type":"array","items":{"type":"string"},"minItems":2},"m":{"type":"array"}},"required":["l","m"]}`,
			`{"l":["test","test"],"m":[]}`},
		{"nested object", `{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"]}},"required":["o"]}`,
			`{"o":{"x":true}}`},
		{"object without type", `{"properties":{"x":{"type":"string"}},"required":["x"]}`, `{"x":"test"}`},
		{"gemini upper-case types", `{"type":"OBJECT","properties":{"x":{"type":"STRING"},"y":{"type":"NUMBER"}},"required":["x","y"]}`,
			`{"x":"test","y":1}`},
		{"dates", `{"type":"object","properties":{"t":{"type":"string","format":"date-time"}},"required":["t"]}`, `{"t":"2025-01-01T00:00:00Z"}`},
		{"required but undeclared", `{"type":"object","required":["ghost"]}`, `{}`},
		{"escaped names", `{"type":"object","properties":{"a\"b":{"type":"string"}},"required":["a\"b"]}`, `{"a\"b":"test"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := argsFromSchema(json.RawMessage(tc.schema)); got != tc.want {
				t.Errorf("argsFromSchema(%s) = %s, want %s", tc.schema, got, tc.want)
			}
		})
	}
}

// FuzzArgsFromSchema checks that any schema yields a valid JSON object.
func FuzzArgsFromSchema(f *testing.F) {
	f.Add(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`)
	f.Add(`{"type":"object","properties":{"o":{"properties":{"o":{"properties":{}}}}},"required":["o"]}`)
	f.Add(`{"enum":[1]}`)
	f.Fuzz(func(t *testing.T, schema string) {
		got := argsFromSchema(json.RawMessage(schema))
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatalf("argsFromSchema(%q) = %q: %v", schema, got, err)
		}
	})
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string
	}{
		{"words", "Mock reply to: hi", []string{"Mock", " reply", " to:", " hi"}},
		{"runs of spaces", "a  b\nc", []string{"a", "  b", "\nc"}},
		{"leading and trailing spaces", "  a b  ", []string{"  a", " b  "}},
		{"one word", "x", []string{"x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := splitTokens(tc.text)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || countTokens(tc.text) != len(tc.want) {
				t.Errorf("tokens of %q = %q, want %q", tc.text, got, tc.want)
			}
			if strings.Join(got, "") != tc.text {
				t.Errorf("tokens of %q do not concatenate back", tc.text)
			}
		})
	}
	if got := tokenPrefixLen("Mock reply to: hi", 2); got != len("Mock reply") {
		t.Errorf("tokenPrefixLen = %d", got)
	}
}

func TestSplitArgs(t *testing.T) {
	for _, args := range []string{"{}", `{"a":1}`, `{"city":"test","days":1}`, `{"é":"ü"}`} {
		parts := splitArgs(args)
		if len(parts) < 2 || strings.Join(parts, "") != args {
			t.Errorf("splitArgs(%q) = %q", args, parts)
		}
		for _, p := range parts {
			if strings.ToValidUTF8(p, "?") != p {
				t.Errorf("fragment %q of %q splits a character", p, args)
			}
		}
	}
}

func TestEcho(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "Mock reply."},
		{"  \n ", "Mock reply."},
		{"hello", "Mock reply to: hello"},
		{"one two three four five six seven eight nine ten", "Mock reply to: one two three four five six seven eight"},
		{"multi\nline\ttext", "Mock reply to: multi line text"},
	} {
		if got := echo("Mock reply to: ", tc.in); got != tc.want {
			t.Errorf("echo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "ctl\x00\x1f\n\r\t", "ünï", "bad\xffutf8", "<&>"} {
		got := jsonw.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		if back != strings.ToValidUTF8(s, "\uFFFD") {
			t.Errorf("%q -> %s -> %q", s, got, back)
		}
	}
}
