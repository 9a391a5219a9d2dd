package gemini

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// Whatever the model name, a URL that NewHTTPRequest builds stays inside
// /v1beta/models/ (or tunedModels/): no segment a server would resolve
// (".", "..", an encoded slash) gets through.
func FuzzModelPath(f *testing.F) {
	for _, s := range []string{"gemini-2.5-flash", "models/x", "tunedModels/t", "echo/../../steal", "a%2F..%2Fb", "..", "x:countTokens", "a\x00b", "models/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, model string) {
		r, err := (&Upstream{}).NewHTTPRequest(context.Background(), &provider.Target{
			Endpoint: provider.Endpoint{BaseURL: "http://up.test"}, Op: provider.OpChat, Model: model})
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadRequest && model != "" {
				t.Fatalf("model %q: err = %v, want a bad-request *provider.Error", model, err)
			}
			return
		}
		p := r.URL.EscapedPath()
		if strings.Contains(strings.ToLower(p), "%2f") || strings.Contains(strings.ToLower(p), "%2e") {
			t.Fatalf("model %q: path %q carries an encoded separator", model, p)
		}
		if path.Clean(r.URL.Path) != r.URL.Path {
			t.Fatalf("model %q: path %q has segments a server would resolve", model, r.URL.Path)
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/models/")
		if !ok {
			rest, ok = strings.CutPrefix(r.URL.Path, "/v1beta/tunedModels/")
		}
		if !ok || strings.Contains(rest, "/") || strings.Count(rest, ":") != 1 {
			t.Fatalf("model %q: path %q leaves /v1beta/models/{model}:{action}", model, r.URL.Path)
		}
	})
}

func FuzzCheckResponse(f *testing.F) {
	for _, s := range []string{`{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}`, `{"promptFeedback":{"blockReason":"SAFETY"}}`,
		`{"choices":[]}`, `{"candidates":"x"}`, `{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED"}}`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := Passthrough{}.CheckResponse(provider.OpChat, body)
		if err == nil && !strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
			t.Fatalf("accepted a body that is not an object: %q", body)
		}
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *provider.Error", err)
			}
		}
	})
}
