package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/llmgate/llmgate/internal/jsonw"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// Google's error body: {"error":{"code","message","status","details"}}.
// Fields are decoded leniently so that a proxy's variant (a string code, a
// missing status) still classifies.
type rawError struct {
	Code    json.RawMessage `json:"code"`
	Message json.RawMessage `json:"message"`
	Status  json.RawMessage `json:"status"`
	Details json.RawMessage `json:"details"`
}

type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
	Violations []struct {
		QuotaID     string `json:"quotaId"`
		QuotaMetric string `json:"quotaMetric"`
	} `json:"violations"`
}

// quotaRetryThreshold is the retryDelay beyond which a 429 is a spent
// (daily) quota to fail over from, not a limit worth waiting for.
const quotaRetryThreshold = time.Hour

// DecodeError classifies a non-2xx upstream response. It reads Google's
// {"error":{...}} body, the array-wrapped [{"error":{...}}] some endpoints
// send, and falls back to the HTTP status for HTML, text or empty bodies. It
// never returns nil.
func (*Upstream) DecodeError(status int, h http.Header, body []byte) *provider.Error {
	e := errorFromBody(status, body)
	if e.RetryAfter == 0 && h != nil {
		if s := h.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
				e.RetryAfter = time.Duration(n) * time.Second
			}
		}
	}
	return e
}

// errorFromBody classifies an error body that came with HTTP status status.
func errorFromBody(status int, body []byte) *provider.Error {
	raw, ok := findErrorObject(body)
	if !ok {
		msg := "upstream returned HTTP " + strconv.Itoa(status)
		if t := http.StatusText(status); t != "" {
			msg += " (" + t + ")"
		}
		e := &provider.Error{
			Kind:           provider.KindFromStatus(status),
			Message:        msg,
			Format:         provider.FormatGemini,
			UpstreamStatus: status,
		}
		if b := bytes.TrimSpace(body); len(b) > 0 {
			if len(b) > 512 {
				b = b[:512]
			}
			e.Cause = errors.New("upstream body: " + string(b))
		}
		return e
	}
	return errorFromRaw(status, raw)
}

// findErrorObject returns the "error" member of {"error":...} or
// [{"error":...}].
func findErrorObject(body []byte) (json.RawMessage, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false
	}
	var wrap struct {
		Error json.RawMessage `json:"error"`
	}
	switch body[0] {
	case '{':
		if json.Unmarshal(body, &wrap) != nil {
			return nil, false
		}
	case '[':
		var list []struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return nil, false
		}
		wrap.Error = list[0].Error
	default:
		return nil, false
	}
	if isNull(wrap.Error) {
		return nil, false
	}
	return wrap.Error, true
}

// errorFromRaw classifies the value of an "error" member. httpStatus is the
// response's status; for an error inside a 200 stream the body's code is
// used instead.
func errorFromRaw(httpStatus int, errValue json.RawMessage) *provider.Error {
	var r rawError
	var message, grpc string
	code := 0
	if b := bytes.TrimSpace(errValue); len(b) > 0 && b[0] == '"' {
		_ = json.Unmarshal(b, &message) // {"error":"text"}
	} else if json.Unmarshal(errValue, &r) == nil {
		code = flexInt(r.Code)
		message = flexString(r.Message)
		grpc = flexString(r.Status)
	}
	status := httpStatus
	if status < 400 {
		status = code
		if status < 400 {
			status = grpcHTTPStatus(grpc)
		}
	}
	var details []errorDetail
	if len(r.Details) > 0 {
		_ = json.Unmarshal(r.Details, &details) // details are a refinement: ignore a bad shape
	}
	// The HTTP status decides, except where it is generic (400, 500, or a
	// 200 carrying an error in a stream): there the status name refines it
	// (400 FAILED_PRECONDITION is a permission problem, not a bad request).
	kind := provider.KindFromStatus(status)
	if status == http.StatusBadRequest || status == http.StatusInternalServerError || httpStatus < 400 {
		if k, ok := grpcKind(grpc); ok {
			kind = k
		}
	}
	e := &provider.Error{
		Kind:           kind,
		Message:        message,
		Type:           grpc,
		Format:         provider.FormatGemini,
		UpstreamStatus: status,
	}
	if e.Message == "" {
		e.Message = "upstream returned HTTP " + strconv.Itoa(status)
		if grpc != "" {
			e.Message += " " + grpc
		}
	}
	var perDay bool
	for i := range details {
		d := &details[i]
		if d.Reason != "" && e.Code == "" {
			e.Code = d.Reason
		}
		if d.RetryDelay != "" {
			if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
				e.RetryAfter = dur
			}
		}
		for _, v := range d.Violations {
			if strings.Contains(v.QuotaID, "PerDay") {
				perDay = true
			}
		}
	}
	switch {
	case isKeyError(e.Code, message):
		e.Kind = provider.KindAuth
	case (kind == provider.KindBadRequest || kind == provider.KindTooLarge) && provider.IsContextLengthMessage(message):
		e.Kind = provider.KindContextLength
		e.Status = http.StatusBadRequest
		e.Code = "context_length_exceeded"
	case kind == provider.KindRateLimited && (perDay || e.RetryAfter >= quotaRetryThreshold):
		e.Kind = provider.KindQuota
	}
	return e
}

// isKeyError reports an invalid, expired or missing API key, which Google
// answers with 400 INVALID_ARGUMENT (or 403) rather than 401.
func isKeyError(reason, message string) bool {
	switch reason {
	case "API_KEY_INVALID", "API_KEY_EXPIRED":
		return true
	}
	return strings.Contains(message, "API key not valid") ||
		strings.Contains(message, "API key expired") ||
		strings.Contains(message, "unregistered callers")
}

func flexInt(raw json.RawMessage) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		raw = []byte(s)
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0
	}
	return n
}

// flexString decodes a string, or keeps any other JSON value as text.
func flexString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// grpcKind maps a google.rpc.Code name to a Kind.
func grpcKind(status string) (provider.Kind, bool) {
	switch status {
	case "INVALID_ARGUMENT", "OUT_OF_RANGE":
		return provider.KindBadRequest, true
	case "FAILED_PRECONDITION":
		// Free tier unavailable in the region, billing required: another
		// route may work.
		return provider.KindPermission, true
	case "UNAUTHENTICATED":
		return provider.KindAuth, true
	case "PERMISSION_DENIED":
		return provider.KindPermission, true
	case "NOT_FOUND":
		return provider.KindNotFound, true
	case "RESOURCE_EXHAUSTED":
		return provider.KindRateLimited, true
	case "UNAVAILABLE": // "the model is overloaded"
		return provider.KindOverloaded, true
	case "ABORTED":
		return provider.KindUnavailable, true
	case "DEADLINE_EXCEEDED":
		return provider.KindTimeout, true
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		return provider.KindServer, true
	case "CANCELLED":
		return provider.KindCanceled, true
	}
	return "", false
}

// grpcHTTPStatus is the HTTP status Google sends with a google.rpc.Code.
func grpcHTTPStatus(status string) int {
	switch status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return http.StatusBadRequest
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case "NOT_FOUND":
		return http.StatusNotFound
	case "ABORTED", "ALREADY_EXISTS":
		return http.StatusConflict
	case "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "CANCELLED":
		return 499
	case "UNIMPLEMENTED":
		return http.StatusNotImplemented
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// grpcStatus is the google.rpc.Code name a client sees for a kind.
func grpcStatus(k provider.Kind) string {
	switch k {
	case provider.KindBadRequest, provider.KindContextLength, provider.KindTooLarge:
		return "INVALID_ARGUMENT"
	case provider.KindAuth:
		return "UNAUTHENTICATED"
	case provider.KindPayment:
		return "FAILED_PRECONDITION"
	case provider.KindPermission:
		return "PERMISSION_DENIED"
	case provider.KindNotFound:
		return "NOT_FOUND"
	case provider.KindMethod:
		return "UNIMPLEMENTED"
	case provider.KindRateLimited, provider.KindQuota:
		return "RESOURCE_EXHAUSTED"
	case provider.KindTimeout:
		return "DEADLINE_EXCEEDED"
	case provider.KindBadGateway, provider.KindConnect, provider.KindUnavailable, provider.KindOverloaded:
		return "UNAVAILABLE"
	case provider.KindCanceled:
		return "CANCELLED"
	}
	return "INTERNAL"
}

// StatusFor is e's HTTP status; overload (529, an Anthropic status) becomes
// 503 UNAVAILABLE, as Google sends it.
func (Client) StatusFor(e *provider.Error) int {
	s := e.HTTPStatus()
	if s == 529 {
		return http.StatusServiceUnavailable
	}
	return s
}

// EncodeError renders e in Google's error shape:
// {"error":{"code":<HTTP status>,"message":...,"status":<google.rpc.Code>}},
// with a RetryInfo detail when e has a RetryAfter and a RequestInfo detail
// carrying requestID. An upstream Gemini error keeps its own status name.
func (Client) EncodeError(e *provider.Error, requestID string) []byte {
	return appendErrorBody(make([]byte, 0, 256), e, requestID)
}

func appendErrorBody(dst []byte, e *provider.Error, requestID string) []byte {
	status := Client{}.StatusFor(e)
	name := grpcStatus(e.Kind)
	if e.Format == provider.FormatGemini && e.Type != "" {
		name = e.Type
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	dst = append(dst, `{"error":{`...)
	dst = appendIntField(dst, "code", status, true)
	dst = append(dst, `,"message":`...)
	dst = jsonw.AppendString(dst, msg)
	dst = append(dst, `,"status":`...)
	dst = jsonw.AppendString(dst, name)
	if e.RetryAfter > 0 || requestID != "" {
		dst = append(dst, `,"details":[`...)
		if e.RetryAfter > 0 {
			dst = append(dst, `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"`...)
			dst = strconv.AppendFloat(dst, e.RetryAfter.Seconds(), 'f', -1, 64)
			dst = append(dst, `s"}`...)
			if requestID != "" {
				dst = append(dst, ',')
			}
		}
		if requestID != "" {
			dst = append(dst, `{"@type":"type.googleapis.com/google.rpc.RequestInfo","requestId":`...)
			dst = jsonw.AppendString(dst, requestID)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, "}}"...)
}
