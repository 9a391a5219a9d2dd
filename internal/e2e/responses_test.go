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
