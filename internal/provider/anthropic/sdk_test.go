package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/llmgate/llmgate/internal/provider"
)

// sdkServer answers POST /v1/messages the way the gateway would: it decodes
// the SDK's request with Client, then lets respond write the answer.
func sdkServer(t *testing.T, respond func(w http.ResponseWriter, req *provider.Request)) *sdk.Client {
	t.Helper()
	for _, k := range []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE",
		"ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_WEBHOOK_SIGNING_KEY", "ANTHROPIC_FEDERATION_RULE_ID",
		"ANTHROPIC_ORGANIZATION_ID", "ANTHROPIC_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("ANTHROPIC_CONFIG_DIR", t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, err := Client{}.DecodeRequest(body)
		if err != nil {
			pe := provider.AsError(err)
			w.WriteHeader(Client{}.StatusFor(pe))
			_, _ = w.Write(Client{}.EncodeError(pe, "req_test"))
			return
		}
		respond(w, req)
	}))
	t.Cleanup(srv.Close)
	c := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("x"), option.WithMaxRetries(0))
	return &c
}

func streamResponse(events []provider.Event, fail *provider.Error) func(http.ResponseWriter, *provider.Request) {
	return func(w http.ResponseWriter, req *provider.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		enc := Client{}.NewStreamEncoder(w, req)
		for _, ev := range events {
			_ = enc.Encode(ev)
			w.(http.Flusher).Flush()
		}
		if fail != nil {
			_ = enc.Fail(fail)
			return
		}
		_ = enc.Close()
	}
}

var sdkParams = sdk.MessageNewParams{
	Model:     "claude-sonnet-4-5",
	MaxTokens: 1024,
	Messages:  []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Weather in Lisbon?"))},
}

func TestSDKStreamAccumulates(t *testing.T) {
	events := append([]provider.Event{{Type: provider.EventStart, ID: "msg_1", Model: "claude-sonnet-4-5", Usage: provider.Usage{InputTokens: 400}}},
		toolEvents[1:]...)
	events = append(events, provider.Event{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 412, CachedTokens: 100, OutputTokens: 57}})
	client := sdkServer(t, streamResponse(events, nil))

	stream := client.Messages.NewStreaming(context.Background(), sdkParams)
	defer stream.Close()
	msg := sdk.Message{}
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(msg.Content) != 3 {
		t.Fatalf("content = %d blocks, want text and two tool_use: %+v", len(msg.Content), msg.Content)
	}
	if msg.Content[0].Type != "text" || msg.Content[0].Text != "Checking the forecast." {
		t.Errorf("text block = %+v", msg.Content[0])
	}
	tu := msg.Content[1]
	var input map[string]any
	if err := json.Unmarshal(tu.Input, &input); err != nil || tu.Type != "tool_use" || tu.ID != "call_Q7pTz01" ||
		tu.Name != "lookup_forecast" || input["city"] != "Lisbon" || input["days"] != 1.0 {
		t.Errorf("tool_use = %+v input %s", tu, tu.Input)
	}
	if msg.Content[2].Name != "now" || msg.Content[2].ID == "" {
		t.Errorf("second tool_use = %+v, want a generated id", msg.Content[2])
	}
	if msg.StopReason != sdk.StopReasonToolUse {
		t.Errorf("stop_reason = %q, want tool_use", msg.StopReason)
	}
	u := msg.Usage
	if u.InputTokens != 300 || u.CacheReadInputTokens != 100 || u.CacheCreationInputTokens != 12 || u.OutputTokens != 57 {
		t.Errorf("usage = in %d cache read %d write %d out %d", u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens)
	}
	if msg.ID != "msg_1" || msg.Model != "claude-sonnet-4-5" {
		t.Errorf("id %q model %q", msg.ID, msg.Model)
	}
}

func TestSDKStreamFailure(t *testing.T) {
	client := sdkServer(t, streamResponse(textEvents[:2], &provider.Error{Kind: provider.KindOverloaded, Message: "Overloaded"}))
	stream := client.Messages.NewStreaming(context.Background(), sdkParams)
	defer stream.Close()
	msg := sdk.Message{}
	for stream.Next() {
		_ = msg.Accumulate(stream.Current())
	}
	var apiErr *sdk.Error
	if err := stream.Err(); !errors.As(err, &apiErr) {
		t.Fatalf("stream error = %v, want an *anthropic.Error", err)
	}
	if apiErr.Type() != "overloaded_error" {
		t.Errorf("error type = %q, want overloaded_error", apiErr.Type())
	}
	if msg.Content[0].Text != "Hello" {
		t.Errorf("text before the failure = %+v", msg.Content)
	}
}

func TestSDKNonStreaming(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, req *provider.Request) {
		body, err := Client{}.EncodeResponse(&provider.Response{
			ID: "chatcmpl-9", Model: req.Model, StopReason: provider.StopEndTurn,
			Content: []provider.Part{text("It is sunny."), call("call_1", "lookup_forecast", `{"city":"Lisbon"}`)},
			Usage:   provider.Usage{InputTokens: 20, CachedTokens: 5, OutputTokens: 9},
		})
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	msg, err := client.Messages.New(context.Background(), sdkParams)
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "msg_chatcmpl-9" || msg.Content[0].Text != "It is sunny." || msg.Content[1].ID != "call_1" ||
		msg.StopReason != sdk.StopReasonToolUse || msg.Usage.InputTokens != 15 || msg.Usage.CacheReadInputTokens != 5 {
		t.Errorf("message = %+v", msg)
	}
}

func TestSDKErrorResponse(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, _ *provider.Request) {
		e := &provider.Error{Kind: provider.KindOverloaded, Message: "All upstreams are overloaded."}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", "req_42")
		w.WriteHeader(Client{}.StatusFor(e))
		_, _ = w.Write(Client{}.EncodeError(e, "req_42"))
	})
	_, err := client.Messages.New(context.Background(), sdkParams)
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	if apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" || apiErr.RequestID != "req_42" {
		t.Errorf("status %d type %q request id %q", apiErr.StatusCode, apiErr.Type(), apiErr.RequestID)
	}
}

func TestSDKStreamThinking(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, req *provider.Request) {
		if req.ReasoningEffort != "low" {
			t.Errorf("thinking budget 1024 decoded as effort %q, want low", req.ReasoningEffort)
		}
		streamResponse(thinkingEvents, nil)(w, req)
	})
	params := sdkParams
	params.Thinking = sdk.ThinkingConfigParamOfEnabled(1024)
	stream := client.Messages.NewStreaming(context.Background(), params)
	defer stream.Close()
	msg := sdk.Message{}
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 3 || msg.Content[0].Thinking != "Let me think." || msg.Content[0].Signature != "sig==" ||
		msg.Content[2].Text != "Answer." || msg.StopReason != sdk.StopReasonMaxTokens {
		t.Errorf("message = %+v", msg)
	}
}
