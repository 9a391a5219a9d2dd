package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"

	"github.com/llmgate/llmgate/internal/mock"
)

// sdkError is an SDK's error in common terms.
type sdkError struct {
	Status  int
	Type    string // OpenAI error.type, Anthropic error.type, Google status
	Code    string // OpenAI error.code
	Message string
	Header  http.Header // nil for Gemini (go-genai keeps no headers)
	Details []map[string]any
	// RequestID is what the Anthropic SDK read from request-id.
	RequestID string
}

// asSDKError extracts the typed error each SDK returns for an HTTP error:
// *openai.Error, *anthropic.Error, genai.APIError.
func asSDKError(t *testing.T, f string, err error) sdkError {
	t.Helper()
	if err == nil {
		t.Fatalf("the %s SDK reported no error", f)
	}
	switch f {
	case fmtOpenAI:
		var e *openai.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v, want *openai.Error", err, err)
		}
		se := sdkError{Status: e.StatusCode, Type: e.Type, Code: e.Code, Message: e.Message}
		if e.Response != nil {
			se.Header = e.Response.Header
		}
		return se
	case fmtAnthropic:
		var e *anthropic.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v, want *anthropic.Error", err, err)
		}
		se := sdkError{Status: e.StatusCode, Type: string(e.Type()), RequestID: e.RequestID}
		// The body shape: {"type":"error","error":{"type","message"},"request_id"}.
		var body struct {
			Type  string `json:"type"`
			Error struct {
				Type, Message string
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(e.RawJSON()), &body); err != nil || body.Type != "error" {
			t.Errorf("Anthropic error body %s is not {\"type\":\"error\",...}: %v", e.RawJSON(), err)
		}
		se.Message = body.Error.Message
		if e.Response != nil {
			se.Header = e.Response.Header
		}
		return se
	}
	var e genai.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want genai.APIError", err, err)
	}
	return sdkError{Status: e.Code, Type: e.Status, Message: e.Message, Details: e.Details}
}

// want is what one client format should see.
type want struct {
	status int
	typ    string // "" = any non-empty
	code   string // OpenAI only; "" = not checked
	msg    string // a substring of the message; "" = not checked
}

// TestUpstreamErrors makes every upstream fail in the ways providers fail
// and checks what each client SDK sees: its own typed error with the
// status, type and body shape it knows, x-should-retry: false (the SDKs,
// allowed to retry, must not), and Retry-After on a 429.
func TestUpstreamErrors(t *testing.T) {
	cases := []struct {
		name  string
		fault mock.Fault
		want  map[string]want // by client format
		// retryAfter is the Retry-After header a client must see.
		retryAfter string
	}{
		{
			name:  "429 with Retry-After",
			fault: mock.Fault{Status: 429, RetryAfter: time.Second},
			want: map[string]want{
				fmtOpenAI:    {status: 429, code: "rate_limit_exceeded"},
				fmtAnthropic: {status: 429, typ: "rate_limit_error"},
				fmtGemini:    {status: 429, typ: "RESOURCE_EXHAUSTED"},
			},
			retryAfter: "1",
		},
		{
			name:  "529 overloaded",
			fault: mock.Fault{Status: 529},
			want: map[string]want{
				fmtOpenAI:    {status: 503},
				fmtAnthropic: {status: 529, typ: "overloaded_error"},
				fmtGemini:    {status: 503, typ: "UNAVAILABLE"},
			},
		},
		{
			name:  "503 overloaded",
			fault: mock.Fault{Status: 503},
			want: map[string]want{
				fmtOpenAI:    {status: 503},
				fmtAnthropic: {status: 529, typ: "overloaded_error"},
				fmtGemini:    {status: 503, typ: "UNAVAILABLE"},
			},
		},
		{
			name:  "400 context length",
			fault: mock.Fault{ContextLength: true},
			want: map[string]want{
				fmtOpenAI: {status: 400, typ: "invalid_request_error", code: "context_length_exceeded"},
				// Anthropic's own wording, which Claude Code matches to compact the conversation.
				fmtAnthropic: {status: 400, typ: "invalid_request_error", msg: "prompt is too long"},
				fmtGemini:    {status: 400, typ: "INVALID_ARGUMENT"},
			},
		},
		{
			// The gateway's own upstream key was rejected: not the client's
			// fault, so 502 and a message naming the config key.
			name:  "401 from upstream",
			fault: mock.Fault{Status: 401},
			want: map[string]want{
				fmtOpenAI:    {status: 502, msg: "api_key"},
				fmtAnthropic: {status: 502, msg: "api_key"},
				fmtGemini:    {status: 502, msg: "api_key"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, up := range formats {
				for _, in := range formats {
					for _, stream := range []bool{false, true} {
						t.Run(in+"_to_"+up+"/"+mode(stream), func(t *testing.T) {
							skipKnownBug(t)
							// A fresh gateway each time: a 429's Retry-After paces the next request.
							g := newGate(t, gateOptions{Mock: mock.Options{Faults: tc.fault}})
							turn := chatTurn{Model: modelFor[up], Stream: stream, Prompt: matrixPrompt, Retries: 2}
							res := runChat(t, g, in, turn)
							e := asSDKError(t, in, res.Err)
							w := tc.want[in]
							if e.Status != w.status {
								t.Errorf("status %d, want %d (%+v)", e.Status, w.status, e)
							}
							if (w.typ == "" && e.Type == "") || (w.typ != "" && e.Type != w.typ) {
								t.Errorf("error type %q, want %q (%+v)", e.Type, w.typ, e)
							}
							if w.code != "" && e.Code != w.code {
								t.Errorf("error code %q, want %q", e.Code, w.code)
							}
							if e.Message == "" || (w.msg != "" && !strings.Contains(e.Message, w.msg)) {
								t.Errorf("message %q, want one containing %q", e.Message, w.msg)
							}
							if in == fmtAnthropic && e.RequestID == "" {
								t.Error("the Anthropic SDK found no request-id")
							}
							if e.Header != nil {
								if got := e.Header.Get("X-Should-Retry"); got != "false" {
									t.Errorf("x-should-retry %q, want false", got)
								}
								if got := e.Header.Get("Retry-After"); got != tc.retryAfter {
									t.Errorf("retry-after %q, want %q", got, tc.retryAfter)
								}
							}
							if in == fmtGemini && tc.retryAfter != "" && !hasRetryInfo(e.Details) {
								t.Errorf("a Gemini 429 without a RetryInfo detail: %v", e.Details)
							}
							if n := len(g.upstreamRequests(up)); n != 1 {
								t.Errorf("the upstream got %d requests, want 1 (no SDK retry on top of the gateway)", n)
							}
						})
					}
				}
			}
		})
	}
}

func hasRetryInfo(details []map[string]any) bool {
	for _, d := range details {
		if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" && d["retryDelay"] != nil {
			return true
		}
	}
	return false
}
