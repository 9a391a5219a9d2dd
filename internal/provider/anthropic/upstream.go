package anthropic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

// DefaultAPIVersion is the anthropic-version header every SDK sends.
const DefaultAPIVersion = "2023-06-01"

// Options configure an Upstream. The zero value is valid.
type Options struct {
	// DefaultMaxTokens is sent as max_tokens (which Anthropic requires) when
	// the canonical request has none. 0 means 4096.
	DefaultMaxTokens int
	// NewID returns a fresh id with the given prefix ("toolu_") for tool
	// calls that arrive without one. nil means random ids.
	NewID func(prefix string) string
}

// Upstream is the Anthropic Messages format as spoken to the Anthropic API
// and compatible upstreams. It is immutable and safe for concurrent use.
type Upstream struct {
	opts Options
}

// NewUpstream returns an Upstream with opts, defaults filled in.
func NewUpstream(opts Options) *Upstream {
	if opts.DefaultMaxTokens <= 0 {
		opts.DefaultMaxTokens = 4096
	}
	return &Upstream{opts: opts}
}

// Format is provider.FormatAnthropic.
func (*Upstream) Format() provider.Format { return provider.FormatAnthropic }

type outRequest struct {
	Model         string         `json:"model"`
	MaxTokens     *int           `json:"max_tokens,omitempty"`
	System        any            `json:"system,omitempty"`
	Messages      []outMessage   `json:"messages"`
	StopSequences []string       `json:"stop_sequences,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	TopP          *float64       `json:"top_p,omitempty"`
	TopK          *int           `json:"top_k,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	Tools         []outTool      `json:"tools,omitempty"`
	ToolChoice    *outToolChoice `json:"tool_choice,omitempty"`
	Metadata      *outMetadata   `json:"metadata,omitempty"`
}

type outMessage struct {
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type outTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type outToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type outMetadata struct {
	UserID string `json:"user_id"`
}

type outMedia struct {
	Type   string    `json:"type"`
	Source outSource `json:"source"`
}

type outSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type outToolResult struct {
	Type      string `json:"type"`
	ToolUseID string `json:"tool_use_id"`
	Content   any    `json:"content,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`
}

// EncodeRequest renders req as a Messages request for model. It merges
// consecutive same-role turns, puts tool results first in their user turn,
// drops empty text, clamps temperature to [0, 1], fills max_tokens, and
// rejects what Anthropic cannot do (n > 1, unsupported image types).
func (u *Upstream) EncodeRequest(req *provider.Request, model string) ([]byte, error) {
	out, err := u.buildRequest(req, model)
	if err != nil {
		return nil, err
	}
	maxTokens := u.opts.DefaultMaxTokens
	if req.MaxTokens != nil {
		maxTokens = *req.MaxTokens
	}
	out.MaxTokens = &maxTokens
	out.Stream = req.Stream
	for _, s := range req.Stop {
		if strings.TrimSpace(s) != "" { // Anthropic rejects whitespace-only stop sequences
			out.StopSequences = append(out.StopSequences, s)
		}
	}
	if t := req.Temperature; t != nil {
		c := min(max(*t, 0), 1)
		out.Temperature = &c
	}
	out.TopP, out.TopK = req.TopP, req.TopK
	if req.User != "" {
		out.Metadata = &outMetadata{UserID: req.User}
	}
	return marshal(out)
}

// EncodeCountTokensRequest renders req as a POST /v1/messages/count_tokens
// body: model, system, messages, tools and tool_choice only (the endpoint
// rejects max_tokens and sampling parameters).
func (u *Upstream) EncodeCountTokensRequest(req *provider.Request, model string) ([]byte, error) {
	out, err := u.buildRequest(req, model)
	if err != nil {
		return nil, err
	}
	return marshal(out)
}

// DecodeCountTokensResponse reads {"input_tokens":n}.
func DecodeCountTokensResponse(body []byte) (int, error) {
	var v struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.InputTokens == nil {
		return 0, &provider.Error{Kind: provider.KindBadGateway, Message: "upstream count_tokens response has no input_tokens", Format: provider.FormatAnthropic, Cause: err}
	}
	return *v.InputTokens, nil
}

// EncodeCountTokensResponse renders a count_tokens response for a client.
func EncodeCountTokensResponse(n int) []byte {
	b := append(make([]byte, 0, 32), `{"input_tokens":`...)
	b = appendInt(b, n)
	return append(b, '}')
}

// buildRequest converts what Messages and count_tokens share.
func (u *Upstream) buildRequest(req *provider.Request, model string) (*outRequest, error) {
	if req.N > 1 {
		return nil, &provider.Error{Kind: provider.KindBadRequest, Param: "n", Message: "n > 1 is not supported by Anthropic models"}
	}
	out := &outRequest{Model: model}
	out.System = systemValue(req)
	ids := toolIDs{newID: u.opts.NewID}
	msgs, err := encodeMessages(req.Messages, &ids)
	if err != nil {
		return nil, err
	}
	out.Messages = msgs
	if len(req.Tools) > 0 {
		out.Tools = make([]outTool, 0, len(req.Tools))
		for i := range req.Tools {
			t := &req.Tools[i]
			schema, err := inputSchema(t.Parameters)
			if err != nil {
				return nil, &provider.Error{Kind: provider.KindBadRequest, Param: fmt.Sprintf("tools[%d].parameters", i),
					Message: fmt.Sprintf("tool %q: parameters must be a JSON Schema object", t.Name), Cause: err}
			}
			out.Tools = append(out.Tools, outTool{Name: t.Name, Description: t.Description, InputSchema: schema})
		}
		out.ToolChoice = toolChoice(req)
	}
	return out, nil
}

// inputSchema returns params as an Anthropic input_schema: an object with
// "type":"object" (added when missing), {"type":"object","properties":{}}
// when there are none.
func inputSchema(params json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimSpace(params)
	if len(t) == 0 || string(t) == "null" {
		return emptySchema, nil
	}
	if t[0] != '{' {
		return nil, fmt.Errorf("schema is not an object")
	}
	if _, ok, err := jsonscan.Get(t, "type"); err != nil {
		return nil, err
	} else if !ok {
		return jsonscan.SetString(t, "type", "object")
	}
	return t, nil
}

func toolChoice(req *provider.Request) *outToolChoice {
	var tc *outToolChoice
	if c := req.ToolChoice; c != nil {
		switch c.Mode {
		case provider.ToolChoiceNone:
			return &outToolChoice{Type: "none"} // takes no disable_parallel_tool_use
		case provider.ToolChoiceRequired:
			tc = &outToolChoice{Type: "any"}
		case provider.ToolChoiceTool:
			tc = &outToolChoice{Type: "tool", Name: c.Name}
		default:
			tc = &outToolChoice{Type: "auto"}
		}
	}
	if p := req.ParallelToolCalls; p != nil && !*p {
		if tc == nil {
			tc = &outToolChoice{Type: "auto"}
		}
		tc.DisableParallelToolUse = true
	}
	return tc
}

// systemValue returns the system member: a string for one text, text blocks
// for several, nil for none. RoleSystem messages join it in order: the
// Messages API takes them in place only with a beta header
// (mid-conversation-system-2026-04-07) that other Anthropic-compatible
// servers do not know. A ResponseFormat adds an instruction.
func systemValue(req *provider.Request) any {
	sys := req.AllSystem()
	texts := make([]string, 0, len(sys)+1)
	for i := range sys {
		if p := &sys[i]; p.Type == provider.PartText && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	if s := formatInstruction(req.ResponseFormat); s != "" {
		texts = append(texts, s)
	}
	switch len(texts) {
	case 0:
		return nil
	case 1:
		return texts[0]
	}
	blocks := make([]outText, len(texts))
	for i, s := range texts {
		blocks[i] = outText{Type: "text", Text: s}
	}
	return blocks
}

// formatInstruction is the system text that stands in for response_format:
// Anthropic has no portable JSON mode (see the package doc).
func formatInstruction(f *provider.ResponseFormat) string {
	if f == nil {
		return ""
	}
	switch f.Type {
	case "json_object":
		return "Respond with a single valid JSON object only: no markdown code fences and no text before or after it."
	case "json_schema":
		s := "Respond with a single valid JSON value only, with no markdown code fences and no text before or after it"
		if schema := bytes.TrimSpace(f.Schema); len(schema) > 0 && string(schema) != "null" {
			var c bytes.Buffer
			if json.Compact(&c, schema) == nil {
				schema = c.Bytes()
			}
			s += ", that conforms to this JSON Schema"
			if f.Name != "" {
				s += " (named " + f.Name + ")"
			}
			s += ":\n" + string(schema)
		} else {
			s += "."
		}
		return s
	}
	return ""
}

// toolIDs keeps tool ids valid for Anthropic and pairs results with calls
// when the canonical ids are missing.
type toolIDs struct {
	newID   func(string) string
	pending []namedID // generated ids not yet answered
}

type namedID struct{ name, id string }

func (t *toolIDs) call(id, name string) string {
	if id != "" {
		return sanitizeToolID(id)
	}
	id = newID(t.newID, "toolu_")
	t.pending = append(t.pending, namedID{name, id})
	return id
}

func (t *toolIDs) result(id, name string) string {
	if id != "" {
		return sanitizeToolID(id)
	}
	for i, p := range t.pending {
		if name == "" || p.name == name {
			t.pending = append(t.pending[:i], t.pending[i+1:]...)
			return p.id
		}
	}
	return newID(t.newID, "toolu_")
}

func encodeMessages(msgs []provider.Message, ids *toolIDs) ([]outMessage, error) {
	out := make([]outMessage, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Role == provider.RoleSystem {
			continue // in system: see systemValue
		}
		role := "user"
		if m.Role == provider.RoleAssistant {
			role = "assistant"
		}
		var blocks []any
		if n := len(out); n > 0 && out[n-1].Role == role {
			blocks = out[n-1].Content // merge consecutive same-role turns
		}
		start := len(blocks)
		for j := range m.Parts {
			b, err := encodePart(&m.Parts[j], ids, i, j)
			if err != nil {
				return nil, err
			}
			if b != nil {
				blocks = append(blocks, b)
			}
		}
		if len(blocks) == start {
			continue // nothing to send: Anthropic rejects empty content
		}
		if start > 0 {
			out[len(out)-1].Content = blocks
		} else {
			out = append(out, outMessage{Role: role, Content: blocks})
		}
	}
	for i := range out {
		if out[i].Role == "user" {
			toolResultsFirst(out[i].Content)
		}
	}
	return out, nil
}

// toolResultsFirst moves tool_result blocks to the front, keeping order:
// Anthropic wants them at the beginning of the user turn.
func toolResultsFirst(blocks []any) {
	n := 0
	for i, b := range blocks {
		if _, ok := b.(outToolResult); ok {
			if i != n {
				copy(blocks[n+1:i+1], blocks[n:i])
				blocks[n] = b
			}
			n++
		}
	}
}

func encodePart(p *provider.Part, ids *toolIDs, mi, pi int) (any, error) {
	switch p.Type {
	case provider.PartText:
		if p.Text == "" {
			return nil, nil
		}
		return outText{Type: "text", Text: p.Text}, nil
	case provider.PartImage, provider.PartDocument:
		return encodeMedia(p, fmt.Sprintf("messages[%d].content[%d]", mi, pi))
	case provider.PartToolCall:
		tc := p.ToolCall
		if tc == nil {
			return nil, nil
		}
		return outToolUse{Type: "tool_use", ID: ids.call(tc.ID, tc.Name), Name: tc.Name, Input: objectOrEmpty(tc.Arguments)}, nil
	case provider.PartToolResult:
		tr := p.ToolResult
		if tr == nil {
			return nil, nil
		}
		r := outToolResult{Type: "tool_result", ToolUseID: ids.result(tr.ToolCallID, tr.Name), IsError: tr.IsError}
		content, err := toolResultContent(tr.Content, fmt.Sprintf("messages[%d].content[%d]", mi, pi))
		if err != nil {
			return nil, err
		}
		r.Content = content
		return r, nil
	case provider.PartThinking:
		if p.Signature == "" {
			return nil, nil // unsigned reasoning cannot be replayed to Anthropic
		}
		return outThinking{Type: "thinking", Thinking: p.Text, Signature: p.Signature}, nil
	}
	return nil, nil
}

// toolResultContent is a string for a result that is one text, blocks
// otherwise (several texts, images), and nil (omitted) for an empty result.
func toolResultContent(parts []provider.Part, path string) (any, error) {
	n, textAt := 0, -1
	for i := range parts {
		switch p := &parts[i]; p.Type {
		case provider.PartText:
			if p.Text != "" {
				n++
				textAt = i
			}
		case provider.PartImage:
			n++
		}
	}
	switch {
	case n == 0:
		return nil, nil
	case n == 1 && textAt >= 0:
		return parts[textAt].Text, nil
	}
	blocks := make([]any, 0, n)
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case provider.PartText:
			if p.Text != "" {
				blocks = append(blocks, outText{Type: "text", Text: p.Text})
			}
		case provider.PartImage:
			b, err := encodeMedia(p, fmt.Sprintf("%s.content[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if b != nil {
				blocks = append(blocks, b)
			}
		}
	}
	return blocks, nil
}

var imageTypes = map[string]string{
	"image/jpeg": "image/jpeg",
	"image/jpg":  "image/jpeg",
	"image/png":  "image/png",
	"image/gif":  "image/gif",
	"image/webp": "image/webp",
}

func encodeMedia(p *provider.Part, path string) (any, error) {
	m := p.Media
	if m == nil || (m.Data == "" && m.URL == "") {
		return nil, nil
	}
	bad := func(msg string) error {
		return &provider.Error{Kind: provider.KindBadRequest, Param: path, Message: path + ": " + msg}
	}
	mt := strings.ToLower(strings.TrimSpace(m.MediaType))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	if p.Type == provider.PartImage {
		if m.Data == "" {
			return outMedia{Type: "image", Source: outSource{Type: "url", URL: m.URL}}, nil
		}
		norm, ok := imageTypes[mt]
		if !ok {
			return nil, bad(fmt.Sprintf("image type %q is not supported by Anthropic models (use image/jpeg, image/png, image/gif or image/webp)", m.MediaType))
		}
		return outMedia{Type: "image", Source: outSource{Type: "base64", MediaType: norm, Data: m.Data}}, nil
	}
	if m.Data == "" {
		return outMedia{Type: "document", Source: outSource{Type: "url", URL: m.URL}}, nil
	}
	switch mt {
	case "application/pdf":
		return outMedia{Type: "document", Source: outSource{Type: "base64", MediaType: mt, Data: m.Data}}, nil
	case "text/plain":
		text, err := base64.StdEncoding.DecodeString(m.Data)
		if err != nil {
			return nil, bad("text/plain document data is not valid base64")
		}
		return outMedia{Type: "document", Source: outSource{Type: "text", MediaType: mt, Data: string(text)}}, nil
	}
	return nil, bad(fmt.Sprintf("document type %q is not supported by Anthropic models (use application/pdf or text/plain)", m.MediaType))
}

// NewHTTPRequest builds POST {BaseURL}/v1/messages (OpChat) or
// /v1/messages/count_tokens (OpCountTokens) with x-api-key, the client's
// anthropic-version (or DefaultAPIVersion) and anthropic-beta, and the
// configured extra headers. Of the client's query it keeps only beta=true.
func (*Upstream) NewHTTPRequest(ctx context.Context, t *provider.Target) (*http.Request, error) {
	var path string
	switch t.Op {
	case provider.OpChat:
		path = "/v1/messages"
	case provider.OpCountTokens:
		path = "/v1/messages/count_tokens"
	default:
		return nil, &provider.Error{Kind: provider.KindNotFound, Provider: t.Endpoint.Provider,
			Message: fmt.Sprintf("operation %q is not supported by Anthropic upstreams", t.Op)}
	}
	base := strings.TrimRight(t.Endpoint.BaseURL, "/")
	base = strings.TrimSuffix(base, "/v1") // tolerate a base URL that already names the version
	u := base + path
	if t.ClientQuery != "" {
		if q, err := url.ParseQuery(t.ClientQuery); err == nil && q.Get("beta") == "true" {
			u += "?beta=true"
		}
	}
	var body io.Reader = http.NoBody
	if len(t.Body) > 0 {
		body = bytes.NewReader(t.Body)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, &provider.Error{Kind: provider.KindConnect, Provider: t.Endpoint.Provider,
			Message: "invalid upstream base URL " + t.Endpoint.BaseURL, Cause: err}
	}
	h := r.Header
	h.Set("Content-Type", "application/json")
	if t.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	version := DefaultAPIVersion
	if v := t.ClientHeader.Get("anthropic-version"); v != "" {
		version = v
	}
	h.Set("anthropic-version", version)
	if beta := t.ClientHeader.Values("anthropic-beta"); len(beta) > 0 {
		h["Anthropic-Beta"] = append([]string(nil), beta...)
	}
	if t.Endpoint.APIKey != "" {
		h.Set("x-api-key", t.Endpoint.APIKey)
	}
	for k, v := range t.Endpoint.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	return r, nil
}
