package mock_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"

	"github.com/llmgate/llmgate/internal/mock"
)

func messageParams(msgs ...anthropic.MessageParam) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: msgs}
}

var anWeatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "lookup_weather",
	InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherSchema["properties"],
		Required: []string{"city", "days", "units", "verbose"}}}}

func TestAnthropicMessages(t *testing.T) {
	_, srv := start(t, mock.Options{})
	client := anthropicClient(srv)
	ctx := context.Background()

	t.Run("text", func(t *testing.T) {
		params := messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt)))
		params.System = []anthropic.TextBlockParam{{Text: "Be brief."}}
		var raw *http.Response
		msg, err := client.Messages.New(ctx, params, anoption.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != wantReply {
			t.Fatalf("content = %s", msg.RawJSON())
		}
		if msg.StopReason != anthropic.StopReasonEndTurn || msg.Model != "claude-sonnet-4-5" || msg.Type != "message" || msg.Role != "assistant" {
			t.Errorf("stop %q model %q", msg.StopReason, msg.Model)
		}
		if msg.Usage.InputTokens != tokens("Be brief.", prompt) || msg.Usage.OutputTokens != words(wantReply) {
			t.Errorf("usage = %+v", msg.Usage)
		}
		if raw.Header.Get("request-id") == "" {
			t.Error("no request-id header")
		}
		for _, h := range []string{"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"} {
			if _, err := time.Parse(time.RFC3339, raw.Header.Get(h)); err != nil {
				t.Errorf("%s: %v", h, err)
			}
		}
		for _, h := range []string{"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
			"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining"} {
			if raw.Header.Get(h) == "" {
				t.Errorf("header %s missing", h)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))))
		var msg anthropic.Message
		var types []string
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			if err := msg.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != wantReply {
			t.Fatalf("content = %s", msg.RawJSON())
		}
		if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens != tokens(prompt) || msg.Usage.OutputTokens != words(wantReply) {
			t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
		}
		if types[0] != "message_start" || types[1] != "content_block_start" || types[len(types)-2] != "message_delta" || types[len(types)-1] != "message_stop" {
			t.Errorf("event order = %v", types)
		}
	})

	t.Run("tool use", func(t *testing.T) {
		params := messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock("weather?")))
		params.Tools = []anthropic.ToolUnionParam{anWeatherTool}
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" || msg.Content[0].Name != "lookup_weather" || !jsonEqual(msg.Content[0].Input, wantArgs) {
			t.Fatalf("content = %s", msg.RawJSON())
		}
		if msg.StopReason != anthropic.StopReasonToolUse {
			t.Errorf("stop = %q", msg.StopReason)
		}

		params.Messages = append(params.Messages, msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[0].ID, "sunny and 24", false)))
		msg, err = client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Mock reply to tool result: sunny and 24"; len(msg.Content) != 1 || msg.Content[0].Text != want {
			t.Errorf("after tool result: %s", msg.RawJSON())
		}
	})

	t.Run("stream tool use", func(t *testing.T) {
		params := messageParams(anthropic.NewUserMessage(anthropic.NewTextBlock("weather?")))
		params.Tools = []anthropic.ToolUnionParam{anWeatherTool}
		params.ToolChoice = anthropic.ToolChoiceParamOfTool("lookup_weather")
		stream := client.Messages.NewStreaming(ctx, params)
		var msg anthropic.Message
		fragments := 0
		for stream.Next() {
			ev := stream.Current()
			if ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" && ev.Delta.PartialJSON != "" {
				fragments++
			}
			if err := msg.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Name != "lookup_weather" || !jsonEqual(msg.Content[0].Input, wantArgs) {
			t.Fatalf("content = %s", msg.RawJSON())
		}
		if fragments < 2 || msg.StopReason != anthropic.StopReasonToolUse {
			t.Errorf("%d input_json_delta fragments, stop %q", fragments, msg.StopReason)
		}
	})

	t.Run("count tokens", func(t *testing.T) {
		n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-sonnet-4-5",
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}})
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens != tokens(prompt) {
			t.Errorf("input_tokens = %d, want %d", n.InputTokens, tokens(prompt))
		}
	})

	t.Run("models", func(t *testing.T) {
		pager := client.Models.ListAutoPaging(ctx, anthropic.ModelListParams{})
		var ids []string
		for pager.Next() {
			ids = append(ids, pager.Current().ID)
		}
		if err := pager.Err(); err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 || ids[0] != "claude-sonnet-4-5" {
			t.Errorf("ids = %v", ids)
		}
	})
}

// jsonEqual reports whether raw and want hold the same JSON value.
func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
