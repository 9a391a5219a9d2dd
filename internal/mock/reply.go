package mock

import (
	"bytes"
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"strconv"
	"strings"
	"unicode/utf8"
)

// convo is what the mock needs to know about a generation request, whatever
// its wire format.
type convo struct {
	model      string
	stream     bool
	maxTokens  int    // 0 = no cap
	inputChars int    // bytes of prompt text (system, messages, tool traffic)
	lastUser   string // text of the last user message
	toolResult string // text of the tool result when the last message is one
	lastIsTool bool   // the last message is a tool result
	tools      []toolDef
	choice     toolChoice
	choiceName string // for choiceNamed
}

type toolDef struct {
	name   string
	schema json.RawMessage
}

type toolChoice uint8

const (
	choiceAuto toolChoice = iota
	choiceNone
	choiceRequired
	choiceNamed
)

// reply is what the mock answers, whatever the wire format.
type reply struct {
	text      string // the text reply ("" for a tool call)
	toolName  string // non-empty for a tool call
	toolArgs  string // JSON object
	truncated bool   // cut at maxTokens
	inTok     int
	outTok    int
}

func (r *reply) isTool() bool { return r.toolName != "" }

// estimateTokens is the mock's tokenizer: a quarter of the bytes, at least 1.
func estimateTokens(chars int) int {
	return max(1, chars/4)
}

// build decides the reply to c.
func (m *Mock) build(c *convo) reply {
	rep := reply{inTok: estimateTokens(c.inputChars)}
	if call := m.opts.Call; call != nil && len(c.tools) > 0 && c.choice != choiceNone && !c.lastIsTool {
		names := make([]string, len(c.tools))
		for i := range c.tools {
			names[i] = c.tools[i].name
		}
		if name, args := call(names, c.lastUser); name != "" {
			rep.toolName, rep.toolArgs = name, args
			rep.outTok = estimateTokens(len(name) + len(args))
			return rep
		}
	} else if len(c.tools) > 0 && c.choice != choiceNone && !c.lastIsTool {
		t := c.tools[0]
		if c.choice == choiceNamed {
			t = toolDef{name: c.choiceName}
			for _, d := range c.tools {
				if d.name == c.choiceName {
					t = d
					break
				}
			}
		}
		rep.toolName = t.name
		rep.toolArgs = argsFromSchema(t.schema)
		rep.outTok = estimateTokens(len(rep.toolName) + len(rep.toolArgs))
		return rep
	}
	switch {
	case m.opts.Text != "":
		rep.text = m.opts.Text
	case c.lastIsTool:
		rep.text = echo("Mock reply to tool result: ", c.toolResult)
	default:
		rep.text = echo("Mock reply to: ", c.lastUser)
	}
	n := countTokens(rep.text)
	if c.maxTokens > 0 && n > c.maxTokens && !m.opts.IgnoreMaxTokens {
		rep.text = rep.text[:tokenPrefixLen(rep.text, c.maxTokens)]
		n = c.maxTokens
		rep.truncated = true
	}
	rep.outTok = n
	return rep
}

// echoWords is how many words of the user's message the default reply echoes.
const echoWords = 8

// echo returns prefix and the first echoWords words of s, single-spaced.
func echo(prefix, s string) string {
	if strings.TrimSpace(s) == "" {
		return "Mock reply."
	}
	b := make([]byte, 0, len(prefix)+min(len(s), 80))
	b = append(b, prefix...)
	words := 0
	for i := 0; i < len(s) && words < echoWords; {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		if j > i {
			if words > 0 {
				b = append(b, ' ')
			}
			b = append(b, s[i:j]...)
			words++
		}
		i = j
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// Tokens: the mock streams text word by word. A token is a run of spaces
// followed by a run of non-spaces, so the tokens of a text concatenate back
// to it; trailing spaces belong to the last token.

// nextToken splits off the first token of s.
func nextToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	if strings.TrimSpace(s[i:]) == "" {
		return s, ""
	}
	return s[:i], s[i:]
}

// countTokens is the number of tokens of s.
func countTokens(s string) int {
	n := 0
	for s != "" {
		_, s = nextToken(s)
		n++
	}
	return n
}

// tokenPrefixLen is the length of the first n tokens of s.
func tokenPrefixLen(s string, n int) int {
	l := 0
	for ; n > 0 && l < len(s); n-- {
		tok, _ := nextToken(s[l:])
		l += len(tok)
	}
	return l
}

// splitTokens returns the tokens of s.
func splitTokens(s string) []string {
	out := make([]string, 0, countTokens(s))
	for s != "" {
		var tok string
		tok, s = nextToken(s)
		out = append(out, tok)
	}
	return out
}

// splitArgs splits a tool call's JSON arguments into at least two (three
// when long enough) fragments on UTF-8 boundaries.
func splitArgs(args string) []string {
	if len(args) < 2 {
		return []string{args, ""}
	}
	parts := 3
	if len(args) < 6 {
		parts = 2
	}
	out := make([]string, 0, parts)
	for i := parts; i > 1; i-- {
		cut := len(args) / i
		for cut > 0 && !utf8.RuneStart(args[cut]) {
			cut--
		}
		if cut == 0 {
			cut = 1
		}
		out = append(out, args[:cut])
		args = args[cut:]
	}
	return append(out, args)
}

// schema is the part of a JSON Schema (or a Gemini Schema) that argument
// generation reads.
type schema struct {
	Type       json.RawMessage            `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Enum       []json.RawMessage          `json:"enum"`
	Const      json.RawMessage            `json:"const"`
	Default    json.RawMessage            `json:"default"`
	AnyOf      []json.RawMessage          `json:"anyOf"`
	OneOf      []json.RawMessage          `json:"oneOf"`
	Items      json.RawMessage            `json:"items"`
	MinItems   int                        `json:"minItems"`
	Format     string                     `json:"format"`
}

// maxSchemaDepth bounds recursion into nested schemas.
const maxSchemaDepth = 8

// argsFromSchema generates a JSON object that satisfies the schema's
// required properties: strings are "test", numbers 1, booleans true, arrays
// hold minItems items, objects recurse; const, enum and default win.
func argsFromSchema(raw json.RawMessage) string {
	b := appendSchemaValue(nil, raw, 0)
	if len(b) == 0 || b[0] != '{' {
		return "{}"
	}
	return string(b)
}

func appendSchemaValue(dst []byte, raw json.RawMessage, depth int) []byte {
	var s schema
	if depth > maxSchemaDepth || len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return append(dst, "null"...)
	}
	switch {
	case len(s.Const) > 0:
		return appendCompact(dst, s.Const)
	case len(s.Enum) > 0:
		return appendCompact(dst, s.Enum[0])
	case len(s.Default) > 0:
		return appendCompact(dst, s.Default)
	}
	for _, alts := range [][]json.RawMessage{s.AnyOf, s.OneOf} {
		for _, alt := range alts {
			if t := schemaType(alt); t != "null" {
				return appendSchemaValue(dst, alt, depth+1)
			}
		}
	}
	typ := typeName(s.Type)
	if typ == "" && s.Properties != nil {
		typ = "object"
	}
	switch typ {
	case "string":
		switch s.Format {
		case "date-time":
			return append(dst, `"2025-01-01T00:00:00Z"`...)
		case "date":
			return append(dst, `"2025-01-01"`...)
		}
		return append(dst, `"test"`...)
	case "integer", "number":
		return append(dst, '1')
	case "boolean":
		return append(dst, "true"...)
	case "array":
		dst = append(dst, '[')
		for i := range min(s.MinItems, 8) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendSchemaValue(dst, s.Items, depth+1)
		}
		return append(dst, ']')
	case "object":
		dst = append(dst, '{')
		n := 0
		for _, name := range s.Required {
			prop, ok := s.Properties[name]
			if !ok {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = jsonw.AppendString(dst, name)
			dst = append(dst, ':')
			dst = appendSchemaValue(dst, prop, depth+1)
			n++
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// schemaType is the type name of a raw schema, "" when it has none.
func schemaType(raw json.RawMessage) string {
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return typeName(s.Type)
}

// typeName reads a schema "type": a name (any case, as Gemini writes
// "STRING"), or a list whose first non-null name wins.
func typeName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return strings.ToLower(one)
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, t := range many {
			if t = strings.ToLower(t); t != "null" {
				return t
			}
		}
		if len(many) > 0 {
			return "null"
		}
	}
	return ""
}

func appendCompact(dst []byte, raw json.RawMessage) []byte {
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil {
		return append(dst, "null"...)
	}
	return buf.Bytes()
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string { return string(jsonw.AppendString(nil, s)) }

// itoa is strconv.Itoa, short.
func itoa(n int) string { return strconv.Itoa(n) }
