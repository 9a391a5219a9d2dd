package anthropic

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/gemini"
	"github.com/llmgate/llmgate/internal/provider/openai"
)

// captureFile is a request body that the real Claude Code 2.1.197 sent for
// model gpt-4o (claude -p "run the echo command" --allowedTools Bash), its
// second turn: after the tool call. Only the device and session ids in
// metadata.user_id were replaced. It has what a claude-* model name does not
// show: a {"role":"system"} message at messages[1] (the
// mid-conversation-system beta), between the user turn and the assistant's
// tool_use.
const captureFile = "testdata/claude_code_2.1.197_gpt-4o_tool_result.json"

func loadCapture(t *testing.T) ([]byte, *provider.Request) {
	t.Helper()
	body, err := os.ReadFile(captureFile)
	if err != nil {
		t.Fatal(err)
	}
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatalf("DecodeRequest of what Claude Code sent: %v", err)
	}
	return body, req
}

func roles(msgs []provider.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Role)
	}
	return out
}

func TestClaudeCodeCaptureDecodes(t *testing.T) {
	_, req := loadCapture(t)
	if got, want := roles(req.Messages), []string{"user", "system", "assistant", "user"}; !slices.Equal(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	if sys := req.Messages[1].Parts; len(sys) != 1 || !strings.HasPrefix(sys[0].Text, "Available agent types for the Agent tool") {
		t.Errorf("system message %+v", sys)
	}
	if len(req.System) != 3 || !strings.HasPrefix(req.System[0].Text, "x-anthropic-billing-header") {
		t.Errorf("system prompt: %d parts", len(req.System))
	}
	if len(req.Tools) != 24 || req.Tools[1].Name != "Bash" {
		t.Errorf("%d tools", len(req.Tools))
	}
	res := req.Messages[3].Parts[0].ToolResult
	if res == nil || res.ToolCallID != "toolu_01" || res.Name != "Bash" || len(res.Content) != 1 || res.Content[0].Text != "hi-from-tool" {
		t.Errorf("tool result %+v", req.Messages[3].Parts[0])
	}
	if req.ReasoningEffort != "high" || req.MaxTokens == nil || *req.MaxTokens != 32000 || !req.Stream {
		t.Errorf("effort %q, max_tokens %v, stream %v", req.ReasoningEffort, req.MaxTokens, req.Stream)
	}
	for _, d := range []string{"context_management", "cache_control"} {
		if !slices.Contains(req.Dropped, d) {
			t.Errorf("Dropped %v lacks %s", req.Dropped, d)
		}
	}
}

// TestClaudeCodeCaptureToOpenAI: the system message stays in place as a
// system message, after the leading system prompt.
func TestClaudeCodeCaptureToOpenAI(t *testing.T) {
	_, req := loadCapture(t)
	for _, dev := range []bool{false, true} {
		body, err := openai.NewUpstream(openai.Options{DeveloperRole: dev}).EncodeRequest(req, "gpt-4o-2024-11-20")
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			User     string `json:"user"`
			Messages []struct {
				Role       string          `json:"role"`
				Content    json.RawMessage `json:"content"`
				ToolCallID string          `json:"tool_call_id"`
			} `json:"messages"`
			Tools []json.RawMessage `json:"tools"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		sys := "system"
		if dev {
			sys = "developer"
		}
		var got []string
		for _, m := range out.Messages {
			got = append(got, m.Role)
		}
		if want := []string{sys, "user", sys, "assistant", "tool"}; !slices.Equal(got, want) {
			t.Fatalf("roles %v, want %v", got, want)
		}
		if !bytes.HasPrefix(out.Messages[2].Content, []byte(`"Available agent types`)) {
			t.Errorf("messages[2] %.80s", out.Messages[2].Content)
		}
		if out.Messages[4].ToolCallID != "toolu_01" || string(out.Messages[4].Content) != `"hi-from-tool"` {
			t.Errorf("tool message %+v", out.Messages[4])
		}
		if len(out.Tools) != 24 {
			t.Errorf("%d tools", len(out.Tools))
		}
		// OpenAI takes at most 64 characters; Claude Code's user_id is a
		// JSON object of ids.
		if len(out.User) == 0 || len(out.User) > 64 || strings.Contains(out.User, "device_id") {
			t.Errorf("user %q", out.User)
		}
		for _, f := range []string{"cache_control", "context_management", "thinking", "output_config", "input_schema"} {
			if bytes.Contains(body, []byte(`"`+f+`"`)) {
				t.Errorf("the OpenAI body has Anthropic's %s", f)
			}
		}
	}
}

// TestClaudeCodeCaptureToGemini: Gemini contents are user and model turns
// only, so the system message joins systemInstruction, last.
func TestClaudeCodeCaptureToGemini(t *testing.T) {
	_, req := loadCapture(t)
	body, err := gemini.NewUpstream(gemini.Options{}).EncodeRequest(req, "gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		SystemInstruction struct {
			Parts []struct {
				Text string `json:"text"`
			} `json:"parts"`
		} `json:"systemInstruction"`
		Contents []struct {
			Role  string            `json:"role"`
			Parts []json.RawMessage `json:"parts"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range out.Contents {
		got = append(got, c.Role)
	}
	if want := []string{"user", "model", "user"}; !slices.Equal(got, want) {
		t.Fatalf("contents roles %v, want %v", got, want)
	}
	si := out.SystemInstruction.Parts
	if len(si) != 4 || !strings.HasPrefix(si[3].Text, "Available agent types") {
		t.Errorf("systemInstruction has %d parts, want the 3 of the system prompt then the system message", len(si))
	}
	if !bytes.Contains(out.Contents[1].Parts[0], []byte(`"functionCall"`)) || !bytes.Contains(out.Contents[2].Parts[0], []byte(`"functionResponse"`)) {
		t.Errorf("tool round trip: %s / %s", out.Contents[1].Parts[0], out.Contents[2].Parts[0])
	}
}

// TestClaudeCodeCaptureToAnthropic: translated (not passed through) to an
// Anthropic upstream, the system message joins system: a role "system"
// message needs a beta header that Anthropic-compatible servers lack.
// Passthrough keeps the body byte for byte.
func TestClaudeCodeCaptureToAnthropic(t *testing.T) {
	body, req := loadCapture(t)
	out, err := NewUpstream(Options{}).EncodeRequest(req, "claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Client{}.DecodeRequest(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := roles(again.Messages), []string{"user", "assistant", "user"}; !slices.Equal(got, want) {
		t.Errorf("roles %v, want %v", got, want)
	}
	if n := len(again.System); n != 4 || !strings.HasPrefix(again.System[3].Text, "Available agent types") {
		t.Errorf("system has %d parts", n)
	}

	same, _, err := Passthrough{}.RewriteRequest(body, "gpt-4o", true)
	if err != nil || !bytes.Equal(same, body) {
		t.Errorf("passthrough with the same model changed the body (err %v)", err)
	}
	renamed, _, err := Passthrough{}.RewriteRequest(body, "claude-sonnet-4-5-20250929", true)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Replace(body, []byte(`"model":"gpt-4o"`), []byte(`"model":"claude-sonnet-4-5-20250929"`), 1); !bytes.Equal(renamed, want) {
		t.Errorf("passthrough changed more than the model")
	}
}

// TestSystemMessages covers the shapes of system messages in messages[].
func TestSystemMessages(t *testing.T) {
	body := []byte(`{"model":"m","max_tokens":10,"system":"top","messages":[
		{"role":"system","content":"first"},
		{"role":"user","content":"hi"},
		{"role":"system","content":[{"type":"text","text":"second","cache_control":{"type":"ephemeral"}},{"type":"text","text":"third"}]},
		{"role":"system","content":""},
		{"role":"assistant","content":"hello"}]}`)
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := roles(req.Messages), []string{"system", "user", "system", "assistant"}; !slices.Equal(got, want) {
		t.Fatalf("roles %v, want %v (an empty system message is dropped)", got, want)
	}
	if p := req.Messages[2].Parts; len(p) != 2 || p[0].Text != "second" || p[1].Text != "third" {
		t.Errorf("block system message %+v", p)
	}
	oa, err := openai.NewUpstream(openai.Options{}).EncodeRequest(req, "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"messages":[{"role":"system","content":"top"},{"role":"system","content":"first"},{"role":"user","content":"hi"},{"role":"system","content":"second\n\nthird"},{"role":"assistant","content":"hello"}]`; !bytes.Contains(oa, []byte(want)) {
		t.Errorf("OpenAI body %s\nwant %s", oa, want)
	}
	ge, err := gemini.NewUpstream(gemini.Options{}).EncodeRequest(req, "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"systemInstruction":{"parts":[{"text":"top"},{"text":"first"},{"text":"second"},{"text":"third"}]}`; !bytes.Contains(ge, []byte(want)) {
		t.Errorf("Gemini body %s\nwant %s", ge, want)
	}
	an, err := NewUpstream(Options{}).EncodeRequest(req, "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"system":[{"type":"text","text":"top"},{"type":"text","text":"first"},{"type":"text","text":"second"},{"type":"text","text":"third"}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant"`; !bytes.Contains(an, []byte(want)) {
		t.Errorf("Anthropic body %s\nwant %s", an, want)
	}
}

// TestClaudeCodeExtras: members of the real API that Claude Code sends (or
// may) decode without an error; structured outputs become ResponseFormat;
// the rest is noted as dropped.
func TestClaudeCodeExtras(t *testing.T) {
	body := []byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
		{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}},
		{"type":"tool_result","tool_use_id":"t1","content":[{"type":"tool_reference","tool_name":"X"}]}]}],
		"tools":[{"name":"Read","input_schema":{"type":"object"},"input_examples":[{"path":"/a"}],"defer_loading":true,"strict":true,"eager_input_streaming":true,"cache_control":{"type":"ephemeral"}},
			{"type":"web_search_20250305","name":"web_search"},{"type":"tool_search_tool_regex_20251119","name":"tool_search"}],
		"thinking":{"type":"adaptive"},"output_config":{"effort":"max","format":{"type":"json_schema","schema":{"type":"object"}}},
		"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"speed":"fast","service_tier":"auto",
		"container":"c1","mcp_servers":[{"type":"url","url":"http://x","name":"x"}],"diagnostics":{"previous_message_id":null},
		"metadata":{"user_id":"u"}}`)
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Tools) != 1 || req.Tools[0].Name != "Read" {
		t.Errorf("tools %+v", req.Tools)
	}
	if rf := req.ResponseFormat; rf == nil || rf.Type != "json_schema" || string(rf.Schema) != `{"type":"object"}` {
		t.Errorf("ResponseFormat %+v", rf)
	}
	if req.ReasoningEffort != "high" {
		t.Errorf("effort %q", req.ReasoningEffort)
	}
	want := []string{"cache_control", "tools.cache_control", "tools.input_examples", "tools.defer_loading", "tools.strict",
		"tools.eager_input_streaming", "server tool web_search_20250305", "server tool tool_search_tool_regex_20251119",
		"context_management", "container", "mcp_servers", "service_tier", "speed", "diagnostics"}
	for _, w := range want {
		if !slices.Contains(req.Dropped, w) {
			t.Errorf("Dropped %v lacks %s", req.Dropped, w)
		}
	}
}
