package anthropic

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// StreamDecoder reads an Anthropic SSE stream as canonical events. It
// dispatches on the SSE event name (falling back to data.type when a server
// omits the name), numbers tool calls by their own count (not the content
// block index), skips ping, and turns "event: error" into the *Error
// DecodeError would give. A stream that ends or breaks before message_stop
// is a KindBadGateway error. It is not safe for concurrent use.
type StreamDecoder struct {
	r *sse.Reader

	q      [4]provider.Event // events decoded but not yet returned
	qh, qn int

	started, done bool
	err           error

	blocks []blockInfo // by content block index
	tools  int         // tool calls seen

	in, cacheWrite, cacheRead int // input counters, message_start then message_delta
}

type blockInfo struct {
	kind blockKind
	tool int // tool index for blockTool
}

// maxBlocks bounds the content block index a stream may use.
const maxBlocks = 1 << 16

// NewStreamDecoder returns a decoder reading an Anthropic stream from r.
func (*Upstream) NewStreamDecoder(r io.Reader) provider.StreamDecoder {
	return NewStreamDecoder(r)
}

// NewStreamDecoder returns a decoder reading an Anthropic stream from r.
func NewStreamDecoder(r io.Reader) *StreamDecoder {
	return &StreamDecoder{r: sse.NewReader(r)}
}

// Next returns the next canonical event, io.EOF after message_stop, or an
// *provider.Error.
func (d *StreamDecoder) Next() (provider.Event, error) {
	for d.qn == 0 {
		if d.err != nil {
			return provider.Event{}, d.err
		}
		if d.done {
			return provider.Event{}, io.EOF
		}
		d.step()
	}
	ev := d.q[d.qh]
	d.q[d.qh] = provider.Event{}
	d.qh = (d.qh + 1) % len(d.q)
	d.qn--
	return ev, nil
}

func (d *StreamDecoder) push(ev provider.Event) {
	if !d.started && ev.Type != provider.EventStart {
		d.started = true // a server that skips message_start still gets a start
		d.push(provider.Event{Type: provider.EventStart})
	}
	d.q[(d.qh+d.qn)%len(d.q)] = ev
	d.qn++
}

func (d *StreamDecoder) fail(msg string, cause error) {
	d.err = &provider.Error{Kind: provider.KindBadGateway, Format: provider.FormatAnthropic, Message: msg, Cause: cause}
}

// step reads one SSE event and queues what it means.
func (d *StreamDecoder) step() {
	ev, err := d.r.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			d.fail("upstream stream ended before message_stop", nil)
		} else {
			d.fail("upstream stream broke before message_stop", err)
		}
		return
	}
	name := ev.Name
	if len(name) == 0 {
		if !ev.HasData {
			return // a comment or stray id
		}
		t, _, _ := jsonscan.Get(ev.Data, "type")
		name = t
		if len(name) >= 2 {
			name = name[1 : len(name)-1]
		}
	}
	switch string(name) {
	case "content_block_delta":
		d.blockDelta(ev.Data)
	case "message_start":
		d.messageStart(ev.Data)
	case "content_block_start":
		d.blockStart(ev.Data)
	case "message_delta":
		d.messageDelta(ev.Data)
	case "message_stop":
		d.done = true
	case "error":
		d.err = streamError(ev.Data)
	}
	// ping, content_block_stop and unknown events carry nothing canonical.
}

func (d *StreamDecoder) messageStart(data []byte) {
	var m struct {
		Message struct {
			ID    string    `json:"id"`
			Model string    `json:"model"`
			Usage wireUsage `json:"usage"`
		} `json:"message"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		d.fail("upstream sent a malformed message_start event", err)
		return
	}
	if d.started {
		return
	}
	u := &m.Message.Usage
	d.in, d.cacheWrite, d.cacheRead = deref(u.InputTokens), deref(u.CacheCreationInputTokens), deref(u.CacheReadInputTokens)
	d.started = true
	d.push(provider.Event{Type: provider.EventStart, ID: m.Message.ID, Model: m.Message.Model, Usage: u.canonical()})
}

func (d *StreamDecoder) blockStart(data []byte) {
	var m struct {
		Index        *int          `json:"index"`
		ContentBlock wireRespBlock `json:"content_block"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Index == nil || *m.Index < 0 || *m.Index >= maxBlocks {
		d.fail("upstream sent a malformed content_block_start event", err)
		return
	}
	idx, b := *m.Index, &m.ContentBlock
	for len(d.blocks) <= idx {
		d.blocks = append(d.blocks, blockInfo{})
	}
	switch b.Type {
	case "text":
		d.blocks[idx] = blockInfo{kind: blockText}
		if b.Text != "" {
			d.push(provider.Event{Type: provider.EventText, Text: b.Text})
		}
	case "tool_use":
		t := d.tools
		d.tools++
		d.blocks[idx] = blockInfo{kind: blockTool, tool: t}
		d.push(provider.Event{Type: provider.EventToolCall, ToolIndex: t, ToolID: b.ID, ToolName: b.Name})
		if hasMembers(b.Input) { // Anthropic sends {} and streams the input; others may not
			d.push(provider.Event{Type: provider.EventToolArgs, ToolIndex: t, Text: string(b.Input)})
		}
	case "thinking":
		d.blocks[idx] = blockInfo{kind: blockThinking}
		if b.Thinking != "" || b.Signature != "" {
			d.push(provider.Event{Type: provider.EventThinking, Text: b.Thinking, Signature: b.Signature})
		}
	default: // redacted_thinking, server tools: their deltas are skipped
		d.blocks[idx] = blockInfo{}
	}
}

// blockDelta is the hot path: it reads the few members it needs with
// jsonscan instead of decoding the event.
func (d *StreamDecoder) blockDelta(data []byte) {
	var index, delta []byte
	err := jsonscan.Each(data, func(m jsonscan.Member) bool {
		switch string(m.Key) {
		case "index":
			index = m.Value
		case "delta":
			delta = m.Value
		}
		return true
	})
	idx, ok := parseUint(index)
	if err != nil || !ok || len(delta) == 0 || delta[0] != '{' {
		d.fail("upstream sent a malformed content_block_delta event", err)
		return
	}
	var typ, text []byte
	err = jsonscan.Each(delta, func(m jsonscan.Member) bool {
		switch string(m.Key) {
		case "type":
			typ = m.Value
		case "text", "partial_json", "thinking", "signature":
			text = m.Value
		}
		return true
	})
	if err != nil {
		d.fail("upstream sent a malformed content_block_delta event", err)
		return
	}
	if len(text) == 0 {
		return // citations_delta and unknown deltas
	}
	s, ok := jsonscan.String(text)
	if !ok {
		d.fail("upstream sent a malformed content_block_delta event", nil)
		return
	}
	if s == "" {
		return
	}
	switch string(typ) {
	case `"text_delta"`:
		d.push(provider.Event{Type: provider.EventText, Text: s})
	case `"input_json_delta"`:
		if idx < len(d.blocks) && d.blocks[idx].kind == blockTool {
			d.push(provider.Event{Type: provider.EventToolArgs, ToolIndex: d.blocks[idx].tool, Text: s})
		}
	case `"thinking_delta"`:
		d.push(provider.Event{Type: provider.EventThinking, Text: s})
	case `"signature_delta"`:
		d.push(provider.Event{Type: provider.EventThinking, Signature: s})
	}
}

func (d *StreamDecoder) messageDelta(data []byte) {
	var m struct {
		Delta struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage *wireUsage `json:"usage"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		d.fail("upstream sent a malformed message_delta event", err)
		return
	}
	if r := m.Delta.StopReason; r != nil && *r != "" {
		ev := provider.Event{Type: provider.EventStop, StopReason: canonicalStop(*r)}
		if m.Delta.StopSequence != nil {
			ev.StopSequence = *m.Delta.StopSequence
		}
		d.push(ev)
	}
	if u := m.Usage; u != nil {
		// Every counter is a whole-message total; absent ones keep their
		// message_start value.
		usage := provider.Usage{OutputTokens: deref(u.OutputTokens)}
		if u.InputTokens != nil || u.CacheCreationInputTokens != nil || u.CacheReadInputTokens != nil {
			if u.InputTokens != nil {
				d.in = *u.InputTokens
			}
			if u.CacheCreationInputTokens != nil {
				d.cacheWrite = *u.CacheCreationInputTokens
			}
			if u.CacheReadInputTokens != nil {
				d.cacheRead = *u.CacheReadInputTokens
			}
			usage.InputTokens = d.in + d.cacheWrite + d.cacheRead
			usage.CachedTokens, usage.CacheWriteTokens = d.cacheRead, d.cacheWrite
		}
		if u.OutputTokensDetails != nil {
			usage.ReasoningTokens = u.OutputTokensDetails.ThinkingTokens
		}
		d.push(provider.Event{Type: provider.EventUsage, Usage: usage})
	}
}

// hasMembers reports whether raw is a JSON object with at least one member.
func hasMembers(raw []byte) bool {
	n := 0
	if len(raw) == 0 || raw[0] != '{' || jsonscan.Each(raw, func(jsonscan.Member) bool { n++; return false }) != nil {
		return false
	}
	return n > 0
}
