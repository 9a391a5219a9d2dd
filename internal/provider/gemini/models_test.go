package gemini

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/genai"
)

// The go-genai SDK lists models from EncodeModelList's output.
func TestSDKListModels(t *testing.T) {
	for _, k := range []string{"GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL"} {
		t.Setenv(k, "")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1beta/models" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(EncodeModelList([]ModelInfo{
			{ID: "gemini-2.5-flash", DisplayName: "Gemini 2.5 Flash", InputTokenLimit: 1048576, OutputTokenLimit: 65536},
			{ID: "gpt-4o"},
		}))
	}))
	defer srv.Close()
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "k", Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := client.Models.List(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("%d models", len(page.Items))
	}
	m := page.Items[0]
	if m.Name != "models/gemini-2.5-flash" || m.DisplayName != "Gemini 2.5 Flash" || m.InputTokenLimit != 1048576 ||
		len(m.SupportedActions) == 0 {
		t.Errorf("model %+v", m)
	}
	if page.Items[1].Name != "models/gpt-4o" || page.Items[1].DisplayName != "gpt-4o" {
		t.Errorf("model %+v", page.Items[1])
	}
}
