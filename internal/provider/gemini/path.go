package gemini

import "strings"

// The model actions of the Gemini API, as they appear after the colon in
// /v1beta/models/{model}:{action}.
const (
	ActionGenerateContent       = "generateContent"
	ActionStreamGenerateContent = "streamGenerateContent"
	ActionCountTokens           = "countTokens"
	ActionEmbedContent          = "embedContent"
	ActionBatchEmbedContents    = "batchEmbedContents"
)

// ParseModelAction splits the last path segment of a Gemini model call,
// "gemini-2.5-flash:streamGenerateContent", into the model and the action. A
// leading "models/" is accepted and removed. ok is false when either part is
// missing, the action is not a plain identifier, or the model contains a
// slash, a colon, a space or a control character.
func ParseModelAction(s string) (model, action string, ok bool) {
	s = strings.TrimPrefix(s, "models/")
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	model, action = s[:i], s[i+1:]
	for j := 0; j < len(action); j++ {
		c := action[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", "", false
		}
	}
	for j := 0; j < len(model); j++ {
		c := model[j]
		if c <= ' ' || c == 0x7f || c == '/' || c == ':' {
			return "", "", false
		}
	}
	return model, action, true
}
