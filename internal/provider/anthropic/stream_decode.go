package anthropic

import (
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

	strs jsonscan.Strings // the text deltas' strings
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

var _ provider.Releaser = (*StreamDecoder)(nil)

// Release gives the decoder's read buffer back for reuse; Next must not be
// called after it.
func (d *StreamDecoder) Release() { d.r.Release() }

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
	var m startView
	if !scanStart(data, &m) {
		var err error
		if m, err = decodeStart(data); err != nil {
			d.fail("upstream sent a malformed message_start event", err)
			return
		}
	}
	if d.started {
		return
	}
	u := &m.usage
	d.in, d.cacheWrite, d.cacheRead = u.in, u.cacheWrite, u.cacheRead
	d.started = true
	d.push(provider.Event{Type: provider.EventStart, ID: m.id, Model: m.model, Usage: provider.Usage{
		InputTokens:      u.in + u.cacheWrite + u.cacheRead,
		OutputTokens:     u.out,
		CachedTokens:     u.cacheRead,
		CacheWriteTokens: u.cacheWrite,
		ReasoningTokens:  u.thinking,
	}})
}

func (d *StreamDecoder) blockStart(data []byte) {
	var b blockStartView
	if !scanBlockStart(data, &b) {
		var err error
		if b, err = decodeBlockStart(data); err != nil {
			d.fail("upstream sent a malformed content_block_start event", err)
			return
		}
	}
	idx := b.index
	if idx < 0 || idx >= maxBlocks {
		d.fail("upstream sent a malformed content_block_start event", nil)
		return
	}
	for len(d.blocks) <= idx {
		d.blocks = append(d.blocks, blockInfo{})
	}
	switch b.kind {
	case blockText:
		d.blocks[idx] = blockInfo{kind: blockText}
		if b.text != "" {
			d.push(provider.Event{Type: provider.EventText, Text: b.text})
		}
	case blockTool:
		t := d.tools
		d.tools++
		d.blocks[idx] = blockInfo{kind: blockTool, tool: t}
		d.push(provider.Event{Type: provider.EventToolCall, ToolIndex: t, ToolID: b.id, ToolName: b.name})
		if hasMembers(b.input) { // Anthropic sends {} and streams the input; others may not
			d.push(provider.Event{Type: provider.EventToolArgs, ToolIndex: t, Text: string(b.input)})
		}
	case blockThinking:
		d.blocks[idx] = blockInfo{kind: blockThinking}
		if b.thinking != "" || b.signature != "" {
			d.push(provider.Event{Type: provider.EventThinking, Text: b.thinking, Signature: b.signature})
		}
	default: // redacted_thinking, server tools: their deltas are skipped
		d.blocks[idx] = blockInfo{}
	}
}

// blockDelta is the hot path, one event per token: scanDelta reads it
// without encoding/json, and the text goes into d.strs' shared blocks.
func (d *StreamDecoder) blockDelta(data []byte) {
	var v deltaView
	if !scanTextDelta(data, &v, &d.strs) && !scanDeltaIn(data, &v, &d.strs) {
		var err error
		if v, err = decodeDelta(data); err != nil {
			d.fail("upstream sent a malformed content_block_delta event", err)
			return
		}
	}
	if v.index < 0 {
		d.fail("upstream sent a malformed content_block_delta event", nil)
		return
	}
	if v.text == "" {
		return // citations_delta, unknown deltas, empty fragments
	}
	switch v.kind {
	case deltaText:
		d.push(provider.Event{Type: provider.EventText, Text: v.text})
	case deltaJSON:
		if idx := v.index; idx < len(d.blocks) && d.blocks[idx].kind == blockTool {
			d.push(provider.Event{Type: provider.EventToolArgs, ToolIndex: d.blocks[idx].tool, Text: v.text})
		}
	case deltaThinking:
		d.push(provider.Event{Type: provider.EventThinking, Text: v.text})
	case deltaSignature:
		d.push(provider.Event{Type: provider.EventThinking, Signature: v.text})
	}
}

func (d *StreamDecoder) messageDelta(data []byte) {
	var m stopView
	if !scanMessageDelta(data, &m) {
		var err error
		if m, err = decodeMessageDelta(data); err != nil {
			d.fail("upstream sent a malformed message_delta event", err)
			return
		}
	}
	if m.hasReason && m.stopReason != "" {
		ev := provider.Event{Type: provider.EventStop, StopReason: canonicalStop(m.stopReason)}
		if m.hasSequence {
			ev.StopSequence = m.stopSequence
		}
		d.push(ev)
	}
	if m.hasUsage {
		// Every counter is a whole-message total; absent ones keep their
		// message_start value.
		u := &m.usage
		usage := provider.Usage{OutputTokens: u.out}
		if u.hasIn || u.hasCW || u.hasCR {
			if u.hasIn {
				d.in = u.in
			}
			if u.hasCW {
				d.cacheWrite = u.cacheWrite
			}
			if u.hasCR {
				d.cacheRead = u.cacheRead
			}
			usage.InputTokens = d.in + d.cacheWrite + d.cacheRead
			usage.CachedTokens, usage.CacheWriteTokens = d.cacheRead, d.cacheWrite
		}
		if u.hasDetails {
			usage.ReasoningTokens = u.thinking
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
