package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/provider"
)

// sdkServer answers the real go-genai client with this package's Client
// codec, the way the gateway's Gemini surface will. The model name picks
// the scripted answer.
type sdkServer struct {
	t *testing.T

	mu   sync.Mutex
	reqs []*provider.Request // decoded requests, in order
}

func (s *sdkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seg := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	model, action, ok := ParseModelAction(seg)
	if !ok || r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1beta/models/") {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Header.Get("x-goog-api-key") != "test-key" {
		s.t.Errorf("x-goog-api-key %q", r.Header.Get("x-goog-api-key"))
	}
	c := Client{}
	body, _ := io.ReadAll(r.Body)
	req, err := c.DecodeRequest(body)
	if err != nil {
		e := provider.AsError(err)
		w.WriteHeader(c.StatusFor(e))
		w.Write(c.EncodeError(e, "req-1"))
		return
	}
	req.Model = model
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	if model == "missing" {
		e := &provider.Error{Kind: provider.KindNotFound, Message: "models/missing is not found"}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c.StatusFor(e))
		w.Write(c.EncodeError(e, "req-2"))
		return
	}
	switch action {
	case ActionGenerateContent:
		out, err := c.EncodeResponse(responseCases[0].resp)
		if err != nil {
			s.t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	case ActionStreamGenerateContent:
		if r.URL.Query().Get("alt") != "sse" {
			s.t.Errorf("stream without alt=sse: %s", r.URL)
		}
		req.Stream = true
		w.Header().Set("Content-Type", "text/event-stream")
		var steps []streamStep
		for _, sc := range streamCases {
			if sc.name == model {
				steps = sc.steps
			}
		}
		enc := c.NewStreamEncoder(w, req)
		for _, st := range steps {
			if st.fail != nil {
				enc.Fail(st.fail)
				return
			}
			enc.Encode(*st.ev)
		}
		enc.Close()
	default:
		http.Error(w, "unexpected action "+action, http.StatusNotFound)
	}
}

func newSDKClient(t *testing.T) (*genai.Client, *sdkServer) {
	t.Helper()
	for _, k := range []string{"GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
		"GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL"} {
		t.Setenv(k, "")
	}
	s := &sdkServer{t: t}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      "test-key",
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, s
}

func TestSDKGenerateContent(t *testing.T) {
	client, srv := newSDKClient(t)
	ctx := context.Background()
	temp := float32(0.5)
	budget := int32(2048)
	contents := []*genai.Content{
		genai.NewContentFromText("Weather in Lisbon?", genai.RoleUser),
		{Role: genai.RoleModel, Parts: []*genai.Part{{
			FunctionCall:     &genai.FunctionCall{Name: "get_weather", Args: map[string]any{"city": "Lisbon"}},
			ThoughtSignature: []byte("sig"),
		}}},
		{Role: genai.RoleUser, Parts: []*genai.Part{genai.NewPartFromFunctionResponse("get_weather", map[string]any{"temp": 24})}},
	}
	resp, err := client.Models.GenerateContent(ctx, "gemini-2.5-flash", contents, &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("Be terse.", genai.RoleUser),
		Temperature:       &temp,
		MaxOutputTokens:   256,
		StopSequences:     []string{"END"},
		ThinkingConfig:    &genai.ThinkingConfig{ThinkingBudget: &budget},
		Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
			Name:        "get_weather",
			Description: "Weather now",
			Parameters: &genai.Schema{Type: genai.TypeObject, Required: []string{"city"},
				Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}},
		}}}},
		ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}},
	})
	if err != nil {
		t.Fatal(err)
	}

	// What the SDK sent, decoded.
	srv.mu.Lock()
	req := srv.reqs[0]
	srv.mu.Unlock()
	if req.Model != "gemini-2.5-flash" || len(req.System) != 1 || req.System[0].Text != "Be terse." {
		t.Errorf("model %q system %+v", req.Model, req.System)
	}
	if *req.Temperature != 0.5 || *req.MaxTokens != 256 || req.Stop[0] != "END" || req.ReasoningEffort != "medium" {
		t.Errorf("generation config: %+v", req)
	}
	if len(req.Tools) != 1 || string(req.Tools[0].Parameters) != `{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}` {
		t.Errorf("tools %+v", req.Tools)
	}
	if req.ToolChoice == nil || req.ToolChoice.Mode != provider.ToolChoiceRequired {
		t.Errorf("tool choice %+v", req.ToolChoice)
	}
	call, result := req.Messages[1].Parts[0], req.Messages[2].Parts[0]
	if call.ToolCall.ID == "" || call.ToolCall.ID != result.ToolResult.ToolCallID || call.Signature != "c2ln" {
		t.Errorf("call %+v (signature %q) / result %+v", call.ToolCall, call.Signature, result.ToolResult)
	}

	// What the SDK read back.
	if got := resp.Text(); got != "Checking <both> & more." {
		t.Errorf("text %q", got)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 2 || calls[0].ID != "toolu_1" || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Lisbon" {
		t.Errorf("function calls %+v", calls)
	}
	if p := resp.Candidates[0].Content.Parts[0]; !p.Thought || string(p.ThoughtSignature) != "\x12\xa4\x01\n\x46\x08\x07\x18\x02" {
		t.Errorf("thought part %+v", p)
	}
	if fr := resp.Candidates[0].FinishReason; fr != genai.FinishReasonStop {
		t.Errorf("finish reason %q", fr)
	}
	u := resp.UsageMetadata
	if u.PromptTokenCount != 100 || u.CandidatesTokenCount != 30 || u.ThoughtsTokenCount != 20 ||
		u.TotalTokenCount != 150 || u.CachedContentTokenCount != 40 {
		t.Errorf("usage %+v", u)
	}
	if resp.ModelVersion != "claude-sonnet-4-5" || resp.ResponseID != "msg_01" {
		t.Errorf("model %q id %q", resp.ModelVersion, resp.ResponseID)
	}
}

func TestSDKGenerateContentStream(t *testing.T) {
	client, _ := newSDKClient(t)
	ctx := context.Background()
	prompt := genai.Text("Hi")

	t.Run("text", func(t *testing.T) {
		var text strings.Builder
		var last *genai.GenerateContentResponse
		for chunk, err := range client.Models.GenerateContentStream(ctx, "text", prompt, nil) {
			if err != nil {
				t.Fatal(err)
			}
			text.WriteString(chunk.Text())
			last = chunk
		}
		if text.String() != "Hello \"world\"\n" {
			t.Errorf("text %q", text.String())
		}
		if last.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Errorf("finish reason %q", last.Candidates[0].FinishReason)
		}
		if u := last.UsageMetadata; u.PromptTokenCount != 12 || u.CandidatesTokenCount != 5 || u.TotalTokenCount != 17 {
			t.Errorf("usage %+v", u)
		}
	})

	t.Run("tool calls", func(t *testing.T) {
		var calls []*genai.FunctionCall
		var sigs []string
		var thoughts int
		var last *genai.GenerateContentResponse
		for chunk, err := range client.Models.GenerateContentStream(ctx, "tool_calls", prompt, nil) {
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range chunk.Candidates[0].Content.Parts {
				if p.FunctionCall != nil {
					calls = append(calls, p.FunctionCall)
					sigs = append(sigs, string(p.ThoughtSignature))
				}
				if p.Thought {
					thoughts++
				}
			}
			last = chunk
		}
		if len(calls) != 2 || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Lisbon" || calls[1].Name != "get_time" {
			t.Fatalf("calls %+v", calls)
		}
		if sigs[0] != "" || sigs[1] != "sig" {
			t.Errorf("signatures %q", sigs)
		}
		if thoughts != 2 {
			t.Errorf("%d thought parts, want 2", thoughts)
		}
		if u := last.UsageMetadata; u.PromptTokenCount != 30 || u.CandidatesTokenCount != 25 || u.ThoughtsTokenCount != 15 || u.TotalTokenCount != 70 {
			t.Errorf("usage %+v", u)
		}
	})

	t.Run("failure mid-stream", func(t *testing.T) {
		var text string
		var streamErr error
		for chunk, err := range client.Models.GenerateContentStream(ctx, "fail", prompt, nil) {
			if err != nil {
				streamErr = err
				break
			}
			text += chunk.Text()
		}
		if text != "partial" {
			t.Errorf("text before the error %q", text)
		}
		var apiErr genai.APIError
		if !errors.As(streamErr, &apiErr) {
			t.Fatalf("got %v, want a genai.APIError", streamErr)
		}
		if apiErr.Code != 503 || apiErr.Status != "UNAVAILABLE" || !strings.Contains(apiErr.Message, "overloaded") {
			t.Errorf("APIError %+v", apiErr)
		}
	})

	t.Run("error status", func(t *testing.T) {
		_, err := client.Models.GenerateContent(ctx, "missing", prompt, nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 404 || apiErr.Status != "NOT_FOUND" {
			t.Fatalf("got %v", err)
		}
	})
}
