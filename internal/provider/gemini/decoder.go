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
	var w generateContentResponse
	if err := json.Unmarshal(data, &w); err != nil {
		return badGateway("the Gemini upstream sent a malformed stream chunk", err)
	}
	if !isNull(w.Error) {
		return errorFromRaw(http.StatusOK, w.Error)
	}
	d.chunk(&w)
	return nil
}

func (d *streamDecoder) chunk(w *generateContentResponse) {
	usage := usageFromWire(w.UsageMetadata)
	if !d.started {
		d.started = true
		d.queue = append(d.queue, provider.Event{Type: provider.EventStart, ID: w.ResponseID, Model: w.ModelVersion, Usage: usage})
	}
	stop := provider.StopReason("")
	if len(w.Candidates) == 0 && w.PromptFeedback != nil && w.PromptFeedback.BlockReason != "" {
		stop = provider.StopContentFilter
	}
	if c := firstCandidate(w.Candidates); c != nil {
		if c.Content != nil {
			for i := range c.Content.Parts {
				d.part(&c.Content.Parts[i])
			}
		}
		if c.FinishReason != "" {
			stop = stopFromFinish(c.FinishReason, d.sawCall)
		}
	}
	if w.UsageMetadata != nil {
		d.queue = append(d.queue, provider.Event{Type: provider.EventUsage, Usage: usage})
	}
	if stop != "" && !d.sawFinish {
		d.sawFinish = true
		d.queue = append(d.queue, provider.Event{Type: provider.EventStop, StopReason: stop})
	}
}

func (d *streamDecoder) part(p *part) {
	switch {
	case p.FunctionCall != nil:
		d.sawCall = true
		id := p.FunctionCall.ID
		if id == "" {
			id = newCallID()
		}
		// Gemini sends a call whole: one EventToolCall and one EventToolArgs.
		// The thoughtSignature rides on EventToolCall for a Gemini client.
		d.queue = append(d.queue,
			provider.Event{Type: provider.EventToolCall, ToolIndex: d.toolIndex, ToolID: id, ToolName: p.FunctionCall.Name, Signature: p.ThoughtSignature},
			provider.Event{Type: provider.EventToolArgs, ToolIndex: d.toolIndex, Text: string(objectOrEmpty(p.FunctionCall.Args))},
		)
		d.toolIndex++
	case p.Thought:
		if p.Text != "" || p.ThoughtSignature != "" {
			d.queue = append(d.queue, provider.Event{Type: provider.EventThinking, Text: p.Text, Signature: p.ThoughtSignature})
		}
	case p.Text != "":
		d.queue = append(d.queue, provider.Event{Type: provider.EventText, Text: p.Text})
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
