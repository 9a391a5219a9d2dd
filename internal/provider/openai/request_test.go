package openai

import (
	"errors"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantMsg   []string // substrings of the message
	}{
		{"empty body", ``, "", []string{"empty"}},
		{"malformed JSON names the offset", `{"model":"m","messages":[{"role":"user","content":"hi"}}`, "", []string{"at byte 55", "after array element"}},
		{"truncated", `{"model":"m","messages":[`, "", []string{"at byte 25", "unexpected end"}},
		{"not an object", `[1,2]`, "", []string{"must be a JSON object"}},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, "model", []string{`"model"`}},
		{"empty model", `{"model":"","messages":[{"role":"user","content":"hi"}]}`, "model", []string{`"model"`}},
		{"missing messages", `{"model":"m"}`, "messages", []string{`"messages"`}},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", []string{"empty"}},
		{"wrong type in a message", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":7}]}`, "messages[1].role", []string{"expected a string, got a number"}},
		{"wrong top-level type", `{"model":"m","messages":[{"role":"user","content":"a"}],"temperature":"hot"}`, "temperature", []string{"expected a number, got a string"}},
		{"unknown role", `{"model":"m","messages":[{"role":"robot","content":"a"}]}`, "messages[0].role", []string{`"robot"`}},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"a"}]}`, "messages[0].role", []string{"deprecated"}},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"a"}]}`, "messages[0].tool_call_id", nil},
		{"content of wrong type", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", []string{"string or an array"}},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"a"}]}`, "messages[0].content[0].type", nil},
		{"bad image URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0].image_url.url", nil},
		{"non-base64 data URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url", []string{"base64"}},
		{"stop of wrong type", `{"model":"m","messages":[{"role":"user","content":"a"}],"stop":5}`, "stop", nil},
		{"custom tool", `{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type", nil},
		{"tool without name", `{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", nil},
		{"bad tool_choice", `{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"sometimes"}`, "tool_choice", nil},
		{"json_schema without name", `{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{}}}`, "response_format.json_schema.name", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Client{}.DecodeRequest([]byte(tt.body))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *provider.Error", err)
			}
			if pe.Kind != provider.KindBadRequest || pe.HTTPStatus() != 400 {
				t.Errorf("kind = %s (HTTP %d), want bad_request 400", pe.Kind, pe.HTTPStatus())
			}
			if pe.Param != tt.wantParam {
				t.Errorf("param = %q, want %q (message %q)", pe.Param, tt.wantParam, pe.Message)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(pe.Message, s) {
					t.Errorf("message %q does not contain %q", pe.Message, s)
				}
			}
		})
	}
}

func TestDecodeRequestFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *provider.Request)
	}{
		{"max_completion_tokens wins over max_tokens", `{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":5,"max_completion_tokens":9}`,
			func(t *testing.T, r *provider.Request) {
				if r.MaxTokens == nil || *r.MaxTokens != 9 {
					t.Errorf("MaxTokens = %v, want 9", r.MaxTokens)
				}
			}},
		{"include_usage only when streaming", `{"model":"m","messages":[{"role":"user","content":"a"}],"stream":false,"stream_options":{"include_usage":true}}`,
			func(t *testing.T, r *provider.Request) {
				if r.Stream || r.IncludeUsage {
					t.Errorf("Stream=%v IncludeUsage=%v, want both false", r.Stream, r.IncludeUsage)
				}
			}},
		{"stream with usage", `{"model":"m","messages":[{"role":"user","content":"a"}],"stream":true,"stream_options":{"include_usage":true}}`,
			func(t *testing.T, r *provider.Request) {
				if !r.Stream || !r.IncludeUsage {
					t.Errorf("Stream=%v IncludeUsage=%v, want both true", r.Stream, r.IncludeUsage)
				}
			}},
		{"tool_choice strings", `{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"required"}`,
			func(t *testing.T, r *provider.Request) {
				if r.ToolChoice == nil || r.ToolChoice.Mode != provider.ToolChoiceRequired {
					t.Errorf("ToolChoice = %+v, want required", r.ToolChoice)
				}
			}},
		{"allowed_tools tool_choice", `{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[]}}}`,
			func(t *testing.T, r *provider.Request) {
				if r.ToolChoice == nil || r.ToolChoice.Mode != provider.ToolChoiceRequired {
					t.Errorf("ToolChoice = %+v, want required", r.ToolChoice)
				}
			}},
		{"tool arguments as an object and as garbage", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[
				{"id":"1","type":"function","function":{"name":"f","arguments":{"x":1}}},
				{"id":"2","type":"function","function":{"name":"g","arguments":"[1,2]"}},
				{"id":"3","type":"function","function":{"name":"h"}}]}]}`,
			func(t *testing.T, r *provider.Request) {
				parts := r.Messages[1].Parts
				want := []string{`{"x":1}`, `{}`, `{}`}
				for i, w := range want {
					if got := string(parts[i].ToolCall.Arguments); got != w {
						t.Errorf("call %d arguments = %s, want %s", i, got, w)
					}
				}
			}},
		{"tool messages split by a user message stay apart", `{"model":"m","messages":[
				{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"a","content":"1"},
				{"role":"user","content":"hm"},
				{"role":"tool","tool_call_id":"zzz","content":"2"}]}`,
			func(t *testing.T, r *provider.Request) {
				if len(r.Messages) != 4 {
					t.Fatalf("got %d messages, want 4", len(r.Messages))
				}
				if tr := r.Messages[1].Parts[0].ToolResult; tr.Name != "f" || tr.ToolCallID != "a" {
					t.Errorf("first result = %+v, want name f for id a", tr)
				}
				if tr := r.Messages[3].Parts[0].ToolResult; tr.Name != "" {
					t.Errorf("result for an unknown call has name %q, want empty", tr.Name)
				}
			}},
		{"null content and empty strings are dropped", `{"model":"m","messages":[{"role":"user","content":null},{"role":"assistant","content":""}]}`,
			func(t *testing.T, r *provider.Request) {
				if len(r.Messages) != 2 || len(r.Messages[0].Parts) != 0 || len(r.Messages[1].Parts) != 0 {
					t.Errorf("messages = %+v, want two without parts", r.Messages)
				}
			}},
		{"bare base64 file_data", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"notes.txt","file_data":"aGk="}}]}]}`,
			func(t *testing.T, r *provider.Request) {
				m := r.Messages[0].Parts[0].Media
				if m.MediaType != "text/plain" || m.Data != "aGk=" {
					t.Errorf("media = %+v, want text/plain aGk=", m)
				}
			}},
		{"user wins over safety_identifier", `{"model":"m","messages":[{"role":"user","content":"a"}],"user":"u","safety_identifier":"s"}`,
			func(t *testing.T, r *provider.Request) {
				if r.User != "u" {
					t.Errorf("User = %q, want u", r.User)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Client{}.DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}
