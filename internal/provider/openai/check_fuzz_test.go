package openai

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// CheckResponse never panics, errors are *provider.Error, and a valid JSON
// body it accepts as a chat completion has a non-empty choices array.
func FuzzCheckResponse(f *testing.F) {
	for _, s := range []string{`{"choices":[{"message":{"content":"hi"}}]}`, `{"choices":"x"}`, `{"choices":[ ]}`,
		`{"error":{"message":"x","type":"rate_limit_error"}}`, `{"data":[]}`, `{"output":[]}`, `nope`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range []provider.Op{provider.OpChat, provider.OpEmbeddings, provider.OpResponses} {
			err := Passthrough{}.CheckResponse(op, body)
			if err != nil {
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a *provider.Error", err)
				}
				continue
			}
			if op != provider.OpChat || !json.Valid(body) {
				continue
			}
			var v struct{ Choices []json.RawMessage }
			if json.Unmarshal(body, &v) != nil || len(v.Choices) == 0 {
				t.Fatalf("accepted %q as a chat completion", body)
			}
		}
	})
}
