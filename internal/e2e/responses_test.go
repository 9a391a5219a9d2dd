package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/llmgate/llmgate/internal/mock"
)

// The Responses API from the official openai-go SDK, served by every kind
// of upstream: translated to Anthropic, Gemini and a chat-completions-only
// OpenAI-compatible server, and passed through to an OpenAI provider with
// api: responses.

const (
	fmtResponses = "responses" // the api: responses provider, as an upstream "format"
	modelRS      = "gpt-resp"  // routes to it under the same name, so its body is untouched
)

// responsesUpstreams are the upstreams a Responses client is tested against,
// with the model routing to each and the path the upstream must be called on.
var responsesUpstreams = []struct {
	name, model, path, upstream string
}{
	{fmtAnthropic, modelAN, "/v1/messages", fmtAnthropic},
	{fmtGemini, modelGE, "/v1beta/models/" + upGE, fmtGemini},
	{"chat_completions", modelOA, "/v1/chat/completions", fmtOpenAI},
	{fmtResponses, modelRS, "/v1/responses", fmtOpenAI},
}

func newResponsesGate(t *testing.T, o gateOptions) *gate {
	t.Helper()
	o.Providers += "  oar: {type: openai, base_url: \"{openai}/v1\", api_key: x, api: responses}\n"
	o.Models += "  " + modelRS + ": {route: [oar/" + modelRS + "]}\n"
	return newGate(t, o)
}

// rsResult is what a Responses call returned, unary or streamed.
type rsResult struct {
	Resp   responses.Response
	Header http.Header
	Events []responses.ResponseStreamEventUnion
	Err    error
}

func rsCall(t *testing.T, g *gate, p responses.ResponseNewParams, stream bool) rsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := g.openai()
	var httpResp *http.Response
	var res rsResult
	if !stream {
		r, err := client.Responses.New(ctx, p, oaoption.WithResponseInto(&httpResp))
		if r != nil {
			res.Resp = *r
		}
		res.Err = err
	} else {
		s := client.Responses.NewStreaming(ctx, p, oaoption.WithResponseInto(&httpResp))
		for s.Next() {
			ev := s.Current()
			res.Events = append(res.Events, ev)
			switch ev.Type {
			case "response.completed", "response.incomplete", "response.failed":
				res.Resp = ev.Response
			}
		}
		res.Err = s.Err()
	}
	if httpResp != nil {
		res.Header = httpResp.Header
	}
	return res
}

func rsParams(model string, input responses.ResponseInputParam, tool bool) responses.ResponseNewParams {
	p := responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
		Instructions: openai.String("Be brief.")}
	if tool {
		p.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{
			Name: toolName, Description: openai.String(toolDesc), Parameters: toolSchema, Strict: openai.Bool(false)}}}
	}
	return p
}

// checkStreamShape checks what the SDKs and Codex rely on: response.created
// first, sequence numbers 0, 1, 2..., every delta inside an item opened by
// output_item.added, and a terminal event last.
func checkStreamShape(t *testing.T, evs []responses.ResponseStreamEventUnion) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("the stream had no events")
	}
	if evs[0].Type != "response.created" {
		t.Errorf("first event %q, want response.created", evs[0].Type)
	}
	open := map[int64]bool{}
	for i, ev := range evs {
		if ev.SequenceNumber != int64(i) {
			t.Errorf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
		switch ev.Type {
		case "response.output_item.added":
			open[ev.OutputIndex] = true
		case "response.output_item.done":
			if !open[ev.OutputIndex] {
				t.Errorf("output_item.done for index %d that was never added", ev.OutputIndex)
			}
		case "response.output_text.delta", "response.function_call_arguments.delta":
			if !open[ev.OutputIndex] {
				t.Errorf("%s for index %d before its output_item.added", ev.Type, ev.OutputIndex)
			}
		}
	}
	if last := evs[len(evs)-1].Type; last != "response.completed" {
		t.Errorf("last event %q, want response.completed", last)
	}
}

func TestResponsesText(t *testing.T) {
	g := newResponsesGate(t, gateOptions{})
	for _, up := range responsesUpstreams {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+"/"+mode(stream), func(t *testing.T) {
				g.reset()
				in := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("Hello from Responses", responses.EasyInputMessageRoleUser)}
				res := rsCall(t, g, rsParams(up.model, in, false), stream)
				if res.Err != nil {
					t.Fatalf("Responses call: %v", res.Err)
				}
				if got := res.Resp.OutputText(); !strings.HasPrefix(got, "Mock reply to: Hello from Responses") {
					t.Errorf("output_text = %q, want the mock's echo of the prompt", got)
				}
				if res.Resp.Status != "completed" {
					t.Errorf("status %q, want completed", res.Resp.Status)
				}
				u := res.Resp.Usage
				if u.InputTokens == 0 || u.OutputTokens == 0 || u.TotalTokens != u.InputTokens+u.OutputTokens {
					t.Errorf("usage %d in + %d out = %d total; want non-zero and summed", u.InputTokens, u.OutputTokens, u.TotalTokens)
				}
				if stream {
					checkStreamShape(t, res.Events)
					var deltas strings.Builder
					for _, ev := range res.Events {
						if ev.Type == "response.output_text.delta" {
							deltas.WriteString(ev.Delta)
						}
					}
					if deltas.String() != res.Resp.OutputText() {
						t.Errorf("text deltas %q differ from the completed text %q", deltas.String(), res.Resp.OutputText())
					}
				}
				r := g.lastUpstream(t, up.upstream)
				if !strings.HasPrefix(r.Path, up.path) {
					t.Errorf("upstream called on %s, want %s", r.Path, up.path)
				}
				if up.name == fmtResponses {
					if in := g.lastInbound(t); !bytes.Equal(r.Body, in.Body) {
						t.Errorf("passthrough changed the body:\nclient:   %s\nupstream: %s", in.Body, r.Body)
					}
				} else if !bytes.Contains(r.Body, []byte("Be brief.")) {
					t.Errorf("the instructions did not reach the upstream: %s", r.Body)
				}
				if got := res.Header.Get("X-Llmgate-Provider"); got == "" {
					t.Error("no x-llmgate-provider header")
				}
			})
		}
	}
}

// TestResponsesToolRoundTrip: the model calls a function, the client sends
// the function_call item back with its output, and the model answers.
func TestResponsesToolRoundTrip(t *testing.T) {
	g := newResponsesGate(t, gateOptions{})
	for _, up := range responsesUpstreams {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+"/"+mode(stream), func(t *testing.T) {
				g.reset()
				in := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage(toolPrompt, responses.EasyInputMessageRoleUser)}
				first := rsCall(t, g, rsParams(up.model, in, true), stream)
				if first.Err != nil {
					t.Fatalf("first turn: %v", first.Err)
				}
				var call *responses.ResponseFunctionToolCall
				for _, it := range first.Resp.Output {
					if it.Type == "function_call" {
						c := it.AsFunctionCall()
						call = &c
					}
				}
				if call == nil {
					t.Fatalf("no function_call in the output: %s", first.Resp.RawJSON())
				}
				var args map[string]any
				if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil || args["city"] != "test" {
					t.Errorf("arguments %q, want the mock's {city: test, days: 1}", call.Arguments)
				}
				if call.Name != toolName || call.CallID == "" || call.ID == "" || call.CallID == call.ID {
					t.Errorf("call name %q call_id %q id %q; want %s and two distinct ids", call.Name, call.CallID, call.ID, toolName)
				}
				if stream {
					checkStreamShape(t, first.Events)
					var deltas strings.Builder
					for _, ev := range first.Events {
						if ev.Type == "response.function_call_arguments.delta" {
							deltas.WriteString(ev.Delta)
						}
					}
					if deltas.String() != call.Arguments {
						t.Errorf("argument deltas %q differ from the item's arguments %q", deltas.String(), call.Arguments)
					}
				}
				out := responses.ResponseInputItemParamOfFunctionCallOutput(toolResult)
				out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
				back := call.ToParam()
				in = append(in, responses.ResponseInputItemUnionParam{OfFunctionCall: &back}, out)
				second := rsCall(t, g, rsParams(up.model, in, true), stream)
				if second.Err != nil {
					t.Fatalf("sending the function output: %v", second.Err)
				}
				if got := second.Resp.OutputText(); !strings.HasPrefix(got, toolReplyPrefix) || !strings.Contains(got, toolResult) {
					t.Errorf("answer to the tool result = %q, want %q and %q", got, toolReplyPrefix, toolResult)
				}
				r := g.lastUpstream(t, up.upstream)
				switch {
				case up.name == fmtGemini:
					// The mock's Gemini sends no call ids, so the gateway made
					// one up; Gemini matches the result by function name.
					if !bytes.Contains(r.Body, []byte(`"functionResponse":{"name":"`+toolName+`"`)) {
						t.Errorf("the upstream did not get a functionResponse named %s: %s", toolName, r.Body)
					}
				case !bytes.Contains(r.Body, []byte(call.CallID)):
					t.Errorf("the upstream did not get the call id %s back: %s", call.CallID, r.Body)
				}
			})
		}
	}
}

// TestResponsesStateless: what needs stored responses or OpenAI-run tools
// is refused with a 400 saying why on a translated route, and forwarded on
// a Responses route.
func TestResponsesStateless(t *testing.T) {
	g := newResponsesGate(t, gateOptions{})
	cases := []struct {
		name  string
		model string
		edit  func(*responses.ResponseNewParams)
		want  string // in the error message; "" means it succeeds
	}{
		{"previous_response_id to Anthropic", modelAN,
			func(p *responses.ResponseNewParams) { p.PreviousResponseID = openai.String("resp_123") },
			"llmgate does not store responses"},
		{"previous_response_id to a chat-completions server", modelOA,
			func(p *responses.ResponseNewParams) { p.PreviousResponseID = openai.String("resp_123") },
			"llmgate does not store responses"},
		{"previous_response_id to a Responses provider", modelRS,
			func(p *responses.ResponseNewParams) { p.PreviousResponseID = openai.String("resp_123") }, ""},
		{"file_search to Gemini", modelGE,
			func(p *responses.ResponseNewParams) {
				p.Tools = []responses.ToolUnionParam{{OfFileSearch: &responses.FileSearchToolParam{VectorStoreIDs: []string{"vs_1"}}}}
			}, `tool type "file_search" is run by OpenAI's servers`},
		{"web_search is dropped for Anthropic", modelAN,
			func(p *responses.ResponseNewParams) {
				p.Tools = []responses.ToolUnionParam{{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}}}
			}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := rsParams(tc.model, responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("hi", responses.EasyInputMessageRoleUser)}, false)
			tc.edit(&p)
			res := rsCall(t, g, p, false)
			if tc.want == "" {
				if res.Err != nil {
					t.Fatalf("want success, got %v", res.Err)
				}
				return
			}
			var apiErr *openai.Error
			if !errors.As(res.Err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, tc.want) {
				t.Fatalf("want a 400 saying %q, got %v", tc.want, res.Err)
			}
		})
	}
}

// TestResponsesMixedRoute: a Responses request whose first route fails
// falls back to an Anthropic route instead of dropping it.
func TestResponsesMixedRoute(t *testing.T) {
	g := newResponsesGate(t, gateOptions{MaxAttempts: 3,
		Models:  "  mixed: {route: [oar/" + modelRS + ", an/" + upAN + "]}\n",
		MockFor: map[string]mock.Options{fmtOpenAI: {Faults: mock.Fault{Status: 503}}}}) // the Responses provider's mock
	for _, stream := range []bool{false, true} {
		t.Run(mode(stream), func(t *testing.T) {
			in := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("fall back", responses.EasyInputMessageRoleUser)}
			res := rsCall(t, g, rsParams("mixed", in, false), stream)
			if res.Err != nil {
				t.Fatalf("want the Anthropic fallback to answer, got %v", res.Err)
			}
			if got := res.Header.Get("X-Llmgate-Provider"); got != "an" {
				t.Errorf("served by %q, want an", got)
			}
			if !strings.HasPrefix(res.Resp.OutputText(), "Mock reply to: fall back") {
				t.Errorf("output_text %q", res.Resp.OutputText())
			}
		})
	}
}

// TestResponsesStreamFailure: an upstream stream that breaks after the
// answer started ends the client's stream with response.failed and its
// error, which Codex reports and the SDK exposes.
func TestResponsesStreamFailure(t *testing.T) {
	g := newResponsesGate(t, gateOptions{MockFor: map[string]mock.Options{fmtAnthropic: {Faults: mock.Fault{CutAfter: 4}}}})
	in := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("one two three four five six seven", responses.EasyInputMessageRoleUser)}
	res := rsCall(t, g, rsParams(modelAN, in, false), true)
	if len(res.Events) == 0 {
		t.Fatalf("no events (err %v)", res.Err)
	}
	last := res.Events[len(res.Events)-1]
	if last.Type != "response.failed" {
		t.Fatalf("last event %q, want response.failed", last.Type)
	}
	if last.Response.Status != "failed" || last.Response.Error.Code == "" || last.Response.Error.Message == "" {
		t.Errorf("failed response: status %q error %+v", last.Response.Status, last.Response.Error)
	}
}

// codexBody is shaped like Codex 0.169.0's request (responses-api.md 6.1):
// no instructions, the base prompt as developer messages with client ids,
// function tools with strict:false, a namespace, web_search, store:false,
// include, prompt_cache_key and client_metadata.
func codexBody(model string, extra ...string) []byte {
	input := `{"type":"message","id":"msg_a","role":"developer","content":[{"type":"input_text","text":"You are a coding agent running in the Codex CLI."}]},
 {"type":"message","id":"msg_b","role":"developer","content":[{"type":"input_text","text":"skills"},{"type":"input_text","text":"sandbox"}]},
 {"type":"message","id":"msg_c","role":"user","content":[{"type":"input_text","text":"<environment_context><cwd>/tmp</cwd></environment_context>"}]},
 {"type":"message","id":"msg_d","role":"user","content":[{"type":"input_text","text":"list the files please"}]}`
	for _, e := range extra {
		input += ",\n " + e
	}
	return []byte(`{"model":"` + model + `","stream":true,"input":[` + input + `],
 "tools":[{"type":"function","name":"exec_command","description":"Runs a command","strict":false,
   "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"],"additionalProperties":false}},
  {"type":"namespace","name":"multi_agent_v1","description":"agents","tools":[{"type":"function","name":"spawn_agent","strict":false,"parameters":{"type":"object","properties":{}}}]},
  {"type":"web_search","external_web_access":false}],
 "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"summary":"auto"},"store":false,
 "include":["reasoning.encrypted_content"],"prompt_cache_key":"0190-thread","client_metadata":{"x":"y"}}`)
}

// codexStream reads a Responses stream as Codex does: by the JSON type,
// keeping the items of output_item.done and the terminal event.
func codexStream(t *testing.T, body []byte) (items []map[string]any, terminal map[string]any) {
	t.Helper()
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		switch ev["type"] {
		case "response.output_item.done":
			items = append(items, ev["item"].(map[string]any))
		case "response.completed", "response.failed", "response.incomplete":
			terminal = ev
		}
	}
	return items, terminal
}

// TestResponsesCodexShape: a Codex-shaped tool round trip over plain HTTP,
// to every upstream, checking what Codex reads: output_item.done items with
// complete arguments, and response.completed with integer usage including
// total_tokens.
func TestResponsesCodexShape(t *testing.T) {
	g := newResponsesGate(t, gateOptions{})
	h := http.Header{"Authorization": {"Bearer x"}, "Accept": {"text/event-stream"}, "Originator": {"codex_exec"},
		"Session-Id": {"0190-thread"}}
	for _, up := range responsesUpstreams {
		t.Run(up.name, func(t *testing.T) {
			g.reset()
			resp, body := g.post(t, "/v1/responses", h, codexBody(up.model))
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			items, term := codexStream(t, body)
			if term == nil || term["type"] != "response.completed" {
				t.Fatalf("no response.completed: %s", body)
			}
			usage, _ := term["response"].(map[string]any)["usage"].(map[string]any)
			for _, k := range []string{"input_tokens", "output_tokens", "total_tokens"} {
				if v, ok := usage[k].(float64); !ok || v <= 0 {
					t.Errorf("completed usage %s = %v", k, usage[k])
				}
			}
			var call map[string]any
			for _, it := range items {
				if it["type"] == "function_call" {
					call = it
				}
			}
			if call == nil || call["name"] != "exec_command" || !strings.Contains(call["arguments"].(string), `"cmd"`) {
				t.Fatalf("want an exec_command call with its arguments in output_item.done, got %v", items)
			}
			if up.name != fmtResponses {
				r := g.lastUpstream(t, up.upstream)
				for _, leak := range []string{"client_metadata", "prompt_cache_key", "web_search"} {
					if bytes.Contains(r.Body, []byte(leak)) {
						t.Errorf("%s reached the %s upstream: %s", leak, up.name, r.Body)
					}
				}
				if !bytes.Contains(r.Body, []byte("You are a coding agent")) {
					t.Errorf("the developer prompt did not reach the upstream: %s", r.Body)
				}
			}
			// Codex sends the call back exactly as received, with its output.
			callJSON, _ := json.Marshal(call)
			out := `{"type":"function_call_output","id":"fco_1","call_id":"` + call["call_id"].(string) + `","output":"sunny"}`
			resp, body = g.post(t, "/v1/responses", h, codexBody(up.model, string(callJSON), out))
			if resp.StatusCode != 200 {
				t.Fatalf("second turn: status %d: %s", resp.StatusCode, body)
			}
			items, term = codexStream(t, body)
			if term == nil || term["type"] != "response.completed" || len(items) == 0 {
				t.Fatalf("second turn: %s", body)
			}
			msg := items[len(items)-1]
			content, _ := msg["content"].([]any)
			if msg["type"] != "message" || len(content) == 0 ||
				!strings.HasPrefix(content[0].(map[string]any)["text"].(string), toolReplyPrefix) ||
				!strings.Contains(content[0].(map[string]any)["text"].(string), "sunny") {
				t.Errorf("second turn answer %v, want the mock's reply to the tool result", msg)
			}
		})
	}
}

// TestResponsesStoredEndpoints: the endpoints that read stored responses
// answer 404 in the OpenAI shape, saying the gateway stores none.
func TestResponsesStoredEndpoints(t *testing.T) {
	g := newResponsesGate(t, gateOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := g.openai()
	_, err := client.Responses.Get(ctx, "resp_123", responses.ResponseGetParams{})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "does not store responses") {
		t.Fatalf("GET /v1/responses/resp_123: %v, want a 404 saying llmgate stores no responses", err)
	}
	resp, body := g.do(t, http.MethodDelete, "/v1/responses/resp_123", http.Header{"Authorization": {"Bearer x"}}, nil)
	if resp.StatusCode != 404 || !bytes.Contains(body, []byte(`"type":"not_found_error"`)) {
		t.Errorf("DELETE: %d %s", resp.StatusCode, body)
	}
}
