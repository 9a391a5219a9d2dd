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

// fields walks the object at i (anything else fails) as encoding/json
// decodes it into a struct with these JSON names (jsonscan.FieldsDepth:
// a repeated name, a key matching one only case-insensitively, or an
// escaped key gives up); other keys are skipped.
func (s *reqScanner) fields(i int, names []string, fn func(field, v int) int) int {
	return s.FieldsDepth(i, skipDepth, names, fn)
}

var requestFields = []string{"model", "messages", "max_completion_tokens", "max_tokens", "temperature",
	"top_p", "top_k", "n", "stop", "seed", "stream", "stream_options", "tools", "tool_choice",
	"parallel_tool_calls", "response_format", "user", "safety_identifier", "reasoning_effort", "functions"}

func (s *reqScanner) request(i int, r *wireRequest) int {
	return s.fields(i, requestFields, func(f, v int) int {
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
			return s.fields(v, streamOptionsFields, func(_, v int) int { return s.boolPtr(v, &r.StreamOptions.IncludeUsage) })
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

var streamOptionsFields = []string{"include_usage"}

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

var messageFields = []string{"role", "content", "tool_calls", "tool_call_id", "refusal", "reasoning_content"}

func (s *reqScanner) message(i int, m *wireMessage) int {
	return s.fields(i, messageFields, func(f, v int) int {
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

var (
	toolCallFields = []string{"id", "type", "function"}
	functionFields = []string{"name", "arguments"}
)

func (s *reqScanner) toolCall(i int, tc *wireToolCall) int {
	return s.fields(i, toolCallFields, func(f, v int) int {
		switch f {
		case 0:
			return s.str(v, &tc.ID)
		case 1:
			return s.known(v, &tc.Type)
		}
		if s.Null(v) {
			return v + 4 // a struct, not a pointer: left as it is
		}
		return s.fields(v, functionFields, func(f, v int) int {
			if f == 0 {
				return s.str(v, &tc.Function.Name)
			}
			return s.raw(v, &tc.Function.Arguments)
		})
	})
}

var (
	toolFields     = []string{"type", "function"}
	toolFuncFields = []string{"name", "description", "parameters"}
)

func (s *reqScanner) tool(i int, t *wireTool) int {
	return s.fields(i, toolFields, func(f, v int) int {
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
		return s.fields(v, toolFuncFields, func(f, v int) int {
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

var (
	responseFormatFields = []string{"type", "json_schema"}
	jsonSchemaFields     = []string{"name", "schema", "strict"}
)

func (s *reqScanner) responseFormat(i int, rf *wireRespFormat) int {
	return s.fields(i, responseFormatFields, func(f, v int) int {
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
		return s.fields(v, jsonSchemaFields, func(f, v int) int {
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
