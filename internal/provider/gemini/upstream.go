package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// DefaultAPIVersion is the API version go-genai uses against the Developer
// API.
const DefaultAPIVersion = "v1beta"

// Options configures an Upstream.
type Options struct {
	// APIVersion is the path segment between the base URL and "models/".
	// Default DefaultAPIVersion ("v1beta"). It is not added when the
	// endpoint's base URL already ends in a version segment.
	APIVersion string
	// MissingThoughtSignature, when set, is sent as the thoughtSignature of
	// replayed function calls that carry none (history written by another
	// provider, or by a client format that cannot carry signatures). Gemini 3
	// models reject function calls without one; Google documents
	// "skip_thought_signature_validator" for this case. Default "": none.
	MissingThoughtSignature string
}

// Upstream is the Gemini format as generativelanguage.googleapis.com speaks
// it. The zero value uses the defaults of Options. It is immutable and safe
// for concurrent use.
type Upstream struct {
	opts Options
}

var _ provider.UpstreamCodec = (*Upstream)(nil)

// NewUpstream returns an Upstream with o's settings.
func NewUpstream(o Options) *Upstream {
	if o.APIVersion == "" {
		o.APIVersion = DefaultAPIVersion
	}
	return &Upstream{opts: o}
}

// Format returns provider.FormatGemini.
func (*Upstream) Format() provider.Format { return provider.FormatGemini }

func (u *Upstream) version() string {
	if u == nil || u.opts.APIVersion == "" {
		return DefaultAPIVersion
	}
	return u.opts.APIVersion
}

// EncodeRequest renders req as a generateContent body. The model travels in
// the URL (see NewHTTPRequest), so model is not written.
func (u *Upstream) EncodeRequest(req *provider.Request, model string) ([]byte, error) {
	w, err := u.build(req)
	if err != nil {
		return nil, err
	}
	return marshal(w)
}

// EncodeCountTokensRequest renders req as a countTokens body: the whole
// request wrapped in generateContentRequest (which, unlike bare contents,
// counts the system instruction and tools too).
func (u *Upstream) EncodeCountTokensRequest(req *provider.Request, model string) ([]byte, error) {
	w, err := u.build(req)
	if err != nil {
		return nil, err
	}
	w.GenerationConfig = nil
	w.Model = modelPath(model)
	return marshal(struct {
		GenerateContentRequest *generateContentRequest `json:"generateContentRequest"`
	}{w})
}

func (u *Upstream) build(req *provider.Request) (*generateContentRequest, error) {
	w := &generateContentRequest{Contents: make([]content, 0, len(req.Messages))}
	// Gemini contents are user and model turns only: RoleSystem messages
	// join the system instruction, in order.
	var sys []part
	for _, p := range req.AllSystem() {
		if p.Text != "" {
			sys = append(sys, part{Text: p.Text})
		}
	}
	missingSig := ""
	if u != nil {
		missingSig = u.opts.MissingThoughtSignature
	}
	var names map[string]string // tool call id -> function name
	for mi := range req.Messages {
		m := &req.Messages[mi]
		if m.Role == provider.RoleSystem {
			continue // in sys
		}
		role := "user"
		if m.Role == provider.RoleAssistant {
			role = "model"
		}
		var parts, resultMedia []part
		for pi := range m.Parts {
			p := &m.Parts[pi]
			switch p.Type {
			case provider.PartText:
				if p.Text != "" {
					parts = append(parts, part{Text: p.Text, ThoughtSignature: p.Signature})
				}
			case provider.PartImage, provider.PartDocument:
				if mp, ok := mediaToPart(p.Media); ok {
					parts = append(parts, mp)
				}
			case provider.PartToolCall:
				tc := p.ToolCall
				if tc == nil {
					continue
				}
				if names == nil {
					names = make(map[string]string)
				}
				names[tc.ID] = tc.Name
				sig := p.Signature
				if sig == "" {
					sig = missingSig
				}
				parts = append(parts, part{
					FunctionCall:     &functionCall{Name: tc.Name, Args: validObject(tc.Arguments)},
					ThoughtSignature: sig,
				})
			case provider.PartToolResult:
				tr := p.ToolResult
				if tr == nil {
					continue
				}
				name := tr.Name
				if name == "" {
					name = names[tr.ToolCallID]
				}
				if name == "" {
					e := provider.Errorf(provider.KindBadRequest,
						"tool result %q answers no earlier tool call; Gemini needs the function's name", tr.ToolCallID)
					e.Format = provider.FormatGemini
					return nil, e
				}
				parts = append(parts, part{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(tr)}})
				for ci := range tr.Content {
					c := &tr.Content[ci]
					if c.Type == provider.PartImage || c.Type == provider.PartDocument {
						if mp, ok := mediaToPart(c.Media); ok {
							resultMedia = append(resultMedia, mp)
						}
					}
				}
			}
			// PartThinking is not replayed: its signature may be another
			// provider's, which Gemini would reject.
		}
		// Images a tool returned follow the function responses, which stay
		// together.
		parts = append(parts, resultMedia...)
		if len(parts) == 0 {
			continue
		}
		if n := len(w.Contents); n > 0 && w.Contents[n-1].Role == role {
			w.Contents[n-1].Parts = append(w.Contents[n-1].Parts, parts...)
			continue
		}
		w.Contents = append(w.Contents, content{Role: role, Parts: parts})
	}
	switch {
	case len(w.Contents) == 0 && len(sys) > 0:
		// Only a system prompt (valid for OpenAI): Gemini needs contents.
		w.Contents = append(w.Contents, content{Role: "user", Parts: sys})
	case len(w.Contents) == 0:
		e := provider.Errorf(provider.KindBadRequest, "the request has no message content to send")
		e.Format = provider.FormatGemini
		return nil, e
	case len(sys) > 0:
		w.SystemInstruction = &content{Parts: sys}
	}
	if len(req.Tools) > 0 {
		decls := make([]functionDeclaration, len(req.Tools))
		for i := range req.Tools {
			t := &req.Tools[i]
			decls[i] = functionDeclaration{Name: t.Name, Description: t.Description}
			if !isNull(t.Parameters) {
				// parametersJsonSchema takes plain JSON Schema ($schema,
				// additionalProperties, const); parameters would not.
				decls[i].ParametersJSONSchema = t.Parameters
			}
		}
		w.Tools = []tool{{FunctionDeclarations: decls}}
		w.ToolConfig = toolConfigFor(req.ToolChoice)
	}
	w.GenerationConfig = generationConfigFor(req)
	return w, nil
}

func toolConfigFor(tc *provider.ToolChoice) *toolConfig {
	if tc == nil {
		return nil
	}
	f := &functionCallingConfig{}
	switch tc.Mode {
	case provider.ToolChoiceNone:
		f.Mode = "NONE"
	case provider.ToolChoiceRequired:
		f.Mode = "ANY"
	case provider.ToolChoiceTool:
		f.Mode = "ANY"
		f.AllowedFunctionNames = []string{tc.Name}
	default:
		f.Mode = "AUTO"
	}
	return &toolConfig{FunctionCallingConfig: f}
}

// thinkingBudgets are the budgets Gemini's own OpenAI-compatible endpoint
// uses for reasoning_effort.
var thinkingBudgets = map[string]int{"low": 1024, "medium": 8192, "high": 24576}

func generationConfigFor(req *provider.Request) *generationConfig {
	g := &generationConfig{
		MaxOutputTokens: req.MaxTokens,
		Temperature:     req.Temperature,
		TopP:            req.TopP,
		StopSequences:   req.Stop,
		Seed:            req.Seed,
	}
	set := req.MaxTokens != nil || req.Temperature != nil || req.TopP != nil || len(req.Stop) > 0 || req.Seed != nil
	if req.TopK != nil {
		k := float64(*req.TopK)
		g.TopK, set = &k, true
	}
	if req.N > 1 {
		g.CandidateCount, set = req.N, true
	}
	if rf := req.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") {
		g.ResponseMimeType, set = "application/json", true
		if rf.Type == "json_schema" && !isNull(rf.Schema) {
			g.ResponseJSONSchema = rf.Schema
		}
	}
	if b, ok := thinkingBudgets[req.ReasoningEffort]; ok {
		g.ThinkingConfig, set = &thinkingConfig{ThinkingBudget: &b}, true
	}
	if !set {
		return nil
	}
	return g
}

// mediaToPart renders media as inlineData (base64, or a data: URL) or
// fileData (a URI Gemini fetches itself).
func mediaToPart(m *provider.Media) (part, bool) {
	switch {
	case m == nil:
		return part{}, false
	case m.Data != "":
		return part{InlineData: &blob{MimeType: m.MediaType, Data: m.Data}}, true
	case strings.HasPrefix(m.URL, "data:"):
		meta, data, ok := strings.Cut(m.URL[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return part{}, false
		}
		mime := strings.TrimSuffix(meta, ";base64")
		if i := strings.IndexByte(mime, ';'); i >= 0 {
			mime = mime[:i]
		}
		if mime == "" {
			mime = m.MediaType
		}
		return part{InlineData: &blob{MimeType: mime, Data: data}}, true
	case m.URL != "":
		return part{FileData: &fileData{MimeType: m.MediaType, FileURI: m.URL}}, true
	}
	return part{}, false
}

// toolResponse is a functionResponse.response, which must be an object: a
// result that is a JSON object is sent as it is, other text is wrapped as
// {"output": text}, or {"error": text} for a failed call (the keys Gemini
// documents).
func toolResponse(tr *provider.ToolResult) json.RawMessage {
	var text string
	n := 0
	for i := range tr.Content {
		if tr.Content[i].Type == provider.PartText {
			if n > 0 {
				text += "\n"
			}
			text += tr.Content[i].Text
			n++
		}
	}
	if t := strings.TrimSpace(text); len(t) > 1 && t[0] == '{' && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	key := `{"output":`
	if tr.IsError {
		key = `{"error":`
	}
	b := jsonw.AppendString(append(make([]byte, 0, len(text)+16), key...), text)
	return append(b, '}')
}

// modelPath is the resource name of a model: "models/x" for a bare name,
// kept as it is when it already names a collection (models/, tunedModels/).
func modelPath(model string) string {
	model = strings.TrimPrefix(model, "/")
	if strings.HasPrefix(model, "models/") || strings.HasPrefix(model, "tunedModels/") {
		return model
	}
	return "models/" + model
}

// NewHTTPRequest builds POST {BaseURL}/{version}/models/{model}:generateContent
// (or :streamGenerateContent?alt=sse, or :countTokens). The API key goes in
// the x-goog-api-key header, never the URL, so it stays out of access logs.
func (u *Upstream) NewHTTPRequest(ctx context.Context, t *provider.Target) (*http.Request, error) {
	var action string
	switch t.Op {
	case provider.OpChat, "":
		action = ":generateContent"
		if t.Stream {
			action = ":streamGenerateContent?alt=sse"
		}
	case provider.OpCountTokens:
		action = ":countTokens"
	default:
		e := provider.Errorf(provider.KindNotFound, "the Gemini API has no %s operation", t.Op)
		e.Format = provider.FormatGemini
		return nil, e
	}
	if t.Model == "" {
		e := provider.Errorf(provider.KindBadRequest, "no model to send to the Gemini API")
		e.Format = provider.FormatGemini
		return nil, e
	}
	if e := provider.CheckPathModel(t.Model); e != nil {
		e.Format = provider.FormatGemini
		return nil, e // the router checks first; never build such a URL
	}
	base := strings.TrimRight(t.Endpoint.BaseURL, "/")
	if !endsInVersion(base) {
		base += "/" + u.version()
	}
	segs := strings.Split(modelPath(t.Model), "/")
	for i := range segs {
		segs[i] = url.PathEscape(segs[i])
	}
	target := base + "/" + strings.Join(segs, "/") + action
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(t.Body))
	if err != nil {
		e := provider.Errorf(provider.KindServer, "invalid base URL %q for provider %q", t.Endpoint.BaseURL, t.Endpoint.Provider)
		e.Cause = err
		return nil, e
	}
	r.Header.Set("Content-Type", "application/json")
	for k, vs := range t.Endpoint.Header {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if t.Endpoint.APIKey != "" {
		r.Header.Set("x-goog-api-key", t.Endpoint.APIKey)
	}
	return r, nil
}

// endsInVersion reports whether base's last path segment is an API version
// (v1, v1beta, v1alpha), so none is added.
func endsInVersion(base string) bool {
	i := strings.LastIndexByte(base, '/')
	seg := base[i+1:]
	if i < 0 || strings.HasSuffix(base[:i], ":/") || strings.HasSuffix(base[:i], ":") {
		return false // no path at all
	}
	return isVersion(seg)
}

// isVersion matches v<digits>[alpha|beta][<digits>].
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 1 {
		return false
	}
	rest := s[i:]
	for _, p := range [...]string{"alpha", "beta"} {
		if strings.HasPrefix(rest, p) {
			rest = rest[len(p):]
			break
		}
	}
	return strings.TrimLeft(rest, "0123456789") == ""
}

// DecodeResponse parses a generateContent response: text parts joined,
// thought parts as thinking, function calls (with synthesized call_ ids when
// Gemini sends none), the finish reason mapped (STOP with function calls is
// tool_use; a blocked prompt or a safety stop is a refusal with no content)
// and usage with thoughts counted in the output.
func (*Upstream) DecodeResponse(body []byte) (*provider.Response, error) {
	var w generateContentResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, badGateway("the Gemini upstream returned a malformed response", err)
	}
	if !isNull(w.Error) {
		return nil, errorFromRaw(http.StatusOK, w.Error)
	}
	resp := &provider.Response{ID: w.ResponseID, Model: w.ModelVersion, Usage: usageFromWire(w.UsageMetadata)}
	c := firstCandidate(w.Candidates)
	if c == nil && w.PromptFeedback == nil {
		// Not Gemini's answer (another format's JSON, or {}): never a 200
		// with empty content.
		return nil, notAResponse("it has no candidates and no promptFeedback", nil)
	}
	if c == nil {
		resp.StopReason = provider.StopEndTurn
		if w.PromptFeedback != nil && w.PromptFeedback.BlockReason != "" {
			resp.StopReason = provider.StopContentFilter
		}
		return resp, nil
	}
	var calls bool
	if c.Content != nil {
		resp.Content = make([]provider.Part, 0, len(c.Content.Parts))
		for i := range c.Content.Parts {
			p := &c.Content.Parts[i]
			switch {
			case p.FunctionCall != nil:
				calls = true
				id := p.FunctionCall.ID
				if id == "" {
					id = newCallID()
				}
				resp.Content = append(resp.Content, provider.Part{
					Type:      provider.PartToolCall,
					Signature: p.ThoughtSignature,
					ToolCall:  &provider.ToolCall{ID: id, Name: p.FunctionCall.Name, Arguments: objectOrEmpty(p.FunctionCall.Args)},
				})
			case p.Thought:
				resp.Content = appendText(resp.Content, provider.PartThinking, p.Text, p.ThoughtSignature)
			case p.Text != "" || p.ThoughtSignature != "":
				resp.Content = appendText(resp.Content, provider.PartText, p.Text, p.ThoughtSignature)
			}
		}
	}
	resp.StopReason = stopFromFinish(c.FinishReason, calls)
	if resp.StopReason == provider.StopContentFilter {
		resp.Content = nil
	}
	return resp, nil
}

// appendText adds text to the last part when it has the same type (Gemini
// splits text across parts), else starts a part. A signature-only part
// (Gemini's empty text carrying a thoughtSignature) signs the part before.
func appendText(parts []provider.Part, t provider.PartType, text, sig string) []provider.Part {
	if n := len(parts); n > 0 && parts[n-1].Type == t {
		parts[n-1].Text += text
		if sig != "" {
			parts[n-1].Signature = sig
		}
		return parts
	}
	if text == "" && t == provider.PartText {
		return parts
	}
	return append(parts, provider.Part{Type: t, Text: text, Signature: sig})
}

func firstCandidate(cs []candidate) *candidate {
	for i := range cs {
		if cs[i].Index == 0 {
			return &cs[i]
		}
	}
	return nil
}

// stopFromFinish maps a finishReason. Gemini has no tool call reason: STOP
// after a function call is tool_use.
func stopFromFinish(reason string, calls bool) provider.StopReason {
	switch reason {
	case "MAX_TOKENS":
		return provider.StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return provider.StopContentFilter
	}
	if calls {
		return provider.StopToolUse
	}
	return provider.StopEndTurn
}

// DecodeCountTokens reads totalTokens from a countTokens response.
func (*Upstream) DecodeCountTokens(body []byte) (int, error) {
	var w struct {
		TotalTokens *int `json:"totalTokens"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return 0, badGateway("the Gemini upstream returned a malformed countTokens response", err)
	}
	if w.TotalTokens == nil {
		return 0, nil // Gemini omits zero
	}
	return *w.TotalTokens, nil
}

// NewStreamDecoder reads a streamGenerateContent?alt=sse body.
func (*Upstream) NewStreamDecoder(r io.Reader) provider.StreamDecoder {
	return &streamDecoder{r: sse.NewReader(r)}
}

var _ provider.Releaser = (*streamDecoder)(nil)

// Release gives the decoder's read buffer back for reuse; Next must not be
// called after it.
func (d *streamDecoder) Release() { d.r.Release() }

func badGateway(msg string, cause error) *provider.Error {
	return &provider.Error{Kind: provider.KindBadGateway, Message: msg, Format: provider.FormatGemini, Cause: cause}
}
