package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// NewStreamDecoder reads an OpenAI-format SSE stream as canonical events.
// Only choice 0 is read. Comments (DeepSeek's ": keep-alive") and empty data
// are skipped; data: [DONE] ends the stream. A stream that ends after a
// finish_reason but without [DONE] ends cleanly; one that ends earlier is a
// KindBadGateway error.
func (*Upstream) NewStreamDecoder(r io.Reader) provider.StreamDecoder {
	return &streamDecoder{r: sse.NewReader(r)}
}

// streamDecoder is not safe for concurrent use.
var _ provider.Releaser = (*streamDecoder)(nil)

// Release gives the decoder's read buffer back for reuse; Next must not be
// called after it.
func (d *streamDecoder) Release() { d.r.Release() }

type streamDecoder struct {
	r *sse.Reader

	queue []provider.Event // events of the chunk being handed out
	head  int
	err   error // sticky: returned once the queue is empty

	started  bool
	finished bool        // a finish_reason was seen
	calls    []toolState // canonical tool index -> upstream identity
	chunk    chunkView   // the chunk being read, reused
}

// toolState identifies an open tool call by the upstream's index and id.
type toolState struct {
	upIndex int
	id      string
}

// Next returns the next canonical event, io.EOF at the end of the stream, or
// an *provider.Error.
func (d *streamDecoder) Next() (provider.Event, error) {
	for {
		if d.head < len(d.queue) {
			ev := d.queue[d.head]
			d.head++
			return ev, nil
		}
		if d.err != nil {
			return provider.Event{}, d.err
		}
		d.queue, d.head = d.queue[:0], 0
		d.err = d.read()
	}
}

// read consumes one SSE event, queueing what it carries.
func (d *streamDecoder) read() error {
	ev, err := d.r.Next()
	if err != nil {
		return d.endError(err)
	}
	data := bytes.TrimSpace(ev.Data)
	if !ev.HasData || len(data) == 0 {
		return nil
	}
	if string(data) == "[DONE]" {
		return io.EOF
	}
	if string(ev.Name) == "error" {
		return streamError(data)
	}
	c := &d.chunk
	if !scanChunk(data, c) {
		var w wireChunk
		if err := json.Unmarshal(data, &w); err != nil {
			return &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
				Message: "upstream sent a stream chunk that is not valid JSON", Cause: err}
		}
		if hasValue(w.Error) {
			return streamError(data)
		}
		c.fromWire(&w)
	}
	if !d.started {
		d.started = true
		start := provider.Event{Type: provider.EventStart}
		_ = jsonscan.Each(data, func(m jsonscan.Member) bool {
			switch string(m.Key) {
			case "id":
				start.ID, _ = jsonscan.String(m.Value)
			case "model":
				start.Model, _ = jsonscan.String(m.Value)
			}
			return true
		})
		d.push(start)
	}
	var stop *provider.Event
	if c.hasChoice {
		if r := c.reasoningText(); r != "" {
			d.push(provider.Event{Type: provider.EventThinking, Text: r})
		}
		if c.thinking != "" {
			d.push(provider.Event{Type: provider.EventThinking, Text: c.thinking})
		}
		if c.text != "" {
			d.push(provider.Event{Type: provider.EventText, Text: c.text})
		}
		if c.refusal != "" {
			d.push(provider.Event{Type: provider.EventText, Text: c.refusal})
		}
		for i := range c.tools {
			d.toolDelta(&c.tools[i])
		}
		if c.hasFinish && c.finish != "" && !d.finished {
			d.finished = true
			stop = &provider.Event{Type: provider.EventStop, StopReason: stopReason(c.finish, len(d.calls) > 0)}
		}
	}
	if u, ok := c.usageEvent(); ok && !u.IsZero() {
		d.push(provider.Event{Type: provider.EventUsage, Usage: u})
	}
	if stop != nil {
		d.push(*stop)
	}
	return nil
}

// toolDelta queues the events of one tool call delta: EventToolCall when a
// call first appears, then EventToolArgs for its argument text. A delta
// carrying a new id on an index already in use (Ollama numbers each complete
// call 0) opens a new call.
func (d *streamDecoder) toolDelta(td *chunkTool) {
	up := td.up
	ci := -1
	for i := len(d.calls) - 1; i >= 0; i-- {
		if d.calls[i].upIndex == up {
			ci = i
			break
		}
	}
	if ci >= 0 && td.id != "" && td.id != d.calls[ci].id {
		ci = -1
	}
	if ci < 0 {
		if td.id == "" && td.name == "" && td.args == "" {
			return
		}
		ci = len(d.calls)
		id := toolCallID(td.id, ci)
		d.calls = append(d.calls, toolState{upIndex: up, id: id})
		d.push(provider.Event{Type: provider.EventToolCall, ToolIndex: ci, ToolID: id, ToolName: td.name})
	}
	if td.args != "" {
		d.push(provider.Event{Type: provider.EventToolArgs, ToolIndex: ci, Text: td.args})
	}
}

func (d *streamDecoder) push(ev provider.Event) { d.queue = append(d.queue, ev) }

// endError classifies the end of the body.
func (d *streamDecoder) endError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return &provider.Error{Kind: provider.KindCanceled, Message: "the request was canceled", Cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &provider.Error{Kind: provider.KindTimeout, Message: "the upstream stream timed out", Cause: err}
	case d.finished:
		return io.EOF // finished without [DONE]: lenient
	case errors.Is(err, sse.ErrEventTooLarge):
		return &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
			Message: "upstream sent a stream event over the size limit", Cause: err}
	case err == io.EOF:
		return &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
			Message: "upstream stream ended before it finished"}
	}
	return &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
		Message: "upstream stream ended before it finished", Cause: err}
}
