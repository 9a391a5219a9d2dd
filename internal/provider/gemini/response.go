package gemini

import (
	"encoding/json"

	"github.com/llmgate/llmgate/internal/provider"
)

// EncodeResponse renders a complete generateContent response: one candidate
// with role "model", text, thought and functionCall parts, the finish reason
// and usageMetadata.
func (Client) EncodeResponse(resp *provider.Response) ([]byte, error) {
	w := generateContentResponse{
		Candidates: []candidate{{
			Content:      &content{Role: "model", Parts: responseParts(resp.Content)},
			FinishReason: finishReason(resp.StopReason),
		}},
		UsageMetadata: usageToWire(resp.Usage),
		ModelVersion:  resp.Model,
		ResponseID:    resp.ID,
	}
	return marshal(&w)
}

func responseParts(in []provider.Part) []part {
	out := make([]part, 0, len(in))
	for i := range in {
		p := &in[i]
		switch p.Type {
		case provider.PartText:
			if p.Text != "" {
				out = append(out, part{Text: p.Text, ThoughtSignature: signature(p.Signature)})
			}
		case provider.PartThinking:
			if p.Text != "" || signature(p.Signature) != "" {
				out = append(out, part{Text: p.Text, Thought: true, ThoughtSignature: signature(p.Signature)})
			}
		case provider.PartToolCall:
			if p.ToolCall == nil {
				continue
			}
			out = append(out, part{
				FunctionCall:     &functionCall{ID: p.ToolCall.ID, Name: p.ToolCall.Name, Args: validObject(p.ToolCall.Arguments)},
				ThoughtSignature: signature(p.Signature),
			})
		}
	}
	return out
}

// validObject returns raw when it is a valid JSON object, else {}: a
// client's SDK must never receive a body it cannot parse.
func validObject(raw json.RawMessage) json.RawMessage {
	raw = objectOrEmpty(raw)
	if len(raw) > 2 && !json.Valid(raw) {
		return json.RawMessage("{}")
	}
	return raw
}

// signature returns s when it can be a Gemini thoughtSignature (standard
// base64, which go-genai decodes into []byte), else "". Anthropic thinking
// signatures are base64 too and survive a round trip through a Gemini client;
// anything else would make the client fail to parse the whole response.
func signature(s string) string {
	if len(s) == 0 || len(s)%4 != 0 {
		return ""
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			if i < len(s)-2 {
				return ""
			}
			pad++
		case pad > 0:
			return ""
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		default:
			return ""
		}
	}
	return s
}

// finishReason maps a canonical stop reason to Gemini's. Gemini has no tool
// call reason: a function call ends with STOP.
func finishReason(r provider.StopReason) string {
	switch r {
	case provider.StopMaxTokens:
		return "MAX_TOKENS"
	case provider.StopContentFilter:
		return "SAFETY"
	}
	return "STOP"
}

// usageToWire renders usage as usageMetadata: candidatesTokenCount
// excludes thoughts, which Gemini counts apart.
func usageToWire(u provider.Usage) *usageMetadata {
	cand := u.OutputTokens - u.ReasoningTokens
	if cand < 0 {
		cand = 0
	}
	return &usageMetadata{
		PromptTokenCount:        u.InputTokens,
		CandidatesTokenCount:    cand,
		TotalTokenCount:         u.InputTokens + u.OutputTokens,
		CachedContentTokenCount: u.CachedTokens,
		ThoughtsTokenCount:      u.ReasoningTokens,
	}
}

// usageFromWire reads usageMetadata: input includes tool-use prompt tokens,
// output includes thoughts.
func usageFromWire(m *usageMetadata) provider.Usage {
	if m == nil {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:     m.PromptTokenCount + m.ToolUsePromptTokenCount,
		OutputTokens:    m.CandidatesTokenCount + m.ThoughtsTokenCount,
		CachedTokens:    m.CachedContentTokenCount,
		ReasoningTokens: m.ThoughtsTokenCount,
	}
}

// EncodeCountTokens renders a countTokens response.
func (Client) EncodeCountTokens(totalTokens int) []byte {
	b := appendIntField(append(make([]byte, 0, 32), '{'), "totalTokens", totalTokens, true)
	return append(b, '}')
}
