package openai

import (
	"crypto/rand"
	"github.com/llmgate/llmgate/internal/jsonw"
	"strconv"
	"strings"

	"github.com/llmgate/llmgate/internal/provider"
)

// EncodeResponse renders resp as a chat.completion object with one choice.
// Text parts are joined into message.content (null when the response holds
// only tool calls); thinking goes into the non-standard reasoning_content
// that DeepSeek-style clients read and the SDKs ignore.
func (c Client) EncodeResponse(resp *provider.Response) ([]byte, error) {
	var text, thinking strings.Builder
	var toolCalls []*provider.ToolCall
	for i := range resp.Content {
		p := &resp.Content[i]
		switch p.Type {
		case provider.PartText:
			text.WriteString(p.Text)
		case provider.PartThinking:
			thinking.WriteString(p.Text)
		case provider.PartToolCall:
			if p.ToolCall != nil {
				toolCalls = append(toolCalls, p.ToolCall)
			}
		}
	}
	b := make([]byte, 0, 256+text.Len()+thinking.Len())
	b = append(b, `{"id":`...)
	b = jsonw.AppendString(b, completionID(resp.ID))
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, c.now().Unix(), 10)
	b = append(b, `,"model":`...)
	b = jsonw.AppendString(b, resp.Model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if text.Len() == 0 && len(toolCalls) > 0 {
		b = append(b, "null"...)
	} else {
		b = jsonw.AppendString(b, text.String())
	}
	b = append(b, `,"refusal":null`...)
	if thinking.Len() > 0 {
		b = append(b, `,"reasoning_content":`...)
		b = jsonw.AppendString(b, thinking.String())
	}
	if len(toolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, tc := range toolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendToolCall(b, tc, i)
		}
		b = append(b, ']')
	}
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = jsonw.AppendString(b, finishReason(resp.StopReason, len(toolCalls) > 0))
	b = append(b, `}],"usage":`...)
	b = appendUsage(b, resp.Usage)
	return append(b, '}'), nil
}

// appendToolCall appends a complete tool call of a chat.completion message.
func appendToolCall(b []byte, tc *provider.ToolCall, i int) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.AppendString(b, toolCallID(tc.ID, i))
	b = append(b, `,"type":"function","function":{"name":`...)
	b = jsonw.AppendString(b, tc.Name)
	b = append(b, `,"arguments":`...)
	args := string(tc.Arguments)
	if len(args) == 0 {
		args = "{}"
	}
	b = jsonw.AppendString(b, args)
	return append(b, "}}"...)
}

// completionID gives an upstream id the chatcmpl- prefix OpenAI clients
// expect, or makes one up when there is none.
func completionID(id string) string {
	switch {
	case id == "":
		return "chatcmpl-" + rand.Text()
	case strings.HasPrefix(id, "chatcmpl-"):
		return id
	}
	return "chatcmpl-" + id
}

// toolCallID keeps a tool call's id, or makes one up for upstreams that
// send none (Gemini).
func toolCallID(id string, i int) string {
	if id != "" {
		return id
	}
	return "call_" + strconv.Itoa(i) + "_" + rand.Text()
}
