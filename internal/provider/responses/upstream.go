package responses

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/openai"
)

// Upstream is an OpenAI provider's Responses endpoint as the pipeline
// reaches it for Responses clients: requests are forwarded as they are
// (Passthrough), so this codec builds the HTTP request, reads answers and
// classifies errors, but does not translate requests into the Responses
// format. It is safe for concurrent use.
type Upstream struct {
	// Chat is the provider's chat-completions codec, which knows its URL
	// conventions and error bodies.
	Chat *openai.Upstream
}

var _ provider.UpstreamCodec = (*Upstream)(nil)

// Format is provider.FormatResponses.
func (*Upstream) Format() provider.Format { return provider.FormatResponses }

// EncodeRequest is not supported: a Responses client's body is forwarded
// untouched, and a request that had to be changed (truncated to fit the
// context window) cannot be rendered back. The error says what to do.
func (*Upstream) EncodeRequest(*provider.Request, string) ([]byte, error) {
	return nil, &provider.Error{Kind: provider.KindBadRequest, Param: "input",
		Message: "llmgate forwards Responses requests to an api: responses provider as they are and cannot truncate them: " +
			"shorten the input, or drop truncate_on_overflow for this model"}
}

// NewHTTPRequest posts to {BaseURL}/responses with the provider's key and
// headers.
func (u *Upstream) NewHTTPRequest(ctx context.Context, t *provider.Target) (*http.Request, error) {
	rt := *t
	rt.Op = provider.OpResponses
	return u.Chat.NewHTTPRequest(ctx, &rt)
}

// DecodeError classifies an error answer (the Chat Completions error body).
func (u *Upstream) DecodeError(status int, h http.Header, body []byte) *provider.Error {
	return u.Chat.DecodeError(status, h, body)
}

// NewStreamDecoder is never used: Responses streams are passed through.
func (*Upstream) NewStreamDecoder(io.Reader) provider.StreamDecoder { return failingDecoder{} }

type failingDecoder struct{}

func (failingDecoder) Next() (provider.Event, error) {
	return provider.Event{}, &provider.Error{Kind: provider.KindServer, Message: "llmgate cannot translate a Responses stream"}
}

// DecodeResponse reads a Response object: its message text, function
// calls, reasoning summaries, status and usage.
func (*Upstream) DecodeResponse(body []byte) (*provider.Response, error) {
	var w struct {
		ID                string `json:"id"`
		Model             string `json:"model"`
		Status            string `json:"status"`
		IncompleteDetails *struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Output []struct {
			Type      string `json:"type"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
			Content   []struct {
				Type    string `json:"type"`
				Text    string `json:"text"`
				Refusal string `json:"refusal"`
			} `json:"content"`
			Summary []struct {
				Text string `json:"text"`
			} `json:"summary"`
		} `json:"output"`
		Usage json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream sent a Response that is not valid JSON", Cause: err}
	}
	r := &provider.Response{ID: w.ID, Model: w.Model, StopReason: provider.StopEndTurn}
	for _, it := range w.Output {
		switch it.Type {
		case "message":
			for _, c := range it.Content {
				if t := c.Text + c.Refusal; t != "" {
					r.Content = append(r.Content, provider.Part{Type: provider.PartText, Text: t})
				}
			}
		case "function_call":
			r.Content = append(r.Content, provider.Part{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{
				ID: it.CallID, Name: it.Name, Arguments: argumentsObject(json.RawMessage(it.Arguments))}})
			r.StopReason = provider.StopToolUse
		case "reasoning":
			for _, s := range it.Summary {
				r.Content = append(r.Content, provider.Part{Type: provider.PartThinking, Text: s.Text})
			}
		}
	}
	if w.Status == "incomplete" {
		r.StopReason = provider.StopMaxTokens
		if w.IncompleteDetails != nil && w.IncompleteDetails.Reason == "content_filter" {
			r.StopReason = provider.StopContentFilter
		}
	}
	r.Usage, _ = decodeUsage(w.Usage)
	return r, nil
}
