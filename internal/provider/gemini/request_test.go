package gemini

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func TestDecodeRequestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/decode/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := Client{}.DecodeRequest(body)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if req.Model != "" || req.Stream {
				t.Errorf("model %q, stream %v: both come from the URL, not the body", req.Model, req.Stream)
			}
			checkGolden(t, strings.TrimSuffix(in, ".json")+".golden", canonicalJSON(t, req))
		})
	}
}

// The function responses of parallel calls to one function, sent without
// ids, answer the calls in order; a later turn's response answers that
// turn's call.
func TestDecodeRequestMatchesResponsesToCalls(t *testing.T) {
	body, err := os.ReadFile("testdata/decode/parallel_calls.json")
	if err != nil {
		t.Fatal(err)
	}
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]string{} // id -> city
	var order []string
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			switch p.Type {
			case provider.PartToolCall:
				if !strings.HasPrefix(p.ToolCall.ID, "call_") {
					t.Errorf("synthesized id %q lacks the call_ prefix", p.ToolCall.ID)
				}
				calls[p.ToolCall.ID] = string(p.ToolCall.Arguments)
				order = append(order, p.ToolCall.ID)
			case provider.PartToolResult:
				if _, ok := calls[p.ToolResult.ToolCallID]; !ok {
					t.Errorf("result %q answers no call", p.ToolResult.ToolCallID)
				}
				if p.ToolResult.Name != "get_weather" {
					t.Errorf("result name %q", p.ToolResult.Name)
				}
			}
		}
	}
	if len(order) != 3 || len(calls) != 3 {
		t.Fatalf("want 3 distinct call ids, got %v", order)
	}
	results := []string{}
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if p.Type == provider.PartToolResult {
				results = append(results, p.ToolResult.ToolCallID)
			}
		}
	}
	if strings.Join(results, ",") != strings.Join(order, ",") {
		t.Errorf("results answer %v, want the calls in order %v", results, order)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		param     string
		inMessage string
	}{
		{"malformed JSON", `{"contents": [}`, "", "at byte 15"},
		{"truncated", `{"contents": [{"role":"user"`, "", "malformed JSON"},
		{"not an object", `[1,2]`, "", "must be a JSON object"},
		{"missing contents", `{"generationConfig": {}}`, "contents", "contents"},
		{"empty contents", `{"contents": []}`, "contents", "contents"},
		{"contents without usable parts", `{"contents": [{"role":"user","parts":[{"text":""}]}]}`, "contents", "no usable parts"},
		{"unknown role", `{"contents": [{"role":"system","parts":[{"text":"x"}]}]}`, "contents[0].role", `"system"`},
		{"wrong type", `{"contents": [{"parts":[{"text":"x"}]}], "generationConfig": {"maxOutputTokens": "many"}}`, "generationConfig.maxOutputTokens", "want an integer"},
		{"call without name", `{"contents": [{"role":"model","parts":[{"functionCall":{"args":{}}}]}]}`, "contents[0].parts[0].functionCall.name", "required"},
		{"declaration without name", `{"contents": [{"parts":[{"text":"x"}]}], "tools":[{"functionDeclarations":[{}]}]}`, "tools[0].functionDeclarations[0].name", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Client{}.DecodeRequest([]byte(tt.body))
			var e *provider.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a *provider.Error", err)
			}
			if e.Kind != provider.KindBadRequest {
				t.Errorf("kind %s, want bad_request", e.Kind)
			}
			if e.Param != tt.param {
				t.Errorf("param %q, want %q", e.Param, tt.param)
			}
			if !strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("message %q does not mention %q", e.Message, tt.inMessage)
			}
		})
	}
}
