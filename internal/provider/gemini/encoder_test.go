package gemini

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// writeCounter records output and counts Write calls.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

type streamStep struct {
	ev   *provider.Event
	fail *provider.Error
}

func ev(e provider.Event) streamStep { return streamStep{ev: &e} }

var streamCases = []struct {
	name   string
	steps  []streamStep
	writes int // Write calls expected in all
}{
	{
		name: "text",
		steps: []streamStep{
			ev(provider.Event{Type: provider.EventStart, ID: "chatcmpl-1", Model: "gpt-4o", Usage: provider.Usage{InputTokens: 12}}),
			ev(provider.Event{Type: provider.EventText, Text: "Hel"}),
			ev(provider.Event{Type: provider.EventText, Text: ""}),
			ev(provider.Event{Type: provider.EventText, Text: "lo \"world\"\n"}),
			ev(provider.Event{Type: provider.EventStop, StopReason: provider.StopEndTurn}),
			ev(provider.Event{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 12, OutputTokens: 5, CachedTokens: 4}}),
		},
		writes: 3,
	},
	{
		name: "tool_calls",
		steps: []streamStep{
			ev(provider.Event{Type: provider.EventStart, ID: "msg_1", Model: "claude-sonnet-4-5"}),
			ev(provider.Event{Type: provider.EventThinking, Text: "Need two lookups.", Signature: "EqQBCkYIBxgC"}),
			ev(provider.Event{Type: provider.EventThinking, Signature: "EqQB"}),
			ev(provider.Event{Type: provider.EventText, Text: "Checking."}),
			ev(provider.Event{Type: provider.EventToolCall, ToolIndex: 0, ToolID: "toolu_1", ToolName: "get_weather"}),
			ev(provider.Event{Type: provider.EventToolArgs, ToolIndex: 0, Text: `{"city":`}),
			ev(provider.Event{Type: provider.EventToolArgs, ToolIndex: 0, Text: `"Lisbon"}`}),
			ev(provider.Event{Type: provider.EventToolCall, ToolIndex: 1, ToolID: "toolu_2", ToolName: "get_time", Signature: "c2ln"}),
			ev(provider.Event{Type: provider.EventToolArgs, ToolIndex: 0, Text: `ignored: call 0 was sent`}),
			ev(provider.Event{Type: provider.EventUsage, Usage: provider.Usage{InputTokens: 30, OutputTokens: 40, ReasoningTokens: 15}}),
			ev(provider.Event{Type: provider.EventStop, StopReason: provider.StopToolUse}),
		},
		writes: 5, // two thoughts, text, call 0, last chunk with call 1
	},
	{
		name: "fail",
		steps: []streamStep{
			ev(provider.Event{Type: provider.EventStart, Model: "gemini-2.5-flash"}),
			ev(provider.Event{Type: provider.EventText, Text: "partial"}),
			{fail: &provider.Error{Kind: provider.KindOverloaded, Message: "the upstream is overloaded; retry later", RetryAfter: 1500 * time.Millisecond}},
			ev(provider.Event{Type: provider.EventText, Text: "never written"}),
		},
		writes: 2,
	},
	{
		name: "max_tokens_no_content",
		steps: []streamStep{
			ev(provider.Event{Type: provider.EventStart}),
			ev(provider.Event{Type: provider.EventStop, StopReason: provider.StopMaxTokens}),
		},
		writes: 1,
	},
}

func runStream(t *testing.T, steps []streamStep, w *writeCounter) {
	t.Helper()
	enc := Client{}.NewStreamEncoder(w, &provider.Request{Model: "requested-model"})
	failed := false
	for _, s := range steps {
		var err error
		if s.fail != nil {
			err = enc.Fail(s.fail)
			failed = true
		} else {
			err = enc.Encode(*s.ev)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if failed {
		if err := enc.Fail(provider.Errorf(provider.KindServer, "again")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStreamEncoderGolden(t *testing.T) {
	for _, tt := range streamCases {
		t.Run(tt.name, func(t *testing.T) {
			var w writeCounter
			runStream(t, tt.steps, &w)
			if w.writes != tt.writes {
				t.Errorf("%d writes, want %d (one per chunk)", w.writes, tt.writes)
			}
			checkGolden(t, "testdata/stream/"+tt.name+".sse", w.Bytes())
		})
	}
}

// The stream encoder's output is read back by the Gemini stream decoder as
// the same text, calls, stop and usage.
func TestStreamEncoderDecoderRoundTrip(t *testing.T) {
	var w writeCounter
	runStream(t, streamCases[1].steps, &w)
	d := (&Upstream{}).NewStreamDecoder(&w.Buffer)
	var got []string
	var usage provider.Usage
	for {
		e, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case provider.EventText:
			got = append(got, "text:"+e.Text)
		case provider.EventToolCall:
			got = append(got, "call:"+e.ToolID+":"+e.ToolName+":"+e.Signature)
		case provider.EventToolArgs:
			got = append(got, "args:"+e.Text)
		case provider.EventStop:
			got = append(got, "stop:"+string(e.StopReason))
		case provider.EventUsage:
			provider.MergeUsage(&usage, e.Usage)
		}
	}
	want := []string{"text:Checking.", "call:toolu_1:get_weather:", `args:{"city":"Lisbon"}`,
		"call:toolu_2:get_time:c2ln", "args:{}", "stop:tool_use"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if want := (provider.Usage{InputTokens: 30, OutputTokens: 40, ReasoningTokens: 15}); usage != want {
		t.Errorf("usage %+v, want %+v", usage, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("client went away") }

func TestStreamEncoderReportsWriteErrors(t *testing.T) {
	enc := Client{}.NewStreamEncoder(failWriter{}, &provider.Request{})
	if err := enc.Encode(provider.Event{Type: provider.EventText, Text: "x"}); err == nil {
		t.Error("Encode hid the write error")
	}
}
