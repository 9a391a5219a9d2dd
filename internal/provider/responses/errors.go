package responses

import (
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/openai"
)

// EncodeError renders e as the Responses API's HTTP error body, which is
// Chat Completions' {"error":{"message","type","param","code"}}: the SDKs
// read it the same way, and Codex shows error.message.
func (Client) EncodeError(e *provider.Error, requestID string) []byte {
	return openai.Client{}.EncodeError(e, requestID)
}

// StatusFor is e's HTTP status, with overload (529) sent as 503.
func (Client) StatusFor(e *provider.Error) int { return openai.Client{}.StatusFor(e) }
