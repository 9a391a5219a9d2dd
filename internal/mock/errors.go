package mock

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// faultSuffix marks injected errors so that people reading logs can tell
// them from real ones.
const faultSuffix = " (llmgate mock fault)"

// errSpec is how each format words an HTTP error status.
type errSpec struct {
	oaType, oaCode string // OpenAI error.type / error.code ("" = null)
	anType         string // Anthropic error.type
	gmStatus       string // Google status
	msg            string
}

func specFor(status int) errSpec {
	switch status {
	case 400:
		return errSpec{"invalid_request_error", "", "invalid_request_error", "INVALID_ARGUMENT", "Invalid request."}
	case 401:
		return errSpec{"invalid_request_error", "invalid_api_key", "authentication_error", "UNAUTHENTICATED", "Incorrect API key provided."}
	case 402:
		return errSpec{"insufficient_quota", "insufficient_quota", "billing_error", "FAILED_PRECONDITION", "Your credit balance is too low."}
	case 403:
		return errSpec{"invalid_request_error", "", "permission_error", "PERMISSION_DENIED", "You are not allowed to use this model."}
	case 404:
		return errSpec{"invalid_request_error", "model_not_found", "not_found_error", "NOT_FOUND", "The model does not exist or you do not have access to it."}
	case 405:
		return errSpec{"invalid_request_error", "", "invalid_request_error", "INVALID_ARGUMENT", "Method not allowed."}
	case 408:
		return errSpec{"server_error", "timeout", "timeout_error", "DEADLINE_EXCEEDED", "Request timed out."}
	case 409:
		return errSpec{"invalid_request_error", "conflict", "invalid_request_error", "ABORTED", "The request conflicts with another request."}
	case 413:
		return errSpec{"invalid_request_error", "request_too_large", "request_too_large", "INVALID_ARGUMENT", "Request exceeds the maximum allowed size."}
	case 422:
		return errSpec{"invalid_request_error", "", "invalid_request_error", "INVALID_ARGUMENT", "Unprocessable request."}
	case 429:
		return errSpec{"requests", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED", "Rate limit reached for requests. Please try again later."}
	case 500:
		return errSpec{"server_error", "", "api_error", "INTERNAL", "The server had an error while processing your request."}
	case 502:
		return errSpec{"server_error", "", "api_error", "UNAVAILABLE", "Bad gateway."}
	case 503:
		return errSpec{"server_error", "", "overloaded_error", "UNAVAILABLE", "The server is overloaded or not ready yet."}
	case 504:
		return errSpec{"server_error", "timeout", "timeout_error", "DEADLINE_EXCEEDED", "Request timed out."}
	case 529:
		return errSpec{"server_error", "overloaded", "overloaded_error", "UNAVAILABLE", "Overloaded"}
	}
	if status >= 500 {
		return errSpec{"server_error", "", "api_error", "INTERNAL", "Internal error."}
	}
	return errSpec{"invalid_request_error", "", "invalid_request_error", "FAILED_PRECONDITION", "Request failed."}
}

type oaErrorBody struct {
	Error oaError `json:"error"`
}

type oaError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

type anErrorBody struct {
	Type      string  `json:"type"`
	Error     anError `json:"error"`
	RequestID string  `json:"request_id,omitempty"`
}

type anError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type gmErrorBody struct {
	Error gmError `json:"error"`
}

type gmError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// mustJSON encodes v without HTML escaping, as the providers do ("tokens >
// maximum", not "tokens \u003e maximum").
func mustJSON(v any) []byte {
	buf := encodeBufs.Get().(*bytes.Buffer)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("mock: encoding a reply: " + err.Error()) // only plain structs are encoded
	}
	b := bytes.Clone(buf.Bytes()[:buf.Len()-1]) // without Encode's newline
	if buf.Cap() <= 64<<10 {
		encodeBufs.Put(buf)
	}
	return b
}

// encodeBufs recycles mustJSON's scratch buffers.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeError answers status with an error body in the endpoint's format.
// An empty msg means the status's usual message, marked as injected.
func (x *exchange) writeError(status int, msg string) {
	x.writeErrorSpec(status, specFor(status), msg)
}

// notFound answers an unknown URL.
func (x *exchange) notFound() {
	spec := specFor(http.StatusNotFound)
	spec.oaCode = ""
	x.writeErrorSpec(http.StatusNotFound, spec, "Invalid URL ("+x.r.Method+" "+x.r.URL.Path+")")
}

func (x *exchange) writeErrorSpec(status int, spec errSpec, msg string) {
	if msg == "" {
		msg = spec.msg + faultSuffix
	}
	var retry time.Duration
	if x.failing && status == x.fault.Status {
		retry = x.fault.RetryAfter
	}
	if retry > 0 {
		h := x.w.Header()
		h["Retry-After"] = []string{strconv.FormatInt(int64(math.Ceil(retry.Seconds())), 10)}
		h["Retry-After-Ms"] = []string{strconv.FormatInt(int64(math.Ceil(float64(retry)/float64(time.Millisecond))), 10)}
	}
	var body []byte
	switch x.ep.format {
	case fmtAnthropic:
		body = mustJSON(anErrorBody{Type: "error", Error: anError{Type: spec.anType, Message: msg}, RequestID: x.reqID})
	case fmtGemini:
		e := gmError{Code: status, Message: msg, Status: spec.gmStatus}
		if status == http.StatusTooManyRequests {
			if retry <= 0 {
				retry = time.Second
			}
			e.Details = []map[string]any{
				{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
					"violations": []map[string]string{{
						"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
						"quotaId":     "GenerateRequestsPerMinutePerProjectPerModel",
					}}},
				{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": protoDuration(retry)},
			}
		}
		body = mustJSON(gmErrorBody{Error: e})
	default:
		body = mustJSON(oaErrorBody{Error: oaError{Message: msg, Type: spec.oaType, Code: nullable(spec.oaCode)}})
	}
	x.writeJSON(status, body)
}

// protoDuration formats d as a protobuf Duration string ("17s", "2.25s").
func protoDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// Default context windows per format when Options.ContextWindow is unset.
const (
	oaDefaultWindow = 128000
	anDefaultWindow = 200000
	gmDefaultWindow = 1048576
)

// writeContextError answers the format's "prompt too long" 400 for a prompt
// of tokens tokens.
func (x *exchange) writeContextError(tokens int) {
	limit := x.m.opts.ContextWindow
	if limit <= 0 {
		switch x.ep.format {
		case fmtAnthropic:
			limit = anDefaultWindow
		case fmtGemini:
			limit = gmDefaultWindow
		default:
			limit = oaDefaultWindow
		}
	}
	tokens = max(tokens, limit+1) // the message must add up even for an injected fault
	var body []byte
	switch x.ep.format {
	case fmtAnthropic:
		msg := "prompt is too long: " + itoa(tokens) + " tokens > " + itoa(limit) + " maximum"
		body = mustJSON(anErrorBody{Type: "error", Error: anError{Type: "invalid_request_error", Message: msg}, RequestID: x.reqID})
	case fmtGemini:
		msg := "The input token count (" + itoa(tokens) + ") exceeds the maximum number of tokens allowed (" + itoa(limit) + ")."
		body = mustJSON(gmErrorBody{Error: gmError{Code: 400, Message: msg, Status: "INVALID_ARGUMENT"}})
	default:
		param := "messages"
		msg := "This model's maximum context length is " + itoa(limit) + " tokens. However, your messages resulted in " +
			itoa(tokens) + " tokens. Please reduce the length of the messages."
		switch x.ep.kind {
		case epResponses:
			param = "input"
			msg = "Your input exceeds the context window of this model (" + itoa(tokens) + " tokens > " + itoa(limit) +
				" maximum). Please adjust your input and try again."
		case epEmbeddings:
			param = "input"
		}
		body = mustJSON(oaErrorBody{Error: oaError{Message: msg, Type: "invalid_request_error",
			Param: nullable(param), Code: nullable("context_length_exceeded")}})
	}
	x.writeJSON(http.StatusBadRequest, body)
}

// checkContext answers the context-overflow 400 when the context_length
// fault applies or the prompt exceeds Options.ContextWindow. It reports
// whether it answered.
func (x *exchange) checkContext(inTok int) bool {
	over := x.m.opts.ContextWindow > 0 && inTok > x.m.opts.ContextWindow
	if over || (x.failing && x.fault.ContextLength) {
		x.writeContextError(inTok)
		return true
	}
	return false
}

// streamErrorEvent is the in-stream error of the endpoint's format: the
// event name ("" for none) and its data.
func (x *exchange) streamErrorEvent(seq int) (string, []byte) {
	switch x.ep.format {
	case fmtAnthropic:
		return "error", mustJSON(anErrorBody{Type: "error", Error: anError{Type: "overloaded_error", Message: "Overloaded" + faultSuffix}})
	case fmtGemini:
		return "", mustJSON(gmErrorBody{Error: gmError{Code: 503, Message: "The model is overloaded. Please try again later." + faultSuffix, Status: "UNAVAILABLE"}})
	}
	if x.ep.kind == epResponses {
		return "error", mustJSON(rsErrorEvent{Type: "error", Code: "server_error",
			Message: "The server had an error while processing your request." + faultSuffix, SequenceNumber: seq})
	}
	return "", mustJSON(oaErrorBody{Error: oaError{Message: "The server had an error while processing your request." + faultSuffix, Type: "server_error"}})
}

type rsErrorEvent struct {
	Type           string  `json:"type"`
	Code           string  `json:"code"`
	Message        string  `json:"message"`
	Param          *string `json:"param"`
	SequenceNumber int     `json:"sequence_number"`
}
