package openai

import (
	"bytes"

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

// scanner is jsonscan.Scanner with the chunk's shapes; Bad means the chunk
// needs encoding/json (or is malformed).
type scanner struct{ jsonscan.Scanner }

// scanChunk fills c from data; ok is false when the caller must decode the
// chunk with encoding/json instead.
func scanChunk(data []byte, c *chunkView) (ok bool) {
	c.reset()
	s := scanner{jsonscan.Scanner{B: data}}
	i := s.WS(0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	var seen uint8
	i = s.Object(i, func(key []byte, v int) int {
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
			return s.Skip(v, 0)
		}
		if seen&bit != 0 {
			s.Bad = true
			return -1
		}
		seen |= bit
		switch bit {
		case 1:
			return s.choices(v, c)
		case 2:
			if s.Null(v) {
				return v + 4
			}
			c.hasUsage = true
			return s.usage(v, &c.usage)
		case 4:
			if s.Null(v) {
				return v + 4
			}
			s.Bad = true // an error object: decoded the slow way
			return -1
		default:
			return s.groq(v, c)
		}
	})
	if i < 0 || s.Bad || s.WS(i) != len(data) {
		return false
	}
	if !c.hasUsage && c.hasGroq {
		c.hasUsage, c.usage = true, c.groqUsage
	}
	c.hasGroq, c.groqUsage = false, provider.Usage{}
	return true
}

// choices reads the choices array, keeping the first choice with index 0.
func (s *scanner) choices(i int, c *chunkView) int {
	if s.Null(i) {
		return i + 4
	}
	if s.B[i] != '[' {
		return s.Fail()
	}
	return s.Array(i, func(v, _ int) int {
		if s.B[v] != '{' {
			return s.Fail()
		}
		var ch chunkView // the fields of this choice
		ch.tools = c.tools[len(c.tools):]
		index := 0
		var seen uint8
		end := s.Object(v, func(key []byte, v int) int {
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
				return s.Skip(v, 0)
			}
			if seen&bit != 0 {
				return s.Fail()
			}
			seen |= bit
			switch bit {
			case 1:
				return s.Int(v, &index)
			case 2:
				if s.Null(v) {
					return v + 4
				}
				return s.delta(v, &ch)
			case 4:
				if s.Null(v) {
					return v + 4
				}
				ch.hasFinish = true
				return s.String(v, &ch.finish)
			default:
				if s.Null(v) {
					return v + 4
				}
				return s.Fail()
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
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen uint8
	return s.Object(i, func(key []byte, v int) int {
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
			return s.Skip(v, 0)
		}
		if seen&bit != 0 {
			return s.Fail()
		}
		seen |= bit
		if s.Null(v) {
			return v + 4
		}
		switch bit {
		case 1:
			switch s.B[v] {
			case '"':
				return s.rawString(v, &ch.text)
			case '[':
				return s.Fail() // content parts (Mistral)
			}
			return s.Skip(v, 0) // tolerated, as wireContent does
		case 2:
			return s.String(v, &ch.reasoningContent)
		case 4:
			return s.String(v, &ch.reasoning)
		case 8:
			return s.String(v, &ch.refusal)
		default:
			if s.B[v] != '[' {
				return s.Fail()
			}
			return s.Array(v, func(v, n int) int { return s.tool(v, n, ch) })
		}
	})
}

// tool reads one tool call delta.
func (s *scanner) tool(i, pos int, ch *chunkView) int {
	if s.B[i] != '{' {
		return s.Fail()
	}
	t := chunkTool{up: pos}
	var seen uint8
	end := s.Object(i, func(key []byte, v int) int {
		var bit uint8
		switch string(key) {
		case "index":
			bit = 1
		case "id":
			bit = 2
		case "function":
			bit = 4
		default:
			return s.Skip(v, 0)
		}
		if seen&bit != 0 {
			return s.Fail()
		}
		seen |= bit
		switch bit {
		case 1:
			if s.Null(v) {
				return v + 4 // a nil *int: the position is used
			}
			return s.Int(v, &t.up)
		case 2:
			if s.Null(v) {
				return v + 4
			}
			return s.String(v, &t.id)
		default:
			if s.Null(v) {
				return v + 4
			}
			if s.B[v] != '{' {
				return s.Fail()
			}
			var fseen uint8
			return s.Object(v, func(key []byte, v int) int {
				var bit uint8
				switch string(key) {
				case "name":
					bit = 1
				case "arguments":
					bit = 2
				default:
					return s.Skip(v, 0)
				}
				if fseen&bit != 0 {
					return s.Fail()
				}
				fseen |= bit
				if s.Null(v) {
					return v + 4
				}
				if bit == 1 {
					return s.String(v, &t.name)
				}
				if s.B[v] == '"' {
					return s.rawString(v, &t.args)
				}
				e := s.Skip(v, 0) // jsonText keeps other values as their JSON text
				if e >= 0 {
					t.args = string(s.B[v:e])
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
	if s.B[i] != '{' {
		return s.Fail()
	}
	var prompt, completion, cached, cacheWrite, reasoning, hit int
	var seen uint8
	end := s.Object(i, func(key []byte, v int) int {
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
			return s.Skip(v, 0)
		}
		if seen&bit != 0 {
			return s.Fail()
		}
		seen |= bit
		switch bit {
		case 1:
			return s.Int(v, &prompt)
		case 2:
			return s.Int(v, &completion)
		case 4:
			var total int
			return s.Int(v, &total)
		case 8:
			return s.ints(v, "cached_tokens", &cached, "cache_write_tokens", &cacheWrite)
		case 16:
			return s.ints(v, "reasoning_tokens", &reasoning, "", nil)
		default:
			return s.Int(v, &hit)
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
	if s.Null(i) {
		return i + 4
	}
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen uint8
	return s.Object(i, func(key []byte, v int) int {
		switch {
		case string(key) == k1:
			if seen&1 != 0 {
				return s.Fail()
			}
			seen |= 1
			return s.Int(v, v1)
		case k2 != "" && string(key) == k2:
			if seen&2 != 0 {
				return s.Fail()
			}
			seen |= 2
			return s.Int(v, v2)
		}
		return s.Skip(v, 0)
	})
}

// groq reads x_groq, which carries usage in older Groq streams.
func (s *scanner) groq(i int, c *chunkView) int {
	if s.Null(i) {
		return i + 4
	}
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen bool
	return s.Object(i, func(key []byte, v int) int {
		if string(key) != "usage" {
			return s.Skip(v, 0)
		}
		if seen {
			return s.Fail()
		}
		seen = true
		if s.Null(v) {
			return v + 4
		}
		c.hasGroq = true
		return s.usage(v, &c.groqUsage)
	})
}

// rawString reads a string as jsonscan.String does: the bytes as they are
// when there is no escape, else decoded as encoding/json does.
func (s *scanner) rawString(i int, dst *string) int {
	raw, e := s.RawString(i)
	if e < 0 {
		return -1
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		*dst = string(raw)
	} else {
		*dst = jsonscan.Unquote(raw)
	}
	return e
}
