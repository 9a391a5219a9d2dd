package tokens

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// Known counts, from OpenAI's tiktoken (the vectors tiktoken-go/tokenizer
// tests against, and tiktoken's README).
func TestCountKnown(t *testing.T) {
	const shakespeare = "We know what we are, but know not what we may be."
	tests := []struct {
		name  string
		model string
		text  string
		want  int
	}{
		{"o200k hello world", "gpt-4o", "hello world", 2},
		{"o200k double space", "gpt-4o-mini", "hello  world", 3},
		{"o200k long word", "gpt-5", "supercalifragilistic", 6},
		{"o200k sentence", "o3-mini", shakespeare, 14},
		{"o200k dated", "gpt-4.1-2025-04-14", "hello world", 2},
		{"cl100k hello world", "gpt-4", "hello world", 2},
		{"cl100k long word", "gpt-3.5-turbo", "supercalifragilistic", 7},
		{"cl100k sentence", "text-embedding-3-small", shakespeare, 14},
		{"cl100k readme", "gpt-4-turbo", "tiktoken is great!", 6},
		{"DEL alone", "gpt-4o", "\x7f", 1},
		{"DEL between letters", "gpt-4", "a\x7fb", 3},
		{"empty", "gpt-4o", "", 0},
		{"empty estimate", "claude-sonnet-4-5", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Count(tt.model, tt.text); got != tt.want {
				t.Fatalf("Count(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

func TestWarm(t *testing.T) {
	Warm()
	Warm()
	if got := Count("gpt-4", "hello world"); got != 2 {
		t.Fatalf("Count after Warm = %d", got)
	}
}

func TestEncoding(t *testing.T) {
	tests := []struct {
		model string
		want  string
	}{
		{"gpt-4o", O200kBase},
		{"gpt-4o-mini-2024-07-18", O200kBase},
		{"chatgpt-4o-latest", O200kBase},
		{"gpt-4.1-nano", O200kBase},
		{"gpt-4.5-preview", O200kBase},
		{"gpt-5", O200kBase},
		{"gpt-5.1", O200kBase},
		{"gpt-5-mini", O200kBase},
		{"o1", O200kBase},
		{"o1-pro", O200kBase},
		{"o3", O200kBase},
		{"o3-mini", O200kBase},
		{"o4-mini", O200kBase},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc", O200kBase},
		{"gpt-oss-120b", O200kBase},
		{"gpt-4", Cl100kBase},
		{"gpt-4-turbo", Cl100kBase},
		{"gpt-4-0613", Cl100kBase},
		{"gpt-3.5-turbo", Cl100kBase},
		{"gpt-35-turbo", Cl100kBase},
		{"text-embedding-3-large", Cl100kBase},
		{"text-embedding-ada-002", Cl100kBase},
		{"davinci-002", Cl100kBase},
		{"o100x", ""},
		{"o3mini", ""},
		{"gpt-4x", ""},
		{"claude-sonnet-4-5", ""},
		{"gemini-2.5-pro", ""},
		{"deepseek-chat", ""},
		{"llama-3.3-70b-versatile", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := Encoding(tt.model); got != tt.want {
				t.Fatalf("Encoding(%q) = %q, want %q", tt.model, got, tt.want)
			}
			if got := Exact(tt.model); got != (tt.want != "") {
				t.Fatalf("Exact(%q) = %v", tt.model, got)
			}
		})
	}
}

func TestEstimate(t *testing.T) {
	tests := []struct {
		name  string
		model string
		text  string
		want  int
	}{
		{"claude 3.5 chars", "claude-sonnet-4-5", strings.Repeat("a", 35), 10},
		{"claude rounds up", "claude-haiku-4-5", strings.Repeat("a", 36), 11},
		{"gemini 4 chars", "gemini-2.5-flash", strings.Repeat("a", 40), 10},
		{"gemma 4 chars", "gemma-3-27b-it", strings.Repeat("a", 40), 10},
		{"others 3.7 chars", "deepseek-chat", strings.Repeat("a", 37), 10},
		{"one char is a token", "mistral-small-latest", "a", 1},
		{"non-ASCII is a token each", "claude-opus-4-5", "日本語", 3},
		{"mixed", "claude-opus-4-5", "café au lait", 5}, // 11 ASCII -> 4, plus é
		{"stray continuation byte", "llama3", "\x80", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Count(tt.model, tt.text); got != tt.want {
				t.Fatalf("Count(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

func TestCountIsPositiveAndGrows(t *testing.T) {
	for _, model := range []string{"gpt-4o", "gpt-4", "claude-sonnet-4-5", "gemini-2.5-pro", "deepseek-chat"} {
		prev := 0
		var b strings.Builder
		for i := range 200 {
			fmt.Fprintf(&b, "word%d ", i)
			n := Count(model, b.String())
			if n < 1 || n < prev {
				t.Fatalf("%s: Count after %d words = %d, previous %d", model, i+1, n, prev)
			}
			prev = n
		}
	}
}

func TestEstimateRequestArithmetic(t *testing.T) {
	// Claude model: 3.5 ASCII characters per token, rounded up per string.
	req := &provider.Request{
		System: []provider.Part{{Type: provider.PartText, Text: strings.Repeat("s", 35)}}, // 10
		Messages: []provider.Message{
			{Role: provider.RoleUser, Parts: []provider.Part{
				{Type: provider.PartText, Text: strings.Repeat("u", 7)}, // 2
				{Type: provider.PartImage, Media: &provider.Media{Detail: "low"}},
				{Type: provider.PartImage, Media: &provider.Media{MediaType: "image/png", Data: "AAAA"}},
			}},
			{Role: provider.RoleAssistant, Parts: []provider.Part{
				{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{
					ID: "call_1", Name: "read_file", Arguments: json.RawMessage(`{"path":"a.go"}`), // 3 + 5
				}},
			}},
			{Role: provider.RoleUser, Parts: []provider.Part{
				{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{
					ToolCallID: "call_1",
					Content:    []provider.Part{{Type: provider.PartText, Text: strings.Repeat("r", 70)}}, // 20
				}},
			}},
		},
		Tools: []provider.Tool{{
			Name:        "read_file",                          // 3
			Description: strings.Repeat("d", 14),              // 4
			Parameters:  json.RawMessage(`{"type":"object"}`), // 17 bytes -> 5
		}},
	}
	want := ReplyPrimer +
		MessageOverhead + 10 + // system
		MessageOverhead + 2 + LowDetailImage + ImageEstimate +
		MessageOverhead + 3 + 5 +
		MessageOverhead + MessageOverhead + 20 +
		3 + 4 + 5
	if got := EstimateRequest("claude-sonnet-4-5", req); got != want {
		t.Fatalf("EstimateRequest = %d, want %d", got, want)
	}
}

func TestEstimateRequestOpenAIUsesTokenizer(t *testing.T) {
	req := &provider.Request{Messages: []provider.Message{
		{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartText, Text: "hello world"}}},
	}}
	// The cookbook's figure for one "hello world" user message.
	if got, want := EstimateRequest("gpt-4o", req), ReplyPrimer+MessageOverhead+2; got != want {
		t.Fatalf("EstimateRequest = %d, want %d", got, want)
	}
}

func TestEstimateRequestMonotonic(t *testing.T) {
	for _, model := range []string{"gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"} {
		t.Run(model, func(t *testing.T) {
			if got := EstimateRequest(model, nil); got != 0 {
				t.Errorf("nil request = %d", got)
			}
			req := &provider.Request{Model: model}
			prev := EstimateRequest(model, req)
			if prev <= 0 {
				t.Fatalf("empty request = %d, want > 0", prev)
			}
			grow := []func(){
				func() {
					req.System = append(req.System, provider.Part{Type: provider.PartText, Text: "You are terse."})
				},
				func() {
					req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser,
						Parts: []provider.Part{{Type: provider.PartText, Text: "What is in a.go?"}}})
				},
				func() {
					req.Tools = append(req.Tools, provider.Tool{Name: "read_file", Description: "Reads a file.",
						Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`)})
				},
				func() {
					req.Messages = append(req.Messages, provider.Message{Role: provider.RoleAssistant,
						Parts: []provider.Part{{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{
							ID: "c1", Name: "read_file", Arguments: json.RawMessage(`{"path":"a.go"}`)}}}})
				},
				func() {
					req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser,
						Parts: []provider.Part{{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{
							ToolCallID: "c1", Content: []provider.Part{{Type: provider.PartText, Text: "package a"}}}}}})
				},
				func() {
					req.Messages[0].Parts = append(req.Messages[0].Parts,
						provider.Part{Type: provider.PartImage, Media: &provider.Media{URL: "https://example.com/a.png"}})
				},
				func() {
					req.Messages[0].Parts[0].Text += " And in b.go, c.go and d.go?"
				},
				func() {
					req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "answer",
						Schema: json.RawMessage(`{"type":"object"}`)}
				},
			}
			for i, g := range grow {
				g()
				n := EstimateRequest(model, req)
				if n <= prev {
					t.Fatalf("step %d: estimate %d did not grow from %d", i, n, prev)
				}
				prev = n
			}
		})
	}
}

func TestEstimateRequestToleratesNilPointers(t *testing.T) {
	req := &provider.Request{Messages: []provider.Message{{Role: provider.RoleUser, Parts: []provider.Part{
		{Type: provider.PartImage}, {Type: provider.PartToolCall}, {Type: provider.PartToolResult}, {Type: "unknown"},
	}}}}
	if got, want := EstimateRequest("gpt-4o", req), ReplyPrimer+MessageOverhead+ImageEstimate; got != want {
		t.Fatalf("EstimateRequest = %d, want %d", got, want)
	}
}

func TestMemoMatchesTokenizer(t *testing.T) {
	req := claudeCodeRequest()
	if n := requestBytes(req); n < 25_000 || n > 40_000 {
		t.Fatalf("benchmark request is %d bytes, want about 30 KB", n)
	}
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		cold := estimateRequest(model, req, false)
		for range 2 { // a miss that fills the memo, then hits
			if got := EstimateRequest(model, req); got != cold {
				t.Fatalf("%s: EstimateRequest = %d, tokenizer alone %d", model, got, cold)
			}
		}
	}
}

func TestMemoIsBounded(t *testing.T) {
	m := newMemo(4)
	for k := range uint64(100) {
		m.put(k, int(k))
	}
	if n := len(m.cur) + len(m.old); n > 8 {
		t.Fatalf("memo holds %d entries, want at most 8", n)
	}
	if _, ok := m.get(0); ok {
		t.Error("oldest entry survived")
	}
	// A hit in the old generation is kept through the next rotation.
	m = newMemo(2)
	m.put(1, 10)
	m.put(2, 20)
	m.put(3, 30) // 1 and 2 are now old
	if n, ok := m.get(1); !ok || n != 10 {
		t.Fatalf("get(1) = %d, %v", n, ok)
	}
	m.put(4, 40) // rotates: 3 and 1 become old, 2 is dropped
	if _, ok := m.get(1); !ok {
		t.Error("entry used after a rotation was dropped")
	}
	if _, ok := m.get(2); ok {
		t.Error("unused entry survived two rotations")
	}
}

// TestConcurrentCount races first use and steady use of both vocabularies.
func TestConcurrentCount(t *testing.T) {
	cases := []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "We know what we are, but know not what we may be.", 14},
		{"gpt-4", "supercalifragilistic", 7},
		{"claude-sonnet-4-5", strings.Repeat("a", 35), 10},
		// Long enough for the memo; compared with the tokenizer alone.
		{"gpt-4o-mini", strings.Repeat("hello world ", 20), -1},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				c := cases[(g+i)%len(cases)]
				if c.want < 0 {
					c.want, _ = encoders[Encoding(c.model)].count(c.text, false)
				}
				if got := Count(c.model, c.text); got != c.want {
					errs <- fmt.Sprintf("Count(%q) = %d, want %d", c.model, got, c.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func FuzzCount(f *testing.F) {
	for _, s := range []string{"hello world", "日本語", "\xff\xfe", "a\x00b", "<|endoftext|>", "   \n\n\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, model := range []string{"gpt-4o", "gpt-4", "claude-sonnet-4-5"} {
			n := Count(model, s)
			if (s == "") != (n == 0) || n < 0 {
				t.Fatalf("Count(%q, %q) = %d", model, s, n)
			}
			if enc := Encoding(model); enc != "" {
				if cold, _ := encoders[enc].count(s, false); cold != n {
					t.Fatalf("Count(%q, %q) = %d, tokenizer alone %d", model, s, n, cold)
				}
			}
		}
	})
}

// prompt2KB is about 2 KB of English prose with some code.
var prompt2KB = strings.Repeat("The gateway retries idempotent requests with jittered backoff; "+
	"func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) { return nil, nil }\n", 14)[:2048]

// BenchmarkCount measures Count on a 2 KB prompt: "cold" tokenizes every
// time (a text not seen before), "memo" is a text seen before.
func BenchmarkCount(b *testing.B) {
	for _, model := range []string{"gpt-4o", "gpt-4", "claude-sonnet-4-5"} {
		Count(model, "warm up")
		if enc := Encoding(model); enc != "" {
			b.Run(model+"/cold", func(b *testing.B) {
				b.SetBytes(int64(len(prompt2KB)))
				b.ReportAllocs()
				for b.Loop() {
					encoders[enc].count(prompt2KB, false)
				}
			})
			b.Run(model+"/memo", func(b *testing.B) {
				b.SetBytes(int64(len(prompt2KB)))
				b.ReportAllocs()
				for b.Loop() {
					Count(model, prompt2KB)
				}
			})
			continue
		}
		b.Run(model+"/estimate", func(b *testing.B) {
			b.SetBytes(int64(len(prompt2KB)))
			b.ReportAllocs()
			for b.Loop() {
				Count(model, prompt2KB)
			}
		})
	}
}

// claudeCodeRequest builds a request shaped like a coding agent's: a long
// system prompt, a dozen tools with long descriptions and schemas, and a
// few rounds of tool use; about 30 KB of text in all.
func claudeCodeRequest() *provider.Request {
	para := "Use this tool to search files in the workspace. Prefer it over shell commands; results are sorted by path. "
	req := &provider.Request{
		Model:  "claude-sonnet-4-5",
		System: []provider.Part{{Type: provider.PartText, Text: strings.Repeat("You are an interactive coding agent. Follow the repository's conventions. ", 80)}},
	}
	for i := range 12 {
		req.Tools = append(req.Tools, provider.Tool{
			Name:        fmt.Sprintf("tool_%d", i),
			Description: strings.Repeat(para, 8),
			Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"Absolute path"},` +
				`"pattern":{"type":"string","description":"Regular expression to match"},"limit":{"type":"integer","minimum":1}},` +
				`"required":["path"],"additionalProperties":false}`),
		})
	}
	for i := range 6 {
		id := fmt.Sprintf("toolu_%02d", i)
		req.Messages = append(req.Messages,
			provider.Message{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartText, Text: "Please fix the failing test in internal/server and explain the cause."}}},
			provider.Message{Role: provider.RoleAssistant, Parts: []provider.Part{
				{Type: provider.PartText, Text: "Let me look at the test first."},
				{Type: provider.PartToolCall, ToolCall: &provider.ToolCall{ID: id, Name: "tool_1", Arguments: json.RawMessage(`{"path":"/repo/internal/server/server_test.go","limit":200}`)}},
			}},
			provider.Message{Role: provider.RoleUser, Parts: []provider.Part{{Type: provider.PartToolResult, ToolResult: &provider.ToolResult{
				ToolCallID: id, Content: []provider.Part{{Type: provider.PartText, Text: strings.Repeat("func TestServe(t *testing.T) { srv := httptest.NewServer(h); defer srv.Close() }\n", 12)}},
			}}}},
		)
	}
	return req
}

func requestBytes(req *provider.Request) int {
	n := 0
	for _, p := range req.System {
		n += len(p.Text)
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			n += len(p.Text)
			if p.ToolCall != nil {
				n += len(p.ToolCall.Name) + len(p.ToolCall.Arguments)
			}
			if p.ToolResult != nil {
				for _, c := range p.ToolResult.Content {
					n += len(c.Text)
				}
			}
		}
	}
	return n
}

// BenchmarkEstimateRequest measures a coding agent's ~30 KB request. For
// gpt-4o, "cold" tokenizes everything (a first request), "memo" is the same
// request again (later turns resend the same system prompt and tools).
func BenchmarkEstimateRequest(b *testing.B) {
	req := claudeCodeRequest()
	cases := []struct {
		name, model string
		memo        bool
	}{
		{"claude-sonnet-4-5", "claude-sonnet-4-5", true},
		{"gpt-4o/cold", "gpt-4o", false},
		{"gpt-4o/memo", "gpt-4o", true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			estimateRequest(c.model, req, c.memo)
			b.SetBytes(int64(requestBytes(req)))
			b.ReportAllocs()
			for b.Loop() {
				estimateRequest(c.model, req, c.memo)
			}
		})
	}
}
