package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// streamDecoder reads one streamGenerateContent?alt=sse body. Each `data:`
// chunk is a whole GenerateContentResponse carrying incremental parts and
// running usage totals; the stream ends at EOF (no [DONE]). It is not safe
// for concurrent use.
type streamDecoder struct {
	r *sse.Reader

	queue []provider.Event // events decoded from the last chunk
	qi    int
	err   error // sticky: returned once the queue drains

	view chunkView // the last chunk, reused

	started   bool
	sawFinish bool
	sawCall   bool
	toolIndex int
}

func (d *streamDecoder) Next() (provider.Event, error) {
	for {
		if d.qi < len(d.queue) {
			ev := d.queue[d.qi]
			d.qi++
			return ev, nil
		}
		if d.err != nil {
			return provider.Event{}, d.err
		}
		d.queue, d.qi = d.queue[:0], 0
		d.err = d.read()
	}
}

// read decodes the next SSE event into d.queue. It returns io.EOF at a
// clean end, or an *Error.
func (d *streamDecoder) read() error {
	ev, err := d.r.Next()
	if err == io.EOF {
		if d.sawFinish {
			return io.EOF
		}
		return badGateway("upstream stream ended before a finish reason", nil)
	}
	if err != nil {
		if d.sawFinish && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			// Everything, usage included, arrived with the finish reason.
			return io.EOF
		}
		return streamReadError(err)
	}
	if !ev.HasData {
		// go-genai treats a non-data line that parses as {"error":...} as
		// an error; so do we. Comments and other fields are skipped.
		raw := bytes.TrimSpace(ev.Raw)
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
			if obj, ok := findErrorObject(raw); ok {
				return errorFromRaw(http.StatusOK, obj)
			}
		}
		return nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || string(data) == "[DONE]" {
		return nil
	}
	v := &d.view
	if !scanChunk(data, v, !d.started) {
		var w generateContentResponse
		if err := json.Unmarshal(data, &w); err != nil {
			return badGateway("the Gemini upstream sent a malformed stream chunk", err)
		}
		if !isNull(w.Error) {
			return errorFromRaw(http.StatusOK, w.Error)
		}
		v.fromWire(&w)
	}
	d.chunk(v)
	return nil
}

func (d *streamDecoder) chunk(v *chunkView) {
	var usage provider.Usage
	if v.hasUsage {
		usage = usageFromWire(&v.usage)
	}
	if !d.started {
		d.started = true
		d.queue = append(d.queue, provider.Event{Type: provider.EventStart, ID: v.id, Model: v.model, Usage: usage})
	}
	stop := provider.StopReason("")
	if v.blocked {
		stop = provider.StopContentFilter
	}
	if v.hasCandidate {
		for i := range v.parts {
			d.part(&v.parts[i])
		}
		if v.finish != "" {
			stop = stopFromFinish(v.finish, d.sawCall)
		}
	}
	if v.hasUsage {
		d.queue = append(d.queue, provider.Event{Type: provider.EventUsage, Usage: usage})
	}
	if stop != "" && !d.sawFinish {
		d.sawFinish = true
		d.queue = append(d.queue, provider.Event{Type: provider.EventStop, StopReason: stop})
	}
}

func (d *streamDecoder) part(p *partView) {
	switch {
	case p.call:
		d.sawCall = true
		id := p.callID
		if id == "" {
			id = newCallID()
		}
		// Gemini sends a call whole: one EventToolCall and one EventToolArgs.
		// The thoughtSignature rides on EventToolCall for a Gemini client.
		d.queue = append(d.queue,
			provider.Event{Type: provider.EventToolCall, ToolIndex: d.toolIndex, ToolID: id, ToolName: p.callName, Signature: p.signature},
			provider.Event{Type: provider.EventToolArgs, ToolIndex: d.toolIndex, Text: p.callArgs},
		)
		d.toolIndex++
	case p.thought:
		if p.text != "" || p.signature != "" {
			d.queue = append(d.queue, provider.Event{Type: provider.EventThinking, Text: p.text, Signature: p.signature})
		}
	case p.text != "":
		d.queue = append(d.queue, provider.Event{Type: provider.EventText, Text: p.text})
	}
}

// streamReadError classifies a failure reading the stream body.
func streamReadError(err error) *provider.Error {
	switch {
	case errors.Is(err, context.Canceled):
		return &provider.Error{Kind: provider.KindCanceled, Message: "the request was canceled", Cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &provider.Error{Kind: provider.KindTimeout, Message: "the upstream stream timed out", Cause: err}
	case errors.Is(err, sse.ErrEventTooLarge):
		return badGateway("the Gemini upstream sent a stream event over the size limit", err)
	}
	return badGateway("the upstream stream broke", err)
}
