package mock

import (
	"bytes"
	"encoding/json"
	"strings"
)

// textPart is any content part that may carry text: OpenAI text /
// input_text / output_text parts, Anthropic text blocks and the nested
// content of tool_result blocks.
type textPart struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Content json.RawMessage `json:"content"` // Anthropic tool_result
}

// contentText returns the text of a content value: a string, an array of
// parts (texts joined by newlines; nested tool_result content included), or
// for any other JSON value its compact form. Null is "".
func contentText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case 'n':
		return ""
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	case '[':
		var parts []textPart
		if json.Unmarshal(raw, &parts) != nil {
			return string(raw)
		}
		if len(parts) == 1 && len(parts[0].Content) == 0 {
			return parts[0].Text
		}
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(p.Text)
			if len(p.Content) > 0 {
				b.WriteString(contentText(p.Content))
			}
		}
		return b.String()
	}
	return compactString(raw)
}

// compactString is raw without insignificant whitespace, so that the same
// JSON value counts the same whatever indentation a client used.
func compactString(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// choiceValue decodes a tool_choice value that is either a bare
// string or an object with a "type".
type choiceValue struct {
	Type     string `json:"type"`
	Name     string `json:"name"` // Anthropic, Responses
	Function struct {
		Name string `json:"name"`
	} `json:"function"` // OpenAI Chat
	Mode string `json:"mode"` // OpenAI allowed_tools
}

// parseOpenAIChoice reads an OpenAI (Chat or Responses) tool_choice.
func parseOpenAIChoice(raw json.RawMessage) (toolChoice, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return choiceAuto, ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "none":
			return choiceNone, ""
		case "required":
			return choiceRequired, ""
		}
		return choiceAuto, ""
	}
	var c choiceValue
	if json.Unmarshal(raw, &c) != nil {
		return choiceAuto, ""
	}
	switch {
	case c.Type == "function" && c.Function.Name != "":
		return choiceNamed, c.Function.Name
	case c.Type == "function" && c.Name != "":
		return choiceNamed, c.Name
	case c.Mode == "required":
		return choiceRequired, ""
	}
	return choiceAuto, ""
}
