package openai

import (
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

// chunk is what the stream decoder reads from one chat.completion.chunk:
// choice 0's delta, its finish_reason and the usage. scanChunk fills it
// without encoding/json; fromWire fills it from the encoding/json decoding
// that scanChunk falls back to for anything outside the common shape.
type chunkView struct {
	hasChoice        bool
	reasoningContent string // reasoning_content (DeepSeek, vLLM)
	reasoning        string // reasoning (Ollama, newer vLLM, OpenRouter)
	thinking, text   string
	refusal          string
	tools            []chunkTool
	hasFinish        bool
	finish           string
	hasUsage         bool
	usage            provider.Usage
	hasGroq          bool
	groqUsage        provider.Usage
}

// chunkTool is one tool call delta; up is its upstream index (the position
// in tool_calls when the delta carries none).
type chunkTool struct {
	up             int
	id, name, args string
}

func (c *chunkView) reset() {
	tools := c.tools[:0]
	*c = chunkView{tools: tools}
}

// reasoningText is wireAssistant.reasoning.
func (c *chunkView) reasoningText() string {
	if c.reasoningContent != "" {
		return c.reasoningContent
	}
	return c.reasoning
}

// usageEvent returns the usage the chunk reports.
func (c *chunkView) usageEvent() (provider.Usage, bool) {
	return c.usage, c.hasUsage
}

// fromWire fills c from a chunk decoded by encoding/json.
func (c *chunkView) fromWire(w *wireChunk) {
	c.reset()
	if ch := w.choice(); ch != nil {
		c.hasChoice = true
		d := &ch.Delta
		if d.ReasoningContent != nil {
			c.reasoningContent = *d.ReasoningContent
		}
		if d.Reasoning != nil {
			c.reasoning = *d.Reasoning
		}
		c.thinking, c.text = d.Content.Thinking, d.Content.Text
		if d.Refusal != nil {
			c.refusal = *d.Refusal
		}
		for i := range d.ToolCalls {
			td := &d.ToolCalls[i]
			up := i
			if td.Index != nil {
				up = *td.Index
			}
			c.tools = append(c.tools, chunkTool{up: up, id: td.ID, name: td.Function.Name, args: string(td.Function.Arguments)})
		}
		if ch.FinishReason != nil {
			c.hasFinish, c.finish = true, *ch.FinishReason
		}
	}
	if wu := w.usage(); wu != nil {
		c.hasUsage, c.usage = true, wu.usage()
	}
}

// The scanner below reads the chunk shapes OpenAI-compatible servers send
// and reports ok == false for anything where its result could differ from
// encoding/json's: a key that is not plain lowercase ASCII (encoding/json
// matches keys case-insensitively), a known key repeated, a value of an
// unexpected type, an error member, content parts, a message member. The
// caller then decodes the chunk with encoding/json. Syntax is checked as
// strictly as encoding/json does, so malformed chunks are errors either way.

type scanner struct {
	b   []byte
	bad bool // the chunk needs encoding/json (or is malformed)
}

// scanChunk fills c from data; ok is false when the caller must decode the
// chunk with encoding/json instead.
func scanChunk(data []byte, c *chunkView) (ok bool) {
	c.reset()
	s := scanner{b: data}
	i := s.ws(0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	var seen uint8
	i = s.object(i, func(key []byte, v int) int {
		var bit uint8
		switch string(key) {
		case "choices":
			bit = 1
		case "usage":
			bit = 2
		case "error":
			bit = 4
		case "x_groq":
			bit = 8
		default:
			return s.skip(v, 0)
		}
		if seen&bit != 0 {
			s.bad = true
			return -1
		}
		seen |= bit
		switch bit {
		case 1:
			return s.choices(v, c)
		case 2:
			if s.null(v) {
				return v + 4
			}
			c.hasUsage = true
			return s.usage(v, &c.usage)
		case 4:
			if s.null(v) {
				return v + 4
			}
			s.bad = true // an error object: decoded the slow way
			return -1
		default:
			return s.groq(v, c)
		}
	})
	if i < 0 || s.bad || s.ws(i) != len(data) {
		return false
	}
	if !c.hasUsage && c.hasGroq {
		c.hasUsage, c.usage = true, c.groqUsage
	}
	c.hasGroq, c.groqUsage = false, provider.Usage{}
	return true
}

func (s *scanner) ws(i int) int {
	for i < len(s.b) {
		switch s.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (s *scanner) null(i int) bool {
	return len(s.b)-i >= 4 && string(s.b[i:i+4]) == "null"
}

// object walks the object at s.b[i] == '{', calling fn with each key and the
// offset of its value; fn returns the offset past the value or -1. object
// returns the offset past the object, or -1 (with s.bad set). Keys that are
// not plain lowercase ASCII, or that contain escapes, set s.bad.
func (s *scanner) object(i int, fn func(key []byte, v int) int) int {
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return s.fail()
		}
		ke, esc := s.str(i)
		if ke < 0 || esc {
			return s.fail()
		}
		key := b[i+1 : ke-1]
		for _, k := range key {
			if k >= utf8.RuneSelf || (k >= 'A' && k <= 'Z') {
				return s.fail()
			}
		}
		i = s.ws(ke)
		if i >= len(b) || b[i] != ':' {
			return s.fail()
		}
		i = s.ws(i + 1)
		if i >= len(b) {
			return s.fail()
		}
		if i = fn(key, i); i < 0 || s.bad {
			return s.fail()
		}
		i = s.ws(i)
		if i >= len(b) {
			return s.fail()
		}
		switch b[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1
		default:
			return s.fail()
		}
	}
}

// array walks the array at s.b[i] == '[', calling fn with each element's
// offset and position.
func (s *scanner) array(i int, fn func(v, n int) int) int {
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for n := 0; ; n++ {
		if i >= len(b) {
			return s.fail()
		}
		if i = fn(i, n); i < 0 || s.bad {
			return s.fail()
		}
		i = s.ws(i)
		if i >= len(b) {
			return s.fail()
		}
		switch b[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1
		default:
			return s.fail()
		}
	}
}

func (s *scanner) fail() int {
	s.bad = true
	return -1
}

// choices reads the choices array, keeping the first choice with index 0.
func (s *scanner) choices(i int, c *chunkView) int {
	if s.null(i) {
		return i + 4
	}
	if s.b[i] != '[' {
		return s.fail()
	}
	return s.array(i, func(v, _ int) int {
		if s.b[v] != '{' {
			return s.fail()
		}
		var ch chunkView // the fields of this choice
		ch.tools = c.tools[len(c.tools):]
		index := 0
		var seen uint8
		end := s.object(v, func(key []byte, v int) int {
			var bit uint8
			switch string(key) {
			case "index":
				bit = 1
			case "delta":
				bit = 2
			case "finish_reason":
				bit = 4
			case "message":
				bit = 8
			default:
				return s.skip(v, 0)
			}
			if seen&bit != 0 {
				return s.fail()
			}
			seen |= bit
			switch bit {
			case 1:
				return s.int(v, &index)
			case 2:
				if s.null(v) {
					return v + 4
				}
				return s.delta(v, &ch)
			case 4:
				if s.null(v) {
					return v + 4
				}
				ch.hasFinish = true
				return s.string(v, &ch.finish)
			default:
				if s.null(v) {
					return v + 4
				}
				return s.fail()
			}
		})
		if end < 0 {
			return -1
		}
		if index == 0 && !c.hasChoice {
			tools := append(c.tools, ch.tools...)
			usage, hasUsage, groq, hasGroq := c.usage, c.hasUsage, c.groqUsage, c.hasGroq
			*c = ch
			c.tools, c.hasChoice = tools, true
			c.usage, c.hasUsage, c.groqUsage, c.hasGroq = usage, hasUsage, groq, hasGroq
		}
		return end
	})
}

// delta reads a choice's delta.
func (s *scanner) delta(i int, ch *chunkView) int {
	if s.b[i] != '{' {
		return s.fail()
	}
	var seen uint8
	return s.object(i, func(key []byte, v int) int {
		var bit uint8
		switch string(key) {
		case "content":
			bit = 1
		case "reasoning_content":
			bit = 2
		case "reasoning":
			bit = 4
		case "refusal":
			bit = 8
		case "tool_calls":
			bit = 16
		default:
			return s.skip(v, 0)
		}
		if seen&bit != 0 {
			return s.fail()
		}
		seen |= bit
		if s.null(v) {
			return v + 4
		}
		switch bit {
		case 1:
			switch s.b[v] {
			case '"':
				return s.rawString(v, &ch.text)
			case '[':
				return s.fail() // content parts (Mistral)
			}
			return s.skip(v, 0) // tolerated, as wireContent does
		case 2:
			return s.string(v, &ch.reasoningContent)
		case 4:
			return s.string(v, &ch.reasoning)
		case 8:
			return s.string(v, &ch.refusal)
		default:
			if s.b[v] != '[' {
				return s.fail()
			}
			return s.array(v, func(v, n int) int { return s.tool(v, n, ch) })
		}
	})
}

// tool reads one tool call delta.
func (s *scanner) tool(i, pos int, ch *chunkView) int {
	if s.b[i] != '{' {
		return s.fail()
	}
	t := chunkTool{up: pos}
	var seen uint8
	end := s.object(i, func(key []byte, v int) int {
		var bit uint8
		switch string(key) {
		case "index":
			bit = 1
		case "id":
			bit = 2
		case "function":
			bit = 4
		default:
			return s.skip(v, 0)
		}
		if seen&bit != 0 {
			return s.fail()
		}
		seen |= bit
		switch bit {
		case 1:
			if s.null(v) {
				return v + 4 // a nil *int: the position is used
			}
			return s.int(v, &t.up)
		case 2:
			if s.null(v) {
				return v + 4
			}
			return s.string(v, &t.id)
		default:
			if s.null(v) {
				return v + 4
			}
			if s.b[v] != '{' {
				return s.fail()
			}
			var fseen uint8
			return s.object(v, func(key []byte, v int) int {
				var bit uint8
				switch string(key) {
				case "name":
					bit = 1
				case "arguments":
					bit = 2
				default:
					return s.skip(v, 0)
				}
				if fseen&bit != 0 {
					return s.fail()
				}
				fseen |= bit
				if s.null(v) {
					return v + 4
				}
				if bit == 1 {
					return s.string(v, &t.name)
				}
				if s.b[v] == '"' {
					return s.rawString(v, &t.args)
				}
				e := s.skip(v, 0) // jsonText keeps other values as their JSON text
				if e >= 0 {
					t.args = string(s.b[v:e])
				}
				return e
			})
		}
	})
	if end >= 0 {
		ch.tools = append(ch.tools, t)
	}
	return end
}

// usage reads a usage object.
func (s *scanner) usage(i int, u *provider.Usage) int {
	if s.b[i] != '{' {
		return s.fail()
	}
	var prompt, completion, cached, cacheWrite, reasoning, hit int
	var seen uint8
	end := s.object(i, func(key []byte, v int) int {
		var bit uint8
		switch string(key) {
		case "prompt_tokens":
			bit = 1
		case "completion_tokens":
			bit = 2
		case "total_tokens":
			bit = 4
		case "prompt_tokens_details":
			bit = 8
		case "completion_tokens_details":
			bit = 16
		case "prompt_cache_hit_tokens":
			bit = 32
		default:
			return s.skip(v, 0)
		}
		if seen&bit != 0 {
			return s.fail()
		}
		seen |= bit
		switch bit {
		case 1:
			return s.int(v, &prompt)
		case 2:
			return s.int(v, &completion)
		case 4:
			var total int
			return s.int(v, &total)
		case 8:
			return s.ints(v, "cached_tokens", &cached, "cache_write_tokens", &cacheWrite)
		case 16:
			return s.ints(v, "reasoning_tokens", &reasoning, "", nil)
		default:
			return s.int(v, &hit)
		}
	})
	if end >= 0 {
		*u = provider.Usage{InputTokens: prompt, OutputTokens: completion, CachedTokens: cached,
			CacheWriteTokens: cacheWrite, ReasoningTokens: reasoning}
		if u.CachedTokens == 0 {
			u.CachedTokens = hit
		}
	}
	return end
}

// ints reads an object (or null) of up to two int members.
func (s *scanner) ints(i int, k1 string, v1 *int, k2 string, v2 *int) int {
	if s.null(i) {
		return i + 4
	}
	if s.b[i] != '{' {
		return s.fail()
	}
	var seen uint8
	return s.object(i, func(key []byte, v int) int {
		switch {
		case string(key) == k1:
			if seen&1 != 0 {
				return s.fail()
			}
			seen |= 1
			return s.int(v, v1)
		case k2 != "" && string(key) == k2:
			if seen&2 != 0 {
				return s.fail()
			}
			seen |= 2
			return s.int(v, v2)
		}
		return s.skip(v, 0)
	})
}

// groq reads x_groq, which carries usage in older Groq streams.
func (s *scanner) groq(i int, c *chunkView) int {
	if s.null(i) {
		return i + 4
	}
	if s.b[i] != '{' {
		return s.fail()
	}
	var seen bool
	return s.object(i, func(key []byte, v int) int {
		if string(key) != "usage" {
			return s.skip(v, 0)
		}
		if seen {
			return s.fail()
		}
		seen = true
		if s.null(v) {
			return v + 4
		}
		c.hasGroq = true
		return s.usage(v, &c.groqUsage)
	})
}

// int reads an integer (null leaves *dst as it is, as encoding/json does);
// fractions, exponents and overflow go to encoding/json.
func (s *scanner) int(i int, dst *int) int {
	if s.null(i) {
		return i + 4
	}
	e := s.skip(i, 0)
	if e < 0 {
		return -1
	}
	lit := s.b[i:e]
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	if len(lit) == 0 || len(lit) > 18 || lit[0] < '0' || lit[0] > '9' {
		return s.fail()
	}
	n := 0
	for _, c := range lit {
		if c < '0' || c > '9' {
			return s.fail()
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	*dst = n
	return e
}

// string reads a JSON string as encoding/json decodes it into a string.
func (s *scanner) string(i int, dst *string) int {
	if s.b[i] != '"' {
		return s.fail()
	}
	e, esc := s.str(i)
	if e < 0 {
		return s.fail()
	}
	raw := s.b[i+1 : e-1]
	if !esc && utf8.Valid(raw) {
		*dst = string(raw)
	} else {
		*dst = jsonscan.Unquote(raw)
	}
	return e
}

// rawString reads a string as jsonscan.String does: the bytes as they are
// when there is no escape, else decoded as encoding/json does.
func (s *scanner) rawString(i int, dst *string) int {
	e, esc := s.str(i)
	if e < 0 {
		return s.fail()
	}
	raw := s.b[i+1 : e-1]
	if !esc {
		*dst = string(raw)
	} else {
		*dst = jsonscan.Unquote(raw)
	}
	return e
}

// str returns the offset past the string at s.b[i] == '"' (or -1 if it is
// malformed) and whether it contains an escape.
func (s *scanner) str(i int) (end int, esc bool) {
	b := s.b
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc
		case c < ' ':
			return -1, false
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skip returns the offset past the value at s.b[i], checking its syntax as
// strictly as encoding/json does, or -1.
func (s *scanner) skip(i, depth int) int {
	b := s.b
	if depth > 10000 || i >= len(b) {
		return s.fail()
	}
	switch c := b[i]; {
	case c == '"':
		e, _ := s.str(i)
		if e < 0 {
			return s.fail()
		}
		return e
	case c == '{':
		return s.object(i, func(_ []byte, v int) int { return s.skip(v, depth+1) })
	case c == '[':
		return s.array(i, func(v, _ int) int { return s.skip(v, depth+1) })
	case c == 't':
		return s.lit(i, "true")
	case c == 'f':
		return s.lit(i, "false")
	case c == 'n':
		return s.lit(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	}
	return s.fail()
}

func (s *scanner) lit(i int, lit string) int {
	if len(s.b)-i >= len(lit) && string(s.b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return s.fail()
}

// number returns the offset past the JSON number at s.b[i].
func (s *scanner) number(i int) int {
	b := s.b
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return s.fail()
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return s.fail()
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return s.fail()
		}
		i = j
	}
	return i
}
