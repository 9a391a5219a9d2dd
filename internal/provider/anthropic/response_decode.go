package anthropic

import (
	"encoding/json"
	"net/http"

	"github.com/llmgate/llmgate/internal/provider"
)

type wireResponse struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	Model        string          `json:"model"`
	Content      []wireRespBlock `json:"content"`
	StopReason   string          `json:"stop_reason"`
	StopSequence string          `json:"stop_sequence"`
	Usage        wireUsage       `json:"usage"`
}

// wireRespBlock is a response content block. Server-tool result blocks have
// a "content" of many shapes, which is why this is not wireBlock.
type wireRespBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
}

// wireUsage is Anthropic usage; pointers tell absent from zero, since
// message_delta repeats only some counters.
type wireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens int `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// canonical converts a complete usage object (input_tokens excludes the
// cache, so the canonical input adds it back).
func (w *wireUsage) canonical() provider.Usage {
	u := provider.Usage{
		InputTokens:      deref(w.InputTokens) + deref(w.CacheCreationInputTokens) + deref(w.CacheReadInputTokens),
		OutputTokens:     deref(w.OutputTokens),
		CachedTokens:     deref(w.CacheReadInputTokens),
		CacheWriteTokens: deref(w.CacheCreationInputTokens),
	}
	if w.OutputTokensDetails != nil {
		u.ReasoningTokens = w.OutputTokensDetails.ThinkingTokens
	}
	return u
}

// DecodeResponse parses a complete 2xx Messages response. A body that is not
// a message (garbage, or an error object despite the 2xx) is an *Error.
func (*Upstream) DecodeResponse(body []byte) (*provider.Response, error) {
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatAnthropic,
			Message: "upstream returned a response that is not valid JSON", Cause: err}
	}
	if w.Type == "error" {
		return nil, decodeErrorBody(http.StatusOK, body)
	}
	if w.Content == nil { // absent or null: another format's JSON, not a message
		return nil, notA("message", "it has no content", nil)
	}
	resp := &provider.Response{
		ID:           w.ID,
		Model:        w.Model,
		Content:      make([]provider.Part, 0, len(w.Content)),
		StopReason:   canonicalStop(w.StopReason),
		StopSequence: w.StopSequence,
		Usage:        w.Usage.canonical(),
	}
	for i := range w.Content {
		b := &w.Content[i]
		switch b.Type {
		case "text":
			if b.Text != "" {
				resp.Content = append(resp.Content, provider.Part{Type: provider.PartText, Text: b.Text})
			}
		case "tool_use":
			args := json.RawMessage(b.Input)
			if isNullish(args) {
				args = emptyObject
			}
			resp.Content = append(resp.Content, provider.Part{Type: provider.PartToolCall,
				ToolCall: &provider.ToolCall{ID: b.ID, Name: b.Name, Arguments: args}})
		case "thinking":
			resp.Content = append(resp.Content, provider.Part{Type: provider.PartThinking, Text: b.Thinking, Signature: b.Signature})
		}
		// redacted_thinking and server-tool blocks have no canonical form.
	}
	if resp.StopReason == "" {
		resp.StopReason = provider.StopEndTurn
	}
	return resp, nil
}

// canonicalStop maps Anthropic's stop_reason onto the canonical set (which
// uses Anthropic's names); newer values fold into their nearest neighbour.
func canonicalStop(s string) provider.StopReason {
	switch s {
	case "model_context_window_exceeded":
		return provider.StopMaxTokens
	case "compaction":
		return provider.StopEndTurn
	}
	return provider.StopReason(s)
}
