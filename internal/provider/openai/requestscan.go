package openai

import (
	"encoding/json"
	"strconv"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// scanRequest fills w from body as json.Unmarshal(body, w) does, for the
// shapes chat completions clients send, without encoding/json. ok is false,
// and w untouched, for anything where its reading could differ from
// encoding/json's: a key that is not plain lowercase ASCII or has an escape
// (encoding/json matches keys case-insensitively), a known key repeated
// (encoding/json keeps the last value, merging objects), a value of an
// unexpected type, an integer with a fraction or out of range, malformed
// JSON. The caller then decodes body with encoding/json, which gives the
// errors. It never fails where encoding/json succeeds differently: see
// FuzzScanRequest.
//
// Unlike encoding/json's, the json.RawMessage members share body's memory:
// what the Request keeps of them (tool parameters, a response schema) is
// copied by the conversion.
func scanRequest(body []byte, w *wireRequest) (ok bool) {
	s := reqScanner{jsonscan.Scanner{B: body}}
	i := s.WS(0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	var r wireRequest
	if end := s.request(i, &r); end < 0 || s.Bad || s.WS(end) != len(s.B) {
		return false
	}
	*w = r
	return true
}

// reqScanner is jsonscan.Scanner with the request's shapes.
type reqScanner struct{ jsonscan.Scanner }

// skipDepth is the nesting depth raw and unknown values are skipped at: more
// than the request's known levels above them, so that a value nested too
// deeply for encoding/json (10000 levels) is never accepted here.
const skipDepth = 16

func (s *reqScanner) request(i int, r *wireRequest) int {
	var seen uint32
	return s.Object(i, func(key []byte, v int) int {
		var f uint
		switch string(key) {
		case "model":
			f = 0
		case "messages":
			f = 1
		case "max_completion_tokens":
			f = 2
		case "max_tokens":
			f = 3
		case "temperature":
			f = 4
		case "top_p":
			f = 5
		case "top_k":
			f = 6
		case "n":
			f = 7
		case "stop":
			f = 8
		case "seed":
			f = 9
		case "stream":
			f = 10
		case "stream_options":
			f = 11
		case "tools":
			f = 12
		case "tool_choice":
			f = 13
		case "parallel_tool_calls":
			f = 14
		case "response_format":
			f = 15
		case "user":
			f = 16
		case "safety_identifier":
			f = 17
		case "reasoning_effort":
			f = 18
		case "functions":
			f = 19
		default:
			return s.Skip(v, skipDepth)
		}
		if seen&(1<<f) != 0 {
			return s.Fail()
		}
		seen |= 1 << f
		switch f {
		case 0:
			return s.strPtr(v, &r.Model)
		case 1:
			return scanArray(s, v, &r.Messages, 8, s.message)
		case 2:
			return s.intPtr(v, &r.MaxCompletionTokens)
		case 3:
			return s.intPtr(v, &r.MaxTokens)
		case 4:
			return s.floatPtr(v, &r.Temperature)
		case 5:
			return s.floatPtr(v, &r.TopP)
		case 6:
			return s.intPtr(v, &r.TopK)
		case 7:
			return s.intPtr(v, &r.N)
		case 8:
			return s.raw(v, &r.Stop)
		case 9:
			if s.Null(v) {
				return v + 4
			}
			var n int
			e := s.IntOnly(v, &n)
			if e >= 0 {
				n64 := int64(n)
				r.Seed = &n64
			}
			return e
		case 10:
			return s.boolPtr(v, &r.Stream)
		case 11:
			if s.Null(v) {
				return v + 4
			}
			r.StreamOptions = new(wireStreamOpts)
			return s.streamOptions(v, r.StreamOptions)
		case 12:
			return scanArray(s, v, &r.Tools, 4, s.tool)
		case 13:
			return s.raw(v, &r.ToolChoice)
		case 14:
			return s.boolPtr(v, &r.ParallelToolCalls)
		case 15:
			if s.Null(v) {
				return v + 4
			}
			r.ResponseFormat = new(wireRespFormat)
			return s.responseFormat(v, r.ResponseFormat)
		case 16:
			return s.strPtr(v, &r.User)
		case 17:
			return s.strPtr(v, &r.SafetyIdentifier)
		case 18:
			return s.strPtr(v, &r.ReasoningEffort)
		default:
			return s.raw(v, &r.Functions)
		}
	})
}

// scanArray reads the array (or null) at i into dst as encoding/json does:
// null leaves dst nil, [] is an empty slice, a null element stays zero, and
// elem reads each other element in place. capHint sizes the first
// allocation.
func scanArray[T any](s *reqScanner, i int, dst *[]T, capHint int, elem func(v int, e *T) int) int {
	if s.Null(i) {
		return i + 4
	}
	if s.B[i] != '[' {
		return s.Fail()
	}
	out := make([]T, 0, capHint)
	e := s.Array(i, func(v, _ int) int {
		var zero T
		out = append(out, zero)
		if s.Null(v) {
			return v + 4
		}
		return elem(v, &out[len(out)-1])
	})
	*dst = out
	return e
}

func (s *reqScanner) message(i int, m *wireMessage) int {
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen uint8
	return s.Object(i, func(key []byte, v int) int {
		var f uint
		switch string(key) {
		case "role":
			f = 0
		case "content":
			f = 1
		case "tool_calls":
			f = 2
		case "tool_call_id":
			f = 3
		case "refusal":
			f = 4
		case "reasoning_content":
			f = 5
		default:
			return s.Skip(v, skipDepth)
		}
		if seen&(1<<f) != 0 {
			return s.Fail()
		}
		seen |= 1 << f
		switch f {
		case 0:
			return s.known(v, &m.Role)
		case 1:
			return s.raw(v, &m.Content)
		case 2:
			return scanArray(s, v, &m.ToolCalls, 2, s.toolCall)
		case 3:
			return s.strPtr(v, &m.ToolCallID)
		case 4:
			return s.strPtr(v, &m.Refusal)
		default:
			return s.strPtr(v, &m.ReasoningContent)
		}
	})
}

func (s *reqScanner) toolCall(i int, tc *wireToolCall) int {
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen uint8
	return s.Object(i, func(key []byte, v int) int {
		var f uint
		switch string(key) {
		case "id":
			f = 0
		case "type":
			f = 1
		case "function":
			f = 2
		default:
			return s.Skip(v, skipDepth)
		}
		if seen&(1<<f) != 0 {
			return s.Fail()
		}
		seen |= 1 << f
		switch f {
		case 0:
			return s.str(v, &tc.ID)
		case 1:
			return s.known(v, &tc.Type)
		}
		if s.Null(v) {
			return v + 4 // a struct, not a pointer: left as it is
		}
		if s.B[v] != '{' {
			return s.Fail()
		}
		var fseen uint8
		return s.Object(v, func(key []byte, v int) int {
			var f uint
			switch string(key) {
			case "name":
				f = 0
			case "arguments":
				f = 1
			default:
				return s.Skip(v, skipDepth)
			}
			if fseen&(1<<f) != 0 {
				return s.Fail()
			}
			fseen |= 1 << f
			if f == 0 {
				return s.str(v, &tc.Function.Name)
			}
			return s.raw(v, &tc.Function.Arguments)
		})
	})
}

func (s *reqScanner) streamOptions(i int, o *wireStreamOpts) int {
	if s.B[i] != '{' {
		return s.Fail()
	}
	seen := false
	return s.Object(i, func(key []byte, v int) int {
		if string(key) != "include_usage" {
			return s.Skip(v, skipDepth)
		}
		if seen {
			return s.Fail()
		}
		seen = true
		return s.boolPtr(v, &o.IncludeUsage)
	})
}

func (s *reqScanner) tool(i int, t *wireTool) int {
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen uint8
	return s.Object(i, func(key []byte, v int) int {
		var f uint
		switch string(key) {
		case "type":
			f = 0
		case "function":
			f = 1
		default:
			return s.Skip(v, skipDepth)
		}
		if seen&(1<<f) != 0 {
			return s.Fail()
		}
		seen |= 1 << f
		if f == 0 {
			return s.known(v, &t.Type)
		}
		if s.Null(v) {
			return v + 4
		}
		if s.B[v] != '{' {
			return s.Fail()
		}
		t.Function = &struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		}{}
		fn := t.Function
		var fseen uint8
		return s.Object(v, func(key []byte, v int) int {
			var f uint
			switch string(key) {
			case "name":
				f = 0
			case "description":
				f = 1
			case "parameters":
				f = 2
			default:
				return s.Skip(v, skipDepth)
			}
			if fseen&(1<<f) != 0 {
				return s.Fail()
			}
			fseen |= 1 << f
			switch f {
			case 0:
				return s.str(v, &fn.Name)
			case 1:
				return s.str(v, &fn.Description)
			}
			return s.raw(v, &fn.Parameters)
		})
	})
}

func (s *reqScanner) responseFormat(i int, rf *wireRespFormat) int {
	if s.B[i] != '{' {
		return s.Fail()
	}
	var seen uint8
	return s.Object(i, func(key []byte, v int) int {
		var f uint
		switch string(key) {
		case "type":
			f = 0
		case "json_schema":
			f = 1
		default:
			return s.Skip(v, skipDepth)
		}
		if seen&(1<<f) != 0 {
			return s.Fail()
		}
		seen |= 1 << f
		if f == 0 {
			return s.str(v, &rf.Type)
		}
		if s.Null(v) {
			return v + 4
		}
		if s.B[v] != '{' {
			return s.Fail()
		}
		rf.JSONSchema = &struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		}{}
		js := rf.JSONSchema
		var jseen uint8
		return s.Object(v, func(key []byte, v int) int {
			var f uint
			switch string(key) {
			case "name":
				f = 0
			case "schema":
				f = 1
			case "strict":
				f = 2
			default:
				return s.Skip(v, skipDepth)
			}
			if jseen&(1<<f) != 0 {
				return s.Fail()
			}
			jseen |= 1 << f
			switch f {
			case 0:
				return s.str(v, &js.Name)
			case 1:
				return s.raw(v, &js.Schema)
			}
			return s.boolPtr(v, &js.Strict)
		})
	})
}

// str reads a string into a string member; null leaves it as it is.
func (s *reqScanner) str(i int, dst *string) int {
	if s.Null(i) {
		return i + 4
	}
	return s.String(i, dst)
}

// known is str for a role or a type: the common values are constants
// rather than new strings.
func (s *reqScanner) known(i int, dst *string) int {
	if s.Null(i) {
		return i + 4
	}
	raw, e := s.RawString(i)
	if e < 0 {
		return e
	}
	switch string(raw) {
	case "system":
		*dst = "system"
	case "developer":
		*dst = "developer"
	case "user":
		*dst = "user"
	case "assistant":
		*dst = "assistant"
	case "tool":
		*dst = "tool"
	case "function":
		*dst = "function"
	default:
		*dst = jsonscan.Unquote(raw)
	}
	return e
}

// strPtr reads a string into a *string member; null leaves it nil.
func (s *reqScanner) strPtr(i int, dst **string) int {
	if s.Null(i) {
		return i + 4
	}
	raw, e := s.RawString(i)
	if e >= 0 {
		v := jsonscan.Unquote(raw)
		*dst = &v
	}
	return e
}

func (s *reqScanner) intPtr(i int, dst **int) int {
	if s.Null(i) {
		return i + 4
	}
	var n int
	e := s.IntOnly(i, &n)
	if e >= 0 {
		*dst = &n
	}
	return e
}

func (s *reqScanner) boolPtr(i int, dst **bool) int {
	if s.Null(i) {
		return i + 4
	}
	var v bool
	e := s.Bool(i, &v)
	if e >= 0 {
		*dst = &v
	}
	return e
}

// floatPtr reads a number as strconv.ParseFloat reads its literal, which
// is what encoding/json does (a literal out of range is its error).
func (s *reqScanner) floatPtr(i int, dst **float64) int {
	if s.Null(i) {
		return i + 4
	}
	if c := s.B[i]; c != '-' && (c < '0' || c > '9') {
		return s.Fail()
	}
	e := s.Skip(i, skipDepth)
	if e < 0 {
		return -1
	}
	f, ok := exactFloat(s.B[i:e])
	if !ok {
		var err error
		if f, err = strconv.ParseFloat(string(s.B[i:e]), 64); err != nil {
			return s.Fail()
		}
	}
	*dst = &f
	return e
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactFloat converts a JSON number literal without exponent and with at
// most 15 digits, such as 0.7: its digits and the power of ten dividing
// them are exact float64s, so the one rounded division gives the correctly
// rounded value strconv.ParseFloat gives. ok is false for other literals.
func exactFloat(lit []byte) (float64, bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	var mant uint64
	digits, frac := 0, -1
	for j, c := range lit {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
		case c == '.':
			frac = len(lit) - j - 1
		default:
			return 0, false
		}
	}
	if digits > 15 {
		return 0, false
	}
	f := float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// raw reads any value into a json.RawMessage member: its exact bytes, null
// included (json.RawMessage is an Unmarshaler, which receives null).
func (s *reqScanner) raw(i int, dst *json.RawMessage) int {
	e := s.Skip(i, skipDepth)
	if e >= 0 {
		*dst = json.RawMessage(s.B[i:e:e])
	}
	return e
}
