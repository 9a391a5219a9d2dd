package openai

import (
	"bytes"
	"github.com/llmgate/llmgate/internal/jsonw"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// Passthrough forwards OpenAI bodies between an OpenAI client and an
// OpenAI-format upstream without decoding them. The zero value is ready to
// use; it is safe for concurrent use.
type Passthrough struct{}

var _ provider.Passthrough = Passthrough{}

var includeUsageTrue = []byte(`{"include_usage":true}`)

// RewriteRequest sets the top-level "model" to model (when it differs) and,
// for a stream whose stream_options.include_usage is not already true, sets
// it to true, keeping the other stream_options members. clientWantsUsage is
// false only when it had to switch usage on, so that the caller hides the
// usage chunk from the client. All other bytes are left as they were; body
// is not modified.
func (Passthrough) RewriteRequest(body []byte, model string, stream bool) (out []byte, clientWantsUsage bool, err error) {
	var modelM, optsM jsonscan.Member
	var hasModel, hasOpts bool
	err = jsonscan.Each(body, func(m jsonscan.Member) bool {
		switch string(m.Key) {
		case "model":
			modelM, hasModel = m, true
		case "stream_options":
			optsM, hasOpts = m, true
		}
		return true
	})
	if err != nil {
		return nil, false, &provider.Error{Kind: provider.KindBadRequest, Message: "the request body is not valid JSON: " + err.Error(), Cause: err}
	}

	type edit struct {
		start, end int
		value      []byte
	}
	var edits [2]edit
	n := 0
	var missing [][2][]byte // members to insert: key, value

	if model != "" && !(hasModel && isString(modelM.Value, model)) {
		v := jsonw.AppendString(nil, model)
		if hasModel {
			edits[n] = edit{modelM.Start, modelM.End, v}
			n++
		} else {
			missing = append(missing, [2][]byte{[]byte("model"), v})
		}
	}
	clientWantsUsage = true
	if stream {
		var v []byte
		switch {
		case !hasOpts:
			missing = append(missing, [2][]byte{[]byte("stream_options"), includeUsageTrue})
			clientWantsUsage = false
		case len(optsM.Value) > 0 && optsM.Value[0] == '{':
			iu, _, err := jsonscan.Get(optsM.Value, "include_usage")
			if err != nil || !jsonscan.Bool(iu) {
				if v, err = jsonscan.Set(optsM.Value, "include_usage", []byte("true")); err != nil {
					v = includeUsageTrue
				}
				clientWantsUsage = false
			}
		default: // null or a wrong type
			v = includeUsageTrue
			clientWantsUsage = false
		}
		if v != nil {
			edits[n] = edit{optsM.Start, optsM.End, v}
			n++
		}
	}
	if n == 0 && len(missing) == 0 {
		return body, clientWantsUsage, nil
	}

	es := edits[:n]
	if n == 2 && es[1].start < es[0].start {
		es[0], es[1] = es[1], es[0]
	}
	size := len(body)
	for _, e := range es {
		size += len(e.value) - (e.end - e.start)
	}
	for _, m := range missing {
		size += len(m[0]) + len(m[1]) + 4
	}
	out = make([]byte, 0, size)
	at := 0
	if len(missing) > 0 {
		open := bytes.IndexByte(body, '{') + 1
		out = append(out, body[:open]...)
		for i, m := range missing {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, m[0]...)
			out = append(out, `":`...)
			out = append(out, m[1]...)
		}
		if len(bytes.TrimSpace(body[open:])) > 1 { // more than the closing brace
			out = append(out, ',')
		}
		at = open
	}
	for _, e := range es {
		out = append(out, body[at:e.start]...)
		out = append(out, e.value...)
		at = e.end
	}
	out = append(out, body[at:]...)
	return out, clientWantsUsage, nil
}

// isString reports whether raw is the JSON string s.
func isString(raw []byte, s string) bool {
	if len(raw) == len(s)+2 && raw[0] == '"' && string(raw[1:len(raw)-1]) == s {
		return true
	}
	v, ok := jsonscan.String(raw)
	return ok && v == s
}

// ResponseUsage reads the top-level "usage" of a chat completion body.
func (Passthrough) ResponseUsage(body []byte) (provider.Usage, bool) {
	raw, ok, err := jsonscan.Get(body, "usage")
	if err != nil || !ok {
		return provider.Usage{}, false
	}
	return decodeUsage(raw)
}

// decodeUsage reads an OpenAI usage object without reflection: ScanEvent
// runs it on every usage chunk.
func decodeUsage(raw []byte) (provider.Usage, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return provider.Usage{}, false
	}
	var u provider.Usage
	var cacheHit int
	err := jsonscan.Each(raw, func(m jsonscan.Member) bool {
		switch string(m.Key) {
		case "prompt_tokens":
			u.InputTokens = jsonInt(m.Value)
		case "completion_tokens":
			u.OutputTokens = jsonInt(m.Value)
		case "prompt_cache_hit_tokens":
			cacheHit = jsonInt(m.Value)
		case "prompt_tokens_details":
			_ = jsonscan.Each(m.Value, func(d jsonscan.Member) bool {
				switch string(d.Key) {
				case "cached_tokens":
					u.CachedTokens = jsonInt(d.Value)
				case "cache_write_tokens":
					u.CacheWriteTokens = jsonInt(d.Value)
				}
				return true
			})
		case "completion_tokens_details":
			_ = jsonscan.Each(m.Value, func(d jsonscan.Member) bool {
				if string(d.Key) == "reasoning_tokens" {
					u.ReasoningTokens = jsonInt(d.Value)
				}
				return true
			})
		}
		return true
	})
	if err != nil {
		return provider.Usage{}, false
	}
	if u.CachedTokens == 0 {
		u.CachedTokens = cacheHit
	}
	return u, true
}

// jsonInt reads a non-negative JSON integer (or an integral float such as
// 12.0); anything else is 0.
func jsonInt(raw []byte) int {
	n := 0
	for i, c := range raw {
		if c < '0' || c > '9' {
			if c == '.' && i > 0 {
				break
			}
			return 0
		}
		if n > (1<<62)/10 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

var (
	doneData = []byte("[DONE]")
	// What ScanEvent looks for (see scanKeys): "usage":{ or "usage": {,
	// "error" (then the chunk is scanned for an error member), "content":"
	// or "refusal":" with or without a space after the colon and a
	// non-empty string, "tool_calls":[{ or "tool_calls": [{.
	usageKey     = []byte(`"usage"`)
	errorKey     = []byte(`"error"`)
	contentKey   = []byte(`"content"`)
	refusalKey   = []byte(`"refusal"`)
	toolCallsKey = []byte(`"tool_calls"`)
)

// ScanEvent inspects one upstream stream event cheaply: substring checks
// first, and a scan of top-level members only when the chunk may carry
// usage or an error.
func (Passthrough) ScanEvent(ev *sse.Event) provider.EventInfo {
	var info provider.EventInfo
	if ev == nil || !ev.HasData {
		return info
	}
	data := ev.Data
	if len(data) == 0 {
		return info
	}
	if data[0] != '{' {
		data = bytes.TrimSpace(data)
		if bytes.Equal(data, doneData) {
			info.Done = true
			return info
		}
	}
	if string(ev.Name) == "error" {
		info.Err = streamError(data)
		return info
	}
	keys := scanKeys(data)
	hasUsage := keys.usage
	if hasUsage || keys.err {
		var usage, choices, errv []byte
		err := jsonscan.Each(data, func(m jsonscan.Member) bool {
			switch string(m.Key) {
			case "usage":
				usage = m.Value
			case "choices":
				choices = m.Value
			case "error":
				errv = m.Value
			}
			return true
		})
		if err == nil {
			if hasValue(errv) {
				info.Err = streamError(data)
				return info
			}
			if hasUsage {
				info.Usage, info.HasUsage = decodeUsage(usage)
				info.UsageOnly = info.HasUsage && isEmptyArray(choices)
			}
		}
	}
	info.Content = keys.content || keys.toolCall
	return info
}

// keyHits is what ScanEvent's key checks found in a chunk.
type keyHits struct {
	usage    bool // one of usageKeys
	err      bool // "error" before a colon: maybe an error member
	content  bool // one of contentKeys, followed by a byte other than '"' (a non-empty string)
	toolCall bool // one of toolCallKeys
}

// scanKeys finds usageKeys, contentKeys and toolCallKeys, and "error"
// keys, in one pass. Each of those keys has a colon at a fixed place, so
// it jumps from colon to colon (a chunk has about one per member) and
// looks at what is around each. Nine bytes.Contains over the chunk, most
// of them failing (so reading it whole), were most of a passthrough
// stream's CPU per event.
func scanKeys(data []byte) keyHits {
	var h keyHits
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return h
		}
		p := i + j
		i = p + 1
		before, after := data[:p], data[p+1:]
		if len(before) < 2 || before[len(before)-1] != '"' {
			// Only "error" may be apart from its colon (encoding/json
			// allows whitespace there).
			if t := bytes.TrimRight(before, " \t\r\n"); len(t) < len(before) && bytes.HasSuffix(t, errorKey) {
				h.err = true
			}
			continue
		}
		switch before[len(before)-2] {
		case 'e':
			if bytes.HasSuffix(before, usageKey) {
				h.usage = h.usage || startsWith(after, "{")
			}
		case 'r':
			if bytes.HasSuffix(before, errorKey) {
				h.err = true
			}
		case 't', 'l':
			if !h.content && (bytes.HasSuffix(before, contentKey) || bytes.HasSuffix(before, refusalKey)) {
				if len(after) > 0 && after[0] == ' ' {
					after = after[1:]
				}
				h.content = len(after) > 1 && after[0] == '"' && after[1] != '"'
			}
		case 's':
			if bytes.HasSuffix(before, toolCallsKey) {
				h.toolCall = h.toolCall || startsWith(after, "[{")
			}
		}
	}
}

// startsWith reports whether b starts with s, or with a space and s: the
// two spellings of usageKeys and toolCallKeys after their colon.
func startsWith(b []byte, s string) bool {
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

func isEmptyArray(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '[' && len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
}
