package e2e

import (
	"reflect"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"
)

// The tool result every round trip sends back, and the prefix of the mock's
// answer to a tool result.
const (
	toolResult      = "sunny"
	toolReplyPrefix = "Mock reply to tool result: "
	toolPrompt      = "Weather in Lisbon?"
)

// TestToolRoundTrip offers one function tool from every client SDK to every
// upstream format, unary and streamed: the mock answers with a tool call,
// the client sends the result back in its own format, and the mock answers
// the result with text.
func TestToolRoundTrip(t *testing.T) {
	g := newGate(t, gateOptions{})
	for _, in := range formats {
		for _, up := range formats {
			for _, stream := range []bool{false, true} {
				t.Run(in+"_to_"+up+"/"+mode(stream), func(t *testing.T) {
					g.reset()
					turn := chatTurn{Model: modelFor[up], Stream: stream, Prompt: toolPrompt, Tool: true}
					var first, second chatResult
					switch in {
					case fmtOpenAI:
						var msg openai.ChatCompletionMessageParamUnion
						first, msg = oaChatMsg(t, g, turn, nil)
						checkToolCall(t, in, first)
						if len(first.ToolCalls) == 1 {
							second = oaChat(t, g, turn, []openai.ChatCompletionMessageParamUnion{
								msg, openai.ToolMessage(toolResult, first.ToolCalls[0].ID)})
						}
					case fmtAnthropic:
						var msg anthropic.Message
						first, msg = anChatMsg(t, g, turn, nil)
						checkToolCall(t, in, first)
						if len(first.ToolCalls) == 1 {
							second = anChat(t, g, turn, []anthropic.MessageParam{msg.ToParam(),
								anthropic.NewUserMessage(anthropic.NewToolResultBlock(first.ToolCalls[0].ID, toolResult, false))})
						}
					case fmtGemini:
						var model *genai.Content
						first, model = geChatMsg(t, g, turn, nil)
						checkToolCall(t, in, first)
						if len(first.ToolCalls) == 1 {
							part := genai.NewPartFromFunctionResponse(toolName, map[string]any{"result": toolResult})
							part.FunctionResponse.ID = first.ToolCalls[0].ID
							second = geChat(t, g, turn, []*genai.Content{model, genai.NewContentFromParts([]*genai.Part{part}, genai.RoleUser)})
						}
					}
					if t.Failed() {
						return
					}
					if second.Err != nil {
						t.Fatalf("sending the tool result: %v", second.Err)
					}
					if !strings.HasPrefix(second.Text, toolReplyPrefix) || !strings.Contains(second.Text, toolResult) {
						t.Errorf("reply to the tool result = %q, want %q and the result %q", second.Text, toolReplyPrefix, toolResult)
					}
					if second.Finish != stopFor[in] || len(second.ToolCalls) != 0 {
						t.Errorf("second turn: stop reason %q, %d tool calls; want %q and none", second.Finish, len(second.ToolCalls), stopFor[in])
					}
					if second.In == 0 || second.Out == 0 {
						t.Errorf("second turn usage %d/%d", second.In, second.Out)
					}
					checkServedBy(t, second.Header, up)
					checkUpstreamToolTurn(t, g, up)
				})
			}
		}
	}
}

// checkToolCall checks the first turn: exactly one call of the tool with
// the mock's arguments.
func checkToolCall(t *testing.T, in string, res chatResult) {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("%s SDK: %v", in, res.Err)
	}
	if len(res.ToolCalls) != 1 {
		t.Fatalf("%d tool calls, want 1 (text %q, stop %q)", len(res.ToolCalls), res.Text, res.Finish)
	}
	tc := res.ToolCalls[0]
	if tc.Name != toolName || !reflect.DeepEqual(tc.Args, wantArgs) {
		t.Errorf("tool call %s(%v), want %s(%v)", tc.Name, tc.Args, toolName, wantArgs)
	}
	// Gemini's own API gives calls no id; the other formats require one.
	if tc.ID == "" && in != fmtGemini {
		t.Error("the tool call has no id")
	}
	if res.Finish != toolStopFor[in] {
		t.Errorf("stop reason = %q, want %q", res.Finish, toolStopFor[in])
	}
	if res.In == 0 || res.Out == 0 {
		t.Errorf("usage %d/%d, want both non-zero", res.In, res.Out)
	}
}

// checkUpstreamToolTurn checks the upstream's second request: the tool is
// declared, and the call and its result are paired in the upstream format.
func checkUpstreamToolTurn(t *testing.T, g *gate, up string) {
	t.Helper()
	recs := g.upstreamRequests(up)
	if len(recs) != 2 {
		t.Fatalf("the %s upstream received %d requests, want 2", up, len(recs))
	}
	first, body := decodeObject(t, recs[0].Body), decodeObject(t, recs[1].Body)
	switch up {
	case fmtOpenAI:
		for i, b := range []map[string]any{first, body} {
			tools, _ := b["tools"].([]any)
			if len(tools) != 1 || asObject(asObject(tools[0])["function"])["name"] != toolName {
				t.Errorf("request %d tools = %v", i+1, b["tools"])
			}
		}
		msgs, _ := body["messages"].([]any)
		var callID, resultID, result string
		for _, m := range msgs {
			m := asObject(m)
			if tcs, _ := m["tool_calls"].([]any); m["role"] == "assistant" && len(tcs) == 1 {
				tc := asObject(tcs[0])
				callID, _ = tc["id"].(string)
				if asObject(tc["function"])["name"] != toolName {
					t.Errorf("upstream tool call %v", tc)
				}
			}
			if m["role"] == "tool" {
				resultID, _ = m["tool_call_id"].(string)
				result = textOf(m["content"])
			}
		}
		if callID == "" || callID != resultID || !strings.Contains(result, toolResult) {
			t.Errorf("upstream call id %q, result id %q, result %q: want paired ids and the result\n%s", callID, resultID, result, recs[1].Body)
		}
	case fmtAnthropic:
		for i, b := range []map[string]any{first, body} {
			tools, _ := b["tools"].([]any)
			if len(tools) != 1 || asObject(tools[0])["name"] != toolName || asObject(tools[0])["input_schema"] == nil {
				t.Errorf("request %d tools = %v", i+1, b["tools"])
			}
		}
		msgs, _ := body["messages"].([]any)
		var callID, resultID, result string
		for _, m := range msgs {
			blocks, _ := asObject(m)["content"].([]any)
			for _, b := range blocks {
				b := asObject(b)
				switch b["type"] {
				case "tool_use":
					callID, _ = b["id"].(string)
				case "tool_result":
					resultID, _ = b["tool_use_id"].(string)
					result = textOf(b["content"])
				}
			}
		}
		if callID == "" || callID != resultID || !strings.Contains(result, toolResult) {
			t.Errorf("upstream tool_use id %q, tool_result id %q, result %q: want paired ids and the result\n%s", callID, resultID, result, recs[1].Body)
		}
	case fmtGemini:
		for i, b := range []map[string]any{first, body} {
			tools, _ := b["tools"].([]any)
			var decls []any
			if len(tools) == 1 {
				decls, _ = asObject(tools[0])["functionDeclarations"].([]any)
			}
			if len(decls) != 1 || asObject(decls[0])["name"] != toolName {
				t.Errorf("request %d tools = %v", i+1, b["tools"])
			}
		}
		cs, _ := body["contents"].([]any)
		var call, resp string
		var respBody map[string]any
		for _, c := range cs {
			parts, _ := asObject(c)["parts"].([]any)
			for _, p := range parts {
				p := asObject(p)
				if fc := asObject(p["functionCall"]); fc != nil {
					call, _ = fc["name"].(string)
				}
				if fr := asObject(p["functionResponse"]); fr != nil {
					resp, _ = fr["name"].(string)
					respBody = asObject(fr["response"])
				}
			}
		}
		if call != toolName || resp != toolName || respBody == nil {
			t.Errorf("upstream functionCall %q, functionResponse %q (response %v): want both named %s\n%s", call, resp, respBody, toolName, recs[1].Body)
		}
	}
}
