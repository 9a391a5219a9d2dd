package openai

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/llmgate/llmgate/internal/provider"
)

// Options configures an Upstream for one OpenAI-compatible vendor.
type Options struct {
	// MaxTokensField is the member that carries the output cap:
	// "max_completion_tokens" (OpenAI; the default when empty) or
	// "max_tokens" (DeepSeek, Mistral and most others).
	MaxTokensField string
	// StreamUsage asks for stream_options.include_usage on streamed
	// requests, so that streams report usage. Leave it off for servers that
	// reject stream_options.
	StreamUsage bool
	// DeveloperRole sends the system prompt as a "developer" message
	// (OpenAI's newer name); false sends a "system" message, which every
	// vendor accepts (DeepSeek and older vLLM reject "developer").
	DeveloperRole bool
	// Model describes an upstream model, ok false when it is unknown. A
	// translated request's max tokens is lowered to a known MaxOutput
	// (Claude Code asks every model for 32000; gpt-4o takes 16384 and
	// deepseek-chat 8192), and reasoning_effort is left out for a known
	// model that does not reason (OpenAI rejects it for gpt-4o). Nil, or
	// an unknown model, sends both as asked.
	Model func(model string) (m ModelInfo, ok bool)
}

// ModelInfo is what EncodeRequest needs to know of an upstream model.
type ModelInfo struct {
	MaxOutput int  // output token cap; 0 means unknown
	Reasoning bool // takes reasoning_effort
}

// Upstream is the OpenAI Chat Completions format as spoken by upstream
// servers. It is immutable once made and safe for concurrent use; the zero
// value behaves like NewUpstream(Options{}).
type Upstream struct {
	opts Options
}

var _ provider.UpstreamCodec = (*Upstream)(nil)

// NewUpstream returns an Upstream configured by opts.
func NewUpstream(opts Options) *Upstream {
	if opts.MaxTokensField == "" {
		opts.MaxTokensField = "max_completion_tokens"
	}
	return &Upstream{opts: opts}
}

// Format reports provider.FormatOpenAI.
func (*Upstream) Format() provider.Format { return provider.FormatOpenAI }

// outRequest is a chat completions request as llmgate sends it. Fields are
// left out when unset, so strict servers (Mistral) see only what was asked.
type outRequest struct {
	Model               string         `json:"model"`
	Messages            []outMessage   `json:"messages"`
	MaxCompletionTokens *int           `json:"max_completion_tokens,omitempty"`
	MaxTokens           *int           `json:"max_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	N                   int            `json:"n,omitempty"`
	Stop                []string       `json:"stop,omitempty"`
	Seed                *int64         `json:"seed,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *outStreamOpts `json:"stream_options,omitempty"`
	Tools               []outTool      `json:"tools,omitempty"`
	ToolChoice          any            `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool          `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *outRespFormat `json:"response_format,omitempty"`
	User                string         `json:"user,omitempty"`
	ReasoningEffort     string         `json:"reasoning_effort,omitempty"`
}

type outStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type outMessage struct {
	Role       string        `json:"role"`
	Content    any           `json:"content"` // string, []outPart or nil (null)
	ToolCalls  []outToolCall `json:"tool_calls,omitempty"`
	ToolCallID string        `json:"tool_call_id,omitempty"`
}

type outPart struct {
	Type       string       `json:"type"`
	Text       string       `json:"text,omitempty"`
	ImageURL   *outImageURL `json:"image_url,omitempty"`
	InputAudio *outAudio    `json:"input_audio,omitempty"`
	File       *outFile     `json:"file,omitempty"`
}

type outImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type outAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

type outFile struct {
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
}

type outToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type outTool struct {
	Type     string      `json:"type"`
	Function outFunction `json:"function"`
}

type outFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

type outNamedChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

type outRespFormat struct {
	Type       string         `json:"type"`
	JSONSchema *outJSONSchema `json:"json_schema,omitempty"`
}

type outJSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict bool            `json:"strict,omitempty"`
}

// EncodeRequest renders req as a chat completions body for model. The
// system prompt becomes one system (or developer) message, and each
// RoleSystem message another one at its position; each tool result
// becomes a "tool" message (an error result prefixed "ERROR: "), followed by
// a user message for the rest of that turn; thinking is dropped. It fails
// with KindBadRequest for content an OpenAI-format upstream cannot take (a
// document by URL, an audio format it does not know).
func (u *Upstream) EncodeRequest(req *provider.Request, model string) ([]byte, error) {
	opts := u.options()
	out := outRequest{
		Model:           model,
		Messages:        make([]outMessage, 0, len(req.Messages)+1),
		Temperature:     req.Temperature,
		TopP:            req.TopP,
		Stop:            req.Stop,
		Seed:            req.Seed,
		Stream:          req.Stream,
		User:            userID(req.User),
		ReasoningEffort: req.ReasoningEffort,
	}
	mt := req.MaxTokens
	if opts.Model != nil {
		if info, ok := opts.Model(model); ok {
			if !info.Reasoning {
				out.ReasoningEffort = ""
			}
			if mt != nil && info.MaxOutput > 0 && *mt > info.MaxOutput {
				capped := info.MaxOutput
				mt = &capped
			}
		}
	}
	if mt != nil {
		if opts.MaxTokensField == "max_tokens" {
			out.MaxTokens = mt
		} else {
			out.MaxCompletionTokens = mt
		}
	}
	if req.N > 1 {
		out.N = req.N
	}
	if req.Stream && opts.StreamUsage {
		out.StreamOptions = &outStreamOpts{IncludeUsage: true}
	}
	sysRole := "system"
	if opts.DeveloperRole {
		sysRole = "developer"
	}
	if sys := joinText(req.System, "\n\n"); sys != "" {
		out.Messages = append(out.Messages, outMessage{Role: sysRole, Content: sys})
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role == provider.RoleSystem {
			// In place: chat completions takes system messages anywhere.
			if sys := joinText(m.Parts, "\n\n"); sys != "" {
				out.Messages = append(out.Messages, outMessage{Role: sysRole, Content: sys})
			}
			continue
		}
		var err error
		if out.Messages, err = appendMessages(out.Messages, m, i); err != nil {
			return nil, err
		}
	}
	if len(req.Tools) > 0 {
		out.Tools = make([]outTool, len(req.Tools))
		for i, t := range req.Tools {
			params := t.Parameters
			if len(params) == 0 {
				params = emptySchema
			}
			out.Tools[i] = outTool{Type: "function", Function: outFunction{Name: t.Name, Description: t.Description, Parameters: params}}
		}
		// OpenAI rejects tool_choice and parallel_tool_calls without tools.
		out.ParallelToolCalls = req.ParallelToolCalls
		if tc := req.ToolChoice; tc != nil {
			switch tc.Mode {
			case provider.ToolChoiceTool:
				nc := outNamedChoice{Type: "function"}
				nc.Function.Name = tc.Name
				out.ToolChoice = nc
			case provider.ToolChoiceAuto, provider.ToolChoiceNone, provider.ToolChoiceRequired:
				out.ToolChoice = string(tc.Mode)
			}
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			out.ResponseFormat = &outRespFormat{Type: "json_object"}
		case "json_schema":
			name := rf.Name
			if name == "" {
				name = "response"
			}
			out.ResponseFormat = &outRespFormat{Type: "json_schema", JSONSchema: &outJSONSchema{Name: name, Schema: rf.Schema, Strict: rf.Strict}}
		}
	}
	b, err := marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("openai: encoding request: %w", err)
	}
	return b, nil
}

// maxUser is the longest user OpenAI accepts.
const maxUser = 64

// userID is req.User as OpenAI takes it: a longer id (Claude Code's
// metadata.user_id is a JSON object of device and session ids) is sent as
// its SHA-256 in hex, which still tells users apart and keeps the device id
// from the upstream.
func userID(u string) string {
	if len(u) <= maxUser {
		return u
	}
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

func (u *Upstream) options() Options {
	if u == nil {
		return Options{MaxTokensField: "max_completion_tokens"}
	}
	return u.opts
}

// appendMessages appends the OpenAI messages for one canonical message.
func appendMessages(dst []outMessage, m *provider.Message, i int) ([]outMessage, error) {
	if m.Role == provider.RoleAssistant {
		return append(dst, assistantMessage(m)), nil
	}
	var rest []provider.Part // parts for the user message after the tool messages
	for j := range m.Parts {
		p := &m.Parts[j]
		if p.Type != provider.PartToolResult || p.ToolResult == nil {
			rest = append(rest, *p)
			continue
		}
		tr := p.ToolResult
		var texts []string
		for k := range tr.Content {
			c := &tr.Content[k]
			switch c.Type {
			case provider.PartText:
				texts = append(texts, c.Text)
			case provider.PartImage, provider.PartDocument:
				rest = append(rest, *c) // tool messages take text only
			}
		}
		text := strings.Join(texts, "\n")
		if tr.IsError {
			text = "ERROR: " + text
		}
		dst = append(dst, outMessage{Role: "tool", ToolCallID: tr.ToolCallID, Content: text})
	}
	content, err := userContent(rest, i)
	if err != nil {
		return nil, err
	}
	if content != nil {
		dst = append(dst, outMessage{Role: "user", Content: content})
	}
	return dst, nil
}

func assistantMessage(m *provider.Message) outMessage {
	msg := outMessage{Role: "assistant"}
	var text strings.Builder
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Type {
		case provider.PartText:
			text.WriteString(p.Text)
		case provider.PartToolCall:
			if p.ToolCall == nil {
				continue
			}
			tc := outToolCall{ID: p.ToolCall.ID, Type: "function"}
			tc.Function.Name = p.ToolCall.Name
			tc.Function.Arguments = string(p.ToolCall.Arguments)
			if tc.Function.Arguments == "" {
				tc.Function.Arguments = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = text.String()
	}
	return msg
}

// userContent is a user message's content: a string when it is all text
// (every vendor takes that), else an array of parts; nil when empty.
func userContent(parts []provider.Part, msgIndex int) (any, error) {
	allText := true
	n := 0
	for i := range parts {
		switch parts[i].Type {
		case provider.PartText:
			if parts[i].Text != "" {
				n++
			}
		case provider.PartImage, provider.PartDocument:
			if hasMedia(parts[i].Media) {
				allText = false
				n++
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	if allText {
		return joinText(parts, "\n\n"), nil
	}
	out := make([]outPart, 0, n)
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case provider.PartText:
			if p.Text != "" {
				out = append(out, outPart{Type: "text", Text: p.Text})
			}
		case provider.PartImage:
			if hasMedia(p.Media) {
				out = append(out, outPart{Type: "image_url", ImageURL: &outImageURL{URL: mediaURL(p.Media, "image/png"), Detail: p.Media.Detail}})
			}
		case provider.PartDocument:
			if !hasMedia(p.Media) {
				continue
			}
			op, err := documentPart(p.Media, msgIndex)
			if err != nil {
				return nil, err
			}
			out = append(out, op)
		}
	}
	return out, nil
}

func hasMedia(m *provider.Media) bool { return m != nil && (m.Data != "" || m.URL != "") }

// documentPart renders a document: audio as input_audio, an uploaded file
// by id, text inline, anything else as a file part with a data URL.
func documentPart(m *provider.Media, msgIndex int) (outPart, error) {
	if id, ok := strings.CutPrefix(m.URL, FileIDPrefix); ok && m.Data == "" {
		return outPart{Type: "file", File: &outFile{FileID: id}}, nil
	}
	if m.Data == "" {
		return outPart{}, &provider.Error{Kind: provider.KindBadRequest, Param: fmt.Sprintf("messages[%d]", msgIndex),
			Message: "a document given by URL cannot be sent to an OpenAI-format upstream; send its content inline"}
	}
	mt := strings.ToLower(m.MediaType)
	switch {
	case strings.HasPrefix(mt, "audio/"):
		format := ""
		switch mt {
		case "audio/wav", "audio/x-wav", "audio/wave":
			format = "wav"
		case "audio/mpeg", "audio/mp3":
			format = "mp3"
		default:
			return outPart{}, &provider.Error{Kind: provider.KindBadRequest, Param: fmt.Sprintf("messages[%d]", msgIndex),
				Message: fmt.Sprintf("audio of type %s cannot be sent to an OpenAI-format upstream; use wav or mp3", m.MediaType)}
		}
		return outPart{Type: "input_audio", InputAudio: &outAudio{Data: m.Data, Format: format}}, nil
	case strings.HasPrefix(mt, "text/"):
		if text, err := base64.StdEncoding.DecodeString(m.Data); err == nil {
			return outPart{Type: "text", Text: string(text)}, nil
		}
	}
	return outPart{Type: "file", File: &outFile{Filename: documentName(mt), FileData: mediaURL(m, "application/pdf")}}, nil
}

func documentName(mediaType string) string {
	switch mediaType {
	case "application/pdf", "":
		return "document.pdf"
	case "text/plain":
		return "document.txt"
	}
	return "document"
}

// mediaURL is the URL of referenced media, or a data URL of inline media.
func mediaURL(m *provider.Media, defaultType string) string {
	if m.Data == "" {
		return m.URL
	}
	mt := m.MediaType
	if mt == "" {
		mt = defaultType
	}
	return "data:" + mt + ";base64," + m.Data
}

// joinText joins the text parts of parts with sep.
func joinText(parts []provider.Part, sep string) string {
	var b strings.Builder
	for i := range parts {
		if parts[i].Type != provider.PartText || parts[i].Text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(parts[i].Text)
	}
	return b.String()
}

// NewHTTPRequest builds the POST for t: {BaseURL}/chat/completions,
// /embeddings or /responses (a query string in BaseURL, as Azure-style
// deployments use for api-version, is kept), with a bearer token when
// t.Endpoint.APIKey is set, the configured headers, and from the client only
// OpenAI-Organization, OpenAI-Project and OpenAI-Beta.
func (*Upstream) NewHTTPRequest(ctx context.Context, t *provider.Target) (*http.Request, error) {
	var path string
	switch t.Op {
	case provider.OpChat:
		path = "/chat/completions"
	case provider.OpEmbeddings:
		path = "/embeddings"
	case provider.OpResponses:
		path = "/responses"
	default:
		return nil, &provider.Error{Kind: provider.KindNotFound, Provider: t.Endpoint.Provider,
			Message: fmt.Sprintf("the openai format has no %q operation", t.Op)}
	}
	if t.Endpoint.BaseURL == "" {
		return nil, fmt.Errorf("openai: provider %q has no base URL", t.Endpoint.Provider)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, joinURL(t.Endpoint.BaseURL, path), bytes.NewReader(t.Body))
	if err != nil {
		return nil, fmt.Errorf("openai: building request for provider %q: %w", t.Endpoint.Provider, err)
	}
	h := r.Header
	if t.Endpoint.APIKey != "" {
		h.Set("Authorization", "Bearer "+t.Endpoint.APIKey)
	}
	h.Set("Content-Type", "application/json")
	if t.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	for k, vs := range t.Endpoint.Header {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, k := range forwardedHeaders {
		if vs := t.ClientHeader.Values(k); len(vs) > 0 && h.Get(k) == "" {
			h[k] = append([]string(nil), vs...)
		}
	}
	return r, nil
}

// forwardedHeaders are the client headers passed upstream (canonical form).
var forwardedHeaders = [...]string{"Openai-Organization", "Openai-Project", "Openai-Beta"}

// joinURL appends path to base, keeping base's query string.
func joinURL(base, path string) string {
	query := ""
	if i := strings.IndexByte(base, '?'); i >= 0 {
		base, query = base[:i], base[i:]
	}
	return strings.TrimRight(base, "/") + path + query
}
