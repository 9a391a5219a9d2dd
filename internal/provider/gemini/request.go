package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/llmgate/llmgate/internal/provider"
)

// Client is the Gemini format as clients speak it: it decodes
// generateContent and countTokens bodies and encodes responses, streams and
// errors the way generativelanguage.googleapis.com does. The zero value is
// ready to use; it is stateless and safe for concurrent use.
type Client struct{}

var _ provider.ClientCodec = Client{}

// Format returns provider.FormatGemini.
func (Client) Format() provider.Format { return provider.FormatGemini }

// emptySchema stands in for a function declared without parameters.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// DecodeRequest parses a generateContent body (or a countTokens body, which
// may wrap one in generateContentRequest). The model and the stream flag are
// in the URL, not the body: Request.Model is left empty and Request.Stream
// false for the caller to fill. Function calls without an id get a
// synthesized call_ id, and function responses without one are matched to
// the earliest unanswered call of the same name in the latest model turn
// that has one.
func (Client) DecodeRequest(body []byte) (*provider.Request, error) {
	var w generateContentRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(err)
	}
	w.normalize()
	if len(w.Contents) == 0 && w.GenerateContentRequest != nil {
		inner := w.GenerateContentRequest
		inner.normalize()
		w = *inner
	}
	if len(w.Contents) == 0 {
		return nil, badRequest("contents", "contents is required and must not be empty")
	}
	req := &provider.Request{}
	if si := w.SystemInstruction; si != nil {
		for i := range si.Parts {
			if t := si.Parts[i].Text; t != "" {
				req.System = append(req.System, provider.Part{Type: provider.PartText, Text: t})
			}
		}
	}
	if err := decodeContents(req, w.Contents); err != nil {
		return nil, err
	}
	if err := decodeTools(req, w.Tools, w.ToolConfig); err != nil {
		return nil, err
	}
	decodeGenerationConfig(req, w.GenerationConfig)
	return req, nil
}

// callRef is a function call seen in the history, for matching responses
// that carry no id.
type callRef struct {
	id, name string
	turn     int
	answered bool
}

func decodeContents(req *provider.Request, contents []content) error {
	var calls []callRef
	req.Messages = make([]provider.Message, 0, len(contents))
	for i := range contents {
		c := &contents[i]
		var role provider.Role
		switch c.Role {
		case "user", "", "function":
			role = provider.RoleUser
		case "model":
			role = provider.RoleAssistant
		default:
			return badRequest(fmt.Sprintf("contents[%d].role", i), "contents[%d].role must be \"user\" or \"model\", got %q", i, c.Role)
		}
		parts := make([]provider.Part, 0, len(c.Parts))
		for j := range c.Parts {
			p := &c.Parts[j]
			p.normalize()
			switch {
			case p.FunctionCall != nil:
				fc := p.FunctionCall
				if fc.Name == "" {
					return badRequest(fmt.Sprintf("contents[%d].parts[%d].functionCall.name", i, j),
						"contents[%d].parts[%d].functionCall.name is required", i, j)
				}
				id := fc.ID
				if id == "" {
					id = newCallID()
				}
				calls = append(calls, callRef{id: id, name: fc.Name, turn: i})
				parts = append(parts, provider.Part{
					Type:      provider.PartToolCall,
					Signature: p.ThoughtSignature,
					ToolCall:  &provider.ToolCall{ID: id, Name: fc.Name, Arguments: objectOrEmpty(fc.Args)},
				})
			case p.FunctionResponse != nil:
				fr := p.FunctionResponse
				id, name := matchCall(calls, fr.ID, fr.Name)
				if name == "" {
					return badRequest(fmt.Sprintf("contents[%d].parts[%d].functionResponse.name", i, j),
						"contents[%d].parts[%d].functionResponse.name is required", i, j)
				}
				parts = append(parts, provider.Part{
					Type: provider.PartToolResult,
					ToolResult: &provider.ToolResult{
						ToolCallID: id,
						Name:       name,
						Content:    []provider.Part{{Type: provider.PartText, Text: compactJSON(fr.Response)}},
					},
				})
			case p.InlineData != nil:
				parts = append(parts, mediaPart(&provider.Media{MediaType: p.InlineData.MimeType, Data: p.InlineData.Data}))
			case p.FileData != nil:
				parts = append(parts, mediaPart(&provider.Media{MediaType: p.FileData.MimeType, URL: p.FileData.FileURI}))
			case p.Thought:
				if p.Text != "" || p.ThoughtSignature != "" {
					parts = append(parts, provider.Part{Type: provider.PartThinking, Text: p.Text, Signature: p.ThoughtSignature})
				}
			case p.Text != "":
				parts = append(parts, provider.Part{Type: provider.PartText, Text: p.Text, Signature: p.ThoughtSignature})
			}
			// Other parts (executableCode, codeExecutionResult, videoMetadata
			// alone, empty text) have no canonical form and are dropped.
		}
		if len(parts) == 0 {
			continue
		}
		req.Messages = append(req.Messages, provider.Message{Role: role, Parts: parts})
	}
	if len(req.Messages) == 0 {
		return badRequest("contents", "contents has no usable parts")
	}
	return nil
}

// matchCall finds the call a function response answers and marks it
// answered. With an id it is that call; without one it is the earliest
// unanswered call of that name in the latest turn that has one (parallel
// calls are answered in order). An unmatched response gets a fresh id.
func matchCall(calls []callRef, id, name string) (string, string) {
	if id != "" {
		for k := len(calls) - 1; k >= 0; k-- {
			if calls[k].id == id {
				calls[k].answered = true
				if name == "" {
					name = calls[k].name
				}
				break
			}
		}
		return id, name
	}
	best := -1
	for k := len(calls) - 1; k >= 0; k-- {
		c := &calls[k]
		if c.answered || c.name != name {
			continue
		}
		if best >= 0 && c.turn != calls[best].turn {
			break
		}
		best = k
	}
	if best < 0 {
		return newCallID(), name
	}
	calls[best].answered = true
	return calls[best].id, name
}

func mediaPart(m *provider.Media) provider.Part {
	t := provider.PartDocument
	if strings.HasPrefix(m.MediaType, "image/") {
		t = provider.PartImage
	}
	return provider.Part{Type: t, Media: m}
}

// objectOrEmpty returns raw when it is a JSON object, else {}.
func objectOrEmpty(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return json.RawMessage("{}")
	}
	return raw
}

// compactJSON returns raw without insignificant space, {} when absent.
func compactJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func decodeTools(req *provider.Request, tools []tool, tc *toolConfig) error {
	for i := range tools {
		for j := range tools[i].FunctionDeclarations {
			d := &tools[i].FunctionDeclarations[j]
			if d.Name == "" {
				return badRequest(fmt.Sprintf("tools[%d].functionDeclarations[%d].name", i, j),
					"tools[%d].functionDeclarations[%d].name is required", i, j)
			}
			params := emptySchema
			switch {
			case !isNull(d.ParametersJSONSchema):
				params = bytes.TrimSpace(d.ParametersJSONSchema)
			case !isNull(d.Parameters):
				params = toJSONSchema(bytes.TrimSpace(d.Parameters))
			}
			req.Tools = append(req.Tools, provider.Tool{Name: d.Name, Description: d.Description, Parameters: params})
		}
		// Other tools (googleSearch, codeExecution, urlContext) are
		// Gemini-only and have no canonical form.
	}
	if tc == nil || tc.FunctionCallingConfig == nil {
		return nil
	}
	f := tc.FunctionCallingConfig
	switch strings.ToUpper(f.Mode) {
	case "AUTO", "VALIDATED":
		req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceAuto}
	case "NONE":
		req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceNone}
	case "ANY":
		switch len(f.AllowedFunctionNames) {
		case 0:
			req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceRequired}
		case 1:
			req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceTool, Name: f.AllowedFunctionNames[0]}
		default:
			// Any of several: keep only the allowed tools.
			req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceRequired}
			kept := req.Tools[:0]
			for _, t := range req.Tools {
				for _, n := range f.AllowedFunctionNames {
					if t.Name == n {
						kept = append(kept, t)
						break
					}
				}
			}
			req.Tools = kept
		}
	}
	return nil
}

func decodeGenerationConfig(req *provider.Request, g *generationConfig) {
	if g == nil {
		return
	}
	req.MaxTokens = g.MaxOutputTokens
	req.Temperature = g.Temperature
	req.TopP = g.TopP
	if g.TopK != nil {
		k := int(*g.TopK)
		req.TopK = &k
	}
	req.Stop = g.StopSequences
	req.N = g.CandidateCount
	req.Seed = g.Seed
	if strings.EqualFold(g.ResponseMimeType, "application/json") {
		switch {
		case !isNull(g.ResponseJSONSchema):
			req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "response", Schema: bytes.TrimSpace(g.ResponseJSONSchema)}
		case !isNull(g.ResponseSchema):
			req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "response", Schema: toJSONSchema(bytes.TrimSpace(g.ResponseSchema))}
		default:
			req.ResponseFormat = &provider.ResponseFormat{Type: "json_object"}
		}
	}
	if t := g.ThinkingConfig; t != nil {
		req.ReasoningEffort = effortFromThinking(t)
	}
}

// effortFromThinking maps a thinkingConfig to a reasoning effort, using the
// budgets of Gemini's own OpenAI-compatible endpoint (low 1024, medium 8192,
// high 24576). A zero or dynamic (-1) budget asks for nothing specific.
func effortFromThinking(t *thinkingConfig) string {
	switch strings.ToUpper(t.ThinkingLevel) {
	case "MINIMAL", "LOW":
		return "low"
	case "MEDIUM":
		return "medium"
	case "HIGH":
		return "high"
	}
	if t.ThinkingBudget == nil {
		return ""
	}
	switch b := *t.ThinkingBudget; {
	case b <= 0:
		return ""
	case b <= 1024:
		return "low"
	case b <= 8192:
		return "medium"
	default:
		return "high"
	}
}

func badRequest(param, format string, args ...any) *provider.Error {
	e := provider.Errorf(provider.KindBadRequest, format, args...)
	e.Param = param
	e.Format = provider.FormatGemini
	return e
}

// jsonError describes a body encoding/json refused, with the byte offset.
func jsonError(err error) *provider.Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("", "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("", "the request body must be a JSON object, got %s", te.Value)
		}
		return badRequest(te.Field, "invalid value for %s at byte %d: got %s, want %s",
			te.Field, te.Offset, te.Value, jsonKind(te.Type))
	}
	e := badRequest("", "malformed JSON: %v", err)
	e.Cause = err
	return e
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return "JSON"
		}
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}
