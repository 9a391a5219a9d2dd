package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

type event struct {
	Name string
	Data map[string]any
	Raw  []byte
}

// readEvents parses an SSE stream, checking that each event's name is its
// JSON type and that sequence numbers count from 0.
func readEvents(t *testing.T, b []byte) []event {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(b))
	var evs []event
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatalf("event data %s: %v", ev.Data, err)
		}
		if m["type"] != string(ev.Name) {
			t.Errorf("event: %s carries type %v", ev.Name, m["type"])
		}
		if seq, _ := m["sequence_number"].(float64); int(seq) != len(evs) {
			t.Errorf("event %d (%s) has sequence_number %v", len(evs), ev.Name, m["sequence_number"])
		}
		evs = append(evs, event{Name: string(ev.Name), Data: m, Raw: append([]byte(nil), ev.Data...)})
	}
	return evs
}

func names(evs []event) string {
	var s []string
	for _, e := range evs {
		s = append(s, strings.TrimPrefix(e.Name, "response."))
	}
	return strings.Join(s, " ")
}

func encode(t *testing.T, req *provider.Request, evs []provider.Event, fail *provider.Error) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := Client{Now: func() time.Time { return time.Unix(1700000000, 0) }}.NewStreamEncoder(&b, req)
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if fail != nil {
		_ = enc.Fail(fail)
	} else if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(provider.Event{Type: provider.EventText, Text: "late"}); err == nil {
		t.Error("Encode after the end was accepted")
	}
	return b.Bytes()
}

func TestStreamText(t *testing.T) {
	out := encode(t, &provider.Request{Model: "asked"}, []provider.Event{
		{Type: provider.EventStart, ID: "msg_up", Usage: provider.Usage{InputTokens: 10}},
		{Type: provider.EventText, Text: "Hel"},
		{Type: provider.EventText, Text: "lo"},
		{Type: provider.EventUsage, Usage: provider.Usage{OutputTokens: 2}},
		{Type: provider.EventStop, StopReason: provider.StopEndTurn},
	}, nil)
	evs := readEvents(t, out)
	want := "created in_progress output_item.added content_part.added output_text.delta output_text.delta " +
		"output_text.done content_part.done output_item.done completed"
	if got := names(evs); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
	resp := evs[len(evs)-1].Data["response"].(map[string]any)
	if resp["status"] != "completed" || resp["model"] != "asked" || resp["id"] != "resp_msg_up" {
		t.Errorf("completed response %v", resp)
	}
	usage := resp["usage"].(map[string]any)
	if usage["input_tokens"] != 10.0 || usage["output_tokens"] != 2.0 || usage["total_tokens"] != 12.0 {
		t.Errorf("usage %v", usage)
	}
	output := resp["output"].([]any)
	msg := output[0].(map[string]any)
	part := msg["content"].([]any)[0].(map[string]any)
	if len(output) != 1 || msg["status"] != "completed" || part["text"] != "Hello" || part["annotations"] == nil {
		t.Errorf("output %v", output)
	}
	if done := evs[6].Data; done["text"] != "Hello" {
		t.Errorf("output_text.done %v", done)
	}
}

// TestStreamParallelTools: interleaved argument fragments of two calls land
// in the right items, each call's arguments.done is the concatenation of
// its deltas, and both items are complete in output_item.done.
func TestStreamParallelTools(t *testing.T) {
	req := &provider.Request{Model: "m", Tools: []provider.Tool{{Name: "spawn_agent", Namespace: "multi_agent_v1", Parameters: emptySchema}}}
	out := encode(t, req, []provider.Event{
		{Type: provider.EventStart},
		{Type: provider.EventText, Text: "Calling."},
		{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "call_a", ToolName: "get"},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"x":`},
		{Type: provider.EventToolCall, ToolIndex: 1, ToolID: "call_b", ToolName: "spawn_agent"},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `1}`},
		{Type: provider.EventStop, StopReason: provider.StopToolUse},
	}, nil)
	evs := readEvents(t, out)
	calls := map[string]map[string]any{}
	args := map[float64]string{}
	for _, ev := range evs {
		switch ev.Name {
		case "response.function_call_arguments.delta":
			args[ev.Data["output_index"].(float64)] += ev.Data["delta"].(string)
		case "response.function_call_arguments.done":
			if got := args[ev.Data["output_index"].(float64)]; got != ev.Data["arguments"] {
				t.Errorf("arguments.done %v, deltas %q", ev.Data["arguments"], got)
			}
		case "response.output_item.done":
			it := ev.Data["item"].(map[string]any)
			if it["type"] == "function_call" {
				calls[it["call_id"].(string)] = it
			}
		}
	}
	if a := calls["call_a"]; a == nil || a["arguments"] != `{"x":1}` || a["name"] != "get" || a["output_index"] != nil {
		t.Errorf("call_a = %v", a)
	}
	if b := calls["call_b"]; b == nil || b["arguments"] != "{}" || b["namespace"] != "multi_agent_v1" {
		t.Errorf("call_b = %v, want {} arguments and its namespace", b)
	}
	resp := evs[len(evs)-1].Data["response"].(map[string]any)
	if out := resp["output"].([]any); len(out) != 3 || resp["status"] != "completed" {
		t.Errorf("final output %v status %v, want message and two calls, completed", out, resp["status"])
	}
}

func TestStreamReasoningAndCustomTool(t *testing.T) {
	req := &provider.Request{Model: "m", Tools: []provider.Tool{{Name: "apply_patch", Parameters: customSchema}}}
	out := encode(t, req, []provider.Event{
		{Type: provider.EventThinking, Text: "hmm"},
		{Type: provider.EventThinking, Signature: "sig"},
		{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "call_p", ToolName: "apply_patch"},
		{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"input":"*** Begin Patch"}`},
		{Type: provider.EventStop, StopReason: provider.StopToolUse},
	}, nil)
	evs := readEvents(t, out)
	want := "created in_progress output_item.added reasoning_summary_part.added reasoning_summary_text.delta " +
		"reasoning_summary_text.done reasoning_summary_part.done output_item.done output_item.added " +
		"custom_tool_call_input.delta custom_tool_call_input.done output_item.done completed"
	if got := names(evs); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
	rs := evs[7].Data["item"].(map[string]any)
	text, sig, ok := openEnvelope(rs["encrypted_content"].(string))
	if !ok || text != "hmm" || sig != "sig" {
		t.Errorf("reasoning item %v", rs)
	}
	ct := evs[11].Data["item"].(map[string]any)
	if ct["type"] != "custom_tool_call" || ct["input"] != "*** Begin Patch" || ct["call_id"] != "call_p" {
		t.Errorf("custom tool call %v", ct)
	}
}

func TestStreamIncompleteAndFailed(t *testing.T) {
	evs := readEvents(t, encode(t, nil, []provider.Event{
		{Type: provider.EventText, Text: "cut"},
		{Type: provider.EventStop, StopReason: provider.StopMaxTokens},
	}, nil))
	last := evs[len(evs)-1]
	resp := last.Data["response"].(map[string]any)
	if last.Name != "response.incomplete" || resp["status"] != "incomplete" ||
		resp["incomplete_details"].(map[string]any)["reason"] != "max_output_tokens" {
		t.Errorf("last event %s %v", last.Name, resp)
	}

	cases := []struct {
		err        *provider.Error
		code, want string
	}{
		{&provider.Error{Kind: provider.KindRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, "rate_limit_exceeded", "slow down Please try again in 1.5s."},
		{&provider.Error{Kind: provider.KindContextLength, Message: "too long"}, "context_length_exceeded", "too long"},
		{&provider.Error{Kind: provider.KindBadGateway, Message: "broke"}, "server_error", "broke"},
	}
	for _, tc := range cases {
		evs := readEvents(t, encode(t, nil, []provider.Event{{Type: provider.EventText, Text: "partial"}}, tc.err))
		last := evs[len(evs)-1]
		resp := last.Data["response"].(map[string]any)
		e := resp["error"].(map[string]any)
		if last.Name != "response.failed" || resp["status"] != "failed" || e["code"] != tc.code || e["message"] != tc.want {
			t.Errorf("%v: last %s, response %v", tc.err.Kind, last.Name, resp)
		}
		for _, it := range resp["output"].([]any) {
			if it.(map[string]any)["type"] == "" {
				t.Errorf("failed response lists an unfinished item: %v", it)
			}
		}
	}
}

func TestEncodeResponse(t *testing.T) {
	out, err := Client{Now: func() time.Time { return time.Unix(5, 0) }}.EncodeResponse(&provider.Response{ID: "x", Model: "claude",
		Content: []provider.Part{{Type: provider.PartText, Text: "Hi "}, {Type: provider.PartText, Text: "there"},
			{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_1", Name: "f"}}},
		StopReason: provider.StopToolUse, Usage: provider.Usage{InputTokens: 3, OutputTokens: 4, CachedTokens: 1, ReasoningTokens: 2}})
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "object", "created_at", "output", "error", "incomplete_details", "instructions", "metadata",
		"model", "parallel_tool_calls", "temperature", "top_p", "tool_choice", "tools"} {
		if _, ok := r[k]; !ok {
			t.Errorf("required field %q missing", k)
		}
	}
	items := r["output"].([]any)
	if len(items) != 2 || r["status"] != "completed" || r["created_at"] != 5.0 || r["object"] != "response" {
		t.Fatalf("response %s", out)
	}
	msg, call := items[0].(map[string]any), items[1].(map[string]any)
	if msg["content"].([]any)[0].(map[string]any)["text"] != "Hi there" {
		t.Errorf("message %v", msg)
	}
	if call["arguments"] != "{}" || call["call_id"] != "call_1" || !strings.HasPrefix(call["id"].(string), "fc_") {
		t.Errorf("call %v", call)
	}
	u := r["usage"].(map[string]any)
	if u["total_tokens"] != 7.0 || u["input_tokens_details"].(map[string]any)["cached_tokens"] != 1.0 ||
		u["output_tokens_details"].(map[string]any)["reasoning_tokens"] != 2.0 {
		t.Errorf("usage %v", u)
	}
}

func TestPassthrough(t *testing.T) {
	body := []byte(`{"model": "a",  "input":"x"}`)
	out, wants, err := Passthrough{}.RewriteRequest(body, "a", true)
	if err != nil || !bytes.Equal(out, body) || !wants {
		t.Errorf("same model: %s %v %v, want the body untouched", out, wants, err)
	}
	out, _, err = Passthrough{}.RewriteRequest(body, "b", true)
	if err != nil || string(out) != `{"model": "b",  "input":"x"}` {
		t.Errorf("other model: %s %v", out, err)
	}
	u, ok := Passthrough{}.ResponseUsage([]byte(`{"id":"r","usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":2},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":12}}`))
	if !ok || u != (provider.Usage{InputTokens: 5, CachedTokens: 2, OutputTokens: 7, ReasoningTokens: 3}) {
		t.Errorf("usage %+v %v", u, ok)
	}
	scan := func(name, data string) provider.EventInfo {
		return Passthrough{}.ScanEvent(&sse.Event{Name: []byte(name), Data: []byte(data), HasData: true})
	}
	if i := scan("response.output_text.delta", `{"type":"response.output_text.delta","delta":"x"}`); !i.Content || i.Done {
		t.Errorf("delta %+v", i)
	}
	if i := scan("", `{"type":"response.completed","response":{"usage":{"input_tokens":1,"output_tokens":2}}}`); !i.Done || !i.HasUsage || i.Usage.OutputTokens != 2 {
		t.Errorf("completed without event: line %+v", i)
	}
	if i := scan("response.failed", `{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded","message":"slow"}}}`); i.Err == nil || i.Err.Kind != provider.KindRateLimited || i.Err.Message != "slow" {
		t.Errorf("failed %+v", i)
	}
	if i := scan("error", `{"type":"error","code":"context_length_exceeded","message":"long"}`); i.Err == nil || i.Err.Kind != provider.KindContextLength {
		t.Errorf("error %+v", i)
	}
}

func TestUpstreamDecodeResponse(t *testing.T) {
	r, err := (&Upstream{}).DecodeResponse([]byte(`{"id":"resp_1","model":"gpt","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
		"output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"t"}]},{"type":"message","content":[{"type":"output_text","text":"hi"}]},
		{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}],"usage":{"input_tokens":1,"output_tokens":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text() != "hi" || !r.HasToolCalls() || r.StopReason != provider.StopMaxTokens || r.Usage.OutputTokens != 2 || len(r.Content) != 3 {
		t.Errorf("decoded %+v", r)
	}
}

func TestEncodeResponseFor(t *testing.T) {
	temp := 0.2
	req := &provider.Request{Model: "asked", Temperature: &temp, ToolChoice: &provider.ToolChoice{Mode: provider.ToolChoiceRequired},
		Tools: []provider.Tool{{Name: "spawn_agent", Namespace: "multi_agent_v1", Parameters: emptySchema}, {Name: "apply_patch", Parameters: customSchema}}}
	out, err := Client{}.EncodeResponseFor(&provider.Response{Model: "served", StopReason: provider.StopToolUse, Content: []provider.Part{
		{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "c1", Name: "spawn_agent", Arguments: json.RawMessage(`{}`)}},
		{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "c2", Name: "apply_patch", Arguments: json.RawMessage(`{"input":"patch"}`)}},
	}}, req)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Model       string           `json:"model"`
		Temperature float64          `json:"temperature"`
		ToolChoice  string           `json:"tool_choice"`
		Tools       []map[string]any `json:"tools"`
		Output      []map[string]any `json:"output"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Model != "asked" || r.Temperature != 0.2 || r.ToolChoice != "required" || len(r.Tools) != 2 {
		t.Errorf("echoed settings: %s", out)
	}
	if len(r.Output) != 2 || r.Output[0]["namespace"] != "multi_agent_v1" || r.Output[1]["type"] != "custom_tool_call" || r.Output[1]["input"] != "patch" {
		t.Errorf("output %v", r.Output)
	}
}
