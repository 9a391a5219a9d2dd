package anthropic

import (
	"encoding/json"
	"io"

	"github.com/llmgate/llmgate/internal/provider"
)

// Client is the Anthropic Messages format as clients speak it (the Anthropic
// SDKs, Claude Code). The zero value is ready to use; it is stateless and
// safe for concurrent use.
type Client struct {
	// NewID returns a fresh id with the given prefix ("msg_", "toolu_"),
	// used where the canonical response has none. nil means random ids.
	NewID func(prefix string) string
}

// Interface guards.
var (
	_ provider.ClientCodec   = Client{}
	_ provider.UpstreamCodec = (*Upstream)(nil)
	_ provider.Passthrough   = Passthrough{}
)

// Format is provider.FormatAnthropic.
func (Client) Format() provider.Format { return provider.FormatAnthropic }

type outResponse struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Role         string   `json:"role"`
	Model        string   `json:"model"`
	Content      []any    `json:"content"`
	StopReason   string   `json:"stop_reason"`
	StopSequence *string  `json:"stop_sequence"`
	Usage        outUsage `json:"usage"`
}

type outUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

func usageOut(u provider.Usage) outUsage {
	return outUsage{
		InputTokens:              nativeInput(u),
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CachedTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// nativeInput is Anthropic's input_tokens: the input that was neither read
// from nor written to the cache.
func nativeInput(u provider.Usage) int {
	return max(0, u.InputTokens-u.CachedTokens-u.CacheWriteTokens)
}

type outText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type outToolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type outThinking struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

// EncodeResponse renders a complete Messages response. Tool call ids from
// other providers (call_...) are kept so the client's next request matches
// them; missing ids get toolu_ ids. The stop reason becomes tool_use when
// the response calls a tool and did not stop for a length or safety reason.
func (c Client) EncodeResponse(resp *provider.Response) ([]byte, error) {
	out := outResponse{
		ID:      messageID(c.NewID, resp.ID),
		Type:    "message",
		Role:    "assistant",
		Model:   resp.Model,
		Content: make([]any, 0, len(resp.Content)),
		Usage:   usageOut(resp.Usage),
	}
	for i := range resp.Content {
		p := &resp.Content[i]
		switch p.Type {
		case provider.PartText:
			if p.Text != "" {
				out.Content = append(out.Content, outText{Type: "text", Text: p.Text})
			}
		case provider.PartToolCall:
			if p.ToolCall == nil {
				continue
			}
			id := p.ToolCall.ID
			if id == "" {
				id = newID(c.NewID, "toolu_")
			}
			out.Content = append(out.Content, outToolUse{Type: "tool_use", ID: id, Name: p.ToolCall.Name, Input: objectOrEmpty(p.ToolCall.Arguments)})
		case provider.PartThinking:
			if p.Signature != "" { // see the package doc
				out.Content = append(out.Content, outThinking{Type: "thinking", Thinking: p.Text, Signature: p.Signature})
			}
		}
	}
	out.StopReason = string(clientStopReason(resp.StopReason, resp.HasToolCalls()))
	if resp.StopReason == provider.StopSequence && resp.StopSequence != "" {
		out.StopSequence = &resp.StopSequence
	}
	return marshal(&out)
}

// clientStopReason is the stop_reason a client sees. Other providers do not
// always say tool_calls when they call tools (a named tool_choice gives
// "stop", Gemini gives STOP), so the content decides.
func clientStopReason(r provider.StopReason, hasTools bool) provider.StopReason {
	if hasTools {
		switch r {
		case "", provider.StopEndTurn, provider.StopSequence:
			return provider.StopToolUse
		}
	}
	if r == "" {
		return provider.StopEndTurn
	}
	return r
}

// NewStreamEncoder returns an encoder writing Anthropic SSE for req to w.
// Thinking blocks are written only when req asked for thinking
// (ReasoningEffort set).
func (c Client) NewStreamEncoder(w io.Writer, req *provider.Request) provider.StreamEncoder {
	return c.newStreamEncoder(w, req)
}

func (c Client) newStreamEncoder(w io.Writer, req *provider.Request) *StreamEncoder {
	e := &StreamEncoder{w: w, newID: c.NewID, live: -1, buf: make([]byte, 0, 512)}
	if req != nil {
		e.model = req.Model
		e.thinking = req.ReasoningEffort != ""
	}
	return e
}
