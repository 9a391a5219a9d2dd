package mock_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/mock"
)

var gmWeatherTool = &genai.Tool{FunctionDeclarations: []*genai.FunctionDeclaration{{
	Name: "lookup_weather", ParametersJsonSchema: weatherSchema}}}

func TestGemini(t *testing.T) {
	_, srv := start(t, mock.Options{})
	client := geminiClient(t, srv)
	ctx := context.Background()
	const model = "gemini-2.5-flash"

	t.Run("text", func(t *testing.T) {
		resp, err := client.Models.GenerateContent(ctx, model, genai.Text(prompt),
			&genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser)})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Text(); got != wantReply {
			t.Errorf("text = %q", got)
		}
		u := resp.UsageMetadata
		if int64(u.PromptTokenCount) != tokens("Be brief.", prompt) || int64(u.CandidatesTokenCount) != words(wantReply) ||
			u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
			t.Errorf("usage = %+v", u)
		}
		if resp.Candidates[0].FinishReason != genai.FinishReasonStop || resp.ModelVersion != model {
			t.Errorf("finish %q model %q", resp.Candidates[0].FinishReason, resp.ModelVersion)
		}
	})

	t.Run("stream", func(t *testing.T) {
		var text strings.Builder
		var last *genai.GenerateContentResponse
		chunks := 0
		for resp, err := range client.Models.GenerateContentStream(ctx, model, genai.Text(prompt), nil) {
			if err != nil {
				t.Fatal(err)
			}
			text.WriteString(resp.Text())
			last = resp
			chunks++
		}
		if text.String() != wantReply {
			t.Errorf("text = %q", text.String())
		}
		if want := int(words(wantReply)) + 1; chunks != want {
			t.Errorf("chunks = %d, want %d", chunks, want)
		}
		if last.Candidates[0].FinishReason != genai.FinishReasonStop || int64(last.UsageMetadata.CandidatesTokenCount) != words(wantReply) ||
			int64(last.UsageMetadata.PromptTokenCount) != tokens(prompt) {
			t.Errorf("last chunk: finish %q usage %+v", last.Candidates[0].FinishReason, last.UsageMetadata)
		}
	})

	t.Run("function call", func(t *testing.T) {
		cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{gmWeatherTool}}
		resp, err := client.Models.GenerateContent(ctx, model, genai.Text("weather?"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.FunctionCalls()
		if len(calls) != 1 || calls[0].Name != "lookup_weather" {
			t.Fatalf("function calls = %+v", calls)
		}
		if got, _ := json.Marshal(calls[0].Args); !jsonEqual(got, wantArgs) {
			t.Errorf("args = %s", got)
		}
		if resp.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Errorf("finish = %q", resp.Candidates[0].FinishReason)
		}

		contents := append(genai.Text("weather?"),
			genai.NewContentFromFunctionCall(calls[0].Name, calls[0].Args, genai.RoleModel),
			genai.NewContentFromFunctionResponse(calls[0].Name, map[string]any{"sky": "clear"}, genai.RoleUser))
		resp, err = client.Models.GenerateContent(ctx, model, contents, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if want := `Mock reply to tool result: {"sky":"clear"}`; resp.Text() != want || len(resp.FunctionCalls()) != 0 {
			t.Errorf("after function response: %q", resp.Text())
		}
	})

	t.Run("stream function call", func(t *testing.T) {
		cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{gmWeatherTool}}
		var calls []*genai.FunctionCall
		for resp, err := range client.Models.GenerateContentStream(ctx, model, genai.Text("weather?"), cfg) {
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, resp.FunctionCalls()...)
		}
		if len(calls) != 1 {
			t.Fatalf("calls = %+v", calls)
		}
		if got, _ := json.Marshal(calls[0].Args); !jsonEqual(got, wantArgs) {
			t.Errorf("args = %s", got)
		}
	})

	t.Run("count tokens", func(t *testing.T) {
		resp, err := client.Models.CountTokens(ctx, model, genai.Text(prompt), nil)
		if err != nil {
			t.Fatal(err)
		}
		if int64(resp.TotalTokens) != tokens(prompt) {
			t.Errorf("totalTokens = %d, want %d", resp.TotalTokens, tokens(prompt))
		}
	})

	t.Run("models", func(t *testing.T) {
		var names []string
		for m, err := range client.Models.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, m.Name)
		}
		if len(names) == 0 || names[0] != "models/gemini-2.5-flash" {
			t.Errorf("names = %v", names)
		}
	})
}
