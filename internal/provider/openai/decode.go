package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

// wireCompletion is a chat.completion as OpenAI-compatible servers send it.
type wireCompletion struct {
	ID    string `json:"id"`
	Model string `json:"model"`
	wireChunk
}

// wireChunk is a chat.completion.chunk without its id and model, which the
// stream decoder reads from the first chunk only.
type wireChunk struct {
	Choices []wireChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
	// XGroq carries usage in older Groq streams.
	XGroq *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"x_groq"`
}

func (w *wireChunk) usage() *wireUsage {
	if w.Usage == nil && w.XGroq != nil {
		return w.XGroq.Usage
	}
	return w.Usage
}

// choice returns the choice with index 0 (llmgate's canonical form has one
// choice), or nil.
func (w *wireChunk) choice() *wireChoice {
	for i := range w.Choices {
		if w.Choices[i].Index == 0 {
			return &w.Choices[i]
		}
	}
	return nil
}

type wireChoice struct {
	Index        int           `json:"index"`
	Message      wireAssistant `json:"message"`
	Delta        wireAssistant `json:"delta"`
	FinishReason *string       `json:"finish_reason"`
}

// wireAssistant is a response message or a stream delta.
type wireAssistant struct {
	Content wireContent `json:"content"`
	// ReasoningContent (DeepSeek, vLLM) and Reasoning (Ollama, newer vLLM,
	// OpenRouter) carry reasoning text.
	ReasoningContent *string         `json:"reasoning_content"`
	Reasoning        *string         `json:"reasoning"`
	Refusal          *string         `json:"refusal"`
	ToolCalls        []wireToolDelta `json:"tool_calls"`
}

func (w *wireAssistant) reasoning() string {
	if w.ReasoningContent != nil && *w.ReasoningContent != "" {
		return *w.ReasoningContent
	}
	if w.Reasoning != nil {
		return *w.Reasoning
	}
	return ""
}

// wireToolDelta is a tool call, complete or (in streams) a fragment.
type wireToolDelta struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string   `json:"name"`
		Arguments jsonText `json:"arguments"`
	} `json:"function"`
}

// wireContent is message content: a string, null, or an array of parts
// (Mistral's reasoning models send text and thinking parts).
type wireContent struct {
	Text     string
	Thinking string
}

func (c *wireContent) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		s, ok := jsonscan.String(b)
		if !ok {
			return errors.New("openai: invalid content string")
		}
		c.Text = s
		return nil
	case b[0] != '[':
		return nil // tolerate an odd value rather than lose the response
	}
	var parts []struct {
		Type     string          `json:"type"`
		Text     string          `json:"text"`
		Thinking json.RawMessage `json:"thinking"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	var text, thinking strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "text":
			text.WriteString(p.Text)
		case "thinking":
			thinking.WriteString(thinkingText(p.Thinking))
		}
	}
	c.Text, c.Thinking = text.String(), thinking.String()
	return nil
}

// thinkingText reads Mistral's thinking: a string or an array of text parts.
func thinkingText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// jsonText is a string member that some servers send as another JSON value
// (tool arguments as an object): strings are decoded, null is empty, and
// anything else is kept as its JSON text.
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && b[0] == '"':
		s, ok := jsonscan.String(b)
		if !ok {
			return errors.New("openai: invalid string")
		}
		*t = jsonText(s)
	default:
		*t = jsonText(b)
	}
	return nil
}

// argsObject returns arguments text as a JSON object, or {} when it is not
// one (truncated output, a bare string).
func argsObject(s jsonText) json.RawMessage {
	b := bytes.TrimSpace([]byte(s))
	if len(b) > 0 && b[0] == '{' && json.Valid(b) {
		return b
	}
	return emptyArgs
}

func hasValue(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// DecodeResponse parses a complete chat.completion body. Leading blank
// lines (DeepSeek under load) are skipped; reasoning_content or reasoning
// becomes a thinking part; a refusal becomes text with StopContentFilter.
// A body that is not a completion is a KindBadGateway error; an error
// object in a 200 body is decoded as the error it reports.
func (u *Upstream) DecodeResponse(body []byte) (*provider.Response, error) {
	var w wireCompletion
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
			Message: "upstream sent a response that is not a valid chat completion", Cause: err}
	}
	if hasValue(w.Error) {
		return nil, streamError(body)
	}
	c := w.choice()
	if c == nil {
		return nil, &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
			Message: "upstream sent a chat completion without choices"}
	}
	m := &c.Message
	resp := &provider.Response{ID: w.ID, Model: w.Model}
	if r := m.reasoning(); r != "" {
		resp.Content = append(resp.Content, provider.Part{Type: provider.PartThinking, Text: r})
	}
	if m.Content.Thinking != "" {
		resp.Content = append(resp.Content, provider.Part{Type: provider.PartThinking, Text: m.Content.Thinking})
	}
	if m.Content.Text != "" {
		resp.Content = append(resp.Content, provider.Part{Type: provider.PartText, Text: m.Content.Text})
	}
	refused := m.Refusal != nil && *m.Refusal != ""
	if refused {
		resp.Content = append(resp.Content, provider.Part{Type: provider.PartText, Text: *m.Refusal})
	}
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		resp.Content = append(resp.Content, provider.Part{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{
			ID: toolCallID(tc.ID, i), Name: tc.Function.Name, Arguments: argsObject(tc.Function.Arguments),
		}})
	}
	fr := ""
	if c.FinishReason != nil {
		fr = *c.FinishReason
	}
	resp.StopReason = stopReason(fr, len(m.ToolCalls) > 0)
	if refused && resp.StopReason == provider.StopEndTurn {
		resp.StopReason = provider.StopContentFilter
	}
	if wu := w.usage(); wu != nil {
		resp.Usage = wu.usage()
	}
	return resp, nil
}
