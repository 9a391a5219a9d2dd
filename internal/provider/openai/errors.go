package openai

import (
	"bytes"
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// EncodeError renders e as OpenAI's error body,
// {"error":{"message","type","param","code"}}, with nulls for an empty param
// or code. An error that came from an OpenAI-format upstream keeps the
// upstream's own type and code; others get the type and code of their Kind
// (protocols.md 1.7). The request id travels in the x-request-id header, not
// in the body.
func (Client) EncodeError(e *provider.Error, requestID string) []byte {
	if e == nil {
		e = provider.Errorf(provider.KindServer, "internal error")
	}
	return appendError(make([]byte, 0, 96+len(e.Message)), e)
}

// StatusFor is e's HTTP status, except that overload (529) is sent as 503,
// which OpenAI clients know.
func (Client) StatusFor(e *provider.Error) int {
	s := e.HTTPStatus()
	if s == 529 {
		return http.StatusServiceUnavailable
	}
	return s
}

func appendError(b []byte, e *provider.Error) []byte {
	typ, code := errorTypeCode(e)
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus())
		if msg == "" {
			msg = string(e.Kind)
		}
	}
	b = append(b, `{"error":{"message":`...)
	b = jsonw.AppendString(b, msg)
	b = append(b, `,"type":`...)
	b = jsonw.AppendString(b, typ)
	b = append(b, `,"param":`...)
	b = appendNullableString(b, e.Param)
	b = append(b, `,"code":`...)
	b = appendNullableString(b, code)
	return append(b, "}}"...)
}

// errorTypeCode picks the OpenAI error type and code for e.
func errorTypeCode(e *provider.Error) (typ, code string) {
	ownVocabulary := e.Format == provider.FormatOpenAI || e.Format == ""
	// An upstream's own type is kept, except where the failure is between
	// llmgate and the upstream (our key rejected, garbage): the client's
	// request is not what failed there.
	if e.Format == provider.FormatOpenAI && e.Type != "" && e.Kind != provider.KindBadGateway && e.Kind != provider.KindConnect {
		if e.Kind == provider.KindContextLength {
			return e.Type, "context_length_exceeded"
		}
		return e.Type, e.Code
	}
	if ownVocabulary {
		code = e.Code
	}
	switch e.Kind {
	case provider.KindBadRequest:
		return "invalid_request_error", code
	case provider.KindContextLength:
		return "invalid_request_error", "context_length_exceeded"
	case provider.KindAuth:
		return "authentication_error", "invalid_api_key"
	case provider.KindPayment:
		if code == "" {
			code = "insufficient_balance"
		}
		return "billing_error", code
	case provider.KindPermission:
		return "permission_error", code
	case provider.KindNotFound:
		if code == "" && (e.Param == "model" || strings.Contains(strings.ToLower(e.Message), "model")) {
			code = "model_not_found"
		}
		return "not_found_error", code
	case provider.KindMethod:
		return "invalid_request_error", "method_not_allowed"
	case provider.KindTooLarge:
		return "invalid_request_error", "request_too_large"
	case provider.KindRateLimited:
		return "rate_limit_error", "rate_limit_exceeded"
	case provider.KindQuota:
		return "insufficient_quota", "insufficient_quota"
	case provider.KindUnavailable, provider.KindOverloaded:
		return "server_error", "overloaded"
	case provider.KindTimeout:
		return "server_error", "timeout"
	case provider.KindCanceled:
		return "server_error", "canceled"
	}
	return "server_error", ""
}

// errorBody is what an upstream error body says, whatever its shape.
type errorBody struct {
	message, typ, code, param string
	found                     bool // the body was a recognised error shape
}

// parseErrorBody reads the error shapes OpenAI-compatible servers send
// (protocols.md section 6): {"error":{...}}, [{"error":{...}}],
// {"type":"error","error":{...}}, flat {"object":"error","message":...}
// where message may be an object, {"error":"text"} and {"detail":...}.
// Anything else (HTML, text, empty) gives found == false.
func parseErrorBody(body []byte) errorBody {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) != nil || len(arr) == 0 {
			return errorBody{}
		}
		b = bytes.TrimSpace(arr[0])
	}
	if len(b) == 0 || b[0] != '{' {
		return errorBody{}
	}
	var top struct {
		wireError
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(b, &top) != nil {
		return errorBody{}
	}
	if inner := bytes.TrimSpace(top.Error); len(inner) > 0 && string(inner) != "null" {
		switch inner[0] {
		case '{':
			var w wireError
			if json.Unmarshal(inner, &w) == nil {
				return w.body()
			}
		case '"':
			return errorBody{message: rawText(inner), found: true}
		}
	}
	if len(top.Message) > 0 && string(top.Message) != "null" {
		return top.wireError.body()
	}
	if len(top.Detail) > 0 && string(top.Detail) != "null" {
		return errorBody{message: rawText(top.Detail), found: true}
	}
	return errorBody{}
}

// wireError is an error object; every member may be a string, a number,
// null or (message) an object.
type wireError struct {
	Message json.RawMessage `json:"message"`
	Type    json.RawMessage `json:"type"`
	Code    json.RawMessage `json:"code"`
	Param   json.RawMessage `json:"param"`
	Status  json.RawMessage `json:"status"` // Google's status name
}

func (w *wireError) body() errorBody {
	eb := errorBody{
		message: rawText(w.Message),
		typ:     rawText(w.Type),
		code:    rawText(w.Code),
		param:   rawText(w.Param),
		found:   true,
	}
	if eb.typ == "" {
		eb.typ = rawText(w.Status)
	}
	return eb
}

// rawText renders a JSON value as text: strings decoded, null empty,
// anything else as compact JSON.
func rawText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// DecodeError classifies a non-2xx upstream response. The Kind comes from
// the status, refined by the body: a context overflow (by code or message,
// as DeepSeek sends no specific code) is KindContextLength with code
// context_length_exceeded; a 429 insufficient_quota is KindQuota. The
// upstream's message, type, code and param are kept. It never returns nil.
func (u *Upstream) DecodeError(status int, h http.Header, body []byte) *provider.Error {
	eb := parseErrorBody(body)
	e := &provider.Error{
		Kind:           provider.KindFromStatus(status),
		Message:        eb.message,
		Type:           eb.typ,
		Code:           eb.code,
		Param:          eb.param,
		Format:         provider.FormatOpenAI,
		UpstreamStatus: status,
		RetryAfter:     retryAfter(h),
	}
	classify(e, status, body)
	if e.Message == "" {
		e.Message = "upstream returned HTTP " + strconv.Itoa(status)
		if !eb.found {
			if s := snippet(body, 200); s != "" {
				e.Message += ": " + s
			}
		}
	}
	return e
}

// classify refines e.Kind from the body.
func classify(e *provider.Error, status int, body []byte) {
	switch {
	case e.Code == "context_length_exceeded",
		(status == 400 || status == 413 || status == 422) && provider.IsContextLengthMessage(e.Message):
		e.Kind, e.Status, e.Code = provider.KindContextLength, http.StatusBadRequest, "context_length_exceeded"
	case status == 429 && (e.Type == "insufficient_quota" || e.Code == "insufficient_quota"):
		e.Kind = provider.KindQuota
	case status == 400 && bytes.Contains(body, []byte("API_KEY_INVALID")):
		e.Kind = provider.KindAuth // Gemini's OpenAI-compatible endpoint reports a bad key as 400
	}
}

// streamError decodes an error reported inside a 200 stream. The status is
// taken from a numeric code (vLLM) or guessed from the type.
func streamError(data []byte) *provider.Error {
	eb := parseErrorBody(data)
	status := 0
	if n, err := strconv.Atoi(eb.code); err == nil && n >= 400 && n <= 599 {
		status = n
	}
	if status == 0 {
		status = statusForType(eb.typ, eb.code)
	}
	e := &provider.Error{
		Kind:    provider.KindFromStatus(status),
		Message: eb.message, Type: eb.typ, Code: eb.code, Param: eb.param,
		Format: provider.FormatOpenAI, UpstreamStatus: http.StatusOK,
	}
	classify(e, status, data)
	if e.Kind != provider.KindContextLength && provider.IsContextLengthMessage(e.Message) {
		e.Kind, e.Status, e.Code = provider.KindContextLength, http.StatusBadRequest, "context_length_exceeded"
	}
	if e.Message == "" {
		e.Message = "upstream reported an error in the stream"
	}
	return e
}

func statusForType(typ, code string) int {
	for _, s := range [2]string{typ, code} {
		switch s {
		case "invalid_request_error", "BadRequestError", "INVALID_ARGUMENT":
			return 400
		case "authentication_error", "invalid_api_key":
			return 401
		case "permission_error":
			return 403
		case "not_found_error", "model_not_found":
			return 404
		case "rate_limit_error", "rate_limit_exceeded", "tokens", "requests", "insufficient_quota", "RESOURCE_EXHAUSTED":
			return 429
		case "overloaded_error", "overloaded", "UNAVAILABLE":
			return 503
		case "timeout", "timeout_error":
			return 504
		}
	}
	return 500
}

// retryAfter reads retry-after-ms, then Retry-After in seconds. HTTP dates
// are left to the caller.
func retryAfter(h http.Header) time.Duration {
	if d, ok := parseDelay(h.Get("Retry-After-Ms"), time.Millisecond); ok {
		return d
	}
	if d, ok := parseDelay(h.Get("Retry-After"), time.Second); ok {
		return d
	}
	return 0
}

func parseDelay(v string, unit time.Duration) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	d := f * float64(unit)
	if d > float64(24*time.Hour) {
		d = float64(24 * time.Hour)
	}
	return time.Duration(d), true
}

// snippet is a short, single-line, valid UTF-8 excerpt of a body, for
// messages about bodies that are not JSON errors.
func snippet(body []byte, max int) string {
	b := bytes.TrimSpace(body)
	if len(b) > max {
		b = b[:max]
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "")), " ")
}
