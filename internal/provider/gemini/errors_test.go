package gemini

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       provider.Kind
		httpStatus int // e.HTTPStatus(); 0 means kind's default
		typ        string
		code       string
		retryAfter time.Duration
		inMessage  string
	}{
		{
			name:   "invalid API key is a 400",
			status: 400,
			body: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com",
				"metadata":{"service":"generativelanguage.googleapis.com"}},
				{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid. Please pass a valid API key."}]}}`,
			kind: provider.KindAuth, typ: "INVALID_ARGUMENT", code: "API_KEY_INVALID", inMessage: "API key not valid",
		},
		{
			name:   "invalid API key by message only",
			status: 400,
			body:   `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`,
			kind:   provider.KindAuth, typ: "INVALID_ARGUMENT",
		},
		{
			name:   "context too long",
			status: 400,
			body:   `{"error":{"code":400,"message":"The input token count (1100000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`,
			kind:   provider.KindContextLength, httpStatus: 400, typ: "INVALID_ARGUMENT", code: "context_length_exceeded", inMessage: "input token count",
		},
		{
			name:   "schema problem",
			status: 400,
			body:   `{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"additionalProperties\"","status":"INVALID_ARGUMENT"}}`,
			kind:   provider.KindBadRequest, typ: "INVALID_ARGUMENT", inMessage: "additionalProperties",
		},
		{
			name:   "free tier unavailable",
			status: 400,
			body:   `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			kind:   provider.KindPermission, typ: "FAILED_PRECONDITION",
		},
		{
			name:   "per-minute quota",
			status: 429,
			body: `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED",
				"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
				{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},
				{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}`,
			kind: provider.KindRateLimited, typ: "RESOURCE_EXHAUSTED", retryAfter: 17 * time.Second,
		},
		{
			name:   "daily quota",
			status: 429,
			body: `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
				"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
				{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2.250s"}]}}`,
			kind: provider.KindQuota, typ: "RESOURCE_EXHAUSTED", retryAfter: 2250 * time.Millisecond,
		},
		{
			name:   "huge retry delay is a spent quota",
			status: 429,
			body:   `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"41000s"}]}}`,
			kind:   provider.KindQuota, typ: "RESOURCE_EXHAUSTED", retryAfter: 41000 * time.Second,
		},
		{
			name:   "array-wrapped",
			status: 429,
			body:   `[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]`,
			kind:   provider.KindRateLimited, typ: "RESOURCE_EXHAUSTED", inMessage: "Resource has been exhausted",
		},
		{
			name:   "429 without a body, Retry-After header",
			status: 429, header: http.Header{"Retry-After": {"3"}},
			kind: provider.KindRateLimited, retryAfter: 3 * time.Second, inMessage: "HTTP 429",
		},
		{
			name:   "overloaded",
			status: 503,
			body:   `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			kind:   provider.KindOverloaded, typ: "UNAVAILABLE",
		},
		{
			name:   "deadline",
			status: 504,
			body:   `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`,
			kind:   provider.KindTimeout, typ: "DEADLINE_EXCEEDED",
		},
		{
			name:   "permission denied",
			status: 403,
			body:   `{"error":{"code":403,"message":"Generative Language API has not been used in project 1 before or it is disabled.","status":"PERMISSION_DENIED"}}`,
			kind:   provider.KindPermission, typ: "PERMISSION_DENIED",
		},
		{
			name:   "missing key",
			status: 403,
			body:   `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`,
			kind:   provider.KindAuth, typ: "PERMISSION_DENIED",
		},
		{
			name:   "unknown model",
			status: 404,
			body:   `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}`,
			kind:   provider.KindNotFound, typ: "NOT_FOUND", inMessage: "gemini-9",
		},
		{
			name:   "unauthenticated",
			status: 401,
			body:   `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			kind:   provider.KindAuth, typ: "UNAUTHENTICATED",
		},
		{
			name:   "internal",
			status: 500,
			body:   `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
			kind:   provider.KindServer, typ: "INTERNAL",
		},
		{
			name:   "HTML from a proxy",
			status: 502,
			body:   "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
			kind:   provider.KindBadGateway, inMessage: "HTTP 502 (Bad Gateway)",
		},
		{
			name:   "empty body",
			status: 500,
			kind:   provider.KindServer, inMessage: "HTTP 500",
		},
		{
			name:   "JSON without an error member",
			status: 400,
			body:   `{"message":"nope"}`,
			kind:   provider.KindBadRequest, inMessage: "HTTP 400",
		},
		{
			name:   "string code and message-only error",
			status: 500,
			body:   `{"error":{"code":"500","message":"odd proxy"}}`,
			kind:   provider.KindServer, inMessage: "odd proxy",
		},
		{
			name:   "error as a string",
			status: 400,
			body:   `{"error":"bad thing"}`,
			kind:   provider.KindBadRequest, inMessage: "bad thing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := (&Upstream{}).DecodeError(tt.status, tt.header, []byte(tt.body))
			if e == nil {
				t.Fatal("nil error")
			}
			if e.Kind != tt.kind {
				t.Errorf("kind %s, want %s (%v)", e.Kind, tt.kind, e)
			}
			want := tt.httpStatus
			if want == 0 {
				want = tt.kind.Status()
			}
			if e.HTTPStatus() != want {
				t.Errorf("status %d, want %d", e.HTTPStatus(), want)
			}
			if e.Type != tt.typ || e.Format != provider.FormatGemini {
				t.Errorf("type %q format %q, want %q gemini", e.Type, e.Format, tt.typ)
			}
			if tt.code != "" && e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if e.UpstreamStatus != tt.status {
				t.Errorf("upstream status %d, want %d", e.UpstreamStatus, tt.status)
			}
			if !strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("message %q lacks %q", e.Message, tt.inMessage)
			}
		})
	}
}

func TestEncodeError(t *testing.T) {
	tests := []struct {
		name       string
		err        *provider.Error
		requestID  string
		wantStatus int
		wantName   string
		wantDelay  string
	}{
		{"bad request", provider.Errorf(provider.KindBadRequest, "contents is required"), "", 400, "INVALID_ARGUMENT", ""},
		{"context length", &provider.Error{Kind: provider.KindContextLength, Message: "too long", Code: "context_length_exceeded"}, "", 400, "INVALID_ARGUMENT", ""},
		{"auth", provider.Errorf(provider.KindAuth, "bad key"), "r1", 401, "UNAUTHENTICATED", ""},
		{"payment", provider.Errorf(provider.KindPayment, "budget exhausted"), "", 402, "FAILED_PRECONDITION", ""},
		{"permission", provider.Errorf(provider.KindPermission, "no"), "", 403, "PERMISSION_DENIED", ""},
		{"not found", provider.Errorf(provider.KindNotFound, "no model"), "", 404, "NOT_FOUND", ""},
		{"rate limited", &provider.Error{Kind: provider.KindRateLimited, Message: "slow down", RetryAfter: 17 * time.Second}, "r2", 429, "RESOURCE_EXHAUSTED", "17s"},
		{"quota", provider.Errorf(provider.KindQuota, "spent"), "", 429, "RESOURCE_EXHAUSTED", ""},
		{"server", provider.Errorf(provider.KindServer, "oops"), "", 500, "INTERNAL", ""},
		{"overloaded is 503", provider.Errorf(provider.KindOverloaded, "busy"), "", 503, "UNAVAILABLE", ""},
		{"timeout", provider.Errorf(provider.KindTimeout, "slow"), "", 504, "DEADLINE_EXCEEDED", ""},
		{"connect", provider.Errorf(provider.KindConnect, "down"), "", 502, "UNAVAILABLE", ""},
		{"upstream gemini status kept", &provider.Error{Kind: provider.KindPermission, Message: "region", Type: "FAILED_PRECONDITION", Format: provider.FormatGemini, UpstreamStatus: 400}, "", 403, "FAILED_PRECONDITION", ""},
		{"other format's type not kept", &provider.Error{Kind: provider.KindOverloaded, Message: "busy", Type: "overloaded_error", Format: provider.FormatAnthropic}, "", 503, "UNAVAILABLE", ""},
		{"empty message", &provider.Error{Kind: provider.KindNotFound}, "", 404, "NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Client{}
			if got := c.StatusFor(tt.err); got != tt.wantStatus {
				t.Errorf("StatusFor %d, want %d", got, tt.wantStatus)
			}
			body := c.EncodeError(tt.err, tt.requestID)
			var w struct {
				Error struct {
					Code    int              `json:"code"`
					Message string           `json:"message"`
					Status  string           `json:"status"`
					Details []map[string]any `json:"details"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &w); err != nil {
				t.Fatalf("invalid JSON %s: %v", body, err)
			}
			if w.Error.Code != tt.wantStatus || w.Error.Status != tt.wantName || w.Error.Message == "" {
				t.Errorf("got %s", body)
			}
			if tt.err.Message != "" && w.Error.Message != tt.err.Message {
				t.Errorf("message %q", w.Error.Message)
			}
			var delay, reqID string
			for _, d := range w.Error.Details {
				if s, ok := d["retryDelay"].(string); ok {
					delay = s
				}
				if s, ok := d["requestId"].(string); ok {
					reqID = s
				}
			}
			if delay != tt.wantDelay || reqID != tt.requestID {
				t.Errorf("retryDelay %q request id %q in %s", delay, reqID, body)
			}
		})
	}
}

// An error DecodeError classified comes out of EncodeError with Google's
// own status name and back in with the same kind.
func TestErrorRoundTrip(t *testing.T) {
	up := &Upstream{}
	for _, body := range []string{
		`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12.5s"}]}}`,
		`{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`,
		`{"error":{"code":404,"message":"no model","status":"NOT_FOUND"}}`,
	} {
		e := up.DecodeError(0, nil, []byte(body))
		out := Client{}.EncodeError(e, "")
		back := up.DecodeError(Client{}.StatusFor(e), nil, out)
		if back.Kind != e.Kind || back.RetryAfter != e.RetryAfter || back.Type != e.Type || back.Message != e.Message {
			t.Errorf("%s\n -> %s\n -> %+v, want %+v", body, out, back, e)
		}
	}
}
