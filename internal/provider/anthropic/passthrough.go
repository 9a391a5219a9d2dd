package anthropic

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// Passthrough forwards Anthropic bodies to Anthropic upstreams unchanged,
// reading only what metering needs. The zero value is ready to use; it is
// stateless and safe for concurrent use.
type Passthrough struct{}

// RewriteRequest replaces the top-level "model" when it differs from model,
// leaving every other byte as the client sent it. Anthropic always streams
// usage, so clientWantsUsage is always true and nothing else changes.
func (Passthrough) RewriteRequest(body []byte, model string, stream bool) ([]byte, bool, error) {
	cur, ok, err := jsonscan.Get(body, "model")
	if err != nil {
		return nil, true, passthroughBadJSON(err)
	}
	if model == "" {
		return body, true, nil
	}
	if ok {
		if s, isStr := jsonscan.String(cur); isStr && s == model {
			return body, true, nil
		}
	}
	out, err := jsonscan.SetString(body, "model", model)
	if err != nil {
		return nil, true, passthroughBadJSON(err)
	}
	return out, true, nil
}

func passthroughBadJSON(err error) error {
	var syn *jsonscan.SyntaxError
	msg := "request body is not valid JSON"
	if errors.As(err, &syn) {
		msg = fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", syn.Msg, syn.Offset)
	}
	e := badParam("", msg)
	e.Cause = err
	return e
}

// ResponseUsage reads the top-level "usage" of a complete response.
func (Passthrough) ResponseUsage(body []byte) (provider.Usage, bool) {
	raw, ok, err := jsonscan.Get(body, "usage")
	if err != nil || !ok {
		return provider.Usage{}, false
	}
	u, ok := scanUsage(raw)
	if !ok {
		return provider.Usage{}, false
	}
	return u.complete(), true
}

// ScanEvent reads one passthrough stream event: usage from message_start
// and message_delta, errors, the end (message_stop), and whether a
// content_block_delta carries text or tool arguments.
func (Passthrough) ScanEvent(ev *sse.Event) provider.EventInfo {
	name := ev.Name
	if len(name) == 0 && ev.HasData {
		if t, _, _ := jsonscan.Get(ev.Data, "type"); len(t) >= 2 {
			name = t[1 : len(t)-1]
		}
	}
	switch string(name) {
	case "content_block_delta":
		return provider.EventInfo{Content: deltaHasContent(ev.Data)}
	case "message_start":
		msg, ok, _ := jsonscan.Get(ev.Data, "message")
		if !ok {
			return provider.EventInfo{}
		}
		raw, ok, _ := jsonscan.Get(msg, "usage")
		if !ok {
			return provider.EventInfo{}
		}
		u, ok := scanUsage(raw)
		if !ok {
			return provider.EventInfo{}
		}
		return provider.EventInfo{Usage: u.complete(), HasUsage: true}
	case "message_delta":
		raw, ok, _ := jsonscan.Get(ev.Data, "usage")
		if !ok {
			return provider.EventInfo{}
		}
		u, ok := scanUsage(raw)
		if !ok {
			return provider.EventInfo{}
		}
		return provider.EventInfo{Usage: u.delta(), HasUsage: true}
	case "message_stop":
		return provider.EventInfo{Done: true}
	case "error":
		return provider.EventInfo{Err: streamError(ev.Data)}
	}
	return provider.EventInfo{}
}

// deltaHasContent reports whether a content_block_delta is a non-empty
// text_delta or input_json_delta.
func deltaHasContent(data []byte) bool {
	delta, ok, err := jsonscan.Get(data, "delta")
	if err != nil || !ok {
		return false
	}
	var typ, val []byte
	if jsonscan.Each(delta, func(m jsonscan.Member) bool {
		switch string(m.Key) {
		case "type":
			typ = m.Value
		case "text", "partial_json":
			val = m.Value
		}
		return true
	}) != nil {
		return false
	}
	switch string(typ) {
	case `"text_delta"`, `"input_json_delta"`:
		return len(val) > 2 // a non-empty string
	}
	return false
}

// scannedUsage holds the counters of a usage object; -1 marks absent ones.
type scannedUsage struct {
	in, out, cacheWrite, cacheRead, thinking int
}

// scanUsage reads a usage object's counters without decoding it.
func scanUsage(raw []byte) (scannedUsage, bool) {
	u := scannedUsage{-1, -1, -1, -1, -1}
	if len(raw) == 0 || raw[0] != '{' {
		return u, false
	}
	err := jsonscan.Each(raw, func(m jsonscan.Member) bool {
		var dst *int
		switch string(m.Key) {
		case "input_tokens":
			dst = &u.in
		case "output_tokens":
			dst = &u.out
		case "cache_creation_input_tokens":
			dst = &u.cacheWrite
		case "cache_read_input_tokens":
			dst = &u.cacheRead
		case "output_tokens_details":
			if v, ok, _ := jsonscan.Get(m.Value, "thinking_tokens"); ok {
				if n, ok := parseUint(bytes.TrimSpace(v)); ok {
					u.thinking = n
				}
			}
			return true
		default:
			return true
		}
		if n, ok := parseUint(m.Value); ok {
			*dst = n
		}
		return true
	})
	return u, err == nil
}

func nonNeg(n int) int { return max(n, 0) }

// complete converts a whole usage object (absent counters are zero).
func (u scannedUsage) complete() provider.Usage {
	return provider.Usage{
		InputTokens:      nonNeg(u.in) + nonNeg(u.cacheWrite) + nonNeg(u.cacheRead),
		OutputTokens:     nonNeg(u.out),
		CachedTokens:     nonNeg(u.cacheRead),
		CacheWriteTokens: nonNeg(u.cacheWrite),
		ReasoningTokens:  nonNeg(u.thinking),
	}
}

// delta converts a message_delta usage object for provider.MergeUsage. Its
// input total is reported only when all three input counters are present:
// ScanEvent keeps no state, and a partial set would understate the input
// that message_start already reported.
func (u scannedUsage) delta() provider.Usage {
	out := provider.Usage{OutputTokens: nonNeg(u.out), ReasoningTokens: nonNeg(u.thinking)}
	if u.in >= 0 && u.cacheWrite >= 0 && u.cacheRead >= 0 {
		out.InputTokens = u.in + u.cacheWrite + u.cacheRead
		out.CachedTokens, out.CacheWriteTokens = u.cacheRead, u.cacheWrite
	}
	return out
}
