package openai

import (
	"net/http"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

var _ provider.ResponseChecker = Passthrough{}

// CheckResponse checks that a complete 2xx body is the answer op asks
// for: a chat completion has a non-empty "choices" array, an embeddings
// list a "data" array, a Responses API object an "output" array. An "error"
// object sent with 200 is returned as that error. It scans the top level
// once and decodes nothing else.
func (Passthrough) CheckResponse(op provider.Op, body []byte) error {
	var member, what string
	switch op {
	case provider.OpChat:
		member, what = "choices", "chat completion"
	case provider.OpEmbeddings:
		member, what = "data", "embeddings list"
	case provider.OpResponses:
		member, what = "output", "response"
	default:
		return nil
	}
	vals, err := jsonscan.Fields(body, member, "error")
	if err != nil {
		return notA(what, "it is not a JSON object", err)
	}
	if hasValue(vals[1]) {
		return streamError(body)
	}
	v := vals[0]
	switch {
	case v == nil:
		return notA(what, "it has no "+member, nil)
	case !provider.IsJSONArray(v):
		return notA(what, member+" is not an array", nil)
	case op == provider.OpChat && isEmptyArray(v):
		return notA(what, "choices is empty", nil)
	}
	return nil
}

func notA(what, why string, cause error) *provider.Error {
	return &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
		Message: "upstream sent an answer that is not an OpenAI " + what + ": " + why, Cause: cause}
}
