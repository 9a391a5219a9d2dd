package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// The stream decoder reads each event into a view below. scanX fills it with
// jsonscan.Scanner and reports ok == false for anything where its reading
// could differ from encoding/json's (odd keys, a known key repeated, a value
// of an unexpected type, null where a value is expected); decodeX is the
// encoding/json reading it then falls back to, and the reference the fuzz
// tests compare scanX with.

// usageView is a usage object; has* tell absent (or null) from zero.
type usageView struct {
	in, out, cacheWrite, cacheRead int
	hasIn, hasOut, hasCW, hasCR    bool
	hasDetails                     bool
	thinking                       int
}

func (w *wireUsage) view() usageView {
	var u usageView
	if w.InputTokens != nil {
		u.in, u.hasIn = *w.InputTokens, true
	}
	if w.OutputTokens != nil {
		u.out, u.hasOut = *w.OutputTokens, true
	}
	if w.CacheCreationInputTokens != nil {
		u.cacheWrite, u.hasCW = *w.CacheCreationInputTokens, true
	}
	if w.CacheReadInputTokens != nil {
		u.cacheRead, u.hasCR = *w.CacheReadInputTokens, true
	}
	if w.OutputTokensDetails != nil {
		u.hasDetails, u.thinking = true, w.OutputTokensDetails.ThinkingTokens
	}
	return u
}

// startView is message_start.
type startView struct {
	id, model string
	usage     usageView
}

func decodeStart(data []byte) (startView, error) {
	var m struct {
		Message struct {
			ID    string    `json:"id"`
			Model string    `json:"model"`
			Usage wireUsage `json:"usage"`
		} `json:"message"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return startView{}, err
	}
	return startView{id: m.Message.ID, model: m.Message.Model, usage: m.Message.Usage.view()}, nil
}

func scanStart(data []byte, v *startView) bool {
	*v = startView{}
	s := jsonscan.Scanner{B: data}
	var seen bool
	return s.WS(top(&s, func(key []byte, i int) int {
		if string(key) != "message" {
			return s.Skip(i, 0)
		}
		if seen {
			return s.Fail()
		}
		seen = true
		var mseen uint8
		return s.Object(i, func(key []byte, i int) int {
			var bit uint8
			switch string(key) {
			case "id":
				bit = 1
			case "model":
				bit = 2
			case "usage":
				bit = 4
			default:
				return s.Skip(i, 0)
			}
			if mseen&bit != 0 {
				return s.Fail()
			}
			mseen |= bit
			switch bit {
			case 1:
				return s.String(i, &v.id)
			case 2:
				return s.String(i, &v.model)
			}
			return scanUsageView(&s, i, &v.usage)
		})
	})) == len(data) && !s.Bad
}

// top walks the top-level object of s.B.
func top(s *jsonscan.Scanner, fn func(key []byte, v int) int) int {
	e := s.Object(s.WS(0), fn)
	if e < 0 {
		return len(s.B) + 1 // never equal to len(s.B)
	}
	return e
}

func scanUsageView(s *jsonscan.Scanner, i int, u *usageView) int {
	var seen uint8
	return s.Object(i, func(key []byte, i int) int {
		var bit uint8
		var dst *int
		var has *bool
		switch string(key) {
		case "input_tokens":
			bit, dst, has = 1, &u.in, &u.hasIn
		case "output_tokens":
			bit, dst, has = 2, &u.out, &u.hasOut
		case "cache_creation_input_tokens":
			bit, dst, has = 4, &u.cacheWrite, &u.hasCW
		case "cache_read_input_tokens":
			bit, dst, has = 8, &u.cacheRead, &u.hasCR
		case "output_tokens_details":
			bit = 16
		default:
			return s.Skip(i, 0)
		}
		if seen&bit != 0 {
			return s.Fail()
		}
		seen |= bit
		if s.Null(i) {
			return i + 4 // a nil pointer
		}
		if bit == 16 {
			u.hasDetails = true
			var dseen bool
			return s.Object(i, func(key []byte, i int) int {
				if string(key) != "thinking_tokens" {
					return s.Skip(i, 0)
				}
				if dseen {
					return s.Fail()
				}
				dseen = true
				return s.Int(i, &u.thinking)
			})
		}
		*has = true
		return s.IntOnly(i, dst)
	})
}

// blockStartView is content_block_start.
type blockStartView struct {
	index                               int
	kind                                blockKind
	text, id, name, thinking, signature string
	input                               []byte // raw JSON; aliases data in scanBlockStart
}

func decodeBlockStart(data []byte) (blockStartView, error) {
	var m struct {
		Index        *int          `json:"index"`
		ContentBlock wireRespBlock `json:"content_block"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return blockStartView{}, err
	}
	if m.Index == nil {
		return blockStartView{}, errMissingIndex
	}
	b := &m.ContentBlock
	return blockStartView{index: *m.Index, kind: blockKindOf(b.Type), text: b.Text, id: b.ID, name: b.Name,
		thinking: b.Thinking, signature: b.Signature, input: b.Input}, nil
}

var errMissingIndex = jsonError("no index")

type jsonError string

func (e jsonError) Error() string { return string(e) }

func blockKindOf(t string) blockKind {
	switch t {
	case "text":
		return blockText
	case "tool_use":
		return blockTool
	case "thinking":
		return blockThinking
	}
	return blockNone
}

func scanBlockStart(data []byte, v *blockStartView) bool {
	*v = blockStartView{}
	s := jsonscan.Scanner{B: data}
	var seen uint8
	end := top(&s, func(key []byte, i int) int {
		switch string(key) {
		case "index":
			if seen&1 != 0 {
				return s.Fail()
			}
			seen |= 1
			return s.IntOnly(i, &v.index)
		case "content_block":
			if seen&2 != 0 {
				return s.Fail()
			}
			seen |= 2
		default:
			return s.Skip(i, 0)
		}
		var bseen uint8
		return s.Object(i, func(key []byte, i int) int {
			var bit uint8
			var dst *string
			switch string(key) {
			case "type":
				bit = 1
			case "text":
				bit, dst = 2, &v.text
			case "id":
				bit, dst = 4, &v.id
			case "name":
				bit, dst = 8, &v.name
			case "thinking":
				bit, dst = 16, &v.thinking
			case "signature":
				bit, dst = 32, &v.signature
			case "input":
				bit = 64
			default:
				return s.Skip(i, 0)
			}
			if bseen&bit != 0 {
				return s.Fail()
			}
			bseen |= bit
			switch bit {
			case 1:
				raw, e := s.RawString(i)
				if e >= 0 {
					if !jsonscan.Plain(raw) {
						return s.Fail()
					}
					v.kind = blockKindOf(string(raw)) // no allocation: compared, not kept
				}
				return e
			case 64:
				e := s.Skip(i, 0)
				if e >= 0 {
					v.input = data[i:e]
				}
				return e
			}
			return s.String(i, dst)
		})
	})
	return seen&1 != 0 && s.WS(end) == len(data) && !s.Bad
}

// Delta kinds of content_block_delta.
const (
	deltaOther uint8 = iota
	deltaText
	deltaJSON
	deltaThinking
	deltaSignature
)

// deltaView is content_block_delta: the block index and the one text field
// the delta's type names (text, partial_json, thinking or signature).
type deltaView struct {
	index   int
	kind    uint8
	text    string
	hasText bool // the field is present and not null
}

func decodeDelta(data []byte) (deltaView, error) {
	var m struct {
		Index *int `json:"index"`
		Delta *struct {
			Type        string  `json:"type"`
			Text        *string `json:"text"`
			PartialJSON *string `json:"partial_json"`
			Thinking    *string `json:"thinking"`
			Signature   *string `json:"signature"`
		} `json:"delta"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return deltaView{}, err
	}
	if m.Index == nil || m.Delta == nil {
		return deltaView{}, jsonError("no index or delta")
	}
	v := deltaView{index: *m.Index, kind: deltaKindOf(m.Delta.Type)}
	var p *string
	switch v.kind {
	case deltaText:
		p = m.Delta.Text
	case deltaJSON:
		p = m.Delta.PartialJSON
	case deltaThinking:
		p = m.Delta.Thinking
	case deltaSignature:
		p = m.Delta.Signature
	}
	if p != nil {
		v.text, v.hasText = *p, true
	}
	return v, nil
}

func deltaKindOf(t string) uint8 {
	switch t {
	case "text_delta":
		return deltaText
	case "input_json_delta":
		return deltaJSON
	case "thinking_delta":
		return deltaThinking
	case "signature_delta":
		return deltaSignature
	}
	return deltaOther
}

// scanDelta is the hot path: one event per token.
func scanDelta(data []byte, v *deltaView) bool { return scanDeltaIn(data, v, nil) }

// scanDeltaIn is scanDelta with the text unquoted into strs (nil: a string
// of its own).
func scanDeltaIn(data []byte, v *deltaView, strs *jsonscan.Strings) bool {
	*v = deltaView{}
	s := jsonscan.Scanner{B: data}
	var seen uint8
	var texts [5][]byte // raw string bodies by delta kind; nil: absent or null
	end := top(&s, func(key []byte, i int) int {
		switch string(key) {
		case "index":
			if seen&1 != 0 {
				return s.Fail()
			}
			seen |= 1
			return s.IntOnly(i, &v.index)
		case "delta":
			if seen&2 != 0 {
				return s.Fail()
			}
			seen |= 2
		default:
			return s.Skip(i, 0)
		}
		var dseen uint8
		return s.Object(i, func(key []byte, i int) int {
			var k uint8
			switch string(key) {
			case "type":
				k = deltaOther
			case "text":
				k = deltaText
			case "partial_json":
				k = deltaJSON
			case "thinking":
				k = deltaThinking
			case "signature":
				k = deltaSignature
			default:
				return s.Skip(i, 0)
			}
			if dseen&(1<<k) != 0 {
				return s.Fail()
			}
			dseen |= 1 << k
			if k != deltaOther && s.Null(i) {
				return i + 4
			}
			raw, e := s.RawString(i)
			if e < 0 {
				return e
			}
			if k == deltaOther {
				if !jsonscan.Plain(raw) {
					return s.Fail()
				}
				v.kind = deltaKindOf(string(raw))
				return e
			}
			texts[k] = raw // non-nil even for "": present
			return e
		})
	})
	if seen != 3 || s.WS(end) != len(data) || s.Bad {
		return false
	}
	if raw := texts[v.kind]; v.kind != deltaOther && raw != nil {
		if strs != nil {
			v.text = strs.Unquote(raw)
		} else {
			v.text = jsonscan.Unquote(raw)
		}
		v.hasText = true
	}
	return true
}

// The head and middle of a text delta as Anthropic writes it, for
// scanTextDelta.
var (
	textDeltaHead = []byte(`{"type":"content_block_delta","index":`)
	textDeltaMid  = []byte(`,"delta":{"type":"text_delta","text":`)
)

// scanTextDelta reads a text delta written exactly as Anthropic writes it
// (its members in its order, no whitespace), which is nearly every event of
// a stream, by matching that layout instead of walking the object. Anything
// else reports false and is left to scanDeltaIn; what it reads is what
// scanDeltaIn reads.
func scanTextDelta(data []byte, v *deltaView, strs *jsonscan.Strings) bool {
	if !bytes.HasPrefix(data, textDeltaHead) {
		return false
	}
	i := len(textDeltaHead)
	j := i
	for j < len(data) && j-i < 9 && '0' <= data[j] && data[j] <= '9' {
		j++
	}
	if j == i || (data[i] == '0' && j > i+1) || !bytes.HasPrefix(data[j:], textDeltaMid) {
		return false
	}
	n := 0
	for _, c := range data[i:j] {
		n = n*10 + int(c-'0')
	}
	sc := jsonscan.Scanner{B: data}
	raw, e := sc.RawString(j + len(textDeltaMid))
	if e < 0 || string(data[e:]) != "}}" {
		return false
	}
	*v = deltaView{index: n, kind: deltaText, hasText: true}
	if strs != nil {
		v.text = strs.Unquote(raw)
	} else {
		v.text = jsonscan.Unquote(raw)
	}
	return true
}

// stopView is message_delta.
type stopView struct {
	stopReason, stopSequence string
	hasReason, hasSequence   bool // present and not null
	hasUsage                 bool
	usage                    usageView
}

func decodeMessageDelta(data []byte) (stopView, error) {
	var m struct {
		Delta struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage *wireUsage `json:"usage"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return stopView{}, err
	}
	var v stopView
	if r := m.Delta.StopReason; r != nil {
		v.stopReason, v.hasReason = *r, true
	}
	if q := m.Delta.StopSequence; q != nil {
		v.stopSequence, v.hasSequence = *q, true
	}
	if m.Usage != nil {
		v.hasUsage, v.usage = true, m.Usage.view()
	}
	return v, nil
}

func scanMessageDelta(data []byte, v *stopView) bool {
	*v = stopView{}
	s := jsonscan.Scanner{B: data}
	var seen uint8
	end := top(&s, func(key []byte, i int) int {
		switch string(key) {
		case "delta":
			if seen&1 != 0 {
				return s.Fail()
			}
			seen |= 1
			var dseen uint8
			return s.Object(i, func(key []byte, i int) int {
				var bit uint8
				var dst *string
				var has *bool
				switch string(key) {
				case "stop_reason":
					bit, dst, has = 1, &v.stopReason, &v.hasReason
				case "stop_sequence":
					bit, dst, has = 2, &v.stopSequence, &v.hasSequence
				default:
					return s.Skip(i, 0)
				}
				if dseen&bit != 0 {
					return s.Fail()
				}
				dseen |= bit
				if s.Null(i) {
					return i + 4
				}
				*has = true
				if bit == 1 {
					raw, e := s.RawString(i)
					if e >= 0 {
						*dst = stopString(raw)
					}
					return e
				}
				return s.String(i, dst)
			})
		case "usage":
			if seen&2 != 0 {
				return s.Fail()
			}
			seen |= 2
			if s.Null(i) {
				return i + 4
			}
			v.hasUsage = true
			return scanUsageView(&s, i, &v.usage)
		}
		return s.Skip(i, 0)
	})
	return s.WS(end) == len(data) && !s.Bad
}

// stopString decodes a stop_reason, without allocating for the usual ones.
func stopString(raw []byte) string {
	for _, r := range [...]string{"end_turn", "max_tokens", "tool_use", "stop_sequence", "pause_turn", "refusal"} {
		if string(raw) == r {
			return r
		}
	}
	return jsonscan.Unquote(raw)
}
