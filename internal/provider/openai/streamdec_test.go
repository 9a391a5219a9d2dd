package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/llmgate/llmgate/internal/provider"
)

// drain reads every event of a stream and the error that ended it.
func drain(t testing.TB, d provider.StreamDecoder) ([]provider.Event, error) {
	var evs []provider.Event
	for i := 0; i < 100000; i++ {
		ev, err := d.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	t.Fatal("decoder never ended")
	return nil, nil
}

var eventNames = map[provider.EventType]string{
	provider.EventStart: "start", provider.EventText: "text", provider.EventThinking: "thinking",
	provider.EventToolCall: "tool_call", provider.EventToolArgs: "tool_args", provider.EventUsage: "usage", provider.EventStop: "stop",
}

// renderEvents writes one line per event and one for the end, for golden
// files.
func renderEvents(evs []provider.Event, end error) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		fields := map[string]any{}
		switch ev.Type {
		case provider.EventStart:
			fields["id"], fields["model"] = ev.ID, ev.Model
		case provider.EventText, provider.EventThinking:
			fields["text"] = ev.Text
		case provider.EventToolCall:
			fields["index"], fields["id"], fields["name"] = ev.ToolIndex, ev.ToolID, ev.ToolName
		case provider.EventToolArgs:
			fields["index"], fields["text"] = ev.ToolIndex, ev.Text
		case provider.EventUsage:
			fields["usage"] = ev.Usage
		case provider.EventStop:
			fields["reason"] = ev.StopReason
		}
		j, _ := json.Marshal(fields)
		fmt.Fprintf(&b, "%s %s\n", eventNames[ev.Type], j)
	}
	var pe *provider.Error
	switch {
	case end == io.EOF:
		b.WriteString("end: EOF\n")
	case errors.As(end, &pe):
		fmt.Fprintf(&b, "end: error kind=%s type=%q code=%q message=%q\n", pe.Kind, pe.Type, pe.Code, pe.Message)
	default:
		fmt.Fprintf(&b, "end: %v\n", end)
	}
	return b.Bytes()
}

// TestStreamDecoderGolden decodes each recorded-style stream under
// testdata/stream, read whole, one byte at a time and in halves, and checks
// the events against the golden file.
func TestStreamDecoderGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/stream/*.sse")
	if err != nil || len(files) == 0 {
		t.Fatalf("no streams: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sse")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			evs, end := drain(t, NewUpstream(Options{}).NewStreamDecoder(bytes.NewReader(raw)))
			got := renderEvents(evs, end)
			golden(t, "stream/"+name+".events", got)
			for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(raw)), iotest.HalfReader(bytes.NewReader(raw))} {
				evs, end := drain(t, NewUpstream(Options{}).NewStreamDecoder(r))
				if again := renderEvents(evs, end); !bytes.Equal(again, got) {
					t.Errorf("chunked read differs:\n%s\nwant\n%s", again, got)
				}
			}
		})
	}
}

// TestStreamDecoderRules checks the rules users rely on, stream by stream.
func TestStreamDecoderRules(t *testing.T) {
	read := func(t *testing.T, name string) ([]provider.Event, error) {
		raw, err := os.ReadFile(filepath.Join("testdata/stream", name+".sse"))
		if err != nil {
			t.Fatal(err)
		}
		return drain(t, NewUpstream(Options{}).NewStreamDecoder(bytes.NewReader(raw)))
	}
	count := func(evs []provider.Event, typ provider.EventType) int {
		n := 0
		for _, ev := range evs {
			if ev.Type == typ {
				n++
			}
		}
		return n
	}
	t.Run("openai text: start first, usage, stop, EOF", func(t *testing.T) {
		evs, end := read(t, "openai_text")
		if end != io.EOF {
			t.Fatalf("end = %v, want io.EOF", end)
		}
		if evs[0].Type != provider.EventStart || evs[0].ID != "chatcmpl-Bx91aKq3" || evs[0].Model != "gpt-4o-mini-2024-07-18" {
			t.Errorf("first event = %+v, want start with id and model", evs[0])
		}
		last := evs[len(evs)-1]
		if last.Type != provider.EventUsage || last.Usage.InputTokens != 61 || last.Usage.CachedTokens != 32 {
			t.Errorf("last event = %+v, want the usage chunk", last)
		}
	})
	t.Run("ollama: complete calls on index 0 are two calls", func(t *testing.T) {
		evs, _ := read(t, "ollama_tools")
		var calls, args []provider.Event
		for _, ev := range evs {
			switch ev.Type {
			case provider.EventToolCall:
				calls = append(calls, ev)
			case provider.EventToolArgs:
				args = append(args, ev)
			}
		}
		if len(calls) != 2 || calls[0].ToolIndex != 0 || calls[1].ToolIndex != 1 || calls[1].ToolID != "call_cd34" {
			t.Fatalf("calls = %+v, want two with indexes 0 and 1", calls)
		}
		if len(args) != 2 || args[1].ToolIndex != 1 || args[1].Text != `{"city":"Porto"}` {
			t.Errorf("args = %+v, want full arguments for each call", args)
		}
	})
	t.Run("deepseek keep-alives ignored, reasoning kept", func(t *testing.T) {
		evs, end := read(t, "deepseek_reasoning")
		if end != io.EOF || count(evs, provider.EventThinking) != 1 || count(evs, provider.EventText) != 1 {
			t.Errorf("events %+v end %v: want one thinking, one text, EOF", evs, end)
		}
	})
	t.Run("vllm in-stream error", func(t *testing.T) {
		evs, end := read(t, "vllm_error")
		var pe *provider.Error
		if !errors.As(end, &pe) || pe.Kind != provider.KindServer || !strings.Contains(pe.Message, "CUDA") {
			t.Fatalf("end = %v, want the upstream's server error", end)
		}
		if count(evs, provider.EventText) != 1 {
			t.Errorf("text before the error lost: %+v", evs)
		}
	})
	t.Run("cut before finish is bad gateway", func(t *testing.T) {
		_, end := read(t, "cut_before_finish")
		var pe *provider.Error
		if !errors.As(end, &pe) || pe.Kind != provider.KindBadGateway || !strings.Contains(pe.Message, "ended before it finished") {
			t.Fatalf("end = %v, want KindBadGateway", end)
		}
	})
	t.Run("finish without DONE is a clean end", func(t *testing.T) {
		_, end := read(t, "finish_without_done")
		if end != io.EOF {
			t.Fatalf("end = %v, want io.EOF", end)
		}
	})
	t.Run("garbage chunk is bad gateway", func(t *testing.T) {
		_, end := read(t, "garbage")
		var pe *provider.Error
		if !errors.As(end, &pe) || pe.Kind != provider.KindBadGateway {
			t.Fatalf("end = %v, want KindBadGateway", end)
		}
	})
}

func TestStreamDecoderReadErrors(t *testing.T) {
	chunk := "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
	finish := "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
	reset := errors.New("connection reset by peer")
	tests := []struct {
		name      string
		r         io.Reader
		wantKind  provider.Kind // "" means io.EOF
		wantCause error
	}{
		{"reset mid-stream", io.MultiReader(strings.NewReader(chunk), iotest.ErrReader(reset)), provider.KindBadGateway, reset},
		{"reset after finish", io.MultiReader(strings.NewReader(chunk+finish), iotest.ErrReader(reset)), "", nil},
		{"canceled", io.MultiReader(strings.NewReader(chunk), iotest.ErrReader(context.Canceled)), provider.KindCanceled, context.Canceled},
		{"deadline", iotest.ErrReader(context.DeadlineExceeded), provider.KindTimeout, context.DeadlineExceeded},
		{"empty body", strings.NewReader(""), provider.KindBadGateway, nil},
		{"only keep-alives", strings.NewReader(": keep-alive\n\n\n\n: keep-alive\n\n"), provider.KindBadGateway, nil},
		{"named error event", strings.NewReader("event: error\ndata: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\"}}\n\n"), provider.KindRateLimited, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewUpstream(Options{}).NewStreamDecoder(tt.r)
			_, end := drain(t, d)
			if tt.wantKind == "" {
				if end != io.EOF {
					t.Fatalf("end = %v, want io.EOF", end)
				}
				return
			}
			var pe *provider.Error
			if !errors.As(end, &pe) || pe.Kind != tt.wantKind {
				t.Fatalf("end = %v, want kind %s", end, tt.wantKind)
			}
			if tt.wantCause != nil && !errors.Is(end, tt.wantCause) {
				t.Errorf("end = %v, want cause %v", end, tt.wantCause)
			}
			if _, again := d.Next(); again != end {
				t.Errorf("Next after the end = %v, want the same error", again)
			}
		})
	}
}

func BenchmarkStreamDecoder(b *testing.B) {
	raw, err := os.ReadFile("testdata/stream/openai_text.sse")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	r := bytes.NewReader(raw)
	for b.Loop() {
		r.Reset(raw)
		d := NewUpstream(Options{}).NewStreamDecoder(r)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}
