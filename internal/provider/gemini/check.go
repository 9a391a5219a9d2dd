package gemini

import (
	"bytes"
	"net/http"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

var _ provider.ResponseChecker = Passthrough{}

// CheckResponse checks that a complete 2xx generateContent body has a
// non-empty "candidates" array or, for a blocked prompt, a
// "promptFeedback" object. An "error" member sent with 200 is returned as
// that error. Other operations pass (a countTokens answer for an empty
// prompt may be {}). It scans the top level once and decodes nothing else.
func (Passthrough) CheckResponse(op provider.Op, body []byte) error {
	if op != provider.OpChat {
		return nil
	}
	vals, err := jsonscan.Fields(body, "candidates", "promptFeedback", "error")
	if err != nil {
		return notAResponse("it is not a JSON object", err)
	}
	if !isNull(vals[2]) {
		return errorFromRaw(http.StatusOK, vals[2])
	}
	return checkShape(vals[0], vals[1])
}

// checkShape is CheckResponse's rule on the raw candidates and
// promptFeedback members (nil when absent).
func checkShape(candidates, feedback []byte) error {
	switch {
	case candidates != nil && !provider.IsJSONArray(candidates) && !isNull(candidates):
		return notAResponse("candidates is not an array", nil)
	case provider.IsJSONArray(candidates) && len(bytes.TrimSpace(candidates[1:len(candidates)-1])) > 0:
		return nil
	case provider.IsJSONObject(feedback):
		return nil // a blocked prompt: no candidates, the reason in promptFeedback
	}
	return notAResponse("it has no candidates and no promptFeedback", nil)
}

func notAResponse(why string, cause error) *provider.Error {
	e := badGateway("the Gemini upstream sent an answer that is not a generateContent response: "+why, cause)
	e.UpstreamStatus = http.StatusOK
	return e
}
