package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

// wireRequest is the subset of a Messages request that llmgate reads. The
// members in the last group have no canonical form: the decoder only notes
// them in Request.Dropped. Other unknown members are ignored.
type wireRequest struct {
	Model         *string         `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        wireContent     `json:"system"`
	Messages      []wireMessage   `json:"messages"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Stream        bool            `json:"stream"`
	Tools         []wireTool      `json:"tools"`
	ToolChoice    *wireToolChoice `json:"tool_choice"`
	Metadata      *struct {
		UserID json.RawMessage `json:"user_id"`
	} `json:"metadata"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
	OutputConfig *struct {
		Effort string      `json:"effort"`
		Format *wireFormat `json:"format"`
	} `json:"output_config"`
	OutputFormat *wireFormat `json:"output_format"` // the structured-outputs beta's name

	ContextManagement json.RawMessage `json:"context_management"`
	Container         json.RawMessage `json:"container"`
	MCPServers        json.RawMessage `json:"mcp_servers"`
	ServiceTier       json.RawMessage `json:"service_tier"`
	Speed             json.RawMessage `json:"speed"`
	InferenceGeo      json.RawMessage `json:"inference_geo"`
	Diagnostics       json.RawMessage `json:"diagnostics"`
}

// wireFormat is output_config.format: structured outputs.
type wireFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

type wireMessage struct {
	Role    string      `json:"role"`
	Content wireContent `json:"content"`
}

// wireContent is a content value: a string or an array of blocks.
type wireContent struct {
	set    bool
	isText bool
	text   string
	blocks []wireBlock
}

// errContentShape is returned for a content value that is neither a string
// nor an array; encoding/json adds the field path.
func errContentShape(b []byte) error {
	kind := "object"
	switch b[0] {
	case 't', 'f':
		kind = "bool"
	case '{':
	default:
		kind = "number"
	}
	return &json.UnmarshalTypeError{Value: kind, Type: contentType}
}

var contentType = reflect.TypeFor[contentTypeName]()

// contentTypeName only names the expected type in error messages.
type contentTypeName string

func (c *wireContent) UnmarshalJSON(b []byte) error {
	*c = wireContent{}
	switch b[0] {
	case 'n': // null: absent
		return nil
	case '"':
		c.set, c.isText = true, true
		if s, ok := jsonscan.String(b); ok {
			c.text = s
			return nil
		}
		return json.Unmarshal(b, &c.text)
	case '[':
		c.set = true
		return json.Unmarshal(b, &c.blocks)
	}
	return errContentShape(b)
}

// wireBlock holds the members of every request block type llmgate reads.
type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    *wireSource     `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   wireContent     `json:"content"`
	IsError   bool            `json:"is_error"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`

	CacheControl json.RawMessage `json:"cache_control"`
}

type wireSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type wireTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`

	// Hints with no canonical form, noted in Request.Dropped.
	CacheControl        json.RawMessage `json:"cache_control"`
	InputExamples       json.RawMessage `json:"input_examples"`
	DeferLoading        json.RawMessage `json:"defer_loading"`
	Strict              json.RawMessage `json:"strict"`
	EagerInputStreaming json.RawMessage `json:"eager_input_streaming"`
	AllowedCallers      json.RawMessage `json:"allowed_callers"`
}

// dropped notes in req the hints of t that the canonical Tool cannot carry.
func (t *wireTool) dropped(req *provider.Request) {
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
	}{
		{"tools.cache_control", t.CacheControl},
		{"tools.input_examples", t.InputExamples},
		{"tools.defer_loading", t.DeferLoading},
		{"tools.strict", t.Strict},
		{"tools.eager_input_streaming", t.EagerInputStreaming},
		{"tools.allowed_callers", t.AllowedCallers},
	} {
		if !isNullish(f.raw) {
			req.Drop(f.name)
		}
	}
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

// emptySchema is the parameters of a tool that declares none.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// DecodeRequest parses a Messages request body. See the package doc for what
// is skipped. A malformed body gives a KindBadRequest *provider.Error whose
// message names the byte offset or the field.
func (c Client) DecodeRequest(body []byte) (*provider.Request, error) {
	return decodeRequest(body)
}

// DecodeCountTokens parses a POST /v1/messages/count_tokens body: the shape
// of a Messages request without max_tokens (ignored when present).
func DecodeCountTokens(body []byte) (*provider.Request, error) {
	req, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	req.MaxTokens = nil
	req.Stream = false
	return req, nil
}

func decodeRequest(body []byte) (*provider.Request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, badJSON(err)
	}
	if w.Model == nil || *w.Model == "" {
		return nil, badParam("model", "model: field required")
	}
	if len(w.Messages) == 0 {
		return nil, badParam("messages", "messages: at least one message is required")
	}
	req := &provider.Request{
		Model:       *w.Model,
		MaxTokens:   w.MaxTokens,
		Temperature: w.Temperature,
		TopP:        w.TopP,
		TopK:        w.TopK,
		Stop:        w.StopSequences,
		Stream:      w.Stream,
	}
	if w.System.set {
		req.System = systemParts(req, &w.System)
	}
	if err := decodeMessages(req, w.Messages); err != nil {
		return nil, err
	}
	for i := range w.Tools {
		t := &w.Tools[i]
		if t.Type != "" && t.Type != "custom" {
			req.Drop("server tool " + t.Type) // web_search_*, bash_*, ...: see the package doc
			continue
		}
		t.dropped(req)
		if t.Name == "" {
			return nil, badParam(fmt.Sprintf("tools.%d.name", i), fmt.Sprintf("tools.%d.name: field required", i))
		}
		params := json.RawMessage(t.InputSchema)
		if isNullish(params) {
			params = emptySchema
		}
		req.Tools = append(req.Tools, provider.Tool{Name: t.Name, Description: t.Description, Parameters: params})
	}
	if tc := w.ToolChoice; tc != nil {
		choice := &provider.ToolChoice{}
		switch tc.Type {
		case "auto", "":
			choice.Mode = provider.ToolChoiceAuto
		case "any":
			choice.Mode = provider.ToolChoiceRequired
		case "none":
			choice.Mode = provider.ToolChoiceNone
		case "tool":
			if tc.Name == "" {
				return nil, badParam("tool_choice.name", `tool_choice.name: field required when tool_choice.type is "tool"`)
			}
			choice.Mode, choice.Name = provider.ToolChoiceTool, tc.Name
		default:
			return nil, badParam("tool_choice.type", fmt.Sprintf("tool_choice.type: unknown value %q (want auto, any, tool or none)", tc.Type))
		}
		req.ToolChoice = choice
		if tc.DisableParallelToolUse != nil {
			parallel := !*tc.DisableParallelToolUse
			req.ParallelToolCalls = &parallel
		}
	}
	if w.Metadata != nil {
		if s, ok := jsonscan.String(w.Metadata.UserID); ok {
			req.User = s
		}
	}
	var effort string
	format := w.OutputFormat
	if oc := w.OutputConfig; oc != nil {
		effort = oc.Effort
		if oc.Format != nil {
			format = oc.Format
		}
	}
	if t := w.Thinking; t != nil && (t.Type == "enabled" || t.Type == "adaptive") {
		req.ReasoningEffort = reasoningEffort(t.BudgetTokens, effort)
	}
	if f := format; f != nil && f.Type == "json_schema" {
		req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Schema: f.Schema}
	}
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
	}{
		{"context_management", w.ContextManagement},
		{"container", w.Container},
		{"mcp_servers", w.MCPServers},
		{"service_tier", w.ServiceTier},
		{"speed", w.Speed},
		{"inference_geo", w.InferenceGeo},
		{"diagnostics", w.Diagnostics},
	} {
		if !isNullish(f.raw) {
			req.Drop(f.name)
		}
	}
	return req, nil
}

func reasoningEffort(budget int, effort string) string {
	if effort != "" {
		switch effort {
		case "low", "medium", "high":
			return effort
		case "max", "xhigh":
			return "high"
		}
	}
	switch {
	case budget <= 0:
		return "medium"
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}

// systemParts is the text of a system prompt or system message: a string or
// text blocks (other blocks are noted in req.Dropped).
func systemParts(req *provider.Request, c *wireContent) []provider.Part {
	if c.isText {
		if c.text == "" {
			return nil
		}
		return []provider.Part{{Type: provider.PartText, Text: c.text}}
	}
	var parts []provider.Part
	for i := range c.blocks {
		b := &c.blocks[i]
		if !isNullish(b.CacheControl) {
			req.Drop("cache_control")
		}
		switch {
		case b.Type != "text":
			req.Drop("system block " + b.Type)
		case b.Text != "":
			parts = append(parts, provider.Part{Type: provider.PartText, Text: b.Text})
		}
	}
	return parts
}

func decodeMessages(req *provider.Request, msgs []wireMessage) error {
	req.Messages = make([]provider.Message, 0, len(msgs))
	var toolNames map[string]string // tool_use id -> name, for tool_result
	for i := range msgs {
		m := &msgs[i]
		var role provider.Role
		switch m.Role {
		case "user":
			role = provider.RoleUser
		case "assistant":
			role = provider.RoleAssistant
		case "system":
			role = provider.RoleSystem
		default:
			p := fmt.Sprintf("messages.%d.role", i)
			return badParam(p, fmt.Sprintf(`%s: must be "user", "assistant" or "system", got %q`, p, m.Role))
		}
		if !m.Content.set {
			p := fmt.Sprintf("messages.%d.content", i)
			return badParam(p, p+": field required")
		}
		if role == provider.RoleSystem {
			// Mid-conversation system text (Claude Code's
			// mid-conversation-system beta): kept at its position.
			if parts := systemParts(req, &m.Content); len(parts) > 0 {
				req.Messages = append(req.Messages, provider.Message{Role: role, Parts: parts})
			}
			continue
		}
		var parts []provider.Part
		if m.Content.isText {
			if m.Content.text != "" {
				parts = []provider.Part{{Type: provider.PartText, Text: m.Content.text}}
			}
		} else {
			parts = make([]provider.Part, 0, len(m.Content.blocks))
			for j := range m.Content.blocks {
				b := &m.Content.blocks[j]
				if !isNullish(b.CacheControl) {
					req.Drop("cache_control")
				}
				part, ok, err := decodeBlock(b, toolNames, i, j)
				if err != nil {
					return err
				}
				if !ok {
					if b.Type != "text" && b.Type != "thinking" {
						req.Drop("content block " + b.Type)
					}
					continue
				}
				if part.Type == provider.PartToolCall {
					if toolNames == nil {
						toolNames = make(map[string]string)
					}
					toolNames[b.ID] = b.Name
				}
				parts = append(parts, part)
			}
		}
		if len(parts) == 0 {
			continue // nothing portable left (empty text, server-tool blocks)
		}
		req.Messages = append(req.Messages, provider.Message{Role: role, Parts: parts})
	}
	return nil
}

// decodeBlock converts one content block; ok is false for blocks that are
// skipped (empty text, redacted thinking, server-tool blocks).
func decodeBlock(b *wireBlock, toolNames map[string]string, mi, bi int) (provider.Part, bool, error) {
	path := func(field string) string {
		if field == "" {
			return fmt.Sprintf("messages.%d.content.%d", mi, bi)
		}
		return fmt.Sprintf("messages.%d.content.%d.%s", mi, bi, field)
	}
	switch b.Type {
	case "text":
		if b.Text == "" {
			return provider.Part{}, false, nil
		}
		return provider.Part{Type: provider.PartText, Text: b.Text}, true, nil
	case "image", "document":
		return decodeMedia(b, path)
	case "tool_use":
		if b.ID == "" || b.Name == "" {
			p := path("id")
			if b.ID != "" {
				p = path("name")
			}
			return provider.Part{}, false, badParam(p, p+": field required")
		}
		args := json.RawMessage(b.Input)
		if isNullish(args) {
			args = emptyObject
		}
		return provider.Part{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: b.ID, Name: b.Name, Arguments: args}}, true, nil
	case "tool_result":
		if b.ToolUseID == "" {
			p := path("tool_use_id")
			return provider.Part{}, false, badParam(p, p+": field required")
		}
		res := &provider.ToolResult{ToolCallID: b.ToolUseID, Name: toolNames[b.ToolUseID], IsError: b.IsError}
		if b.Content.isText {
			if b.Content.text != "" {
				res.Content = []provider.Part{{Type: provider.PartText, Text: b.Content.text}}
			}
		} else {
			for k := range b.Content.blocks {
				cb := &b.Content.blocks[k]
				switch cb.Type {
				case "text":
					if cb.Text != "" {
						res.Content = append(res.Content, provider.Part{Type: provider.PartText, Text: cb.Text})
					}
				case "image", "document":
					p, ok, err := decodeMedia(cb, func(f string) string { return path(fmt.Sprintf("content.%d.%s", k, f)) })
					if err != nil {
						return provider.Part{}, false, err
					}
					if ok {
						res.Content = append(res.Content, p)
					}
				}
			}
		}
		return provider.Part{Type: provider.PartToolResult, ToolResult: res}, true, nil
	case "thinking":
		if b.Thinking == "" && b.Signature == "" {
			return provider.Part{}, false, nil
		}
		return provider.Part{Type: provider.PartThinking, Text: b.Thinking, Signature: b.Signature}, true, nil
	case "":
		p := path("type")
		return provider.Part{}, false, badParam(p, p+": field required")
	}
	// redacted_thinking, server_tool_use, web_search_tool_result, search
	// results, container uploads...: no portable equivalent.
	return provider.Part{}, false, nil
}

func decodeMedia(b *wireBlock, path func(string) string) (provider.Part, bool, error) {
	typ := provider.PartImage
	if b.Type == "document" {
		typ = provider.PartDocument
	}
	s := b.Source
	if s == nil {
		p := path("source")
		return provider.Part{}, false, badParam(p, p+": field required")
	}
	switch s.Type {
	case "base64":
		if s.Data == "" {
			p := path("source.data")
			return provider.Part{}, false, badParam(p, p+": field required")
		}
		return provider.Part{Type: typ, Media: &provider.Media{MediaType: s.MediaType, Data: s.Data}}, true, nil
	case "url":
		if s.URL == "" {
			p := path("source.url")
			return provider.Part{}, false, badParam(p, p+": field required")
		}
		return provider.Part{Type: typ, Media: &provider.Media{URL: s.URL}}, true, nil
	case "text":
		// A plain-text document: its text is what the model reads.
		if typ == provider.PartDocument {
			if s.Data == "" {
				return provider.Part{}, false, nil
			}
			return provider.Part{Type: provider.PartText, Text: s.Data}, true, nil
		}
	}
	p := path("source.type")
	return provider.Part{}, false, badParam(p, fmt.Sprintf("%s: source type %q is not supported by llmgate for %s blocks (use base64 or url)", p, s.Type, b.Type))
}

// isNullish reports whether raw is absent or null.
func isNullish(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func badParam(param, msg string) *provider.Error {
	return &provider.Error{Kind: provider.KindBadRequest, Message: msg, Param: param, Type: "invalid_request_error", Format: provider.FormatAnthropic}
}

// badJSON turns an encoding/json error into a KindBadRequest error that says
// where the body is wrong.
func badJSON(err error) *provider.Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off := syn.Offset // bytes read, including the offending one
		if strings.HasPrefix(syn.Error(), "invalid character") && off > 0 {
			off--
		}
		e := badParam("", fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", syn.Error(), off))
		e.Cause = err
		return e
	case errors.As(err, &typ):
		want := typ.Type.String()
		switch typ.Type {
		case contentType:
			want = "string or array of content blocks"
		}
		field := typ.Field
		if field == "" {
			field = "request body"
		}
		e := badParam(typ.Field, fmt.Sprintf("%s: expected %s, got %s", field, jsonTypeName(want), typ.Value))
		e.Cause = err
		return e
	}
	e := badParam("", "request body is not valid: "+err.Error())
	e.Cause = err
	return e
}

// jsonTypeName names a Go type the way a JSON user thinks of it.
func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "struct") || strings.HasPrefix(goType, "anthropic."):
		return "object"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "float") || strings.HasPrefix(goType, "*int") || strings.HasPrefix(goType, "*float"):
		return "number"
	case goType == "string" || goType == "*string":
		return "string"
	case goType == "bool" || goType == "*bool":
		return "boolean"
	}
	return goType
}
