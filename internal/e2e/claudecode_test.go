package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
)

// claudeCodeBody is a request shaped like Claude Code's: system text blocks
// with cache_control, adaptive thinking, context_management, metadata with a
// JSON-string user_id, max_tokens 32000, and nTools tools whose
// input_schema carries $schema ("tools": [] when nTools is 0).
func claudeCodeBody(model string, nTools int, stream bool) []byte {
	tools := make([]map[string]any, 0, nTools)
	for i := range nTools {
		tools = append(tools, map[string]any{
			"name":        fmt.Sprintf("Tool%02d", i),
			"description": strings.Repeat(fmt.Sprintf("Tool %d does one thing well. ", i), 20),
			"input_schema": map[string]any{
				"$schema":              "http://json-schema.org/draft-07/schema#",
				"type":                 "object",
				"additionalProperties": false,
				"properties": map[string]any{
					"path":    map[string]any{"type": "string", "description": "absolute path"},
					"limit":   map[string]any{"type": "number"},
					"recurse": map[string]any{"type": "boolean"},
				},
				"required": []string{"path"},
			},
		})
	}
	body := map[string]any{
		"model":      model,
		"max_tokens": 32000,
		"stream":     stream,
		"system": []map[string]any{
			{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": map[string]any{"type": "ephemeral"}},
			{"type": "text", "text": strings.Repeat("Follow the instructions of the user carefully. ", 600), "cache_control": map[string]any{"type": "ephemeral"}},
		},
		"messages": []map[string]any{{
			"role": "user",
			"content": []map[string]any{
				{"type": "text", "text": "<system-reminder>This is a reminder.</system-reminder>"},
				{"type": "text", "text": "list the files here", "cache_control": map[string]any{"type": "ephemeral"}},
			},
		}},
		"tools":              tools,
		"thinking":           map[string]any{"type": "adaptive"},
		"output_config":      map[string]any{"effort": "high"},
		"context_management": map[string]any{"edits": []map[string]any{{"type": "clear_thinking_20251015", "keep": "all"}}},
		"metadata":           map[string]any{"user_id": `{"device_id":"d1","session_id":"s1"}`},
		"temperature":        1,
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return b
}

// TestClaudeCodeToOpenAI sends Claude Code's requests through the
// Anthropic SDK's beta endpoint (POST /v1/messages?beta=true) to an
// OpenAI-format upstream: the upstream must receive a clean chat
// completions body, and the SDK a well-formed answer.
func TestClaudeCodeToOpenAI(t *testing.T) {
	g := newGate(t, gateOptions{})
	for _, nTools := range []int{20, 0} {
		for _, stream := range []bool{true, false} {
			t.Run(fmt.Sprintf("%d_tools/%s", nTools, mode(stream)), func(t *testing.T) {
				g.reset()
				body := claudeCodeBody(modelOA, nTools, stream)
				if len(body) < 27000 {
					t.Fatalf("body is %d bytes; Claude Code sends 27-115 KB", len(body))
				}
				c := g.anthropic()
				opts := []anoption.RequestOption{
					anoption.WithRequestBody("application/json", body),
					anoption.WithHeader("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"),
					anoption.WithHeader("x-app", "cli"),
				}
				var msg anthropic.BetaMessage
				ctx := context.Background()
				if stream {
					s := c.Beta.Messages.NewStreaming(ctx, anthropic.BetaMessageNewParams{}, opts...)
					for s.Next() {
						if err := msg.Accumulate(s.Current()); err != nil {
							t.Fatalf("Accumulate: %v", err)
						}
					}
					if err := s.Err(); err != nil {
						t.Fatalf("stream: %v", err)
					}
				} else {
					out, err := c.Beta.Messages.New(ctx, anthropic.BetaMessageNewParams{}, opts...)
					if err != nil {
						t.Fatal(err)
					}
					msg = *out
				}
				in := g.lastInbound(t)
				if in.Path != "/v1/messages" || in.Query != "beta=true" {
					t.Errorf("the SDK sent %s?%s, want /v1/messages?beta=true", in.Path, in.Query)
				}
				if nTools > 0 {
					if len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" || msg.Content[0].Name != "Tool00" ||
						msg.StopReason != "tool_use" || msg.Content[0].ID == "" {
						t.Errorf("answer %s, want one tool_use of Tool00", msg.RawJSON())
					} else if !bytes.Contains(msg.Content[0].Input, []byte(`"path":"test"`)) {
						t.Errorf("tool input %s", msg.Content[0].Input)
					}
				} else if want := "Mock reply to: <system-reminder>This is a reminder.</system-reminder> list the files here"; len(msg.Content) != 1 || msg.Content[0].Text != want || msg.StopReason != "end_turn" {
					t.Errorf("answer %s, want the text %q and end_turn", msg.RawJSON(), want)
				}
				if msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
					t.Errorf("usage %+v", msg.Usage)
				}

				rec := g.lastUpstream(t, fmtOpenAI)
				if rec.Path != "/v1/chat/completions" {
					t.Fatalf("upstream path %s", rec.Path)
				}
				for _, field := range []string{"cache_control", "thinking", "context_management", "output_config", "anthropic-beta", "input_schema"} {
					if bytes.Contains(rec.Body, []byte(field)) {
						t.Errorf("the OpenAI upstream received Anthropic-only %s", field)
					}
				}
				up := decodeObject(t, rec.Body)
				tools, hasTools := up["tools"]
				switch {
				case nTools == 0 && hasTools:
					t.Errorf("an empty tools array reached the OpenAI upstream (it rejects one): %v", tools)
				case nTools == 0 && up["tool_choice"] != nil:
					t.Errorf("tool_choice without tools: %v", up["tool_choice"])
				case nTools > 0:
					list, _ := tools.([]any)
					if len(list) != nTools {
						t.Fatalf("%d tools upstream, want %d", len(list), nTools)
					}
					fn := asObject(asObject(list[0])["function"])
					if asObject(list[0])["type"] != "function" || fn["name"] != "Tool00" || asObject(fn["parameters"])["type"] != "object" {
						t.Errorf("first tool upstream %v", list[0])
					}
				}
				msgs, _ := up["messages"].([]any)
				if len(msgs) != 2 {
					t.Fatalf("%d messages upstream, want system and user", len(msgs))
				}
				sys := asObject(msgs[0])
				if sys["role"] != "system" || !strings.HasPrefix(textOf(sys["content"]), "You are Claude Code") ||
					!strings.Contains(textOf(sys["content"]), "Follow the instructions") {
					t.Errorf("system message upstream %.200v", sys)
				}
				if u := asObject(msgs[1]); u["role"] != "user" || !strings.Contains(textOf(u["content"]), "list the files here") {
					t.Errorf("user message upstream %v", u)
				}
				// Claude Code asks for 32000; gpt-4o takes at most 16384
				// and rejects more.
				if mt, _ := up["max_completion_tokens"].(float64); mt != 16384 {
					if mt2, _ := up["max_tokens"].(float64); mt2 != 16384 {
						t.Errorf("max tokens upstream: max_completion_tokens %v max_tokens %v, want gpt-4o's cap 16384", up["max_completion_tokens"], up["max_tokens"])
					}
				}
				if _, ok := up["reasoning_effort"]; ok {
					t.Errorf("reasoning_effort %v sent to gpt-4o, which rejects it", up["reasoning_effort"])
				}
				checkStreamFlag(t, up, stream)
			})
		}
	}
}

// TestClaudeCodeHeadWarmup checks Claude Code's HEAD / warm-up.
func TestClaudeCodeHeadWarmup(t *testing.T) {
	g := newGate(t, gateOptions{})
	resp, _ := g.do(t, http.MethodHead, "/", headersFor(fmtAnthropic), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD / = %d, want 200", resp.StatusCode)
	}
}

// lockedBuffer is a bytes.Buffer safe for the gateway's concurrent logging.
type lockedBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClaudeCodeCapture sends a request body captured from the real Claude
// Code 2.1.197 (a system message at messages[1], a Bash tool_use and its
// tool_result, thinking, context_management, cache_control) through the
// gateway to each upstream format: it is answered, and what a translation
// drops is logged at debug level.
func TestClaudeCodeCapture(t *testing.T) {
	body, err := os.ReadFile("../provider/anthropic/testdata/claude_code_2.1.197_gpt-4o_tool_result.json")
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	g := newGate(t, gateOptions{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h := headersFor(fmtAnthropic)
	h.Set("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,mid-conversation-system-2026-04-07,effort-2025-11-24")
	for _, up := range formats {
		t.Run(up, func(t *testing.T) {
			g.reset()
			b := bytes.Replace(body, []byte(`"model":"gpt-4o"`), []byte(`"model":"`+modelFor[up]+`"`), 1)
			resp, out := g.post(t, "/v1/messages?beta=true", h, b)
			if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte("event: message_stop")) ||
				!strings.HasPrefix(anthropicStreamText(out), "Mock reply to tool result: ") {
				t.Fatalf("status %d:\n%.1000s", resp.StatusCode, out)
			}
			if n := len(g.upstreamRequests(up)); n != 1 {
				t.Fatalf("the %s upstream got %d requests", up, n)
			}
			dropped := strings.Contains(logs.String(), "translation dropped request members") &&
				strings.Contains(logs.String(), "to="+up) && strings.Contains(logs.String(), "context_management")
			if up != fmtAnthropic && !dropped {
				t.Errorf("no debug log of what the translation to %s dropped:\n%s", up, logs.String())
			}
		})
	}
}

// anthropicStreamText joins the text deltas of an Anthropic event stream.
func anthropicStreamText(stream []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(string(stream), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Delta struct {
				Type, Text string
			} `json:"delta"`
		}
		if json.Unmarshal([]byte(data), &ev) == nil && ev.Delta.Type == "text_delta" {
			b.WriteString(ev.Delta.Text)
		}
	}
	return b.String()
}
