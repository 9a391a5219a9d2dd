package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

func anthropicError(typ, msg string) string {
	return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_01Gw8TnB2sXcQe4"}`
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		kind    provider.Kind
		typ     string
		code    string
		client  int // status a client would see
		msg     string
		wait    time.Duration
		retries bool
	}{
		{"invalid request", 400, nil, anthropicError("invalid_request_error", "messages.1: tool_use ids were found without tool_result blocks"),
			provider.KindBadRequest, "invalid_request_error", "", 400, "tool_use ids", 0, false},
		{"prompt too long", 400, nil, anthropicError("invalid_request_error", "prompt is too long: 204811 tokens > 200000 maximum"),
			provider.KindContextLength, "invalid_request_error", "context_length_exceeded", 400, "prompt is too long", 0, false},
		{"credit balance", 400, nil, anthropicError("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
			provider.KindPayment, "invalid_request_error", "", 402, "credit balance", 0, false},
		{"authentication", 401, nil, anthropicError("authentication_error", "invalid x-api-key"), provider.KindAuth, "authentication_error", "", 401, "invalid x-api-key", 0, false},
		{"billing", 402, nil, anthropicError("billing_error", "pay up"), provider.KindPayment, "billing_error", "", 402, "pay up", 0, false},
		{"permission", 403, nil, anthropicError("permission_error", "no"), provider.KindPermission, "permission_error", "", 403, "no", 0, false},
		{"not found", 404, nil, anthropicError("not_found_error", "model: claude-x"), provider.KindNotFound, "not_found_error", "", 404, "claude-x", 0, false},
		{"too large", 413, nil, anthropicError("request_too_large", "Request exceeds the maximum size"), provider.KindTooLarge, "request_too_large", "", 413, "maximum size", 0, false},
		{"rate limited", 429, http.Header{"Retry-After": {"7"}}, anthropicError("rate_limit_error", "slow down"),
			provider.KindRateLimited, "rate_limit_error", "", 429, "slow down", 7 * time.Second, true},
		{"api error", 500, nil, anthropicError("api_error", "Internal server error"), provider.KindServer, "api_error", "", 500, "Internal", 0, true},
		{"timeout", 504, nil, anthropicError("timeout_error", "took too long"), provider.KindTimeout, "timeout_error", "", 504, "too long", 0, true},
		{"overloaded", 529, http.Header{"Retry-After": {"0.5"}}, anthropicError("overloaded_error", "Overloaded"),
			provider.KindOverloaded, "overloaded_error", "", 529, "Overloaded", 500 * time.Millisecond, true},
		{"no top-level type", 429, nil, `{"error":{"type":"rate_limit_error","message":"x"}}`, provider.KindRateLimited, "rate_limit_error", "", 429, "x", 0, true},
		{"array wrapped", 503, nil, `[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]`,
			provider.KindOverloaded, "", "", 529, "The model is overloaded.", 0, true},
		{"flat", 422, nil, `{"object":"error","message":"Extra inputs are not permitted","type":"invalid_request_error"}`,
			provider.KindBadRequest, "invalid_request_error", "", 400, "Extra inputs", 0, false},
		{"message object", 400, nil, `{"message":{"detail":[{"message":"bad field"}]}}`, provider.KindBadRequest, "", "", 400, "upstream returned HTTP 400", 0, false},
		{"string error", 401, nil, `{"error":"Unauthorized"}`, provider.KindAuth, "", "", 401, "Unauthorized", 0, false},
		{"detail", 404, nil, `{"detail":"Not Found"}`, provider.KindNotFound, "", "", 404, "Not Found", 0, false},
		{"html from a proxy", 502, nil, "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
			provider.KindBadGateway, "", "", 502, "upstream returned HTTP 502: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>", 0, true},
		{"empty body", 503, http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}, "", provider.KindOverloaded, "", "", 529, "upstream returned HTTP 503", 0, true},
		{"unknown type uses status", 409, nil, anthropicError("conflict_error", "busy"), provider.KindUnavailable, "conflict_error", "", 503, "busy", 0, true},
		{"retry-after-ms", 429, http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, anthropicError("rate_limit_error", "x"),
			provider.KindRateLimited, "rate_limit_error", "", 429, "x", 250 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewUpstream(Options{}).DecodeError(tt.status, tt.header, []byte(tt.body))
			if e == nil {
				t.Fatal("nil error")
			}
			if e.Kind != tt.kind || e.Type != tt.typ || e.Code != tt.code || e.HTTPStatus() != tt.client {
				t.Errorf("kind %s type %q code %q status %d, want %s %q %q %d", e.Kind, e.Type, e.Code, e.HTTPStatus(), tt.kind, tt.typ, tt.code, tt.client)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.msg)
			}
			if e.RetryAfter != tt.wait || e.UpstreamStatus != tt.status || e.Format != provider.FormatAnthropic {
				t.Errorf("retry after %v upstream status %d format %q", e.RetryAfter, e.UpstreamStatus, e.Format)
			}
			if e.Kind.Retryable() != tt.retries {
				t.Errorf("retryable = %v, want %v", e.Kind.Retryable(), tt.retries)
			}
		})
	}
}

func TestEncodeError(t *testing.T) {
	tests := []struct {
		name   string
		err    *provider.Error
		typ    string
		status int
	}{
		{"bad request", &provider.Error{Kind: provider.KindBadRequest, Message: "m"}, "invalid_request_error", 400},
		{"context length", &provider.Error{Kind: provider.KindContextLength, Message: "m"}, "invalid_request_error", 400},
		{"auth", &provider.Error{Kind: provider.KindAuth, Message: "m"}, "authentication_error", 401},
		{"payment", &provider.Error{Kind: provider.KindPayment, Message: "m"}, "billing_error", 402},
		{"permission", &provider.Error{Kind: provider.KindPermission, Message: "m"}, "permission_error", 403},
		{"not found", &provider.Error{Kind: provider.KindNotFound, Message: "m"}, "not_found_error", 404},
		{"too large", &provider.Error{Kind: provider.KindTooLarge, Message: "m"}, "request_too_large", 413},
		{"rate limited", &provider.Error{Kind: provider.KindRateLimited, Message: "m"}, "rate_limit_error", 429},
		{"quota", &provider.Error{Kind: provider.KindQuota, Message: "m"}, "rate_limit_error", 429},
		{"server", &provider.Error{Kind: provider.KindServer, Message: "m"}, "api_error", 500},
		{"bad gateway", &provider.Error{Kind: provider.KindBadGateway, Message: "m"}, "api_error", 502},
		{"unavailable", &provider.Error{Kind: provider.KindUnavailable, Message: "m"}, "api_error", 503},
		{"timeout", &provider.Error{Kind: provider.KindTimeout, Message: "m"}, "timeout_error", 504},
		{"overloaded", &provider.Error{Kind: provider.KindOverloaded, Message: "m"}, "overloaded_error", 529},
		{"overloaded with status override", &provider.Error{Kind: provider.KindOverloaded, Status: 503, Message: "m"}, "overloaded_error", 503},
		{"native type kept", &provider.Error{Kind: provider.KindBadRequest, Format: provider.FormatAnthropic, Type: "billing_error", Message: "m"}, "billing_error", 400},
		{"foreign type ignored", &provider.Error{Kind: provider.KindRateLimited, Format: provider.FormatOpenAI, Type: "insufficient_quota", Message: "m"}, "rate_limit_error", 429},
		{"context length found locally", &provider.Error{Kind: provider.KindContextLength, Status: 413, Message: "m"}, "invalid_request_error", 413},
		{"method", &provider.Error{Kind: provider.KindMethod, Message: "m"}, "invalid_request_error", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := Client{}.EncodeError(tt.err, "req_1")
			var got struct {
				Type  string `json:"type"`
				Error struct {
					Type, Message string
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			wantMsg := "m"
			if tt.err.Kind == provider.KindContextLength {
				wantMsg = "prompt is too long: m" // the wording Claude Code compacts on
			}
			if got.Type != "error" || got.Error.Type != tt.typ || got.Error.Message != wantMsg || got.RequestID != "req_1" {
				t.Errorf("body = %s, want error.type %s", body, tt.typ)
			}
			if s := (Client{}).StatusFor(tt.err); s != tt.status {
				t.Errorf("status = %d, want %d", s, tt.status)
			}
		})
	}
	if body := string(Client{}.EncodeError(&provider.Error{Kind: provider.KindServer}, "")); body != `{"type":"error","error":{"type":"api_error","message":"Internal Server Error"},"request_id":null}` {
		t.Errorf("empty message body = %s", body)
	}
}
