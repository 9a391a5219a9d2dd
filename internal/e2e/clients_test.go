package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"
)

// chatResult is what a client SDK made of a reply, in common terms.
type chatResult struct {
	Text      string
	Finish    string // the client format's own stop/finish reason
	In, Out   int64  // usage
	Total     int64  // total tokens where the format reports it, else In+Out
	Header    http.Header
	ToolCalls []toolCall
	Err       error // the SDK's error, when the call failed
}

// toolCall is a tool call as the client SDK saw it.
type toolCall struct {
	ID, Name string
	Args     map[string]any
}

// chatTurn is one request a test makes: a system prompt, a user prompt,
// optionally a tool, and the options every SDK has in some shape.
type chatTurn struct {
	Model  string
	Stream bool
	System string
	Prompt string
	Tool   bool // offer the weather tool
	// NoUsage leaves stream_options.include_usage out (OpenAI streams).
	NoUsage bool
	// Retries lets the OpenAI and Anthropic SDKs retry this many times
	// (their default is 2); 0 means no retries.
	Retries int
}

// The tool every tool test offers.
const (
	toolName = "get_weather"
	toolDesc = "Current weather in a city"
)

// toolSchema is the tool's JSON schema: the mock fills required properties
// ("test" for strings, 1 for numbers).
var toolSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"city": map[string]any{"type": "string"},
		"days": map[string]any{"type": "integer"},
	},
	"required": []any{"city", "days"},
}

// wantArgs is what the mock generates from toolSchema.
var wantArgs = map[string]any{"city": "test", "days": 1.0}

// runChat sends turn with the SDK of client format f.
func runChat(t *testing.T, g *gate, f string, turn chatTurn) chatResult {
	t.Helper()
	switch f {
	case fmtOpenAI:
		return oaChat(t, g, turn, nil)
	case fmtAnthropic:
		return anChat(t, g, turn, nil)
	}
	return geChat(t, g, turn, nil)
}

// OpenAI.

func oaParams(turn chatTurn, history []openai.ChatCompletionMessageParamUnion) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{Model: turn.Model}
	if turn.System != "" {
		p.Messages = append(p.Messages, openai.SystemMessage(turn.System))
	}
	p.Messages = append(p.Messages, openai.UserMessage(turn.Prompt))
	p.Messages = append(p.Messages, history...)
	if turn.Tool {
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: toolName, Description: openai.String(toolDesc), Parameters: openai.FunctionParameters(toolSchema)})}
	}
	if turn.Stream && !turn.NoUsage {
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	return p
}

// oaChat sends turn (followed by history) with openai-go.
func oaChat(t *testing.T, g *gate, turn chatTurn, history []openai.ChatCompletionMessageParamUnion) chatResult {
	r, _ := oaChatMsg(t, g, turn, history)
	return r
}

// oaChatMsg is oaChat that also returns the assistant message as a param,
// for a follow-up turn.
func oaChatMsg(t *testing.T, g *gate, turn chatTurn, history []openai.ChatCompletionMessageParamUnion) (chatResult, openai.ChatCompletionMessageParamUnion) {
	t.Helper()
	client := g.openaiRetrying(turn.Retries)
	ctx := context.Background()
	params := oaParams(turn, history)
	var resp *http.Response
	var res chatResult
	var cc openai.ChatCompletion
	if turn.Stream {
		stream := client.Chat.Completions.NewStreaming(ctx, params, oaoption.WithResponseInto(&resp))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("the OpenAI accumulator rejected a chunk: %s", stream.Current().RawJSON())
			}
		}
		if err := stream.Err(); err != nil {
			res.Err = err
		}
		_ = stream.Close()
		cc = acc.ChatCompletion
	} else {
		out, err := client.Chat.Completions.New(ctx, params, oaoption.WithResponseInto(&resp))
		if err != nil {
			res.Err = err
		} else {
			cc = *out
		}
	}
	if resp != nil {
		res.Header = resp.Header
	}
	if len(cc.Choices) > 0 {
		c := cc.Choices[0]
		res.Text, res.Finish = c.Message.Content, c.FinishReason
		for _, tc := range c.Message.ToolCalls {
			res.ToolCalls = append(res.ToolCalls, toolCall{ID: tc.ID, Name: tc.Function.Name, Args: parseArgs(t, tc.Function.Arguments)})
		}
	}
	res.In, res.Out, res.Total = cc.Usage.PromptTokens, cc.Usage.CompletionTokens, cc.Usage.TotalTokens
	var msg openai.ChatCompletionMessageParamUnion
	if len(cc.Choices) > 0 {
		msg = cc.Choices[0].Message.ToParam()
	}
	return res, msg
}

// Anthropic.

func anParams(turn chatTurn, history []anthropic.MessageParam) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{Model: anthropic.Model(turn.Model), MaxTokens: 512,
		Messages: append([]anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(turn.Prompt))}, history...)}
	if turn.System != "" {
		p.System = []anthropic.TextBlockParam{{Text: turn.System}}
	}
	if turn.Tool {
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: toolName, Description: anthropic.String(toolDesc),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: toolSchema["properties"], Required: []string{"city", "days"}}}}}
	}
	return p
}

// anChat sends turn (followed by history) with anthropic-sdk-go.
func anChat(t *testing.T, g *gate, turn chatTurn, history []anthropic.MessageParam) chatResult {
	r, _ := anChatMsg(t, g, turn, history)
	return r
}

// anChatMsg is anChat that also returns the accumulated message.
func anChatMsg(t *testing.T, g *gate, turn chatTurn, history []anthropic.MessageParam) (chatResult, anthropic.Message) {
	t.Helper()
	client := g.anthropicRetrying(turn.Retries)
	ctx := context.Background()
	params := anParams(turn, history)
	var resp *http.Response
	var res chatResult
	var msg anthropic.Message
	if turn.Stream {
		stream := client.Messages.NewStreaming(ctx, params, anoption.WithResponseInto(&resp))
		for stream.Next() {
			if err := msg.Accumulate(stream.Current()); err != nil {
				t.Fatalf("anthropic Accumulate: %v", err)
			}
		}
		res.Err = stream.Err()
		_ = stream.Close()
	} else {
		out, err := client.Messages.New(ctx, params, anoption.WithResponseInto(&resp))
		if err != nil {
			res.Err = err
		} else {
			msg = *out
		}
	}
	if resp != nil {
		res.Header = resp.Header
	}
	var text strings.Builder
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			var args map[string]any
			if err := json.Unmarshal(b.Input, &args); err != nil {
				t.Errorf("tool_use input %s: %v", b.Input, err)
			}
			res.ToolCalls = append(res.ToolCalls, toolCall{ID: b.ID, Name: b.Name, Args: args})
		}
	}
	res.Text, res.Finish = text.String(), string(msg.StopReason)
	res.In, res.Out = msg.Usage.InputTokens+msg.Usage.CacheReadInputTokens+msg.Usage.CacheCreationInputTokens, msg.Usage.OutputTokens
	res.Total = res.In + res.Out
	return res, msg
}

// Gemini.

func geConfig(turn chatTurn) *genai.GenerateContentConfig {
	c := &genai.GenerateContentConfig{}
	if turn.System != "" {
		c.SystemInstruction = genai.NewContentFromText(turn.System, genai.RoleUser)
	}
	if turn.Tool {
		c.Tools = []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
			Name: toolName, Description: toolDesc, ParametersJsonSchema: toolSchema}}}}
	}
	return c
}

// geChat sends turn (followed by history) with go-genai.
func geChat(t *testing.T, g *gate, turn chatTurn, history []*genai.Content) chatResult {
	r, _ := geChatMsg(t, g, turn, history)
	return r
}

// geChatMsg is geChat that also returns the model's content, for a
// follow-up turn.
func geChatMsg(t *testing.T, g *gate, turn chatTurn, history []*genai.Content) (chatResult, *genai.Content) {
	t.Helper()
	client := g.gemini(t)
	ctx := context.Background()
	contents := append([]*genai.Content{genai.NewContentFromText(turn.Prompt, genai.RoleUser)}, history...)
	var res chatResult
	var text strings.Builder
	model := &genai.Content{Role: genai.RoleModel}
	var last *genai.GenerateContentResponse
	add := func(r *genai.GenerateContentResponse) {
		last = r
		if r.SDKHTTPResponse != nil && res.Header == nil {
			res.Header = r.SDKHTTPResponse.Headers
		}
		if len(r.Candidates) == 0 || r.Candidates[0].Content == nil {
			return
		}
		for _, p := range r.Candidates[0].Content.Parts {
			if p.Text != "" && !p.Thought {
				text.WriteString(p.Text)
			}
			if p.FunctionCall != nil {
				res.ToolCalls = append(res.ToolCalls, toolCall{ID: p.FunctionCall.ID, Name: p.FunctionCall.Name, Args: p.FunctionCall.Args})
			}
			model.Parts = append(model.Parts, p)
		}
	}
	if turn.Stream {
		for chunk, err := range client.Models.GenerateContentStream(ctx, turn.Model, contents, geConfig(turn)) {
			if err != nil {
				res.Err = err
				break
			}
			add(chunk)
			if len(chunk.Candidates) > 0 && chunk.Candidates[0].FinishReason != "" {
				res.Finish = string(chunk.Candidates[0].FinishReason)
			}
		}
	} else {
		out, err := client.Models.GenerateContent(ctx, turn.Model, contents, geConfig(turn))
		if err != nil {
			res.Err = err
		} else {
			add(out)
			if len(out.Candidates) > 0 {
				res.Finish = string(out.Candidates[0].FinishReason)
			}
		}
	}
	res.Text = text.String()
	if last != nil && last.UsageMetadata != nil {
		u := last.UsageMetadata
		res.In, res.Out, res.Total = int64(u.PromptTokenCount), int64(u.CandidatesTokenCount), int64(u.TotalTokenCount)
	}
	return res, model
}

func parseArgs(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Errorf("tool call arguments %q are not a JSON object: %v", s, err)
	}
	return m
}
