package provider

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind classifies a failure. It decides the HTTP status a client sees, and
// whether the pipeline retries the same upstream or falls back to the next.
// Its values are a small fixed set, safe as metric labels.
type Kind string

// The error taxonomy. Every failure, local or upstream, is one of these.
const (
	KindBadRequest    Kind = "bad_request"      // 400: the request is wrong; retrying cannot help
	KindAuth          Kind = "auth"             // 401: a missing, unknown or rejected key
	KindPayment       Kind = "payment_required" // 402: budget exhausted or balance too low
	KindPermission    Kind = "permission"       // 403: the key may not do this
	KindNotFound      Kind = "not_found"        // 404: unknown model, path or resource
	KindMethod        Kind = "method_not_allowed"
	KindTimeout       Kind = "timeout"         // 504 (an upstream 408 too)
	KindTooLarge      Kind = "too_large"       // 413: body over the limit
	KindContextLength Kind = "context_length"  // 400 with code context_length_exceeded (413 when found locally)
	KindRateLimited   Kind = "rate_limited"    // 429: transient
	KindQuota         Kind = "quota_exhausted" // 429 insufficient_quota: not transient
	KindServer        Kind = "server"          // 500
	KindBadGateway    Kind = "bad_gateway"     // 502: upstream garbage, our upstream key rejected
	KindConnect       Kind = "connect"         // 502: could not reach the upstream
	KindUnavailable   Kind = "unavailable"     // 503
	KindOverloaded    Kind = "overloaded"      // 529 (503 on the OpenAI and Gemini surfaces)
	KindCanceled      Kind = "canceled"        // 499: the client went away
)

// Status is the HTTP status a client sees for the kind.
func (k Kind) Status() int {
	switch k {
	case KindBadRequest, KindContextLength:
		return http.StatusBadRequest
	case KindAuth:
		return http.StatusUnauthorized
	case KindPayment:
		return http.StatusPaymentRequired
	case KindPermission:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindMethod:
		return http.StatusMethodNotAllowed
	case KindTimeout:
		return http.StatusGatewayTimeout
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindRateLimited, KindQuota:
		return http.StatusTooManyRequests
	case KindServer:
		return http.StatusInternalServerError
	case KindBadGateway, KindConnect:
		return http.StatusBadGateway
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindOverloaded:
		return 529
	case KindCanceled:
		return 499
	}
	return http.StatusInternalServerError
}

// Retryable reports whether the same upstream may succeed on a retry.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindTimeout, KindServer, KindBadGateway, KindConnect, KindUnavailable, KindOverloaded:
		return true
	}
	return false
}

// Fallback reports whether the next route (another deployment or provider)
// may succeed where this one failed.
func (k Kind) Fallback() bool {
	switch k {
	case KindRateLimited, KindQuota, KindTimeout, KindServer, KindBadGateway, KindConnect,
		KindUnavailable, KindOverloaded, KindAuth, KindPermission, KindNotFound, KindPayment:
		return true
	}
	return false
}

// Error is a classified failure. Message is safe to show a client and says
// what to do; Cause is for logs only.
type Error struct {
	Kind Kind
	// Status overrides Kind.Status() when non-zero (e.g. an upstream 400
	// context error keeps its 400; our own upstream key rejected is 502).
	Status  int
	Message string
	// Type and Code keep the upstream's own error type and code when it has
	// them (overloaded_error, insufficient_quota, context_length_exceeded).
	// Format says whose vocabulary Type is in.
	Type   string
	Code   string
	Param  string
	Format Format
	// Provider is the configured provider the error came from; "" if local.
	Provider string
	// UpstreamStatus is the upstream's HTTP status, 0 if local.
	UpstreamStatus int
	// RetryAfter is the wait the upstream (or a local limiter) asked for.
	RetryAfter time.Duration
	// Header holds extra headers to send with the error (rate-limit headers).
	Header http.Header
	Cause  error
}

// Errorf returns a local error of the given kind.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	if e.Provider != "" {
		b.WriteString(" from ")
		b.WriteString(e.Provider)
	}
	if e.UpstreamStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.UpstreamStatus)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Cause }

// HTTPStatus is the status to send the client.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Kind.Status()
}

// AsError returns err as an *Error, classifying unknown errors as server
// errors (with a generic message; the cause stays for the log).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindServer, Message: "internal error in llmgate; see the gateway log for the cause", Cause: err}
}

// KindFromStatus classifies an upstream HTTP status when the body says
// nothing more specific.
func KindFromStatus(status int) Kind {
	switch status {
	case 400, 422:
		return KindBadRequest
	case 401:
		return KindAuth
	case 402:
		return KindPayment
	case 403:
		return KindPermission
	case 404:
		return KindNotFound
	case 405:
		return KindMethod
	case 408:
		return KindTimeout
	case 409:
		return KindUnavailable // a conflict the SDKs retry
	case 413:
		return KindTooLarge
	case 429:
		return KindRateLimited
	case 500:
		return KindServer
	case 502:
		return KindBadGateway
	case 503:
		return KindOverloaded // providers send 503 when overloaded; Anthropic clients see 529
	case 504:
		return KindTimeout
	case 529:
		return KindOverloaded
	}
	switch {
	case status >= 500:
		return KindServer
	case status >= 400:
		return KindBadRequest
	}
	return KindBadGateway
}

// IsContextLengthMessage reports whether an upstream error message says the
// prompt does not fit the model's context window. Providers disagree on codes
// (DeepSeek repeats the type as its code), so the text is what is left.
func IsContextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range contextPhrases {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

var contextPhrases = []string{
	"maximum context length",
	"maximum model length",
	"context length",
	"context_length_exceeded",
	"context window",
	"prompt is too long",
	"input token count",
	"too many tokens",
	"exceeds the maximum number of tokens",
}
