package mock_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/llmgate/llmgate/internal/mock"
)

// TestOptionsCall: Options.Call picks the tool (or none) instead of the
// first tool offered, and a tool result is still answered with text.
func TestOptionsCall(t *testing.T) {
	var seen []string
	call := func(tools []string, lastUser string) (string, string) {
		seen = tools
		if strings.Contains(lastUser, "shell") {
			return "Bash", `{"command":"echo hi"}`
		}
		return "", ""
	}
	_, srv := start(t, mock.Options{Call: call})
	c := anthropicClient(srv)
	tools := []anthropic.ToolUnionParam{
		{OfTool: &anthropic.ToolParam{Name: "Agent", InputSchema: anthropic.ToolInputSchemaParam{}}},
		{OfTool: &anthropic.ToolParam{Name: "Bash", InputSchema: anthropic.ToolInputSchemaParam{}}},
	}
	ask := func(msgs ...anthropic.MessageParam) *anthropic.Message {
		t.Helper()
		p := messageParams(msgs...)
		p.Tools = tools
		m, err := c.Messages.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	m := ask(anthropic.NewUserMessage(anthropic.NewTextBlock("use the shell")))
	if len(m.Content) != 1 || m.Content[0].Type != "tool_use" || m.Content[0].Name != "Bash" || string(m.Content[0].Input) != `{"command":"echo hi"}` {
		t.Errorf("reply %s, want a Bash call", m.RawJSON())
	}
	if !slices.Equal(seen, []string{"Agent", "Bash"}) {
		t.Errorf("Call saw tools %v", seen)
	}

	m = ask(anthropic.NewUserMessage(anthropic.NewTextBlock("just talk")))
	if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text != "Mock reply to: just talk" {
		t.Errorf("reply %s, want text (Call said no tool)", m.RawJSON())
	}

	m = ask(anthropic.NewUserMessage(anthropic.NewTextBlock("use the shell")),
		anthropic.NewAssistantMessage(anthropic.NewToolUseBlock("toolu_1", map[string]any{"command": "echo hi"}, "Bash")),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_1", "hi", false)))
	if len(m.Content) != 1 || m.Content[0].Text != "Mock reply to tool result: hi" {
		t.Errorf("reply %s, want the answer to the tool result", m.RawJSON())
	}
}
