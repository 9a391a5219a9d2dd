package mock_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llmgate/llmgate/internal/mock"
)

func chatParams(msgs ...openai.ChatCompletionMessageParamUnion) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs}
}

var weatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name: "lookup_weather", Parameters: shared.FunctionParameters(weatherSchema)})

var otherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name: "other", Parameters: shared.FunctionParameters{"type": "object"}})

func TestOpenAIChat(t *testing.T) {
	m, srv := start(t, mock.Options{})
	client := openaiClient(srv)
	ctx := context.Background()

	t.Run("text", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, chatParams(openai.SystemMessage("Be brief."), openai.UserMessage(prompt)))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != wantReply {
			t.Errorf("content = %q, want %q", got, wantReply)
		}
		if resp.Choices[0].FinishReason != "stop" || resp.Model != "gpt-4o-mini" || resp.Object != "chat.completion" {
			t.Errorf("finish %q model %q object %q", resp.Choices[0].FinishReason, resp.Model, resp.Object)
		}
		u := resp.Usage
		if u.PromptTokens != tokens("Be brief.", prompt) || u.CompletionTokens != words(wantReply) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage = %+v, want prompt %d completion %d", u, tokens("Be brief.", prompt), words(wantReply))
		}
	})

	t.Run("stream with usage", func(t *testing.T) {
		params := chatParams(openai.UserMessage(prompt))
		params.StreamOptions.IncludeUsage = openai.Bool(true)
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != wantReply {
			t.Errorf("content = %q, want %q", got, wantReply)
		}
		// role chunk + one per word + finish chunk + usage chunk
		if want := int(words(wantReply)) + 3; chunks != want {
			t.Errorf("chunks = %d, want %d", chunks, want)
		}
		if acc.Usage.PromptTokens != tokens(prompt) || acc.Usage.CompletionTokens != words(wantReply) {
			t.Errorf("usage = %+v", acc.Usage)
		}
		if acc.Choices[0].FinishReason != "stop" {
			t.Errorf("finish = %q", acc.Choices[0].FinishReason)
		}
	})

	t.Run("stream without usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, chatParams(openai.UserMessage(prompt)))
		for stream.Next() {
			if c := stream.Current(); c.JSON.Usage.Valid() || c.Usage.TotalTokens != 0 {
				t.Errorf("chunk carries usage without include_usage: %s", c.RawJSON())
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("tool call", func(t *testing.T) {
		params := chatParams(openai.UserMessage("weather in Lisbon?"))
		params.Tools = []openai.ChatCompletionToolUnionParam{weatherTool, otherTool}
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		msg := resp.Choices[0].Message
		if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "lookup_weather" || msg.ToolCalls[0].Function.Arguments != wantArgs {
			t.Fatalf("tool calls = %s", msg.RawJSON())
		}
		if resp.Choices[0].FinishReason != "tool_calls" || msg.Content != "" {
			t.Errorf("finish %q content %q", resp.Choices[0].FinishReason, msg.Content)
		}

		// The tool result goes back: the reply is text that mentions it.
		params.Messages = append(params.Messages, msg.ToParam(),
			openai.ToolMessage(`{"temp_c": 24, "sky": "clear"}`, msg.ToolCalls[0].ID))
		resp, err = client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		want := `Mock reply to tool result: {"temp_c": 24, "sky": "clear"}`
		if got := resp.Choices[0].Message.Content; got != want || len(resp.Choices[0].Message.ToolCalls) != 0 {
			t.Errorf("after tool result: %q, want %q", got, want)
		}
	})

	t.Run("named tool choice", func(t *testing.T) {
		params := chatParams(openai.UserMessage("hi"))
		params.Tools = []openai.ChatCompletionToolUnionParam{weatherTool, otherTool}
		params.ToolChoice = openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "other"})
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if tc := resp.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "other" || tc[0].Function.Arguments != "{}" {
			t.Errorf("tool calls = %+v", tc)
		}
	})

	t.Run("tool choice none", func(t *testing.T) {
		params := chatParams(openai.UserMessage(prompt))
		params.Tools = []openai.ChatCompletionToolUnionParam{weatherTool}
		params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != wantReply {
			t.Errorf("content = %q", got)
		}
	})

	t.Run("stream tool call", func(t *testing.T) {
		params := chatParams(openai.UserMessage("weather?"))
		params.Tools = []openai.ChatCompletionToolUnionParam{weatherTool}
		params.StreamOptions.IncludeUsage = openai.Bool(true)
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		fragments := 0
		for stream.Next() {
			c := stream.Current()
			acc.AddChunk(c)
			if len(c.Choices) > 0 && len(c.Choices[0].Delta.ToolCalls) > 0 && c.Choices[0].Delta.ToolCalls[0].Function.Arguments != "" {
				fragments++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		tc := acc.Choices[0].Message.ToolCalls
		if len(tc) != 1 || tc[0].Function.Name != "lookup_weather" || tc[0].Function.Arguments != wantArgs || tc[0].ID == "" {
			t.Fatalf("accumulated tool calls = %+v", tc)
		}
		if fragments < 2 {
			t.Errorf("arguments came in %d fragments, want 2 or more", fragments)
		}
		if acc.Choices[0].FinishReason != "tool_calls" || acc.Usage.CompletionTokens == 0 {
			t.Errorf("finish %q usage %+v", acc.Choices[0].FinishReason, acc.Usage)
		}
	})

	t.Run("max tokens", func(t *testing.T) {
		params := chatParams(openai.UserMessage(prompt))
		params.MaxCompletionTokens = openai.Int(3)
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Mock reply to:" || resp.Choices[0].FinishReason != "length" || resp.Usage.CompletionTokens != 3 {
			t.Errorf("content %q finish %q usage %+v", got, resp.Choices[0].FinishReason, resp.Usage)
		}
	})

	t.Run("headers", func(t *testing.T) {
		var raw *http.Response
		_, err := client.Chat.Completions.New(ctx, chatParams(openai.UserMessage(prompt)), oaoption.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"X-Request-Id", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests",
			"X-Ratelimit-Reset-Requests", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"} {
			if raw.Header.Get(h) == "" {
				t.Errorf("header %s missing", h)
			}
		}
		if ct := raw.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
	})

	if m.Count() == 0 {
		t.Error("Count() = 0 after requests")
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	_, srv := start(t, mock.Options{})
	client := openaiClient(srv)
	ctx := context.Background()

	resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta gamma", "alpha"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 3 || len(resp.Data[0].Embedding) != 1536 {
		t.Fatalf("got %d embeddings of %d dims", len(resp.Data), len(resp.Data[0].Embedding))
	}
	a, b, a2 := resp.Data[0].Embedding, resp.Data[1].Embedding, resp.Data[2].Embedding
	var norm float64
	for i := range a {
		if a[i] != a2[i] {
			t.Fatal("the same input gave different vectors")
		}
		norm += a[i] * a[i]
	}
	if math.Abs(norm-1) > 1e-3 {
		t.Errorf("|v|² = %v, want 1", norm)
	}
	if a[0] == b[0] && a[1] == b[1] {
		t.Error("different inputs gave the same vector")
	}
	if resp.Usage.PromptTokens != tokens("alpha")+tokens("beta gamma")+tokens("alpha") {
		t.Errorf("usage = %+v", resp.Usage)
	}

	// base64 (what the Python and Node SDKs ask for by default) decodes to
	// the same float32 values.
	body := `{"model":"text-embedding-3-small","input":"alpha","encoding_format":"base64","dimensions":64}`
	hresp, err := srv.Client().Post(srv.URL+"/v1/embeddings", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.NewDecoder(hresp.Body).Decode(&b64); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 64*4 {
		t.Fatalf("base64 embedding: %d bytes, %v", len(raw), err)
	}
	floats, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("alpha")}, Dimensions: openai.Int(64)})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range floats.Data[0].Embedding {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != float32(f) {
			t.Fatalf("dim %d: base64 %v, float %v", i, got, f)
		}
	}
}

func TestOpenAIModels(t *testing.T) {
	_, srv := start(t, mock.Options{Model: "my-model"})
	client := openaiClient(srv)
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.OwnedBy == "" || m.Created == 0 {
			t.Errorf("model %+v", m)
		}
	}
	if !strings.Contains(strings.Join(ids, ","), "gpt-4o-mini") || ids[len(ids)-1] != "my-model" {
		t.Errorf("ids = %v", ids)
	}
	one, err := client.Models.Get(context.Background(), "gpt-x")
	if err != nil || one.ID != "gpt-x" {
		t.Errorf("Get = %+v, %v", one, err)
	}
}

func TestOpenAIResponses(t *testing.T) {
	_, srv := start(t, mock.Options{})
	client := openaiClient(srv)
	ctx := context.Background()

	t.Run("text", func(t *testing.T) {
		resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o-mini", Instructions: openai.String("Be brief."),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.OutputText(); got != wantReply {
			t.Errorf("OutputText = %q", got)
		}
		if resp.Status != "completed" || resp.Usage.InputTokens != tokens("Be brief.", prompt) || resp.Usage.OutputTokens != words(wantReply) {
			t.Errorf("status %q usage %+v", resp.Status, resp.Usage)
		}
	})

	t.Run("tool call", func(t *testing.T) {
		resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-4o-mini",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather?")},
			Tools: []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "lookup_weather", Parameters: weatherSchema}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Output) != 1 || resp.Output[0].Type != "function_call" || resp.Output[0].Name != "lookup_weather" || resp.Output[0].Arguments.OfString != wantArgs {
			t.Errorf("output = %s", resp.RawJSON())
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "gpt-4o-mini", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)},
		})
		var text strings.Builder
		var final responses.Response
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				final = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != wantReply || final.OutputText() != wantReply || final.Usage.OutputTokens != words(wantReply) {
			t.Errorf("streamed %q, final %q, usage %+v", text.String(), final.OutputText(), final.Usage)
		}
	})
}

// postJSON posts body to the mock and returns status and body.
func postJSON(t *testing.T, url, body string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}
