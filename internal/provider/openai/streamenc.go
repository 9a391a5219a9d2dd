package openai

import (
	"errors"
	"fmt"
	"github.com/llmgate/llmgate/internal/jsonw"
	"io"
	"strconv"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// errStreamEnded is returned by Encode after Close or Fail.
var errStreamEnded = errors.New("openai: stream already ended")

// NewStreamEncoder returns an encoder that writes canonical events to w as
// chat.completion.chunk SSE events, following the framing the SDK
// accumulators check: role in the first delta, id/type/name in each tool
// call's first delta, a non-null finish_reason before [DONE], and (when
// req.IncludeUsage) "usage":null on every chunk plus a final usage chunk
// with empty choices.
func (c Client) NewStreamEncoder(w io.Writer, req *provider.Request) provider.StreamEncoder {
	e := &streamEncoder{w: w, created: c.now().Unix()}
	if req != nil {
		e.model = req.Model
		e.includeUsage = req.IncludeUsage
	}
	return e
}

// streamEncoder is not safe for concurrent use; one goroutine drives a stream.
type streamEncoder struct {
	w            io.Writer
	created      int64
	model        string
	includeUsage bool

	prefix    []byte // {"id":...,"choices":[{"index":0,"delta":  shared by every chunk
	choicesAt int    // length of prefix up to and including "choices":[
	buf       []byte // reused for each write
	started   bool
	ended     bool

	tools    int // tool calls opened so far (highest ToolIndex + 1)
	stop     provider.StopReason
	sawStop  bool
	usage    provider.Usage
	chunkBuf []byte // scratch for one chunk's JSON
}

// Encode writes one chunk for ev. EventUsage and EventStop write nothing:
// they are held for Close.
func (e *streamEncoder) Encode(ev provider.Event) error {
	if e.ended {
		return errStreamEnded
	}
	e.buf = e.buf[:0]
	switch ev.Type {
	case provider.EventStart:
		if e.started {
			provider.MergeUsage(&e.usage, ev.Usage)
			return nil
		}
		e.start(ev.ID, ev.Model)
		provider.MergeUsage(&e.usage, ev.Usage)
	case provider.EventText:
		if ev.Text == "" {
			return nil
		}
		e.ensureStarted()
		e.appendChunk(func(b []byte) []byte {
			b = append(b, `{"content":`...)
			b = jsonw.AppendString(b, ev.Text)
			return append(b, '}')
		}, "")
	case provider.EventThinking:
		if ev.Text == "" {
			return nil
		}
		e.ensureStarted()
		e.appendChunk(func(b []byte) []byte {
			b = append(b, `{"reasoning_content":`...)
			b = jsonw.AppendString(b, ev.Text)
			return append(b, '}')
		}, "")
	case provider.EventToolCall:
		e.ensureStarted()
		if ev.ToolIndex >= e.tools {
			e.tools = ev.ToolIndex + 1
		}
		e.appendChunk(func(b []byte) []byte {
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(ev.ToolIndex), 10)
			b = append(b, `,"id":`...)
			b = jsonw.AppendString(b, toolCallID(ev.ToolID, ev.ToolIndex))
			b = append(b, `,"type":"function","function":{"name":`...)
			b = jsonw.AppendString(b, ev.ToolName)
			return append(b, `,"arguments":""}}]}`...)
		}, "")
	case provider.EventToolArgs:
		if ev.Text == "" {
			return nil
		}
		e.ensureStarted()
		e.appendChunk(func(b []byte) []byte {
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(ev.ToolIndex), 10)
			b = append(b, `,"function":{"arguments":`...)
			b = jsonw.AppendString(b, ev.Text)
			return append(b, `}}]}`...)
		}, "")
	case provider.EventUsage:
		provider.MergeUsage(&e.usage, ev.Usage)
		return nil
	case provider.EventStop:
		e.stop, e.sawStop = ev.StopReason, true
		return nil
	default:
		return nil
	}
	return e.flush()
}

// Close writes the finish chunk, the usage chunk when the client asked for
// it, and data: [DONE], in one write.
func (e *streamEncoder) Close() error {
	if e.ended {
		return nil
	}
	e.buf = e.buf[:0]
	e.ensureStarted()
	e.ended = true
	stop := e.stop
	if !e.sawStop {
		stop = provider.StopEndTurn
	}
	e.appendChunk(func(b []byte) []byte { return append(b, "{}"...) }, finishReason(stop, e.tools > 0))
	if e.includeUsage {
		b := e.chunkBuf[:0]
		b = append(b, e.prefix[:e.choicesAt]...)
		b = append(b, `],"usage":`...)
		b = appendUsage(b, e.usage)
		b = append(b, '}')
		e.chunkBuf = b
		e.buf = sse.AppendEvent(e.buf, "", b)
	}
	e.buf = append(e.buf, "data: [DONE]\n\n"...)
	return e.flush()
}

// Fail writes the error as data: {"error":{...}} and ends the stream without
// [DONE]; the SDKs raise it as an API error.
func (e *streamEncoder) Fail(err *provider.Error) error {
	if e.ended {
		return nil
	}
	e.ended = true
	if err == nil {
		err = provider.Errorf(provider.KindServer, "the stream failed")
	}
	e.chunkBuf = appendError(e.chunkBuf[:0], err)
	e.buf = sse.AppendEvent(e.buf[:0], "", e.chunkBuf)
	return e.flush()
}

func (e *streamEncoder) ensureStarted() {
	if !e.started {
		e.start("", "")
	}
}

// start fixes the id and model every chunk shares and appends the first
// chunk, which carries the assistant role.
func (e *streamEncoder) start(id, model string) {
	e.started = true
	if model == "" {
		model = e.model
	}
	b := e.prefix[:0]
	b = append(b, `{"id":`...)
	b = jsonw.AppendString(b, completionID(id))
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, e.created, 10)
	b = append(b, `,"model":`...)
	b = jsonw.AppendString(b, model)
	b = append(b, `,"choices":[`...)
	e.choicesAt = len(b)
	b = append(b, `{"index":0,"delta":`...)
	e.prefix = b
	e.appendChunk(func(b []byte) []byte { return append(b, `{"role":"assistant","content":""}`...) }, "")
}

// appendChunk appends one chunk event to e.buf; delta appends the delta
// object and finish is the finish_reason ("" for null).
//
// The chunk goes straight into e.buf as one data line: it is JSON from
// jsonw, which escapes every control character, so it holds no line end
// (what sse.AppendEvent would split on).
func (e *streamEncoder) appendChunk(delta func([]byte) []byte, finish string) {
	b := append(e.buf, "data: "...)
	b = append(b, e.prefix...)
	b = delta(b)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	b = appendNullableString(b, finish)
	b = append(b, "}]"...)
	if e.includeUsage {
		b = append(b, `,"usage":null`...)
	}
	e.buf = append(b, "}\n\n"...)
}

func (e *streamEncoder) flush() error {
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("openai: writing stream: %w", err)
	}
	return nil
}
