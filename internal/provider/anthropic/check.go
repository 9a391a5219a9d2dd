package anthropic

import (
	"net/http"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

var _ provider.ResponseChecker = Passthrough{}

// CheckResponse checks that a complete 2xx body is the answer op asks
// for: a message has a "content" array, a count_tokens answer a numeric
// "input_tokens". A body of type "error" sent with 200 is returned as that
// error. It scans the top level once and decodes nothing else.
func (Passthrough) CheckResponse(op provider.Op, body []byte) error {
	var member, what string
	switch op {
	case provider.OpChat:
		member, what = "content", "message"
	case provider.OpCountTokens:
		member, what = "input_tokens", "token count"
	default:
		return nil
	}
	vals, err := jsonscan.Fields(body, member, "type")
	if err != nil {
		return notA(what, "it is not a JSON object", err)
	}
	if t, _ := jsonscan.String(vals[1]); t == "error" {
		return decodeErrorBody(http.StatusOK, body)
	}
	v := vals[0]
	switch {
	case v == nil:
		return notA(what, "it has no "+member, nil)
	case op == provider.OpChat && !provider.IsJSONArray(v):
		return notA(what, "content is not an array", nil)
	case op == provider.OpCountTokens && !provider.IsJSONNumber(v):
		return notA(what, "input_tokens is not a number", nil)
	}
	return nil
}

func notA(what, why string, cause error) *provider.Error {
	return &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatAnthropic, UpstreamStatus: http.StatusOK,
		Message: "upstream sent an answer that is not an Anthropic " + what + ": " + why, Cause: cause}
}
