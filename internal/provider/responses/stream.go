package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/llmgate/llmgate/internal/jsonw"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

var errStreamEnded = errors.New("responses: stream already ended")

// NewStreamEncoder returns an encoder writing canonical events to w as the
// Responses event sequence: response.created and response.in_progress,
// then per output item output_item.added, its deltas and output_item.done,
// and last response.completed (or response.incomplete) carrying every item
// and the usage, which is what the SDKs and Codex read. Every event has
// "type" and a sequence_number counting from 0. Parallel tool calls stay
// open together until the next text or the end, so that interleaved
// argument fragments still land in the right item.
func (c Client) NewStreamEncoder(w io.Writer, req *provider.Request) provider.StreamEncoder {
	e := &streamEncoder{w: w, req: req, created: c.now().Unix(), tools: map[int]*openItem{}}
	if req != nil {
		for _, t := range req.Tools {
			if t.Namespace != "" || bytes.Equal(t.Parameters, customSchema) {
				if e.toolInfo == nil {
					e.toolInfo = map[string]provider.Tool{}
				}
				e.toolInfo[t.Name] = t
			}
		}
	}
	return e
}

// openItem is an output item added but not yet done.
type openItem struct {
	index   int
	kind    string // message, reasoning, function_call, custom_tool_call
	id      string
	callID  string
	name    string
	ns      string
	text    strings.Builder // text, thinking or arguments so far
	sig     string
	summary bool // reasoning_summary_part.added was sent
	deltas  bool // an arguments delta was sent
}

// streamEncoder is not safe for concurrent use; one goroutine drives a
// stream.
type streamEncoder struct {
	w        io.Writer
	req      *provider.Request
	created  int64
	toolInfo map[string]provider.Tool // namespaced and custom tools by name

	snap    *snapshot
	seq     int
	buf     []byte
	scratch []byte
	started bool
	ended   bool

	cur   *openItem         // open message or reasoning item
	calls []*openItem       // open tool calls, in output order
	tools map[int]*openItem // open tool calls by ToolIndex
	usage provider.Usage
	stop  provider.StopReason
}

// Encode writes the events for ev. EventUsage and EventStop write nothing:
// they are held for Close.
func (e *streamEncoder) Encode(ev provider.Event) error {
	if e.ended {
		return errStreamEnded
	}
	e.buf = e.buf[:0]
	switch ev.Type {
	case provider.EventStart:
		provider.MergeUsage(&e.usage, ev.Usage)
		if !e.started {
			e.start(ev.ID, ev.Model)
		}
	case provider.EventText:
		if ev.Text == "" {
			return nil
		}
		e.ensureStarted()
		it := e.openKind("message")
		it.text.WriteString(ev.Text)
		e.delta("response.output_text.delta", it, `,"content_index":0,"delta":`, ev.Text, `,"logprobs":[]`)
	case provider.EventThinking:
		if ev.Text == "" && ev.Signature == "" {
			return nil
		}
		e.ensureStarted()
		it := e.openKind("reasoning")
		if ev.Signature != "" {
			it.sig = ev.Signature
		}
		if ev.Text != "" {
			if !it.summary {
				it.summary = true
				e.event("response.reasoning_summary_part.added", map[string]any{"item_id": it.id, "output_index": it.index,
					"summary_index": 0, "part": summaryText{Type: "summary_text"}})
			}
			it.text.WriteString(ev.Text)
			e.delta("response.reasoning_summary_text.delta", it, `,"summary_index":0,"delta":`, ev.Text, "")
		}
	case provider.EventToolCall:
		e.ensureStarted()
		e.closeCur()
		e.openCall(ev)
	case provider.EventToolArgs:
		it := e.tools[ev.ToolIndex]
		if it == nil || ev.Text == "" {
			return nil
		}
		it.text.WriteString(ev.Text)
		if it.kind == "function_call" {
			it.deltas = true
			e.delta("response.function_call_arguments.delta", it, `,"delta":`, ev.Text, "")
		}
	case provider.EventUsage:
		provider.MergeUsage(&e.usage, ev.Usage)
		return nil
	case provider.EventStop:
		e.stop = ev.StopReason
		return nil
	default:
		return nil
	}
	return e.flush()
}

// Close ends every open item and writes response.completed, or
// response.incomplete when the output was cut (max tokens, content filter).
func (e *streamEncoder) Close() error {
	if e.ended {
		return nil
	}
	e.buf = e.buf[:0]
	e.ensureStarted()
	e.closeCur()
	e.closeCalls()
	e.ended = true
	e.snap.finish(e.stop, e.usage)
	typ := "response.completed"
	if e.snap.Status == "incomplete" {
		typ = "response.incomplete"
	}
	e.event(typ, map[string]any{"response": e.snap})
	return e.flush()
}

// Fail ends the stream with response.failed: the snapshot with status
// "failed" and error {code, message}. Codex reports error.message (and acts
// on context_length_exceeded and rate_limit_exceeded); the SDKs resolve the
// stream with the failed response.
func (e *streamEncoder) Fail(err *provider.Error) error {
	if e.ended {
		return nil
	}
	e.buf = e.buf[:0]
	if err == nil {
		err = provider.Errorf(provider.KindServer, "the stream failed")
	}
	e.ensureStarted()
	e.ended = true
	e.snap.Status = "failed"
	e.snap.Error = failure(err)
	done := e.snap.Output[:0] // items still open are not part of the answer
	for _, it := range e.snap.Output {
		if it.Type != "" {
			done = append(done, it)
		}
	}
	e.snap.Output = done
	e.snap.Usage = usageOf(e.usage)
	e.event("response.failed", map[string]any{"response": e.snap})
	return e.flush()
}

// failure is the Response.error for e, with a code Codex acts on.
func failure(e *provider.Error) *respError {
	msg := e.Message
	if msg == "" {
		msg = string(e.Kind)
	}
	code := "server_error"
	switch e.Kind {
	case provider.KindContextLength:
		code = "context_length_exceeded"
	case provider.KindRateLimited:
		code = "rate_limit_exceeded"
		if e.RetryAfter > 0 {
			// Codex reads the delay from this sentence.
			msg += fmt.Sprintf(" Please try again in %ss.", strconv.FormatFloat(math.Ceil(e.RetryAfter.Seconds()*10)/10, 'f', -1, 64))
		}
	case provider.KindQuota:
		code = "insufficient_quota"
	case provider.KindBadRequest:
		code = "invalid_prompt"
	}
	return &respError{Code: code, Message: msg}
}

func (e *streamEncoder) ensureStarted() {
	if !e.started {
		e.start("", "")
	}
}

func (e *streamEncoder) start(id, model string) {
	e.started = true
	e.snap = newSnapshot(responseID(id), "", e.created, e.req)
	if e.req == nil && model != "" {
		e.snap.Model = model
	}
	e.event("response.created", map[string]any{"response": e.snap})
	e.event("response.in_progress", map[string]any{"response": e.snap})
}

// openKind returns the open message or reasoning item of kind, closing
// whatever else is open first.
func (e *streamEncoder) openKind(kind string) *openItem {
	if e.cur != nil && e.cur.kind == kind {
		return e.cur
	}
	e.closeCur()
	e.closeCalls()
	it := &openItem{index: len(e.snap.Output), kind: kind}
	e.snap.Output = append(e.snap.Output, outItem{})
	e.cur = it
	if kind == "message" {
		it.id = newID("msg_")
		e.event("response.output_item.added", map[string]any{"output_index": it.index, "item": messageItem(it.id, "in_progress", "")})
		e.event("response.content_part.added", map[string]any{"item_id": it.id, "output_index": it.index, "content_index": 0,
			"part": outputText("")})
		return it
	}
	it.id = newID("rs_")
	summary := []summaryText{}
	e.event("response.output_item.added", map[string]any{"output_index": it.index,
		"item": outItem{Type: "reasoning", ID: it.id, Summary: &summary}})
	return it
}

func (e *streamEncoder) closeCur() {
	it := e.cur
	if it == nil {
		return
	}
	e.cur = nil
	text := it.text.String()
	if it.kind == "message" {
		e.event("response.output_text.done", map[string]any{"item_id": it.id, "output_index": it.index, "content_index": 0,
			"text": text, "logprobs": []any{}})
		e.event("response.content_part.done", map[string]any{"item_id": it.id, "output_index": it.index, "content_index": 0,
			"part": outputText(text)})
		e.done(it, messageItem(it.id, "completed", text))
		return
	}
	if it.summary {
		e.event("response.reasoning_summary_text.done", map[string]any{"item_id": it.id, "output_index": it.index,
			"summary_index": 0, "text": text})
		e.event("response.reasoning_summary_part.done", map[string]any{"item_id": it.id, "output_index": it.index,
			"summary_index": 0, "part": summaryText{Type: "summary_text", Text: text}})
	}
	e.done(it, reasoningItem(it.id, text, it.sig))
}

func (e *streamEncoder) openCall(ev provider.Event) {
	if old := e.tools[ev.ToolIndex]; old != nil {
		return // a repeated announcement of an open call
	}
	info := e.toolInfo[ev.ToolName]
	it := &openItem{index: len(e.snap.Output), kind: "function_call", callID: ev.ToolID, name: ev.ToolName, ns: info.Namespace}
	if it.callID == "" {
		it.callID = newID("call_")
	}
	e.snap.Output = append(e.snap.Output, outItem{})
	item := outItem{Type: "function_call", Status: "in_progress", CallID: it.callID, Name: it.name, Namespace: it.ns}
	if bytes.Equal(info.Parameters, customSchema) {
		it.kind, it.id = "custom_tool_call", newID("ctc_")
		empty := ""
		item.Type, item.ID, item.Input = it.kind, it.id, &empty
	} else {
		it.id = callItemID(ev.Signature)
		empty := ""
		item.ID, item.Arguments = it.id, &empty
	}
	e.tools[ev.ToolIndex] = it
	e.calls = append(e.calls, it)
	e.event("response.output_item.added", map[string]any{"output_index": it.index, "item": item})
}

func (e *streamEncoder) closeCalls() {
	for _, it := range e.calls {
		args := it.text.String()
		if it.kind == "custom_tool_call" {
			item := callItem(it.callID, it.name, it.ns, args, "completed", true)
			item.ID = it.id
			e.event("response.custom_tool_call_input.delta", map[string]any{"item_id": it.id, "output_index": it.index, "delta": *item.Input})
			e.event("response.custom_tool_call_input.done", map[string]any{"item_id": it.id, "output_index": it.index, "input": *item.Input})
			e.done(it, item)
			continue
		}
		if args == "" {
			args = "{}"
		}
		if !it.deltas {
			e.delta("response.function_call_arguments.delta", it, `,"delta":`, args, "")
		}
		e.event("response.function_call_arguments.done", map[string]any{"item_id": it.id, "output_index": it.index,
			"name": it.name, "arguments": args})
		item := callItem(it.callID, it.name, it.ns, args, "completed", false)
		item.ID = it.id
		e.done(it, item)
	}
	e.calls = e.calls[:0]
	clear(e.tools)
}

// done writes output_item.done and keeps the item for the final snapshot.
func (e *streamEncoder) done(it *openItem, item outItem) {
	e.snap.Output[it.index] = item
	e.event("response.output_item.done", map[string]any{"output_index": it.index, "item": item})
}

// event appends one event whose members besides type and sequence_number
// are fields (marshalled with encoding/json: sorted keys).
func (e *streamEncoder) event(typ string, fields map[string]any) {
	b := append(e.scratch[:0], `{"type":`...)
	b = jsonw.AppendString(b, typ)
	b = append(b, `,"sequence_number":`...)
	b = strconv.AppendInt(b, int64(e.seq), 10)
	e.seq++
	for k, v := range sortedFields(fields) {
		b = append(b, ',')
		b = jsonw.AppendString(b, k)
		b = append(b, ':')
		vb, err := json.Marshal(v)
		if err != nil {
			vb = []byte("null")
		}
		b = append(b, vb...)
	}
	b = append(b, '}')
	e.scratch = b
	e.buf = sse.AppendEvent(e.buf, typ, b)
}

// delta appends a delta event without reflection: they are most of a
// stream.
func (e *streamEncoder) delta(typ string, it *openItem, mid, text, tail string) {
	b := append(e.scratch[:0], `{"type":`...)
	b = jsonw.AppendString(b, typ)
	b = append(b, `,"sequence_number":`...)
	b = strconv.AppendInt(b, int64(e.seq), 10)
	e.seq++
	b = append(b, `,"item_id":`...)
	b = jsonw.AppendString(b, it.id)
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(it.index), 10)
	b = append(b, mid...)
	b = jsonw.AppendString(b, text)
	b = append(b, tail...)
	b = append(b, '}')
	e.scratch = b
	e.buf = sse.AppendEvent(e.buf, typ, b)
}

func (e *streamEncoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("responses: writing stream: %w", err)
	}
	return nil
}

func sortedFields(m map[string]any) iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
