package gemini

import (
	"github.com/llmgate/llmgate/internal/jsonw"
	"io"

	"github.com/llmgate/llmgate/internal/provider"
)

// NewStreamEncoder returns an encoder writing streamGenerateContent?alt=sse
// output for req to w: one `data: <GenerateContentResponse>` event per text
// or thought delta, each function call as one complete functionCall part once
// its arguments are complete, and a last chunk with finishReason and
// usageMetadata. Gemini streams have no event names and no end marker.
func (Client) NewStreamEncoder(w io.Writer, req *provider.Request) provider.StreamEncoder {
	e := &streamEncoder{w: w, buf: make([]byte, 0, 512)}
	if req != nil {
		e.model = req.Model
	}
	return e
}

// streamEncoder writes one stream. It is not safe for concurrent use.
type streamEncoder struct {
	w   io.Writer
	buf []byte // reused for every event: one Write each

	model, id string
	usage     provider.Usage
	stop      provider.StopReason
	nparts    int // parts in the chunk being built

	// The function call being buffered until its arguments are complete
	// (Gemini clients get calls whole, never as fragments).
	pending   bool
	toolIndex int
	toolID    string
	toolName  string
	toolSig   string
	toolArgs  []byte

	done bool // Close or Fail was called
}

func (e *streamEncoder) Encode(ev provider.Event) error {
	if e.done {
		return nil
	}
	switch ev.Type {
	case provider.EventStart:
		if ev.ID != "" {
			e.id = ev.ID
		}
		if ev.Model != "" {
			e.model = ev.Model
		}
		provider.MergeUsage(&e.usage, ev.Usage)
	case provider.EventText:
		if ev.Text == "" {
			return nil
		}
		e.begin()
		e.appendPendingTool()
		e.appendTextPart(ev.Text, "", false)
		return e.end(false)
	case provider.EventThinking:
		sig := signature(ev.Signature)
		if ev.Text == "" && sig == "" {
			return nil
		}
		e.begin()
		e.appendPendingTool()
		e.appendTextPart(ev.Text, sig, true)
		return e.end(false)
	case provider.EventToolCall:
		var err error
		if e.pending {
			e.begin()
			e.appendPendingTool()
			err = e.end(false)
		}
		e.pending = true
		e.toolIndex, e.toolID, e.toolName = ev.ToolIndex, ev.ToolID, ev.ToolName
		e.toolSig = signature(ev.Signature)
		e.toolArgs = e.toolArgs[:0]
		return err
	case provider.EventToolArgs:
		if e.pending && ev.ToolIndex == e.toolIndex {
			e.toolArgs = append(e.toolArgs, ev.Text...)
		}
	case provider.EventUsage:
		provider.MergeUsage(&e.usage, ev.Usage)
	case provider.EventStop:
		e.stop = ev.StopReason
	}
	return nil
}

// Close writes the last chunk: any buffered function call (or an empty text
// part), the finish reason and the usage.
func (e *streamEncoder) Close() error {
	if e.done {
		return nil
	}
	e.done = true
	e.begin()
	if e.pending {
		e.appendPendingTool()
	} else {
		e.appendTextPart("", "", false)
	}
	return e.end(true)
}

// Fail writes `data: {"error":{...}}` in Google's error shape, which go-genai
// surfaces as an APIError, and nothing after it.
func (e *streamEncoder) Fail(err *provider.Error) error {
	if e.done {
		return nil
	}
	e.done = true
	if err == nil {
		err = provider.Errorf(provider.KindServer, "the stream failed")
	}
	e.buf = append(e.buf[:0], "data: "...)
	e.buf = appendErrorBody(e.buf, err, "")
	// CRLF framing, as Google's own events have: after a passthrough
	// stream's events, a bare LF LF would make go-genai read them as one.
	e.buf = append(e.buf, "\r\n\r\n"...)
	_, werr := e.w.Write(e.buf)
	return werr
}

func (e *streamEncoder) begin() {
	e.buf = append(e.buf[:0], `data: {"candidates":[{"content":{"role":"model","parts":[`...)
	e.nparts = 0
}

func (e *streamEncoder) sep() {
	if e.nparts > 0 {
		e.buf = append(e.buf, ',')
	}
	e.nparts++
}

func (e *streamEncoder) appendTextPart(text, sig string, thought bool) {
	e.sep()
	e.buf = append(e.buf, `{"text":`...)
	e.buf = jsonw.AppendString(e.buf, text)
	if thought {
		e.buf = append(e.buf, `,"thought":true`...)
	}
	if sig != "" {
		e.buf = append(e.buf, `,"thoughtSignature":`...)
		e.buf = jsonw.AppendString(e.buf, sig)
	}
	e.buf = append(e.buf, '}')
}

func (e *streamEncoder) appendPendingTool() {
	if !e.pending {
		return
	}
	e.pending = false
	e.sep()
	e.buf = append(e.buf, `{"functionCall":{`...)
	if e.toolID != "" {
		e.buf = append(e.buf, `"id":`...)
		e.buf = jsonw.AppendString(e.buf, e.toolID)
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, `"name":`...)
	e.buf = jsonw.AppendString(e.buf, e.toolName)
	e.buf = append(e.buf, `,"args":`...)
	e.buf = append(e.buf, validObject(e.toolArgs)...)
	e.buf = append(e.buf, '}')
	if e.toolSig != "" {
		e.buf = append(e.buf, `,"thoughtSignature":`...)
		e.buf = jsonw.AppendString(e.buf, e.toolSig)
	}
	e.buf = append(e.buf, '}')
}

// end closes the chunk begun by begin and writes it.
func (e *streamEncoder) end(final bool) error {
	e.buf = append(e.buf, "]}"...)
	if final {
		e.buf = append(e.buf, `,"finishReason":"`...)
		e.buf = append(e.buf, finishReason(e.stop)...)
		e.buf = append(e.buf, '"')
	}
	e.buf = append(e.buf, `,"index":0}]`...)
	if final {
		u := usageToWire(e.usage)
		e.buf = append(e.buf, `,"usageMetadata":{`...)
		e.buf = appendIntField(e.buf, "promptTokenCount", u.PromptTokenCount, true)
		e.buf = appendIntField(e.buf, "candidatesTokenCount", u.CandidatesTokenCount, false)
		e.buf = appendIntField(e.buf, "totalTokenCount", u.TotalTokenCount, false)
		if u.CachedContentTokenCount != 0 {
			e.buf = appendIntField(e.buf, "cachedContentTokenCount", u.CachedContentTokenCount, false)
		}
		if u.ThoughtsTokenCount != 0 {
			e.buf = appendIntField(e.buf, "thoughtsTokenCount", u.ThoughtsTokenCount, false)
		}
		e.buf = append(e.buf, '}')
	}
	if e.model != "" {
		e.buf = append(e.buf, `,"modelVersion":`...)
		e.buf = jsonw.AppendString(e.buf, e.model)
	}
	if e.id != "" {
		e.buf = append(e.buf, `,"responseId":`...)
		e.buf = jsonw.AppendString(e.buf, e.id)
	}
	e.buf = append(e.buf, "}\n\n"...)
	_, err := e.w.Write(e.buf)
	return err
}
