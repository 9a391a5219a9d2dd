package openai

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fixedClock is the "created" time of every golden response and stream.
var fixedClock = func() time.Time { return time.Unix(1767312000, 0) }

// golden compares got with testdata/name, rewriting the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// compactDump renders v as indented JSON without null, "", false and empty
// members, so canonical golden files show only what was set.
func compactDump(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(prune(tree), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			switch e := e.(type) {
			case nil:
				delete(x, k)
				continue
			case string:
				if e == "" {
					delete(x, k)
					continue
				}
			case bool:
				if !e {
					delete(x, k)
					continue
				}
			case []any:
				if len(e) == 0 {
					delete(x, k)
					continue
				}
			}
			x[k] = e
		}
	case []any:
		for i := range x {
			x[i] = prune(x[i])
		}
	}
	return v
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestRequestGolden decodes each testdata/request/*.in.json client request,
// records its canonical form, and encodes it again for an upstream.
func TestRequestGolden(t *testing.T) {
	upstreams := map[string]Options{
		"deepseek": {MaxTokensField: "max_tokens", StreamUsage: true},
	}
	ins, err := filepath.Glob("testdata/request/*.in.json")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := Client{}.DecodeRequest(body)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			golden(t, "request/"+name+".canonical.json", compactDump(t, req))

			opts, ok := upstreams[name]
			if !ok {
				opts = Options{StreamUsage: true}
			}
			out, err := NewUpstream(opts).EncodeRequest(req, "upstream-"+req.Model)
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			golden(t, "request/"+name+".out.json", indentJSON(t, out))

			// What the upstream encoder wrote decodes again to the same
			// conversation (the model name aside).
			again, err := Client{}.DecodeRequest(out)
			if err != nil {
				t.Fatalf("re-decoding the encoded request: %v", err)
			}
			if len(again.Messages) != len(req.Messages) {
				t.Errorf("round trip changed the number of messages: %d, want %d", len(again.Messages), len(req.Messages))
			}
		})
	}
}

// TestResponseGolden encodes canonical responses as chat.completion bodies.
func TestResponseGolden(t *testing.T) {
	tests := []struct {
		name string
		resp provider.Response
	}{
		{"text", provider.Response{
			ID: "chatcmpl-Bx91aKq3", Model: "gpt-4o-mini-2024-07-18", StopReason: provider.StopEndTurn,
			Content: []provider.Part{{Type: provider.PartText, Text: "Clear skies, high of 24 °C.\n\"quoted\" <tag> \u2028"}},
			Usage:   provider.Usage{InputTokens: 61, OutputTokens: 11, CachedTokens: 20, ReasoningTokens: 3},
		}},
		{"tool_calls", provider.Response{
			ID: "msg_01XYZ", Model: "claude-sonnet-4-5", StopReason: provider.StopToolUse,
			Content: []provider.Part{
				{Type: provider.PartThinking, Text: "Need the forecast.", Signature: "sig"},
				{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "toolu_1", Name: "lookup_forecast", Arguments: json.RawMessage(`{"city":"Lisbon"}`)}},
				{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "toolu_2", Name: "lookup_forecast", Arguments: json.RawMessage(`{"city":"Porto"}`)}},
			},
			Usage: provider.Usage{InputTokens: 100, OutputTokens: 40, CacheWriteTokens: 10},
		}},
		{"length", provider.Response{
			ID: "gen-1", Model: "gemini-2.5-flash", StopReason: provider.StopMaxTokens,
			Content: []provider.Part{{Type: provider.PartText, Text: "Once upon a"}},
		}},
		{"named_tool_stop", provider.Response{
			ID: "chatcmpl-2", Model: "gpt-4o", StopReason: provider.StopEndTurn,
			Content: []provider.Part{
				{Type: provider.PartText, Text: "Calling it."},
				{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: "call_1", Name: "f"}},
			},
		}},
		{"refusal", provider.Response{
			ID: "chatcmpl-3", Model: "gpt-4o", StopReason: provider.StopContentFilter,
		}},
	}
	c := Client{Now: fixedClock}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := c.EncodeResponse(&tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "response/"+tt.name+".json", indentJSON(t, b))
		})
	}
}
