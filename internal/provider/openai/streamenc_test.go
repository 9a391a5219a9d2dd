package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// countingWriter records each Write separately.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

var textEvents = []provider.Event{
	{Type: provider.EventStart, ID: "msg_01ABC", Model: "claude-sonnet-4-5", Usage: provider.Usage{InputTokens: 61}},
	{Type: provider.EventThinking, Text: "Short."},
	{Type: provider.EventText, Text: "Clear skies"},
	{Type: provider.EventText, Text: ""},
	{Type: provider.EventText, Text: ", high of 24 °C.\n"},
	{Type: provider.EventStop, StopReason: provider.StopEndTurn},
	{Type: provider.EventUsage, Usage: provider.Usage{OutputTokens: 11, CachedTokens: 20}},
}

var toolEvents = []provider.Event{
	{Type: provider.EventStart, ID: "chatcmpl-T1", Model: "gpt-4o-mini"},
	{Type: provider.EventText, Text: "Checking."},
	{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "call_A", ToolName: "lookup_forecast"},
	{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"city":"Lis`},
	{Type: provider.EventToolArgs, ToolIndex: 0, Text: `bon"}`},
	{Type: provider.EventToolCall, ToolIndex: 1, ToolID: "call_B", ToolName: "lookup_forecast"},
	{Type: provider.EventToolArgs, ToolIndex: 1, Text: `{"city":"Porto"}`},
	{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 80, OutputTokens: 30}},
	{Type: provider.EventStop, StopReason: provider.StopToolUse},
}

// encodeStream runs events through a fresh encoder and closes it.
func encodeStream(t *testing.T, evs []provider.Event, includeUsage bool) *countingWriter {
	t.Helper()
	var w countingWriter
	enc := Client{Now: fixedClock}.NewStreamEncoder(&w, &provider.Request{Model: "asked-model", Stream: true, IncludeUsage: includeUsage})
	for _, ev := range evs {
		before := w.writes
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
		if w.writes-before > 1 {
			t.Fatalf("Encode(%v) made %d writes, want at most one", ev.Type, w.writes-before)
		}
	}
	before := w.writes
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if w.writes-before != 1 {
		t.Fatalf("Close made %d writes, want one", w.writes-before)
	}
	return &w
}

// chunk is what the framing checks read from each data line.
type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    *int    `json:"index"`
				ID       *string `json:"id"`
				Type     *string `json:"type"`
				Function struct {
					Name      *string `json:"name"`
					Arguments *string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
	raw   map[string]json.RawMessage
}

// parseFrames splits an OpenAI SSE body, checking it has only data lines,
// and reports whether it ended with [DONE].
func parseFrames(t *testing.T, body string) (chunks []chunk, done bool) {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", body)
	}
	for _, ev := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("event is not a single data line: %q", ev)
		}
		if done {
			t.Fatalf("event after [DONE]: %q", ev)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk is not JSON: %v: %s", err, data)
		}
		_ = json.Unmarshal([]byte(data), &c.raw)
		chunks = append(chunks, c)
	}
	return chunks, done
}

func TestStreamEncoderFraming(t *testing.T) {
	tests := []struct {
		name         string
		events       []provider.Event
		includeUsage bool
		wantFinish   string
		wantUsage    string // the usage chunk's usage, when includeUsage
	}{
		{"text with usage", textEvents, true, "stop",
			`{"prompt_tokens":61,"completion_tokens":11,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":0}}`},
		{"text without usage", textEvents, false, "stop", ""},
		{"tool calls with usage", toolEvents, true, "tool_calls",
			`{"prompt_tokens":80,"completion_tokens":30,"total_tokens":110,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}`},
		{"close without any event", nil, true, "stop",
			`{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}`},
		{"tool call without start or stop", []provider.Event{{Type: provider.EventToolCall, ToolName: "f"}, {Type: provider.EventToolArgs, Text: "{}"}}, false, "tool_calls", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := encodeStream(t, tt.events, tt.includeUsage)
			chunks, done := parseFrames(t, w.String())
			if !done {
				t.Fatal("stream does not end with data: [DONE]")
			}
			first := chunks[0]
			if len(first.Choices) != 1 || first.Choices[0].Delta.Role == nil || *first.Choices[0].Delta.Role != "assistant" ||
				first.Choices[0].Delta.Content == nil || *first.Choices[0].Delta.Content != "" {
				t.Errorf("first chunk must carry delta {role:assistant, content:\"\"}: %+v", first)
			}
			if !strings.HasPrefix(first.ID, "chatcmpl-") || first.Object != "chat.completion.chunk" || first.Created != 1767312000 || first.Model == "" {
				t.Errorf("first chunk header = %q %q %d %q", first.ID, first.Object, first.Created, first.Model)
			}
			finishAt := -1
			opened := map[int]bool{}
			for i, c := range chunks {
				if c.ID != first.ID || c.Created != first.Created || c.Model != first.Model {
					t.Errorf("chunk %d has id/created/model %q/%d/%q, want those of the first chunk", i, c.ID, c.Created, c.Model)
				}
				_, hasUsage := c.raw["usage"]
				isUsageChunk := len(c.Choices) == 0
				switch {
				case !tt.includeUsage && hasUsage:
					t.Errorf("chunk %d has usage, but the client did not ask for it", i)
				case tt.includeUsage && !isUsageChunk && string(c.Usage) != "null":
					t.Errorf("chunk %d usage = %s, want null", i, c.Usage)
				case isUsageChunk:
					if !tt.includeUsage || i != len(chunks)-1 {
						t.Errorf("usage chunk at %d of %d (includeUsage %v); want only as the last chunk", i, len(chunks), tt.includeUsage)
					}
					if string(c.Usage) != tt.wantUsage {
						t.Errorf("usage = %s, want %s", c.Usage, tt.wantUsage)
					}
					continue
				}
				ch := c.Choices[0]
				if ch.FinishReason != nil {
					if finishAt >= 0 {
						t.Errorf("second finish_reason at chunk %d", i)
					}
					finishAt = i
					if *ch.FinishReason != tt.wantFinish {
						t.Errorf("finish_reason = %q, want %q", *ch.FinishReason, tt.wantFinish)
					}
				}
				for _, tc := range ch.Delta.ToolCalls {
					if tc.Index == nil {
						t.Fatalf("chunk %d: tool call delta without index", i)
					}
					if !opened[*tc.Index] {
						opened[*tc.Index] = true
						if tc.ID == nil || *tc.ID == "" || tc.Type == nil || *tc.Type != "function" || tc.Function.Name == nil || tc.Function.Arguments == nil {
							t.Errorf("chunk %d: first delta of tool %d lacks id, type, name or arguments", i, *tc.Index)
						}
					} else if tc.ID != nil || tc.Type != nil || tc.Function.Name != nil {
						t.Errorf("chunk %d: later delta of tool %d repeats id/type/name", i, *tc.Index)
					}
				}
			}
			wantFinishAt := len(chunks) - 1
			if tt.includeUsage {
				wantFinishAt--
			}
			if finishAt != wantFinishAt {
				t.Errorf("finish chunk at %d, want %d (just before the usage chunk and [DONE])", finishAt, wantFinishAt)
			}
		})
	}
}

func TestStreamEncoderGolden(t *testing.T) {
	golden(t, "encoded/text.sse", encodeStream(t, textEvents, true).Bytes())
	golden(t, "encoded/tools.sse", encodeStream(t, toolEvents, false).Bytes())
}

func TestStreamEncoderFail(t *testing.T) {
	var w countingWriter
	enc := Client{Now: fixedClock}.NewStreamEncoder(&w, &provider.Request{Model: "m", IncludeUsage: true})
	if err := enc.Encode(provider.Event{Type: provider.EventText, Text: "Par"}); err != nil {
		t.Fatal(err)
	}
	mark := w.Len()
	if err := enc.Fail(&provider.Error{Kind: provider.KindOverloaded, Message: "upstream overloaded"}); err != nil {
		t.Fatal(err)
	}
	tail := w.String()[mark:]
	want := `data: {"error":{"message":"upstream overloaded","type":"server_error","param":null,"code":"overloaded"}}` + "\n\n"
	if tail != want {
		t.Errorf("Fail wrote %q, want %q", tail, want)
	}
	if err := enc.Close(); err != nil || w.String()[mark:] != want {
		t.Errorf("Close after Fail wrote more: %q (err %v)", w.String()[mark:], err)
	}
	if err := enc.Encode(provider.Event{Type: provider.EventText, Text: "x"}); err == nil {
		t.Error("Encode after Fail: want an error")
	}
}

// TestStreamRoundTrip decodes the encoder's output with the upstream
// decoder: what an OpenAI client would read is what the events said.
func TestStreamRoundTrip(t *testing.T) {
	w := encodeStream(t, toolEvents, true)
	evs, end := drain(t, NewUpstream(Options{}).NewStreamDecoder(&w.Buffer))
	if end != io.EOF {
		t.Fatalf("end = %v, want io.EOF", end)
	}
	var text, args strings.Builder
	var calls []string
	var stop provider.StopReason
	var usage provider.Usage
	for _, ev := range evs {
		switch ev.Type {
		case provider.EventText:
			text.WriteString(ev.Text)
		case provider.EventToolCall:
			calls = append(calls, ev.ToolID+":"+ev.ToolName)
		case provider.EventToolArgs:
			args.WriteString(ev.Text)
		case provider.EventStop:
			stop = ev.StopReason
		case provider.EventUsage:
			usage = ev.Usage
		}
	}
	if text.String() != "Checking." || strings.Join(calls, ",") != "call_A:lookup_forecast,call_B:lookup_forecast" ||
		args.String() != `{"city":"Lisbon"}{"city":"Porto"}` || stop != provider.StopToolUse || usage.Total() != 110 {
		t.Errorf("round trip: text %q calls %v args %q stop %s usage %+v", text.String(), calls, args.String(), stop, usage)
	}
}

func BenchmarkStreamEncoderText(b *testing.B) {
	ev := provider.Event{Type: provider.EventText, Text: " the quick brown fox"}
	enc := Client{Now: fixedClock}.NewStreamEncoder(io.Discard, &provider.Request{Model: "m", IncludeUsage: true})
	_ = enc.Encode(provider.Event{Type: provider.EventStart, ID: "chatcmpl-1", Model: "gpt-4o-mini"})
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}
