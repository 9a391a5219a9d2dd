package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

// Client is the OpenAI Chat Completions format as spoken by clients: it
// decodes their requests and encodes responses, streams and errors for them.
// The zero value is ready to use; it is safe for concurrent use.
type Client struct {
	// Now gives the "created" time of responses and streams; nil means
	// time.Now.
	Now func() time.Time
}

var _ provider.ClientCodec = Client{}

// Format reports provider.FormatOpenAI.
func (Client) Format() provider.Format { return provider.FormatOpenAI }

func (c Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// wireRequest is the part of a chat completions request llmgate reads.
type wireRequest struct {
	Model               *string         `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	MaxTokens           *int            `json:"max_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"` // vLLM extension
	N                   *int            `json:"n"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	Stream              *bool           `json:"stream"`
	StreamOptions       *wireStreamOpts `json:"stream_options"`
	Tools               []wireTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	ResponseFormat      *wireRespFormat `json:"response_format"`
	User                *string         `json:"user"`
	SafetyIdentifier    *string         `json:"safety_identifier"`
	ReasoningEffort     *string         `json:"reasoning_effort"`
	Functions           json.RawMessage `json:"functions"`
}

type wireStreamOpts struct {
	IncludeUsage *bool `json:"include_usage"`
}

type wireMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	ToolCalls        []wireToolCall  `json:"tool_calls"`
	ToolCallID       *string         `json:"tool_call_id"`
	Refusal          *string         `json:"refusal"`
	ReasoningContent *string         `json:"reasoning_content"`
}

type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type wirePart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	Refusal  *string `json:"refusal"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
	File *struct {
		Filename string `json:"filename"`
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
	} `json:"file"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type wireRespFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	} `json:"json_schema"`
}

// DecodeRequest parses a chat completions request body into canonical form.
// A malformed body or a missing or invalid member gives a
// provider.KindBadRequest error whose message says where (a byte offset or
// a parameter, also set as Param).
//
// system and developer messages become Request.System in order; consecutive
// tool messages become one user message of tool results, each named after
// the earlier assistant call with its id. Content without a canonical kind
// does not fail decoding: input_audio becomes a PartDocument with an audio
// media type and a file_id a PartDocument whose URL starts with
// FileIDPrefix (see the package doc). Fields with no canonical home
// (logprobs, penalties, metadata, ...) are ignored: the passthrough path
// forwards them untouched.
func (Client) DecodeRequest(body []byte) (*provider.Request, error) {
	var w wireRequest
	if !scanRequest(body, &w) {
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, jsonError(body, err)
		}
	}
	if w.Model == nil || *w.Model == "" {
		return nil, badRequest("model", `the request has no "model"; set it to the model to use`)
	}
	if w.Messages == nil {
		if len(w.Functions) > 0 {
			return nil, badRequest("functions", `"functions" is deprecated and not supported; send "messages" with "tools"`)
		}
		return nil, badRequest("messages", `the request has no "messages"; send at least one message`)
	}
	if len(w.Messages) == 0 {
		return nil, badRequest("messages", `"messages" is empty; send at least one message`)
	}
	req := &provider.Request{
		Model:             *w.Model,
		Temperature:       w.Temperature,
		TopP:              w.TopP,
		TopK:              w.TopK,
		Seed:              w.Seed,
		ParallelToolCalls: w.ParallelToolCalls,
	}
	if err := decodeMessages(req, w.Messages); err != nil {
		return nil, err
	}
	switch {
	case w.MaxCompletionTokens != nil:
		req.MaxTokens = w.MaxCompletionTokens
	case w.MaxTokens != nil:
		req.MaxTokens = w.MaxTokens
	}
	if w.N != nil {
		req.N = *w.N
	}
	if w.Stream != nil && *w.Stream {
		req.Stream = true
		req.IncludeUsage = w.StreamOptions != nil && w.StreamOptions.IncludeUsage != nil && *w.StreamOptions.IncludeUsage
	}
	var err error
	if req.Stop, err = decodeStop(w.Stop); err != nil {
		return nil, err
	}
	if req.Tools, err = decodeTools(w.Tools); err != nil {
		return nil, err
	}
	if req.ToolChoice, err = decodeToolChoice(w.ToolChoice); err != nil {
		return nil, err
	}
	if req.ResponseFormat, err = decodeResponseFormat(w.ResponseFormat); err != nil {
		return nil, err
	}
	switch {
	case w.User != nil && *w.User != "":
		req.User = *w.User
	case w.SafetyIdentifier != nil:
		req.User = *w.SafetyIdentifier
	}
	if w.ReasoningEffort != nil {
		req.ReasoningEffort = *w.ReasoningEffort
	}
	return req, nil
}

func decodeMessages(req *provider.Request, msgs []wireMessage) error {
	req.Messages = make([]provider.Message, 0, len(msgs))
	var names map[string]string // tool call id -> function name
	toolMsg := -1               // index in req.Messages of the open tool-result message
	for i := range msgs {
		m := &msgs[i]
		param := func() string { return fmt.Sprintf("messages[%d]", i) } // for errors only
		if m.Role != "tool" {
			toolMsg = -1
		}
		switch m.Role {
		case "system", "developer":
			parts, err := decodeContent(m.Content, i, textOnly)
			if err != nil {
				return err
			}
			req.System = append(req.System, parts...)
		case "user":
			parts, err := decodeContent(m.Content, i, userParts)
			if err != nil {
				return err
			}
			req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser, Parts: parts})
		case "assistant":
			var parts []provider.Part
			if m.ReasoningContent != nil && *m.ReasoningContent != "" {
				parts = append(parts, provider.Part{Type: provider.PartThinking, Text: *m.ReasoningContent})
			}
			content, err := decodeContent(m.Content, i, assistantParts)
			if err != nil {
				return err
			}
			parts = append(parts, content...)
			if m.Refusal != nil && *m.Refusal != "" && len(content) == 0 {
				parts = append(parts, provider.Part{Type: provider.PartText, Text: *m.Refusal})
			}
			for j := range m.ToolCalls {
				tc := &m.ToolCalls[j]
				if tc.Type != "" && tc.Type != "function" {
					return badRequest(fmt.Sprintf("%s.tool_calls[%d].type", param(), j),
						"tool call type %q is not supported; only function tool calls can be translated", tc.Type)
				}
				if tc.Function.Name == "" {
					return badRequest(fmt.Sprintf("%s.tool_calls[%d].function.name", param(), j), "a tool call needs a function name")
				}
				if names == nil {
					names = make(map[string]string)
				}
				names[tc.ID] = tc.Function.Name
				parts = append(parts, provider.Part{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{
					ID: tc.ID, Name: tc.Function.Name, Arguments: toolArguments(tc.Function.Arguments),
				}})
			}
			req.Messages = append(req.Messages, provider.Message{Role: provider.RoleAssistant, Parts: parts})
		case "tool":
			if m.ToolCallID == nil {
				return badRequest(param()+".tool_call_id", "a tool message needs the tool_call_id of the call it answers")
			}
			content, err := decodeContent(m.Content, i, userParts)
			if err != nil {
				return err
			}
			part := provider.Part{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{
				ToolCallID: *m.ToolCallID, Name: names[*m.ToolCallID], Content: content,
			}}
			if toolMsg >= 0 {
				req.Messages[toolMsg].Parts = append(req.Messages[toolMsg].Parts, part)
				continue
			}
			toolMsg = len(req.Messages)
			req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser, Parts: []provider.Part{part}})
		case "function":
			return badRequest(param()+".role", `the "function" role is deprecated and not supported; use "tool" messages`)
		case "":
			return badRequest(param()+".role", "the message has no role")
		default:
			return badRequest(param()+".role", "unknown role %q; use system, developer, user, assistant or tool", m.Role)
		}
	}
	return nil
}

// partSet says which content parts a role may carry.
type partSet uint8

const (
	textOnly partSet = iota
	userParts
	assistantParts
)

// decodeContent parses a message's content: a string, an array of parts or
// null. Empty texts are dropped.
func decodeContent(raw json.RawMessage, msg int, allowed partSet) ([]provider.Part, error) {
	// The parameters errors name are built only for errors.
	param := func() string { return fmt.Sprintf("messages[%d].content", msg) }
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		s, ok := jsonscan.String(raw)
		if !ok {
			return nil, badRequest(param(), "%s is not a valid JSON string", param())
		}
		if s == "" {
			return nil, nil
		}
		return []provider.Part{{Type: provider.PartText, Text: s}}, nil
	case '[':
	default:
		return nil, badRequest(param(), "%s must be a string or an array of content parts", param())
	}
	var wps []wirePart
	if err := json.Unmarshal(raw, &wps); err != nil {
		return nil, badRequest(param(), "%s must be a string or an array of content parts: %s", param(), typeErrorText(err))
	}
	parts := make([]provider.Part, 0, len(wps))
	for j := range wps {
		wp := &wps[j]
		pp := func() string { return fmt.Sprintf("%s[%d]", param(), j) }
		switch {
		case wp.Type == "text":
			if wp.Text == nil {
				return nil, badRequest(pp()+".text", "a text part needs text")
			}
			if *wp.Text != "" {
				parts = append(parts, provider.Part{Type: provider.PartText, Text: *wp.Text})
			}
		case wp.Type == "refusal" && allowed == assistantParts:
			if wp.Refusal != nil && *wp.Refusal != "" {
				parts = append(parts, provider.Part{Type: provider.PartText, Text: *wp.Refusal})
			}
		case wp.Type == "image_url" && allowed == userParts:
			if wp.ImageURL == nil || wp.ImageURL.URL == "" {
				return nil, badRequest(pp()+".image_url.url", "an image_url part needs a url")
			}
			media, err := decodeURL(wp.ImageURL.URL, pp()+".image_url.url")
			if err != nil {
				return nil, err
			}
			media.Detail = wp.ImageURL.Detail
			parts = append(parts, provider.Part{Type: provider.PartImage, Media: media})
		case wp.Type == "input_audio" && allowed == userParts:
			if wp.InputAudio == nil || wp.InputAudio.Data == "" {
				return nil, badRequest(pp()+".input_audio.data", "an input_audio part needs data")
			}
			parts = append(parts, provider.Part{Type: provider.PartDocument, Media: &provider.Media{
				MediaType: audioMediaType(wp.InputAudio.Format), Data: wp.InputAudio.Data,
			}})
		case wp.Type == "file" && allowed == userParts:
			f := wp.File
			switch {
			case f == nil:
				return nil, badRequest(pp()+".file", "a file part needs a file object")
			case f.FileData != "":
				media, err := decodeFileData(f.FileData, f.Filename, pp()+".file.file_data")
				if err != nil {
					return nil, err
				}
				parts = append(parts, provider.Part{Type: provider.PartDocument, Media: media})
			case f.FileID != "":
				parts = append(parts, provider.Part{Type: provider.PartDocument, Media: &provider.Media{URL: FileIDPrefix + f.FileID}})
			default:
				return nil, badRequest(pp()+".file", "a file part needs file_data or file_id")
			}
		case wp.Type == "":
			return nil, badRequest(pp()+".type", "the content part has no type")
		default:
			return nil, badRequest(pp()+".type", "content part type %q is not supported in this message", wp.Type)
		}
	}
	return parts, nil
}

// decodeURL turns an image URL (data: or http(s)) into Media.
func decodeURL(u, param string) (*provider.Media, error) {
	if strings.HasPrefix(u, "data:") {
		mt, data, ok := parseDataURL(u)
		if !ok || data == "" {
			return nil, badRequest(param, "a data: URL must have the form data:<media type>;base64,<data>")
		}
		return &provider.Media{MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &provider.Media{URL: u}, nil
	}
	return nil, badRequest(param, "the URL must be an http(s) URL or a base64 data: URL")
}

// decodeFileData reads a file part's file_data: a data URL, or bare base64
// whose media type is guessed from the file name.
func decodeFileData(fd, filename, param string) (*provider.Media, error) {
	if strings.HasPrefix(fd, "data:") {
		return decodeURL(fd, param)
	}
	mt := "application/pdf"
	if i := strings.LastIndexByte(filename, '.'); i >= 0 {
		switch strings.ToLower(filename[i:]) {
		case ".txt":
			mt = "text/plain"
		case ".md":
			mt = "text/markdown"
		case ".csv":
			mt = "text/csv"
		}
	}
	return &provider.Media{MediaType: mt, Data: fd}, nil
}

// parseDataURL splits data:<mt>[;params];base64,<data>.
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	params := strings.Split(meta, ";")
	if params[len(params)-1] != "base64" {
		return "", "", false
	}
	mediaType = params[0]
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	return mediaType, data, true
}

func audioMediaType(format string) string {
	switch format {
	case "mp3":
		return "audio/mpeg"
	case "wav", "":
		return "audio/wav"
	}
	return "audio/" + format
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		s, ok := jsonscan.String(raw)
		if !ok {
			return nil, badRequest("stop", `"stop" is not a valid JSON string`)
		}
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	var stops []string
	if raw[0] != '[' || json.Unmarshal(raw, &stops) != nil {
		return nil, badRequest("stop", `"stop" must be a string or an array of strings`)
	}
	return stops, nil
}

func decodeTools(wts []wireTool) ([]provider.Tool, error) {
	if len(wts) == 0 {
		return nil, nil
	}
	tools := make([]provider.Tool, 0, len(wts))
	for i := range wts {
		wt := &wts[i]
		param := fmt.Sprintf("tools[%d]", i)
		if wt.Type != "function" && wt.Type != "" {
			return nil, badRequest(param+".type", "tool type %q is not supported; only function tools can be translated", wt.Type)
		}
		if wt.Function == nil || wt.Function.Name == "" {
			return nil, badRequest(param+".function.name", "a function tool needs a name")
		}
		params := bytes.TrimSpace(wt.Function.Parameters)
		if len(params) == 0 || string(params) == "null" {
			params = emptySchema
		} else {
			params = bytes.Clone(params) // scanRequest's share the body
		}
		tools = append(tools, provider.Tool{Name: wt.Function.Name, Description: wt.Function.Description, Parameters: json.RawMessage(params)})
	}
	return tools, nil
}

func decodeToolChoice(raw json.RawMessage) (*provider.ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	const msg = `"tool_choice" must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`
	if raw[0] == '"' {
		s, _ := jsonscan.String(raw)
		switch s {
		case "none", "auto", "required":
			return &provider.ToolChoice{Mode: provider.ToolChoiceMode(s)}, nil
		}
		return nil, badRequest("tool_choice", msg)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		AllowedTools struct {
			Mode string `json:"mode"`
		} `json:"allowed_tools"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return nil, badRequest("tool_choice", msg)
	}
	switch obj.Type {
	case "function":
		if obj.Function.Name == "" {
			return nil, badRequest("tool_choice.function.name", "a function tool_choice needs a name")
		}
		return &provider.ToolChoice{Mode: provider.ToolChoiceTool, Name: obj.Function.Name}, nil
	case "allowed_tools":
		if obj.AllowedTools.Mode == "required" {
			return &provider.ToolChoice{Mode: provider.ToolChoiceRequired}, nil
		}
		return &provider.ToolChoice{Mode: provider.ToolChoiceAuto}, nil
	}
	return nil, badRequest("tool_choice.type", "tool_choice type %q is not supported", obj.Type)
}

func decodeResponseFormat(w *wireRespFormat) (*provider.ResponseFormat, error) {
	if w == nil {
		return nil, nil
	}
	switch w.Type {
	case "text", "":
		return nil, nil
	case "json_object":
		return &provider.ResponseFormat{Type: "json_object"}, nil
	case "json_schema":
		js := w.JSONSchema
		if js == nil || js.Name == "" {
			return nil, badRequest("response_format.json_schema.name", "a json_schema response_format needs json_schema.name")
		}
		rf := &provider.ResponseFormat{Type: "json_schema", Name: js.Name, Strict: js.Strict != nil && *js.Strict}
		if s := bytes.TrimSpace(js.Schema); len(s) > 0 && string(s) != "null" {
			rf.Schema = json.RawMessage(bytes.Clone(s))
		}
		return rf, nil
	}
	return nil, badRequest("response_format.type", "response_format type %q is not supported; use text, json_object or json_schema", w.Type)
}

func badRequest(param, format string, args ...any) *provider.Error {
	return &provider.Error{Kind: provider.KindBadRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// jsonError turns a json.Unmarshal failure of the request body into a
// KindBadRequest error naming the byte offset and what was expected.
func jsonError(body []byte, err error) *provider.Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return &provider.Error{Kind: provider.KindBadRequest, Message: "the request body is empty; send a JSON object", Cause: err}
	case errors.As(err, &syn):
		// Offset counts the bytes read, including the offending one; report
		// the zero-based position of that byte (or of the end of input).
		at := syn.Offset
		if at > 0 && at <= int64(len(body)) && !strings.HasPrefix(syn.Error(), "unexpected end") {
			at--
		}
		return &provider.Error{Kind: provider.KindBadRequest, Cause: err,
			Message: fmt.Sprintf("the request body is not valid JSON: at byte %d: %s", at, strings.TrimPrefix(syn.Error(), "json: "))}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &provider.Error{Kind: provider.KindBadRequest, Cause: err,
				Message: fmt.Sprintf("the request body must be a JSON object, not %s", jsonKind(typ.Value))}
		}
		param := locateParam(body, typ.Field, typ.Offset)
		return &provider.Error{Kind: provider.KindBadRequest, Param: param, Cause: err,
			Message: fmt.Sprintf("invalid value for %s at byte %d: expected %s, got %s", param, typ.Offset, goKindName(typ.Type), jsonKind(typ.Value))}
	}
	return &provider.Error{Kind: provider.KindBadRequest, Message: "the request body could not be decoded", Cause: err}
}

// typeErrorText describes an Unmarshal error of a sub-document briefly.
func typeErrorText(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field == "" {
			return "got " + jsonKind(typ.Value)
		}
		return fmt.Sprintf("%s: expected %s, got %s", typ.Field, goKindName(typ.Type), jsonKind(typ.Value))
	}
	return "malformed JSON"
}

// locateParam turns encoding/json's dotted field path (which has no array
// indices) into a parameter such as messages[2].role, by finding the array
// element of the first path segment that contains offset. It runs on the
// error path only.
func locateParam(body []byte, field string, offset int64) string {
	top, rest, _ := strings.Cut(field, ".")
	var raw []byte
	var start int64
	err := jsonscan.Each(body, func(m jsonscan.Member) bool {
		if string(m.Key) == top {
			raw, start = m.Value, int64(m.Start)
		}
		return true
	})
	if err != nil || len(raw) == 0 || raw[0] != '[' {
		return field
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return field
	}
	for i := 0; dec.More(); i++ {
		s := dec.InputOffset()
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			break
		}
		if e := dec.InputOffset(); offset > start+s && offset <= start+e {
			if rest == "" {
				return fmt.Sprintf("%s[%d]", top, i)
			}
			return fmt.Sprintf("%s[%d].%s", top, i, rest)
		}
	}
	return field
}

func jsonKind(v string) string {
	switch v {
	case "number", "string", "array", "object":
		return "a " + v
	case "bool":
		return "a boolean"
	case "":
		return "a value of the wrong type"
	}
	if strings.HasPrefix(v, "number") {
		return "a number out of range"
	}
	return v
}

func goKindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}
