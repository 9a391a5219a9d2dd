package gemini

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// toJSONSchema turns Gemini's OpenAPI-subset Schema (what go-genai writes for
// FunctionDeclaration.Parameters and GenerationConfig.ResponseSchema) into
// plain JSON Schema that OpenAI and Anthropic accept: upper-case type names
// become lower case, nullable becomes a "null" member of the type, int64
// keywords sent as strings become numbers, and Gemini-only keywords
// (propertyOrdering, example) are dropped. A schema that is not a JSON object
// comes back unchanged.
func toJSONSchema(raw json.RawMessage) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return raw
	}
	m, ok := v.(map[string]any)
	if !ok {
		return raw
	}
	convertSchema(m, 0)
	out, err := marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// maxSchemaDepth bounds the recursion on hostile schemas.
const maxSchemaDepth = 64

func convertSchema(m map[string]any, depth int) {
	if depth > maxSchemaDepth {
		return
	}
	if t, ok := m["type"].(string); ok {
		t = strings.ToLower(t)
		if t == "type_unspecified" {
			delete(m, "type")
		} else if n, _ := m["nullable"].(bool); n && t != "null" {
			m["type"] = []any{t, "null"}
		} else {
			m["type"] = t
		}
	}
	delete(m, "nullable")
	delete(m, "propertyOrdering")
	delete(m, "example")
	for _, k := range [...]string{"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"} {
		if s, ok := m[k].(string); ok {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				m[k] = json.Number(strconv.FormatInt(n, 10))
			}
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for _, p := range props {
			if pm, ok := p.(map[string]any); ok {
				convertSchema(pm, depth+1)
			}
		}
	}
	if it, ok := m["items"].(map[string]any); ok {
		convertSchema(it, depth+1)
	}
	if list, ok := m["anyOf"].([]any); ok {
		for _, s := range list {
			if sm, ok := s.(map[string]any); ok {
				convertSchema(sm, depth+1)
			}
		}
	}
}
