package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// clearOpenAIEnv keeps the developer's OPENAI_* variables out of the SDK.
func clearOpenAIEnv(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ADMIN_KEY", "OPENAI_ORG_ID",
		"OPENAI_PROJECT_ID", "OPENAI_WEBHOOK_SECRET", "OPENAI_CUSTOM_HEADERS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// serveEvents answers every chat completions request with events encoded by
// the package's stream encoder, ended by Close or, with fail set, by Fail.
func serveEvents(t *testing.T, evs []provider.Event, fail *provider.Error) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer x" {
			t.Errorf("SDK sent %s %s with auth %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the SDK's request: %v", err)
			return
		}
		req, err := Client{}.DecodeRequest(body)
		if err != nil {
			t.Errorf("decoding the SDK's request: %v", err)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		enc := Client{}.NewStreamEncoder(w, req)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				t.Error(err)
			}
			w.(http.Flusher).Flush()
		}
		if fail != nil {
			err = enc.Fail(fail)
		} else {
			err = enc.Close()
		}
		if err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSDKAccumulatesEncodedStream reads the encoder's output with the
// official openai-go SDK and its ChatCompletionAccumulator.
func TestSDKAccumulatesEncodedStream(t *testing.T) {
	clearOpenAIEnv(t)
	tests := []struct {
		name         string
		events       []provider.Event
		includeUsage bool
		wantContent  string
		wantTools    []sdk.FinishedChatCompletionToolCall
		wantFinish   string
		wantUsage    int64 // total tokens; 0 when not asked
	}{
		{"text with usage", textEvents, true, "Clear skies, high of 24 °C.\n", nil, "stop", 72},
		{"text without usage", textEvents, false, "Clear skies, high of 24 °C.\n", nil, "stop", 0},
		{"parallel tool calls with usage", toolEvents, true, "Checking.", []sdk.FinishedChatCompletionToolCall{
			{Index: 0, ID: "call_A", ChatCompletionMessageFunctionToolCallFunction: sdk.ChatCompletionMessageFunctionToolCallFunction{Name: "lookup_forecast", Arguments: `{"city":"Lisbon"}`}},
			{Index: 1, ID: "call_B", ChatCompletionMessageFunctionToolCallFunction: sdk.ChatCompletionMessageFunctionToolCallFunction{Name: "lookup_forecast", Arguments: `{"city":"Porto"}`}},
		}, "tool_calls", 110},
		{"nothing but Close", nil, true, "", nil, "stop", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serveEvents(t, tt.events, nil)
			client := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("x"), option.WithMaxRetries(0))
			params := sdk.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("Weather in Lisbon?")},
			}
			if tt.includeUsage {
				params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
			}
			stream := client.Chat.Completions.NewStreaming(context.Background(), params)
			var acc sdk.ChatCompletionAccumulator
			var finished []sdk.FinishedChatCompletionToolCall
			chunks := 0
			for stream.Next() {
				chunks++
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("the accumulator rejected chunk %d: %s", chunks, stream.Current().RawJSON())
				}
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finished = append(finished, tc)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream error: %v", err)
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("got %d choices, want 1", len(acc.Choices))
			}
			msg := acc.Choices[0].Message
			if msg.Content != tt.wantContent || string(msg.Role) != "assistant" {
				t.Errorf("message = %q (role %q), want %q", msg.Content, msg.Role, tt.wantContent)
			}
			if acc.Choices[0].FinishReason != tt.wantFinish {
				t.Errorf("finish_reason = %q, want %q", acc.Choices[0].FinishReason, tt.wantFinish)
			}
			if len(msg.ToolCalls) != len(tt.wantTools) {
				t.Fatalf("tool calls = %+v, want %d", msg.ToolCalls, len(tt.wantTools))
			}
			for i, w := range tt.wantTools {
				got := msg.ToolCalls[i]
				if got.ID != w.ID || got.Function.Name != w.Name || got.Function.Arguments != w.Arguments || got.Type != "function" {
					t.Errorf("tool call %d = %s %q %q, want %s %q %q", i, got.ID, got.Function.Name, got.Function.Arguments, w.ID, w.Name, w.Arguments)
				}
			}
			if len(tt.wantTools) > 0 && len(finished) == 0 {
				t.Errorf("the accumulator never reported a finished tool call")
			}
			if acc.Usage.TotalTokens != tt.wantUsage {
				t.Errorf("usage total = %d, want %d", acc.Usage.TotalTokens, tt.wantUsage)
			}
		})
	}
}

// TestSDKSeesStreamFailure checks that Fail reaches openai-go as an API error.
func TestSDKSeesStreamFailure(t *testing.T) {
	clearOpenAIEnv(t)
	srv := serveEvents(t, textEvents[:3], &provider.Error{Kind: provider.KindOverloaded, Message: "upstream overloaded"})
	client := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	stream := client.Chat.Completions.NewStreaming(context.Background(), sdk.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")},
	})
	var acc sdk.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	// openai-go reports an in-stream error as an *ssestream.StreamError
	// holding the raw event.
	var se *ssestream.StreamError
	if err := stream.Err(); !errors.As(err, &se) {
		t.Fatalf("stream error = %v (%T), want an *ssestream.StreamError", err, err)
	}
	var body struct {
		Error struct {
			Message, Type, Code string
		}
	}
	if err := json.Unmarshal(se.Event.Data, &body); err != nil {
		t.Fatalf("error event data %q: %v", se.Event.Data, err)
	}
	if e := body.Error; e.Message != "upstream overloaded" || e.Code != "overloaded" || e.Type != "server_error" {
		t.Errorf("error event = %+v", e)
	}
	if acc.Choices[0].Message.Content != "Clear skies" {
		t.Errorf("content before the failure = %q", acc.Choices[0].Message.Content)
	}
}
