package anthropic

import (
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"io"

	"github.com/llmgate/llmgate/internal/provider"
)

// StreamEncoder writes canonical events as an Anthropic SSE stream: every
// event has an "event:" line whose name matches its data.type, because the
// SDKs dispatch on the name. Each event is one Write from a reused buffer;
// the caller flushes.
//
// Content blocks never interleave on the wire. Text, thinking and tool
// calls each open a block at the next index and close the one before. A
// tool call that starts while another call's arguments are still an
// incomplete JSON value is held back, with its arguments, until that call
// completes or the stream ends; arguments that arrive for a call whose block
// was already closed (only possible when a provider interleaves text into an
// unfinished call) are dropped.
//
// Make one with Client.NewStreamEncoder. It is not safe for concurrent use.
type StreamEncoder struct {
	w        io.Writer
	buf      []byte
	newID    func(string) string
	model    string
	thinking bool // the client enabled thinking: write thinking blocks

	started bool
	done    bool

	next      int       // index of the next content block
	open      blockKind // the open block, if any
	openIndex int
	signed    bool // the open thinking block already has its signature

	tools []toolState
	live  int // position in tools of the open tool block, -1 if none

	usage        provider.Usage
	stopReason   provider.StopReason
	stopSequence string
}

type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockTool
)

type toolPhase uint8

const (
	toolPending toolPhase = iota // known, block not written yet
	toolLive                     // its block is the open one
	toolDone                     // its block is closed
)

type toolState struct {
	index    int // canonical ToolIndex
	id, name string
	args     []byte // fragments while pending; all fragments while live
	phase    toolPhase
}

// Encode writes the Anthropic events for ev.
func (e *StreamEncoder) Encode(ev provider.Event) error {
	if e.done {
		return nil
	}
	switch ev.Type {
	case provider.EventStart:
		provider.MergeUsage(&e.usage, ev.Usage)
		if e.started {
			return nil
		}
		return e.writeMessageStart(ev.ID, ev.Model)
	case provider.EventText:
		if ev.Text == "" {
			return nil
		}
		if err := e.ensureStarted(); err != nil {
			return err
		}
		if e.open != blockText {
			if err := e.closeOpen(); err != nil {
				return err
			}
			if err := e.startBlock(blockText, `{"type":"text","text":""}`); err != nil {
				return err
			}
		}
		e.begin("content_block_delta", e.openIndex)
		e.buf = append(e.buf, `,"delta":{"type":"text_delta","text":`...)
		e.buf = jsonw.AppendString(e.buf, ev.Text)
		return e.end("}}")
	case provider.EventThinking:
		return e.encodeThinking(ev)
	case provider.EventToolCall:
		if err := e.ensureStarted(); err != nil {
			return err
		}
		if pos := e.findTool(ev.ToolIndex); pos >= 0 {
			t := &e.tools[pos]
			if t.phase == toolPending { // a repeated opener may complete the first
				if t.name == "" {
					t.name = ev.ToolName
				}
				if ev.ToolID != "" && t.id == "" {
					t.id = ev.ToolID
				}
			}
			return nil
		}
		e.addTool(ev.ToolIndex, ev.ToolID, ev.ToolName)
		return e.tryStartTool(len(e.tools) - 1)
	case provider.EventToolArgs:
		if ev.Text == "" {
			return nil
		}
		if err := e.ensureStarted(); err != nil {
			return err
		}
		pos := e.findTool(ev.ToolIndex)
		if pos < 0 { // arguments without an opener: open a nameless call
			e.addTool(ev.ToolIndex, "", "")
			pos = len(e.tools) - 1
		}
		t := &e.tools[pos]
		switch t.phase {
		case toolLive:
			t.args = append(t.args, ev.Text...)
			return e.writeArgs(e.openIndex, ev.Text)
		case toolPending:
			t.args = append(t.args, ev.Text...)
			return e.tryStartTool(pos)
		}
		return nil // toolDone: see the type doc
	case provider.EventUsage:
		provider.MergeUsage(&e.usage, ev.Usage)
	case provider.EventStop:
		e.stopReason, e.stopSequence = ev.StopReason, ev.StopSequence
	}
	return nil
}

func (e *StreamEncoder) encodeThinking(ev provider.Event) error {
	if !e.thinking || (ev.Text == "" && ev.Signature == "") {
		return nil
	}
	if err := e.ensureStarted(); err != nil {
		return err
	}
	// Text after a signature belongs to a new thinking block.
	if e.open != blockThinking || (ev.Text != "" && e.signed) {
		if err := e.closeOpen(); err != nil {
			return err
		}
		if err := e.startBlock(blockThinking, `{"type":"thinking","thinking":"","signature":""}`); err != nil {
			return err
		}
	}
	if ev.Text != "" {
		e.begin("content_block_delta", e.openIndex)
		e.buf = append(e.buf, `,"delta":{"type":"thinking_delta","thinking":`...)
		e.buf = jsonw.AppendString(e.buf, ev.Text)
		if err := e.end("}}"); err != nil {
			return err
		}
	}
	if ev.Signature != "" {
		e.signed = true
		e.begin("content_block_delta", e.openIndex)
		e.buf = append(e.buf, `,"delta":{"type":"signature_delta","signature":`...)
		e.buf = jsonw.AppendString(e.buf, ev.Signature)
		return e.end("}}")
	}
	return nil
}

func (e *StreamEncoder) findTool(index int) int {
	for i := len(e.tools) - 1; i >= 0; i-- {
		if e.tools[i].index == index {
			return i
		}
	}
	return -1
}

func (e *StreamEncoder) addTool(index int, id, name string) {
	e.tools = append(e.tools, toolState{index: index, id: id, name: name})
}

// tryStartTool opens the block of the pending tool at pos unless another
// call's block is open with arguments that are not yet a complete value.
func (e *StreamEncoder) tryStartTool(pos int) error {
	if e.open == blockTool && e.live >= 0 && !json.Valid(e.tools[e.live].args) {
		return nil // wait: the open call may still be receiving arguments
	}
	if err := e.closeOpen(); err != nil {
		return err
	}
	return e.startTool(pos)
}

func (e *StreamEncoder) startTool(pos int) error {
	t := &e.tools[pos]
	if t.id == "" {
		t.id = newID(e.newID, "toolu_")
	}
	e.openIndex, e.open, e.live = e.next, blockTool, pos
	e.next++
	t.phase = toolLive
	e.begin("content_block_start", e.openIndex)
	e.buf = append(e.buf, `,"content_block":{"type":"tool_use","id":`...)
	e.buf = jsonw.AppendString(e.buf, t.id)
	e.buf = append(e.buf, `,"name":`...)
	e.buf = jsonw.AppendString(e.buf, t.name)
	if err := e.end(`,"input":{}}}`); err != nil {
		return err
	}
	if len(t.args) > 0 {
		return e.writeArgs(e.openIndex, string(t.args))
	}
	return nil
}

func (e *StreamEncoder) writeArgs(index int, fragment string) error {
	e.begin("content_block_delta", index)
	e.buf = append(e.buf, `,"delta":{"type":"input_json_delta","partial_json":`...)
	e.buf = jsonw.AppendString(e.buf, fragment)
	return e.end("}}")
}

func (e *StreamEncoder) startBlock(kind blockKind, contentBlock string) error {
	e.openIndex, e.open, e.signed = e.next, kind, false
	e.next++
	e.begin("content_block_start", e.openIndex)
	e.buf = append(e.buf, `,"content_block":`...)
	e.buf = append(e.buf, contentBlock...)
	return e.end("}")
}

// closeOpen writes content_block_stop for the open block, if any.
func (e *StreamEncoder) closeOpen() error {
	if e.open == blockNone {
		return nil
	}
	if e.open == blockTool && e.live >= 0 {
		t := &e.tools[e.live]
		t.phase, t.args = toolDone, nil
		e.live = -1
	}
	e.open = blockNone
	e.begin("content_block_stop", e.openIndex)
	return e.end("}")
}

func (e *StreamEncoder) ensureStarted() error {
	if e.started {
		return nil
	}
	return e.writeMessageStart("", "")
}

func (e *StreamEncoder) writeMessageStart(id, model string) error {
	e.started = true
	if model == "" {
		model = e.model
	}
	e.buf = append(e.buf[:0], "event: message_start\ndata: "...)
	e.buf = append(e.buf, `{"type":"message_start","message":{"id":`...)
	e.buf = jsonw.AppendString(e.buf, messageID(e.newID, id))
	e.buf = append(e.buf, `,"type":"message","role":"assistant","model":`...)
	e.buf = jsonw.AppendString(e.buf, model)
	e.buf = append(e.buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	e.buf = appendInt(e.buf, nativeInput(e.usage))
	e.buf = append(e.buf, `,"cache_creation_input_tokens":`...)
	e.buf = appendInt(e.buf, e.usage.CacheWriteTokens)
	e.buf = append(e.buf, `,"cache_read_input_tokens":`...)
	e.buf = appendInt(e.buf, e.usage.CachedTokens)
	return e.end(`,"output_tokens":0}}}`)
}

// begin starts an event whose data is {"type":name,"index":index...
func (e *StreamEncoder) begin(name string, index int) {
	e.buf = append(e.buf[:0], "event: "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "\ndata: {\"type\":\""...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, `","index":`...)
	e.buf = appendInt(e.buf, index)
}

// end appends tail and the blank line, and writes the event.
func (e *StreamEncoder) end(tail string) error {
	e.buf = append(e.buf, tail...)
	e.buf = append(e.buf, "\n\n"...)
	_, err := e.w.Write(e.buf)
	return err
}

// Close ends a successful stream: it closes the open block, writes any
// held-back tool calls, then message_delta (stop reason and the final usage
// totals, which the SDKs let overwrite message_start's) and message_stop.
func (e *StreamEncoder) Close() error {
	if e.done {
		return nil
	}
	if err := e.ensureStarted(); err != nil {
		return err
	}
	if err := e.closeOpen(); err != nil {
		return err
	}
	for i := range e.tools {
		if e.tools[i].phase != toolPending {
			continue
		}
		if err := e.startTool(i); err != nil {
			return err
		}
		if err := e.closeOpen(); err != nil {
			return err
		}
	}
	e.done = true
	reason := clientStopReason(e.stopReason, len(e.tools) > 0)
	e.buf = append(e.buf[:0], "event: message_delta\ndata: "...)
	e.buf = append(e.buf, `{"type":"message_delta","delta":{"stop_reason":`...)
	e.buf = jsonw.AppendString(e.buf, string(reason))
	e.buf = append(e.buf, `,"stop_sequence":`...)
	if reason == provider.StopSequence && e.stopSequence != "" {
		e.buf = jsonw.AppendString(e.buf, e.stopSequence)
	} else {
		e.buf = append(e.buf, "null"...)
	}
	e.buf = append(e.buf, `},"usage":{"input_tokens":`...)
	e.buf = appendInt(e.buf, nativeInput(e.usage))
	e.buf = append(e.buf, `,"cache_creation_input_tokens":`...)
	e.buf = appendInt(e.buf, e.usage.CacheWriteTokens)
	e.buf = append(e.buf, `,"cache_read_input_tokens":`...)
	e.buf = appendInt(e.buf, e.usage.CachedTokens)
	e.buf = append(e.buf, `,"output_tokens":`...)
	e.buf = appendInt(e.buf, e.usage.OutputTokens)
	if err := e.end("}}"); err != nil {
		return err
	}
	e.buf = append(e.buf[:0], "event: message_stop\ndata: "...)
	return e.end(`{"type":"message_stop"}`)
}

// Fail ends the stream with an Anthropic error event, which the SDKs raise
// as an API error. Nothing is written after it.
func (e *StreamEncoder) Fail(err *provider.Error) error {
	if e.done {
		return nil
	}
	e.done = true
	if err == nil {
		err = &provider.Error{Kind: provider.KindServer, Message: "internal error"}
	}
	e.buf = append(e.buf[:0], "event: error\ndata: "...)
	e.buf = appendErrorObject(e.buf, err)
	return e.end("}")
}

// Ping writes a ping event, which keeps idle connections and proxies alive;
// the SDKs skip it. It writes nothing once the stream has ended.
func (e *StreamEncoder) Ping() error {
	if e.done {
		return nil
	}
	e.buf = append(e.buf[:0], "event: ping\ndata: "...)
	return e.end(`{"type":"ping"}`)
}
