package responses

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// codexRequest is shaped like what Codex 0.169.0 sends on its second turn
// (responses-api.md 6.1): developer messages first, a namespace tool,
// web_search, and the function call it received sent back with its output.
const codexRequest = `{"model":"gpt-test","stream":true,
 "input":[
  {"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
  {"type":"message","role":"developer","content":[{"type":"input_text","text":"skills"},{"type":"input_text","text":"sandbox"}]},
  {"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context/>"}]},
  {"type":"message","role":"user","content":[{"type":"input_text","text":"list files"}]},
  {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAA-openai-blob"},
  {"type":"function_call","status":"completed","id":"fc_9","name":"exec_command","arguments":"{\"cmd\":\"ls\"}","call_id":"call_8"},
  {"type":"function_call_output","id":"fco_1","call_id":"call_8","output":"a.txt"}
 ],
 "tools":[
  {"type":"function","name":"exec_command","description":"Run","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"],"additionalProperties":false}},
  {"type":"namespace","name":"multi_agent_v1","description":"agents","tools":[{"type":"function","name":"spawn_agent","parameters":{"type":"object","properties":{}}}]},
  {"type":"web_search","external_web_access":false}
 ],
 "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"summary":"auto"},"store":false,
 "include":["reasoning.encrypted_content"],"prompt_cache_key":"t1","client_metadata":{"a":"b"}}`

func TestDecodeCodexRequest(t *testing.T) {
	req, err := Client{}.DecodeRequest([]byte(codexRequest))
	if err != nil {
		t.Fatal(err)
	}
	if req.Untranslatable != nil {
		t.Fatalf("Codex's request must be translatable, got %v", req.Untranslatable)
	}
	var sys []string
	for _, p := range req.System {
		sys = append(sys, p.Text)
	}
	if got := strings.Join(sys, "|"); got != "You are a coding agent.|skills|sandbox" {
		t.Errorf("system = %q, want the developer texts in order", got)
	}
	if !req.Stream || !req.IncludeUsage {
		t.Error("stream not decoded")
	}
	// user, user, assistant(call), user(result)
	roles := ""
	for _, m := range req.Messages {
		roles += string(m.Role[0])
	}
	if roles != "uuau" {
		t.Fatalf("message roles %q, want uuau (the foreign reasoning blob dropped, the call and result in their own turns)", roles)
	}
	call := req.Messages[2].Parts[0]
	if call.Type != provider.PartToolCall || call.ToolCall.ID != "call_8" || call.ToolCall.Name != "exec_command" ||
		string(call.ToolCall.Arguments) != `{"cmd":"ls"}` {
		t.Errorf("tool call = %+v", call.ToolCall)
	}
	res := req.Messages[3].Parts[0]
	if res.Type != provider.PartToolResult || res.ToolResult.ToolCallID != "call_8" || res.ToolResult.Name != "exec_command" ||
		len(res.ToolResult.Content) != 1 || res.ToolResult.Content[0].Text != "a.txt" {
		t.Errorf("tool result = %+v", res.ToolResult)
	}
	if len(req.Tools) != 2 || req.Tools[0].Name != "exec_command" || req.Tools[1].Name != "spawn_agent" || req.Tools[1].Namespace != "multi_agent_v1" {
		t.Errorf("tools = %+v, want exec_command and the flattened spawn_agent (web_search dropped)", req.Tools)
	}
	if req.ToolChoice == nil || req.ToolChoice.Mode != provider.ToolChoiceAuto || req.ParallelToolCalls == nil || !*req.ParallelToolCalls {
		t.Errorf("tool_choice %+v parallel %v", req.ToolChoice, req.ParallelToolCalls)
	}
}

func TestDecodeRequestFields(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, r *provider.Request)
	}{
		{"string input and settings",
			`{"model":"m","input":"hi","instructions":"be terse","max_output_tokens":77,"temperature":0.5,"top_p":0.9,
			  "reasoning":{"effort":"high"},"user":"u1","text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}}}`,
			func(t *testing.T, r *provider.Request) {
				if len(r.Messages) != 1 || r.Messages[0].Parts[0].Text != "hi" || r.System[0].Text != "be terse" {
					t.Errorf("messages %+v system %+v", r.Messages, r.System)
				}
				if *r.MaxTokens != 77 || *r.Temperature != 0.5 || *r.TopP != 0.9 || r.ReasoningEffort != "high" || r.User != "u1" {
					t.Errorf("settings %+v", r)
				}
				if rf := r.ResponseFormat; rf == nil || rf.Type != "json_schema" || rf.Name != "out" || !rf.Strict || string(rf.Schema) != `{"type":"object"}` {
					t.Errorf("response format %+v", rf)
				}
			}},
		{"reasoning effort none is no reasoning", `{"model":"m","input":"x","reasoning":{"effort":"none"}}`,
			func(t *testing.T, r *provider.Request) {
				if r.ReasoningEffort != "" {
					t.Errorf("effort %q", r.ReasoningEffort)
				}
			}},
		{"easy messages, images and files",
			`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"look"},
			  {"type":"input_image","image_url":"data:image/png;base64,iVBO","detail":"low"},
			  {"type":"input_file","filename":"a.pdf","file_data":"JVBE"},
			  {"type":"input_image","file_id":"file-1"}]},
			  {"role":"assistant","content":[{"type":"output_text","text":"ok","annotations":[]}]}]}`,
			func(t *testing.T, r *provider.Request) {
				ps := r.Messages[0].Parts
				if len(ps) != 4 || ps[1].Media.MediaType != "image/png" || ps[1].Media.Data != "iVBO" || ps[1].Media.Detail != "low" ||
					ps[2].Type != provider.PartDocument || ps[2].Media.MediaType != "application/pdf" ||
					ps[3].Media.URL != provider.FileIDScheme+"file-1" {
					t.Errorf("parts %+v", ps)
				}
				if r.Messages[1].Role != provider.RoleAssistant || r.Messages[1].Parts[0].Text != "ok" {
					t.Errorf("assistant %+v", r.Messages[1])
				}
			}},
		{"parallel calls, results in any order, then user text in the same turn",
			`{"model":"m","input":[{"role":"user","content":"go"},
			  {"type":"function_call","call_id":"a","name":"f","arguments":""},
			  {"type":"function_call","call_id":"b","name":"g","arguments":"{\"x\":1}"},
			  {"type":"function_call_output","call_id":"b","output":[{"type":"input_text","text":"B"}]},
			  {"type":"function_call_output","call_id":"a","output":"A"},
			  {"role":"user","content":"and?"}]}`,
			func(t *testing.T, r *provider.Request) {
				if len(r.Messages) != 3 {
					t.Fatalf("%d messages, want user, assistant with two calls, user with two results and text", len(r.Messages))
				}
				calls := r.Messages[1].Parts
				if len(calls) != 2 || string(calls[0].ToolCall.Arguments) != "{}" || calls[1].ToolCall.Name != "g" {
					t.Errorf("calls %+v", calls)
				}
				ps := r.Messages[2].Parts
				if len(ps) != 3 || ps[0].ToolResult.ToolCallID != "b" || ps[0].ToolResult.Name != "g" || ps[1].ToolResult.Name != "f" || ps[2].Text != "and?" {
					t.Errorf("results turn %+v", ps)
				}
			}},
		{"custom tool and its call",
			`{"model":"m","tools":[{"type":"custom","name":"apply_patch","description":"patch"}],
			  "input":[{"role":"user","content":"x"},{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"*** Begin"},
			  {"type":"custom_tool_call_output","call_id":"c","output":"done"}]}`,
			func(t *testing.T, r *provider.Request) {
				if len(r.Tools) != 1 || string(r.Tools[0].Parameters) != string(customSchema) {
					t.Errorf("tools %+v", r.Tools)
				}
				if a := r.Messages[1].Parts[0].ToolCall.Arguments; string(a) != `{"input":"*** Begin"}` {
					t.Errorf("custom call arguments %s", a)
				}
			}},
		{"allowed_tools narrows the tools", `{"model":"m","input":"x","tools":[{"type":"function","name":"a"},{"type":"function","name":"b"}],
			  "tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"b"}]}}`,
			func(t *testing.T, r *provider.Request) {
				if len(r.Tools) != 1 || r.Tools[0].Name != "b" || r.ToolChoice.Mode != provider.ToolChoiceRequired {
					t.Errorf("tools %+v choice %+v", r.Tools, r.ToolChoice)
				}
			}},
		{"named function choice", `{"model":"m","input":"x","tools":[{"type":"function","name":"a"}],"tool_choice":{"type":"function","name":"a"}}`,
			func(t *testing.T, r *provider.Request) {
				if r.ToolChoice.Mode != provider.ToolChoiceTool || r.ToolChoice.Name != "a" {
					t.Errorf("choice %+v", r.ToolChoice)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Client{}.DecodeRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

// TestDecodeUntranslatable: what only OpenAI can serve decodes (passthrough
// needs it to) but is marked, and Portable refuses it with a 400.
func TestDecodeUntranslatable(t *testing.T) {
	cases := []struct{ name, body, param, want string }{
		{"previous_response_id", `{"model":"m","input":"x","previous_response_id":"resp_1"}`, "previous_response_id", "does not store responses"},
		{"conversation", `{"model":"m","input":"x","conversation":"conv_1"}`, "conversation", "does not store responses"},
		{"background", `{"model":"m","input":"x","background":true}`, "background", "does not store responses"},
		{"item_reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0]", "does not store responses"},
		{"file_search", `{"model":"m","input":"x","tools":[{"type":"file_search","vector_store_ids":["v"]}]}`, "tools[0].type", `"file_search" is run by OpenAI's servers`},
		{"forced web_search", `{"model":"m","input":"x","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}`, "tool_choice.type", `"web_search"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Client{}.DecodeRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			perr := r.Portable(provider.FormatAnthropic)
			if perr == nil || perr.Kind != provider.KindBadRequest || perr.Param != tc.param || !strings.Contains(perr.Message, tc.want) {
				t.Fatalf("Portable = %v, want a 400 on %s saying %q", perr, tc.param, tc.want)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct{ name, body, param string }{
		{"no model", `{"input":"x"}`, "model"},
		{"bad input", `{"model":"m","input":3}`, "input"},
		{"malformed item", `{"model":"m","input":[{"role":"user","content":"x"},{"type":5}]}`, "input[1]"},
		{"unknown role", `{"model":"m","input":[{"role":"robot","content":"x"}]}`, "input[0].role"},
		{"call without call_id", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id"},
		{"bad part", `{"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "input[0].content[0].type"},
		{"bad data url", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:xx"}]}]}`, "input[0].content[0].image_url"},
		{"tool without name", `{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools[0].name"},
		{"bad tool_choice", `{"model":"m","input":"x","tool_choice":"sometimes"}`, "tool_choice"},
		{"bad text format", `{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}`, "text.format.type"},
		{"instructions not a string", `{"model":"m","input":"x","instructions":[1]}`, "instructions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Client{}.DecodeRequest([]byte(tc.body))
			var perr *provider.Error
			if !errors.As(err, &perr) || perr.Kind != provider.KindBadRequest || perr.Param != tc.param {
				t.Fatalf("err = %v, want a 400 on %s", err, tc.param)
			}
		})
	}
	if _, err := (Client{}).DecodeRequest([]byte(`{"model":`)); err == nil {
		t.Error("truncated JSON accepted")
	}
}

// TestReasoningRoundTrip: thinking relayed from an upstream comes back, when
// the client returns the reasoning item, as signed thinking before the call.
func TestReasoningRoundTrip(t *testing.T) {
	out, err := Client{}.EncodeResponse(&provider.Response{Content: []provider.Part{
		{Type: provider.PartThinking, Text: "let me think", Signature: "sig-1"},
		{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_1", Name: "f", Arguments: json.RawMessage(`{"a": 1}`)}},
	}, StopReason: provider.StopToolUse})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Output []json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Output) != 2 {
		t.Fatalf("output %s (%v)", out, err)
	}
	body := `{"model":"m","input":[{"role":"user","content":"x"},` + string(resp.Output[0]) + `,` + string(resp.Output[1]) + `]}`
	req, err := Client{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ps := req.Messages[1].Parts
	if len(ps) != 2 || ps[0].Type != provider.PartThinking || ps[0].Text != "let me think" || ps[0].Signature != "sig-1" ||
		ps[1].ToolCall == nil || string(ps[1].ToolCall.Arguments) != `{"a":1}` {
		t.Fatalf("assistant turn %+v", ps)
	}
}

// TestCallSignatureRoundTrip: a call's upstream signature (Gemini's
// thoughtSignature) rides in the function_call item id and comes back with
// the call, streamed or not.
func TestCallSignatureRoundTrip(t *testing.T) {
	var b strings.Builder
	enc := Client{}.NewStreamEncoder(&b, &provider.Request{Model: "m"})
	_ = enc.Encode(provider.Event{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "call_1", ToolName: "f", Signature: "c2lnLzE+"})
	_ = enc.Close()
	streamed := readEvents(t, []byte(b.String()))
	item := streamed[len(streamed)-2].Data["item"]
	unary, err := Client{}.EncodeResponse(&provider.Response{Content: []provider.Part{{Type: provider.PartToolCall, Signature: "c2lnLzE+",
		ToolCall: &provider.ToolCall{ID: "call_1", Name: "f"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var u struct{ Output []any }
	_ = json.Unmarshal(unary, &u)
	for name, it := range map[string]any{"stream": item, "unary": u.Output[0]} {
		raw, _ := json.Marshal(it)
		req, err := Client{}.DecodeRequest([]byte(`{"model":"m","input":[{"role":"user","content":"x"},` + string(raw) + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		if p := req.Messages[1].Parts[0]; p.Signature != "c2lnLzE+" || p.ToolCall.ID != "call_1" {
			t.Errorf("%s: call came back as %+v (signature %q)", name, p.ToolCall, p.Signature)
		}
	}
	if callSignature("fc_abc") != "" || callSignature("fc_lg1XX_%%%") != "" {
		t.Error("a foreign id yielded a signature")
	}
}
