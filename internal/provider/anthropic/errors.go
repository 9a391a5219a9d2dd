package anthropic

import (
	"bytes"
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/provider"
)

// Anthropic error types (error.type), as the SDKs know them.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typeBilling        = "billing_error"
	typePermission     = "permission_error"
	typeNotFound       = "not_found_error"
	typeTooLarge       = "request_too_large"
	typeRateLimit      = "rate_limit_error"
	typeAPI            = "api_error"
	typeTimeout        = "timeout_error"
	typeOverloaded     = "overloaded_error"
)

// kindForType classifies a native error type; ok is false for types this
// package does not know.
func kindForType(t string) (provider.Kind, bool) {
	switch t {
	case typeInvalidRequest:
		return provider.KindBadRequest, true
	case typeAuthentication:
		return provider.KindAuth, true
	case typeBilling:
		return provider.KindPayment, true
	case typePermission:
		return provider.KindPermission, true
	case typeNotFound:
		return provider.KindNotFound, true
	case typeTooLarge:
		return provider.KindTooLarge, true
	case typeRateLimit:
		return provider.KindRateLimited, true
	case typeAPI:
		return provider.KindServer, true
	case typeTimeout:
		return provider.KindTimeout, true
	case typeOverloaded:
		return provider.KindOverloaded, true
	}
	return "", false
}

// statusForType is the HTTP status Anthropic pairs with a type; used for
// errors reported inside a 200 stream.
func statusForType(t string) int {
	switch t {
	case typeInvalidRequest:
		return 400
	case typeAuthentication:
		return 401
	case typeBilling:
		return 402
	case typePermission:
		return 403
	case typeNotFound:
		return 404
	case typeTooLarge:
		return 413
	case typeRateLimit:
		return 429
	case typeTimeout:
		return 504
	case typeOverloaded:
		return 529
	}
	return 500
}

// errorType is the error.type a client sees for e.
func errorType(e *provider.Error) string {
	if e.Format == provider.FormatAnthropic && e.Type != "" {
		return e.Type
	}
	switch e.Kind {
	case provider.KindOverloaded:
		return typeOverloaded
	case provider.KindContextLength: // Anthropic's own "prompt is too long" is a 400 invalid_request_error
		return typeInvalidRequest
	}
	switch s := e.HTTPStatus(); s {
	case 400:
		return typeInvalidRequest
	case 401:
		return typeAuthentication
	case 402:
		return typeBilling
	case 403:
		return typePermission
	case 404:
		return typeNotFound
	case 413:
		return typeTooLarge
	case 429:
		return typeRateLimit
	case 504:
		return typeTimeout
	case 529:
		return typeOverloaded
	default:
		if s >= 500 {
			return typeAPI
		}
		return typeInvalidRequest
	}
}

// appendErrorObject appends {"type":"error","error":{"type":..,"message":..}
// without the closing brace, so callers can add request_id.
func appendErrorObject(dst []byte, e *provider.Error) []byte {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus())
		if msg == "" {
			msg = "error"
		}
	}
	// Claude Code compacts its conversation when a message says "prompt is
	// too long"; give it Anthropic's wording whoever overflowed.
	if e.Kind == provider.KindContextLength && e.Format != provider.FormatAnthropic &&
		!strings.Contains(strings.ToLower(msg), "prompt is too long") {
		msg = "prompt is too long: " + msg
	}
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonw.AppendString(dst, errorType(e))
	dst = append(dst, `,"message":`...)
	dst = jsonw.AppendString(dst, msg)
	return append(dst, '}')
}

// EncodeError renders e as an Anthropic error body:
// {"type":"error","error":{"type":..,"message":..},"request_id":..}.
func (Client) EncodeError(e *provider.Error, requestID string) []byte {
	if e == nil {
		e = &provider.Error{Kind: provider.KindServer, Message: "internal error"}
	}
	b := appendErrorObject(make([]byte, 0, 128+len(e.Message)), e)
	b = append(b, `,"request_id":`...)
	if requestID == "" {
		b = append(b, "null"...)
	} else {
		b = jsonw.AppendString(b, requestID)
	}
	return append(b, '}')
}

// StatusFor is e.HTTPStatus(): the Anthropic surface keeps 529 for overload
// (the SDKs retry it) and 503 for KindUnavailable.
func (Client) StatusFor(e *provider.Error) int { return e.HTTPStatus() }

// DecodeError classifies a non-2xx Anthropic response. It reads the
// documented {"type":"error","error":{"type","message"},"request_id"} and,
// defensively, flat, string and array-wrapped shapes from proxies and
// compatible servers; anything else (HTML, empty) is classified by status
// with a short snippet of the body as the message.
func (*Upstream) DecodeError(status int, h http.Header, body []byte) *provider.Error {
	e := decodeErrorBody(status, body)
	e.RetryAfter = retryAfter(h)
	return e
}

func decodeErrorBody(status int, body []byte) *provider.Error {
	typ, msg := parseErrorBody(body)
	return classify(status, typ, msg, body)
}

// streamError classifies the data of an "event: error" in a 200 stream; the
// status is the one Anthropic pairs with the error type.
func streamError(data []byte) *provider.Error {
	typ, msg := parseErrorBody(data)
	return classify(statusForType(typ), typ, msg, data)
}

func classify(status int, typ, msg string, body []byte) *provider.Error {
	kind, known := kindForType(typ)
	if !known {
		kind = provider.KindFromStatus(status)
	}
	e := &provider.Error{Kind: kind, Type: typ, Format: provider.FormatAnthropic, UpstreamStatus: status, Message: msg}
	if kind == provider.KindBadRequest {
		switch {
		case provider.IsContextLengthMessage(msg):
			e.Kind, e.Code, e.Status = provider.KindContextLength, "context_length_exceeded", http.StatusBadRequest
		case strings.Contains(strings.ToLower(msg), "credit balance is too low"):
			e.Kind = provider.KindPayment // our upstream account, not the client's request
		}
	}
	if e.Message == "" {
		e.Message = "upstream returned HTTP " + strconv.Itoa(status)
		if s := snippet(body, 200); s != "" {
			e.Message += ": " + s
		}
	}
	return e
}

// parseErrorBody finds an error type and message in any of the shapes seen
// in the wild.
func parseErrorBody(body []byte) (typ, msg string) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return "", ""
	}
	if b[0] == '[' { // array-wrapped, as some proxies do
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) != nil || len(arr) == 0 {
			return "", ""
		}
		b = bytes.TrimSpace(arr[0])
	}
	if len(b) == 0 || b[0] != '{' {
		return "", ""
	}
	var env struct {
		Type    string          `json:"type"`
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(b, &env) != nil {
		return "", ""
	}
	if env.Type != "error" {
		typ = env.Type
	}
	if len(env.Error) > 0 {
		switch env.Error[0] {
		case '{':
			var inner struct {
				Type    string          `json:"type"`
				Message json.RawMessage `json:"message"`
			}
			if json.Unmarshal(env.Error, &inner) == nil {
				if inner.Type != "" {
					typ = inner.Type
				}
				msg = messageText(inner.Message)
			}
		case '"':
			msg = messageText(env.Error)
		}
	}
	if msg == "" {
		msg = messageText(env.Message)
	}
	if msg == "" {
		msg = messageText(env.Detail)
	}
	return typ, msg
}

// messageText reads a message that is a string, or an object or array whose
// first "message" string is the text (Mistral-style nesting).
func messageText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '{':
		var o struct {
			Message json.RawMessage `json:"message"`
			Msg     string          `json:"msg"`
		}
		if json.Unmarshal(raw, &o) == nil {
			if s := messageText(o.Message); s != "" {
				return s
			}
			return o.Msg
		}
	case '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) == nil && len(arr) > 0 {
			return messageText(arr[0])
		}
	}
	return ""
}

// snippet returns up to max bytes of body as one line of printable text.
func snippet(body []byte, max int) string {
	var b strings.Builder
	space := false
	for len(body) > 0 && b.Len() < max {
		r, size := utf8.DecodeRune(body)
		body = body[size:]
		if r == utf8.RuneError && size <= 1 || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// retryAfter reads retry-after-ms or retry-after (seconds). An HTTP-date is
// ignored: it would need a clock, and Anthropic sends seconds.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("retry-after"); v != "" {
		if s, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && s > 0 && s < 1e6 {
			return time.Duration(s * float64(time.Second))
		}
	}
	return 0
}
