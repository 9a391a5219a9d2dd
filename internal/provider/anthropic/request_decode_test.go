package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// TestRequestGolden decodes each testdata/requests/*.json as a client body,
// then encodes the canonical request for an Anthropic upstream, and checks
// both against golden files.
func TestRequestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/requests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req, err := Client{}.DecodeRequest(body)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			checkGolden(t, "requests/"+name+".canonical.golden", dump(t, req))
			up := NewUpstream(Options{NewID: seqIDs()})
			out, err := up.EncodeRequest(req, "upstream-model")
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			checkGolden(t, "requests/"+name+".upstream.golden", indent(t, out))

			// What llmgate sends decodes to the same conversation.
			again, err := Client{}.DecodeRequest(out)
			if err != nil {
				t.Fatalf("re-decoding the upstream body: %v", err)
			}
			again.Model = req.Model
			again.ReasoningEffort = req.ReasoningEffort // not forwarded: see the package doc
			again.Dropped = req.Dropped                 // what was dropped is not sent
			if want := foldSystem(req); !reflect.DeepEqual(normalize(t, again), normalize(t, want)) {
				t.Errorf("round trip changed the request:\n%s\nwant\n%s", dump(t, again), dump(t, want))
			}
		})
	}
}

// foldSystem is r with its RoleSystem messages moved into System, as the
// upstream encoder sends them.
func foldSystem(r *provider.Request) *provider.Request {
	c := *r
	c.System = r.AllSystem()
	c.Messages = nil
	for _, m := range r.Messages {
		if m.Role != provider.RoleSystem {
			c.Messages = append(c.Messages, m)
		}
	}
	return &c
}

// normalize compacts raw JSON members so that formatting does not matter.
func normalize(t *testing.T, r *provider.Request) *provider.Request {
	t.Helper()
	var c provider.Request
	if err := json.Unmarshal(dump(t, r), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestDecodeRequestClaudeCode(t *testing.T) {
	body, err := os.ReadFile("testdata/requests/claude_code.json")
	if err != nil {
		t.Fatal(err)
	}
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(req.System); got != 2 || !strings.HasPrefix(req.System[0].Text, "You are Claude Code") {
		t.Errorf("system = %+v, want the two text blocks", req.System)
	}
	if len(req.Tools) != 3 {
		t.Errorf("tools = %d, want 3 (the web_search server tool skipped)", len(req.Tools))
	}
	if !strings.Contains(string(req.Tools[0].Parameters), `"$schema"`) {
		t.Errorf("input_schema lost its members: %s", req.Tools[0].Parameters)
	}
	if req.User != "user_5f2c9e_account_8d1b4a_session_3e7f0c" {
		t.Errorf("User = %q", req.User)
	}
	if req.ReasoningEffort != "high" || *req.MaxTokens != 32000 || !req.Stream {
		t.Errorf("effort %q max_tokens %v stream %v", req.ReasoningEffort, *req.MaxTokens, req.Stream)
	}
	last := req.Messages[len(req.Messages)-1]
	res := last.Parts[0].ToolResult
	if res == nil || res.Name != "Bash" || !res.IsError || !strings.Contains(res.Content[0].Text, "FAIL") {
		t.Errorf("first tool result = %+v, want Bash's error output with its name filled in", res)
	}
	if th := req.Messages[1].Parts[0]; th.Type != provider.PartThinking || th.Signature == "" {
		t.Errorf("thinking part = %+v, want text and signature", th)
	}
}

// claudeCodeBody builds a body the size of a real Claude Code request: two
// dozen tools whose schemas carry $schema, and a long history.
func claudeCodeBody(tools, turns int) []byte {
	var b strings.Builder
	b.WriteString(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],"tools":[`)
	for i := range tools {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"Tool%d","description":"%s","input_schema":{"type":"object","properties":{"path":{"type":"string","description":"%s"},"mode":{"type":"string","enum":["a","b","c"]},"opts":{"type":"object","properties":{"deep":{"type":"boolean"}},"additionalProperties":false}},"required":["path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}}`,
			i, strings.Repeat("Does a useful thing with files. ", 20), strings.Repeat("An absolute path. ", 5))
	}
	b.WriteString(`],"messages":[`)
	for i := range turns {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%d","content":"%s"},{"type":"text","text":"go on"}]},`, i-1, strings.Repeat(`line of output\n`, 30))
		fmt.Fprintf(&b, `{"role":"assistant","content":[{"type":"text","text":"Running it."},{"type":"tool_use","id":"toolu_%d","name":"Tool%d","input":{"path":"/repo/file%d.go"}}]}`, i, i%tools, i)
	}
	b.WriteString(`,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_` + fmt.Sprint(turns-1) + `","content":"done"}]}],"metadata":{"user_id":"u"},"thinking":{"type":"adaptive"},"context_management":{"edits":[]}}`)
	return []byte(b.String())
}

func TestDecodeRequestLargeClaudeCodeBody(t *testing.T) {
	body := claudeCodeBody(24, 40)
	if len(body) < 27_000 {
		t.Fatalf("fixture only %d bytes", len(body))
	}
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Tools) != 24 || len(req.Messages) != 81 {
		t.Fatalf("tools %d messages %d", len(req.Tools), len(req.Messages))
	}
	if got := req.Messages[2].Parts[0].ToolResult.Name; got != "Tool0" {
		t.Errorf("tool result name = %q, want Tool0", got)
	}
}

func TestDecodeRequestFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *provider.Request)
	}{
		{"string content and no max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, func(t *testing.T, r *provider.Request) {
			if r.MaxTokens != nil || r.Messages[0].Parts[0].Text != "hi" {
				t.Errorf("got %+v", r)
			}
		}},
		{"tool_choice any", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"any"}}`, func(t *testing.T, r *provider.Request) {
			if r.ToolChoice.Mode != provider.ToolChoiceRequired || r.ParallelToolCalls != nil {
				t.Errorf("got %+v %v", r.ToolChoice, r.ParallelToolCalls)
			}
		}},
		{"tool_choice none", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"none"}}`, func(t *testing.T, r *provider.Request) {
			if r.ToolChoice.Mode != provider.ToolChoiceNone {
				t.Errorf("got %+v", r.ToolChoice)
			}
		}},
		{"auto with parallel disabled", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`, func(t *testing.T, r *provider.Request) {
			if r.ToolChoice.Mode != provider.ToolChoiceAuto || r.ParallelToolCalls == nil || *r.ParallelToolCalls {
				t.Errorf("got %+v %v", r.ToolChoice, r.ParallelToolCalls)
			}
		}},
		{"thinking budget maps to effort", `{"model":"m","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":20000}}`, func(t *testing.T, r *provider.Request) {
			if r.ReasoningEffort != "high" {
				t.Errorf("effort = %q", r.ReasoningEffort)
			}
		}},
		{"thinking disabled", `{"model":"m","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"disabled"}}`, func(t *testing.T, r *provider.Request) {
			if r.ReasoningEffort != "" {
				t.Errorf("effort = %q", r.ReasoningEffort)
			}
		}},
		{"system string with escapes", `{"model":"m","system":"a\n\"b\"","messages":[{"role":"user","content":"hi"}]}`, func(t *testing.T, r *provider.Request) {
			if r.System[0].Text != "a\n\"b\"" {
				t.Errorf("system = %q", r.System[0].Text)
			}
		}},
		{"empty tools and unknown fields", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[],"service_tier":"auto","output_config":{"format":{"type":"json_schema"}}}`, func(t *testing.T, r *provider.Request) {
			if len(r.Tools) != 0 {
				t.Errorf("tools = %+v", r.Tools)
			}
		}},
		{"tool without schema", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"x","type":"custom"}]}`, func(t *testing.T, r *provider.Request) {
			if string(r.Tools[0].Parameters) != `{"type":"object","properties":{}}` {
				t.Errorf("parameters = %s", r.Tools[0].Parameters)
			}
		}},
		{"tool_use without input", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x"}]}]}`, func(t *testing.T, r *provider.Request) {
			if string(r.Messages[0].Parts[0].ToolCall.Arguments) != `{}` {
				t.Errorf("arguments = %s", r.Messages[0].Parts[0].ToolCall.Arguments)
			}
		}},
		{"message left empty is dropped", `{"model":"m","messages":[{"role":"user","content":""},{"role":"user","content":"hi"}]}`, func(t *testing.T, r *provider.Request) {
			if len(r.Messages) != 1 {
				t.Errorf("messages = %+v", r.Messages)
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

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		param     string
		inMessage string
	}{
		{"malformed JSON", `{"model":"m","messages":[}`, "", "at byte 25"},
		{"truncated", `{"model":"m"`, "", "not valid JSON"},
		{"not an object", `[]`, "", "expected object"},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, "model", "model"},
		{"missing messages", `{"model":"m"}`, "messages", "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "at least one"},
		{"wrong type", `{"model":"m","max_tokens":"100","messages":[{"role":"user","content":"hi"}]}`, "max_tokens", "expected number, got string"},
		{"content is a number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages.content", "string or array of content blocks"},
		{"bad role", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages.0.role", `"user", "assistant" or "system"`},
		{"missing content", `{"model":"m","messages":[{"role":"user"}]}`, "messages.0.content", "required"},
		{"tool_result without id", `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "messages.0.content.0.tool_use_id", "required"},
		{"image file source", `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages.0.content.0.source.type", "not supported"},
		{"bad tool_choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"maybe"}}`, "tool_choice.type", "unknown value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Client{}.DecodeRequest([]byte(tt.body))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != provider.KindBadRequest || pe.HTTPStatus() != 400 {
				t.Errorf("kind %s status %d, want bad_request 400", pe.Kind, pe.HTTPStatus())
			}
			if pe.Param != tt.param {
				t.Errorf("param = %q, want %q", pe.Param, tt.param)
			}
			if !strings.Contains(pe.Message, tt.inMessage) {
				t.Errorf("message %q does not contain %q", pe.Message, tt.inMessage)
			}
		})
	}
}

func TestDecodeCountTokens(t *testing.T) {
	req, err := DecodeCountTokens([]byte(`{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.MaxTokens != nil || req.Stream || req.Messages[0].Parts[0].Text != "hi" {
		t.Errorf("got %+v", req)
	}
	if got := string(EncodeCountTokensResponse(1873)); got != `{"input_tokens":1873}` {
		t.Errorf("EncodeCountTokensResponse = %s", got)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := claudeCodeBody(24, 40)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Client{}).DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
