package anthropic

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// CheckResponse never panics, errors are *provider.Error, and a valid JSON
// body it accepts as a message has a content array.
func FuzzCheckResponse(f *testing.F) {
	for _, s := range []string{`{"type":"message","content":[{"type":"text","text":"hi"}]}`, `{"content":"x"}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"m"}}`, `{"input_tokens":3}`, `{}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range []provider.Op{provider.OpChat, provider.OpCountTokens} {
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
			var v struct{ Content []json.RawMessage }
			if json.Unmarshal(body, &v) != nil || v.Content == nil {
				t.Fatalf("accepted %q as a message", body)
			}
		}
	})
}
