package responses

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// Client is the Responses API as clients speak it. The zero value is ready
// to use; it is safe for concurrent use.
type Client struct {
	// Now gives created_at; nil means time.Now.
	Now func() time.Time
}

var _ provider.ClientCodec = Client{}

// Format is provider.FormatResponses.
func (Client) Format() provider.Format { return provider.FormatResponses }

func (c Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

type wireRequest struct {
	Model             *string         `json:"model"`
	Input             json.RawMessage `json:"input"`
	Instructions      json.RawMessage `json:"instructions"`
	Tools             []json.RawMessage
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	MaxOutputTokens   *int            `json:"max_output_tokens"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	Reasoning         *struct {
		Effort *string `json:"effort"`
	} `json:"reasoning"`
	Text *struct {
		Format json.RawMessage `json:"format"`
	} `json:"text"`
	Stream             *bool           `json:"stream"`
	PreviousResponseID *string         `json:"previous_response_id"`
	Conversation       json.RawMessage `json:"conversation"`
	Background         *bool           `json:"background"`
	User               *string         `json:"user"`
	SafetyIdentifier   *string         `json:"safety_identifier"`
}

// wireItem is one input item; which fields are set depends on Type.
type wireItem struct {
	Type             string          `json:"type"`
	ID               string          `json:"id"`
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	CallID           string          `json:"call_id"`
	Name             string          `json:"name"`
	Namespace        string          `json:"namespace"`
	Arguments        json.RawMessage `json:"arguments"`
	Input            json.RawMessage `json:"input"`
	Output           json.RawMessage `json:"output"`
	EncryptedContent *string         `json:"encrypted_content"`
	Summary          []wirePart      `json:"summary"`
}

// wirePart is one content part of a message or a tool output.
type wirePart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"` // a string in Responses; tolerate Chat's {url}
	FileID   string          `json:"file_id"`
	Detail   string          `json:"detail"`
	FileData string          `json:"file_data"`
	FileURL  string          `json:"file_url"`
	Filename string          `json:"filename"`
}

type wireTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Tools       []wireTool      `json:"tools"` // namespace
	Format      json.RawMessage `json:"format"`
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// customSchema is the parameters schema a free-text (custom) tool is
// translated to: one string, "input". The stream encoder recognises it to
// answer with a custom_tool_call item again.
var customSchema = json.RawMessage(`{"type":"object","properties":{"input":{"type":"string","description":"The raw input for the tool, exactly as its description asks."}},"required":["input"]}`)

// DecodeRequest parses a POST /v1/responses body. input items (messages,
// function_call, function_call_output, custom tool calls, reasoning) become
// canonical messages; instructions and every system or developer message
// become Request.System, in order; namespaced function tools are flattened.
// What only OpenAI can serve (previous_response_id, conversation,
// item_reference, background, hosted tools other than web_search) is
// recorded in Request.Untranslatable rather than refused, so that
// passthrough to a Responses upstream still takes it. Unknown fields are
// ignored: Codex adds some in every release.
func (Client) DecodeRequest(body []byte) (*provider.Request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(body, err)
	}
	if w.Model == nil || *w.Model == "" {
		return nil, badRequest("model", `the request has no "model"; set it to the model to use`)
	}
	req := &provider.Request{
		Model:             *w.Model,
		MaxTokens:         w.MaxOutputTokens,
		Temperature:       w.Temperature,
		TopP:              w.TopP,
		ParallelToolCalls: w.ParallelToolCalls,
		Stream:            w.Stream != nil && *w.Stream,
	}
	req.IncludeUsage = req.Stream
	if s, ok := jsonString(w.Instructions); ok && s != "" {
		req.System = append(req.System, provider.Part{Type: provider.PartText, Text: s})
	} else if !ok && len(w.Instructions) > 0 && !isNull(w.Instructions) {
		return nil, badRequest("instructions", `"instructions" must be a string`)
	}
	if err := decodeInput(req, w.Input); err != nil {
		return nil, err
	}
	var err error
	if req.Tools, err = decodeTools(req, w.Tools); err != nil {
		return nil, err
	}
	if err = decodeToolChoice(req, w.ToolChoice); err != nil {
		return nil, err
	}
	if w.Text != nil {
		if req.ResponseFormat, err = decodeTextFormat(w.Text.Format); err != nil {
			return nil, err
		}
	}
	if w.Reasoning != nil && w.Reasoning.Effort != nil && *w.Reasoning.Effort != "none" {
		req.ReasoningEffort = *w.Reasoning.Effort
	}
	switch {
	case w.User != nil && *w.User != "":
		req.User = *w.User
	case w.SafetyIdentifier != nil:
		req.User = *w.SafetyIdentifier
	}
	switch {
	case w.PreviousResponseID != nil && *w.PreviousResponseID != "":
		stateless(req, "previous_response_id", "previous_response_id")
	case len(w.Conversation) > 0 && !isNull(w.Conversation):
		stateless(req, "conversation", "conversation")
	case w.Background != nil && *w.Background:
		stateless(req, "background", "background: true")
	}
	return req, nil
}

// stateless marks req as needing the state OpenAI keeps.
func stateless(req *provider.Request, param, what string) {
	if req.Untranslatable != nil {
		return
	}
	req.Untranslatable = &provider.Error{Kind: provider.KindBadRequest, Param: param,
		Message: "llmgate does not store responses, so " + what + " works only when the model routes to an OpenAI provider " +
			"with api: responses; send the whole conversation in input instead (store: false), as Codex does"}
}

// untranslatable marks req as using a tool only OpenAI's servers run.
func untranslatable(req *provider.Request, param, typ string) {
	if req.Untranslatable != nil {
		return
	}
	req.Untranslatable = &provider.Error{Kind: provider.KindBadRequest, Param: param,
		Message: fmt.Sprintf("tool type %q is run by OpenAI's servers, and this model routes to an upstream that cannot run it: "+
			"remove the tool, or route the model to an OpenAI provider with api: responses", typ)}
}

// decodeInput turns input (a string, or an array of items) into messages.
func decodeInput(req *provider.Request, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	if s, ok := jsonString(raw); ok {
		if s != "" {
			req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser,
				Parts: []provider.Part{{Type: provider.PartText, Text: s}}})
		}
		return nil
	}
	if raw[0] != '[' {
		return badRequest("input", `"input" must be a string or an array of input items`)
	}
	var items []wireItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return inputError(raw)
	}
	names := map[string]string{} // call_id -> function name, for tool results
	for i := range items {
		it := &items[i]
		param := fmt.Sprintf("input[%d]", i)
		if it.Type == "" && it.Role != "" {
			it.Type = "message"
		}
		switch it.Type {
		case "message":
			if err := decodeMessage(req, it, param); err != nil {
				return err
			}
		case "function_call", "custom_tool_call":
			if it.CallID == "" {
				return badRequest(param+".call_id", "a %s item needs a call_id", it.Type)
			}
			if it.Name == "" {
				return badRequest(param+".name", "a %s item needs a name", it.Type)
			}
			var args json.RawMessage
			if it.Type == "function_call" {
				args = argumentsObject(it.Arguments)
			} else {
				s, _ := jsonString(it.Input)
				args, _ = json.Marshal(map[string]string{"input": s})
			}
			names[it.CallID] = it.Name
			appendPart(req, provider.RoleAssistant, provider.Part{Type: provider.PartToolCall, Signature: callSignature(it.ID),
				ToolCall: &provider.ToolCall{ID: it.CallID, Name: it.Name, Arguments: args}})
		case "function_call_output", "custom_tool_call_output":
			if it.CallID == "" {
				return badRequest(param+".call_id", "a %s item needs a call_id", it.Type)
			}
			content, err := decodeContent(it.Output, param+".output")
			if err != nil {
				return err
			}
			appendToolResult(req, provider.Part{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{
				ToolCallID: it.CallID, Name: names[it.CallID], Content: content}})
		case "reasoning":
			if it.EncryptedContent == nil {
				continue
			}
			if text, sig, ok := openEnvelope(*it.EncryptedContent); ok {
				appendPart(req, provider.RoleAssistant, provider.Part{Type: provider.PartThinking, Text: text, Signature: sig})
			}
			// Reasoning minted elsewhere (OpenAI's own) means nothing to
			// other upstreams: dropped.
		case "item_reference":
			stateless(req, param, "item_reference")
		default:
			// Hosted-tool calls and their outputs (web_search_call,
			// file_search_call, ...), compaction and other items no
			// translated upstream can read: dropped from the history.
		}
	}
	return nil
}

// inputError names the input item that does not decode (the slow path,
// for the error message only).
func inputError(raw json.RawMessage) *provider.Error {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return badRequest("input", `"input" must be a string or an array of input items`)
	}
	for i, r := range items {
		var it wireItem
		if err := json.Unmarshal(r, &it); err != nil {
			return badRequest(fmt.Sprintf("input[%d]", i), "input item is malformed: %s", typeErrorText(err))
		}
	}
	return badRequest("input", `"input" must be a string or an array of input items`)
}

// decodeMessage adds a message item: system and developer text to System,
// user and assistant turns to Messages.
func decodeMessage(req *provider.Request, it *wireItem, param string) error {
	switch it.Role {
	case "system", "developer":
		parts, err := decodeContent(it.Content, param+".content")
		if err != nil {
			return err
		}
		for _, p := range parts {
			if p.Type == provider.PartText && p.Text != "" {
				req.System = append(req.System, p)
			}
		}
		return nil
	case "user", "assistant":
		parts, err := decodeContent(it.Content, param+".content")
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return nil
		}
		role := provider.Role(it.Role)
		if role == provider.RoleUser {
			appendUser(req, parts)
			return nil
		}
		for _, p := range parts {
			appendPart(req, role, p)
		}
		return nil
	case "":
		return badRequest(param+".role", "a message needs a role: user, assistant, system or developer")
	}
	return badRequest(param+".role", "role %q is not one of user, assistant, system or developer", it.Role)
}

// appendPart adds p to the last message when it has role, else starts one.
// Assistant text, reasoning and function calls form one assistant turn.
func appendPart(req *provider.Request, role provider.Role, p provider.Part) {
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == role {
		req.Messages[n-1].Parts = append(req.Messages[n-1].Parts, p)
		return
	}
	req.Messages = append(req.Messages, provider.Message{Role: role, Parts: []provider.Part{p}})
}

// appendToolResult adds a tool result to the user turn that follows the
// calls, before any user text in it (Anthropic wants results first).
func appendToolResult(req *provider.Request, p provider.Part) {
	n := len(req.Messages)
	if n == 0 || req.Messages[n-1].Role != provider.RoleUser {
		req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser, Parts: []provider.Part{p}})
		return
	}
	m := &req.Messages[n-1]
	at := 0
	for at < len(m.Parts) && m.Parts[at].Type == provider.PartToolResult {
		at++
	}
	m.Parts = append(m.Parts, provider.Part{})
	copy(m.Parts[at+1:], m.Parts[at:])
	m.Parts[at] = p
}

// appendUser adds a user message: into the turn holding the tool results
// just sent (one user turn), else as its own message, as the client sent it.
func appendUser(req *provider.Request, parts []provider.Part) {
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == provider.RoleUser && hasToolResult(req.Messages[n-1].Parts) {
		req.Messages[n-1].Parts = append(req.Messages[n-1].Parts, parts...)
		return
	}
	req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser, Parts: parts})
}

func hasToolResult(ps []provider.Part) bool {
	for i := range ps {
		if ps[i].Type == provider.PartToolResult {
			return true
		}
	}
	return false
}

// decodeContent reads message content or a tool output: a string, or an
// array of input_text, output_text, refusal, input_image and input_file
// parts.
func decodeContent(raw json.RawMessage, param string) ([]provider.Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if s, ok := jsonString(raw); ok {
		if s == "" {
			return nil, nil
		}
		return []provider.Part{{Type: provider.PartText, Text: s}}, nil
	}
	var wps []wirePart
	if raw[0] != '[' || json.Unmarshal(raw, &wps) != nil {
		return nil, badRequest(param, "content must be a string or an array of content parts")
	}
	parts := make([]provider.Part, 0, len(wps))
	for i := range wps {
		wp := &wps[i]
		pp := fmt.Sprintf("%s[%d]", param, i)
		switch wp.Type {
		case "input_text", "output_text", "text", "summary_text", "reasoning_text":
			if wp.Text != "" {
				parts = append(parts, provider.Part{Type: provider.PartText, Text: wp.Text})
			}
		case "refusal":
			if wp.Refusal != "" {
				parts = append(parts, provider.Part{Type: provider.PartText, Text: wp.Refusal})
			}
		case "input_image":
			m, err := decodeImage(wp, pp)
			if err != nil {
				return nil, err
			}
			parts = append(parts, provider.Part{Type: provider.PartImage, Media: m})
		case "input_file":
			m, err := decodeFile(wp, pp)
			if err != nil {
				return nil, err
			}
			parts = append(parts, provider.Part{Type: provider.PartDocument, Media: m})
		default:
			return nil, badRequest(pp+".type", "content part type %q is not supported; use input_text, input_image or input_file", wp.Type)
		}
	}
	return parts, nil
}

func decodeImage(wp *wirePart, param string) (*provider.Media, error) {
	if wp.FileID != "" {
		return &provider.Media{URL: provider.FileIDScheme + wp.FileID, Detail: wp.Detail}, nil
	}
	u, ok := jsonString(wp.ImageURL)
	if !ok {
		var obj struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(wp.ImageURL, &obj) == nil {
			u = obj.URL
		}
	}
	if u == "" {
		return nil, badRequest(param+".image_url", "an input_image needs image_url (an http(s) or data: URL) or file_id")
	}
	m, err := mediaURL(u, param+".image_url")
	if err != nil {
		return nil, err
	}
	m.Detail = wp.Detail
	return m, nil
}

func decodeFile(wp *wirePart, param string) (*provider.Media, error) {
	switch {
	case wp.FileID != "":
		return &provider.Media{URL: provider.FileIDScheme + wp.FileID}, nil
	case wp.FileData != "":
		if strings.HasPrefix(wp.FileData, "data:") {
			return mediaURL(wp.FileData, param+".file_data")
		}
		return &provider.Media{MediaType: mediaTypeOf(wp.Filename), Data: wp.FileData}, nil
	case wp.FileURL != "":
		m, err := mediaURL(wp.FileURL, param+".file_url")
		if err != nil {
			return nil, err
		}
		if m.MediaType == "" {
			m.MediaType = mediaTypeOf(wp.Filename)
		}
		return m, nil
	}
	return nil, badRequest(param, "an input_file needs file_data, file_url or file_id")
}

// mediaURL reads a data: URL or keeps an http(s) URL.
func mediaURL(u, param string) (*provider.Media, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		params := strings.Split(meta, ";")
		if !ok || data == "" || params[len(params)-1] != "base64" {
			return nil, badRequest(param, "a data: URL must have the form data:<media type>;base64,<data>")
		}
		mt := params[0]
		if mt == "" {
			mt = "application/octet-stream"
		}
		return &provider.Media{MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &provider.Media{URL: u}, nil
	}
	return nil, badRequest(param, "the URL must be an http(s) URL or a base64 data: URL")
}

func mediaTypeOf(filename string) string {
	if i := strings.LastIndexByte(filename, '.'); i >= 0 {
		switch strings.ToLower(filename[i:]) {
		case ".txt":
			return "text/plain"
		case ".md":
			return "text/markdown"
		case ".csv":
			return "text/csv"
		case ".png":
			return "image/png"
		case ".jpg", ".jpeg":
			return "image/jpeg"
		}
	}
	return "application/pdf"
}

// argumentsObject turns a function_call's arguments (a string of JSON, or
// tolerantly an object) into a JSON object; "" and garbage become {}.
func argumentsObject(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if s, ok := jsonString(raw); ok {
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
		return json.RawMessage(raw)
	}
	return json.RawMessage("{}")
}

// decodeTools reads function, custom and namespace tools; hosted tools mark
// the request untranslatable, except web_search, which is dropped.
func decodeTools(req *provider.Request, raws []json.RawMessage) ([]provider.Tool, error) {
	if len(raws) == 0 {
		return nil, nil
	}
	tools := make([]provider.Tool, 0, len(raws))
	var add func(wt *wireTool, param, ns string) error
	add = func(wt *wireTool, param, ns string) error {
		switch wt.Type {
		case "function", "":
			if wt.Name == "" {
				return badRequest(param+".name", "a function tool needs a name")
			}
			params := bytes.TrimSpace(wt.Parameters)
			if len(params) == 0 || isNull(params) {
				params = emptySchema
			}
			tools = append(tools, provider.Tool{Name: wt.Name, Description: wt.Description, Parameters: json.RawMessage(params), Namespace: ns})
		case "custom":
			if wt.Name == "" {
				return badRequest(param+".name", "a custom tool needs a name")
			}
			tools = append(tools, provider.Tool{Name: wt.Name, Description: wt.Description, Parameters: customSchema, Namespace: ns})
		case "namespace":
			if ns != "" {
				return badRequest(param+".type", "namespaces do not nest")
			}
			for i := range wt.Tools {
				if err := add(&wt.Tools[i], fmt.Sprintf("%s.tools[%d]", param, i), wt.Name); err != nil {
					return err
				}
			}
		default:
			if isWebSearch(wt.Type) {
				return nil // advisory: the model answers without searching
			}
			untranslatable(req, param+".type", wt.Type)
		}
		return nil
	}
	for i, raw := range raws {
		param := fmt.Sprintf("tools[%d]", i)
		var wt wireTool
		if err := json.Unmarshal(raw, &wt); err != nil {
			return nil, badRequest(param, "tool is malformed: %s", typeErrorText(err))
		}
		if err := add(&wt, param, ""); err != nil {
			return nil, err
		}
	}
	return tools, nil
}

func isWebSearch(typ string) bool { return strings.HasPrefix(typ, "web_search") }

// decodeToolChoice reads "auto", "none", "required", a named function or
// custom tool, or allowed_tools (which narrows the tool list).
func decodeToolChoice(req *provider.Request, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	if s, ok := jsonString(raw); ok {
		switch s {
		case "none", "auto", "required":
			req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceMode(s)}
			return nil
		}
		return badRequest("tool_choice", `"tool_choice" must be "none", "auto", "required" or an object`)
	}
	var obj struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Mode  string `json:"mode"`
		Tools []struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"tools"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return badRequest("tool_choice", `"tool_choice" must be "none", "auto", "required" or an object`)
	}
	switch obj.Type {
	case "function", "custom":
		if obj.Name == "" {
			return badRequest("tool_choice.name", "a %s tool_choice needs a name", obj.Type)
		}
		req.ToolChoice = &provider.ToolChoice{Mode: provider.ToolChoiceTool, Name: obj.Name}
	case "allowed_tools":
		allowed := map[string]bool{}
		for _, t := range obj.Tools {
			allowed[t.Name] = true
		}
		kept := req.Tools[:0]
		for _, t := range req.Tools {
			if allowed[t.Name] {
				kept = append(kept, t)
			}
		}
		req.Tools = kept
		mode := provider.ToolChoiceAuto
		if obj.Mode == "required" {
			mode = provider.ToolChoiceRequired
		}
		req.ToolChoice = &provider.ToolChoice{Mode: mode}
	default:
		// A hosted tool the model must use (web_search included: forced, it
		// cannot be dropped).
		untranslatable(req, "tool_choice.type", obj.Type)
	}
	return nil
}

// decodeTextFormat reads text.format: text, json_object or the flat
// json_schema {name, schema, strict}.
func decodeTextFormat(raw json.RawMessage) (*provider.ResponseFormat, error) {
	if len(bytes.TrimSpace(raw)) == 0 || isNull(raw) {
		return nil, nil
	}
	var f struct {
		Type   string          `json:"type"`
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, badRequest("text.format", "text.format is malformed: %s", typeErrorText(err))
	}
	switch f.Type {
	case "text", "":
		return nil, nil
	case "json_object":
		return &provider.ResponseFormat{Type: "json_object"}, nil
	case "json_schema":
		if f.Name == "" {
			return nil, badRequest("text.format.name", "a json_schema text.format needs a name")
		}
		rf := &provider.ResponseFormat{Type: "json_schema", Name: f.Name, Strict: f.Strict != nil && *f.Strict}
		if s := bytes.TrimSpace(f.Schema); len(s) > 0 && !isNull(s) {
			rf.Schema = json.RawMessage(s)
		}
		return rf, nil
	}
	return nil, badRequest("text.format.type", "text.format type %q is not supported; use text, json_object or json_schema", f.Type)
}

func badRequest(param, format string, args ...any) *provider.Error {
	return &provider.Error{Kind: provider.KindBadRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// jsonError turns a failure to decode the request body into a 400.
func jsonError(body []byte, err error) *provider.Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return &provider.Error{Kind: provider.KindBadRequest, Message: "the request body is empty; send a JSON object", Cause: err}
	case errors.As(err, &syn):
		return &provider.Error{Kind: provider.KindBadRequest, Cause: err,
			Message: fmt.Sprintf("the request body is not valid JSON: at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &provider.Error{Kind: provider.KindBadRequest, Cause: err, Message: "the request body must be a JSON object"}
		}
		return &provider.Error{Kind: provider.KindBadRequest, Param: typ.Field, Cause: err,
			Message: fmt.Sprintf("invalid value for %s: %s", typ.Field, typeErrorText(err))}
	}
	return &provider.Error{Kind: provider.KindBadRequest, Message: "the request body could not be decoded", Cause: err}
}

func typeErrorText(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		what := "expected " + typ.Type.String()
		if typ.Field != "" {
			what = typ.Field + ": " + what
		}
		return what + ", got " + typ.Value
	}
	return "malformed JSON"
}

func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// newID returns prefix and a random suffix (resp_, msg_, fc_, rs_).
func newID(prefix string) string { return prefix + rand.Text() }
