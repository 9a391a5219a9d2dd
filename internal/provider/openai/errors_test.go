package openai

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
		wantKind   provider.Kind
		wantStatus int // client status, e.HTTPStatus()
		wantType   string
		wantCode   string
		wantParam  string
		wantMsg    string // substring
		wantRetry  time.Duration
	}{
		{"openai nested", 400, nil,
			`{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`,
			provider.KindBadRequest, 400, "invalid_request_error", "invalid_value", "temperature", "Invalid value", 0},
		{"openai context length by code", 400, nil,
			`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			provider.KindContextLength, 400, "invalid_request_error", "context_length_exceeded", "messages", "maximum context length", 0},
		{"deepseek context length by message", 400, nil,
			`{"error":{"message":"This model's maximum context length is 65536 tokens. However, you requested 70000 tokens.","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}`,
			provider.KindContextLength, 400, "invalid_request_error", "context_length_exceeded", "", "65536", 0},
		{"rate limit with retry-after-ms", 429, http.Header{"Retry-After-Ms": {"1450"}, "Retry-After": {"2"}},
			`{"error":{"message":"Rate limit reached for requests. Please try again in 1.45s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			provider.KindRateLimited, 429, "requests", "rate_limit_exceeded", "", "Rate limit", 1450 * time.Millisecond},
		{"rate limit with retry-after seconds", 429, http.Header{"Retry-After": {"3"}},
			`{"error":{"message":"slow down","type":"rate_limit_error"}}`,
			provider.KindRateLimited, 429, "rate_limit_error", "", "", "slow down", 3 * time.Second},
		{"retry-after as a date is ignored", 429, http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}},
			`{"error":{"message":"slow down"}}`,
			provider.KindRateLimited, 429, "", "", "", "slow down", 0},
		{"insufficient quota", 429, nil,
			`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			provider.KindQuota, 429, "insufficient_quota", "insufficient_quota", "", "quota", 0},
		{"deepseek insufficient balance", 402, nil,
			`{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}`,
			provider.KindPayment, 402, "unknown_error", "invalid_request_error", "", "Insufficient Balance", 0},
		{"deepseek overloaded", 503, nil,
			`{"error":{"message":"Server overloaded, please try again later","type":"server_error"}}`,
			provider.KindOverloaded, 529, "server_error", "", "", "overloaded", 0},
		{"vllm numeric code", 404, nil,
			`{"error":{"message":"The model 'x' does not exist.","type":"NotFoundError","param":null,"code":404}}`,
			provider.KindNotFound, 404, "NotFoundError", "404", "", "does not exist", 0},
		{"vllm flat", 400, nil,
			`{"object":"error","message":"max_tokens must be at least 1","type":"BadRequestError","param":null,"code":400}`,
			provider.KindBadRequest, 400, "BadRequestError", "400", "", "max_tokens must be", 0},
		{"mistral flat with object message", 422, nil,
			`{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","n"],"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_error","param":null,"code":null}`,
			provider.KindBadRequest, 400, "invalid_request_error", "", "", "Extra inputs are not permitted", 0},
		{"gemini compat array", 429, nil,
			`[{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED"}}]`,
			provider.KindRateLimited, 429, "RESOURCE_EXHAUSTED", "429", "", "exceeded your current quota", 0},
		{"gemini compat bad key", 400, nil,
			`[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}]`,
			provider.KindAuth, 401, "INVALID_ARGUMENT", "400", "", "API key not valid", 0},
		{"anthropic-shaped", 529, nil,
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			provider.KindOverloaded, 529, "overloaded_error", "", "", "Overloaded", 0},
		{"ollama plain string", 404, nil,
			`{"error":"model \"llama9\" not found, try pulling it first"}`,
			provider.KindNotFound, 404, "", "", "", "try pulling it first", 0},
		{"fastapi detail", 401, nil,
			`{"detail":"Unauthorized"}`,
			provider.KindAuth, 401, "", "", "", "Unauthorized", 0},
		{"html from a proxy", 502, nil,
			"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>cloudflare</body></html>",
			provider.KindBadGateway, 502, "", "", "", "upstream returned HTTP 502: <html> <head><title>502 Bad Gateway", 0},
		{"empty body", 500, nil, ``,
			provider.KindServer, 500, "", "", "", "upstream returned HTTP 500", 0},
		{"null error", 500, nil, `{"error":null}`,
			provider.KindServer, 500, "", "", "", "upstream returned HTTP 500", 0},
		{"json without a message", 413, nil, `{"foo":1}`,
			provider.KindTooLarge, 413, "", "", "", "upstream returned HTTP 413", 0},
		{"unexpected status", 418, nil, `I'm a teapot`,
			provider.KindBadRequest, 400, "", "", "", "HTTP 418: I'm a teapot", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewUpstream(Options{}).DecodeError(tt.status, tt.header, []byte(tt.body))
			if e == nil {
				t.Fatal("DecodeError returned nil")
			}
			if e.Kind != tt.wantKind || e.HTTPStatus() != tt.wantStatus {
				t.Errorf("kind %s status %d, want %s %d", e.Kind, e.HTTPStatus(), tt.wantKind, tt.wantStatus)
			}
			if e.Type != tt.wantType || e.Code != tt.wantCode || e.Param != tt.wantParam {
				t.Errorf("type/code/param = %q/%q/%q, want %q/%q/%q", e.Type, e.Code, e.Param, tt.wantType, tt.wantCode, tt.wantParam)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMsg)
			}
			if e.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if e.Format != provider.FormatOpenAI || e.UpstreamStatus != tt.status {
				t.Errorf("format %q upstream status %d, want openai %d", e.Format, e.UpstreamStatus, tt.status)
			}
		})
	}
}

func TestDecodeErrorSnippetIsShort(t *testing.T) {
	body := strings.Repeat("é", 500) // 1000 bytes
	e := NewUpstream(Options{}).DecodeError(500, nil, []byte(body))
	if len(e.Message) > len("upstream returned HTTP 500: ")+200 {
		t.Errorf("message is %d bytes, want the snippet capped at 200", len(e.Message))
	}
	if !json.Valid(Client{}.EncodeError(e, "")) {
		t.Error("the encoded error is not valid JSON")
	}
}

func TestEncodeError(t *testing.T) {
	tests := []struct {
		name       string
		err        provider.Error
		want       string
		wantStatus int
	}{
		{"bad request with param", provider.Error{Kind: provider.KindBadRequest, Message: "no model", Param: "model"},
			`{"error":{"message":"no model","type":"invalid_request_error","param":"model","code":null}}`, 400},
		{"context length from another format", provider.Error{Kind: provider.KindContextLength, Status: 400, Message: "prompt is too long", Format: provider.FormatAnthropic, Type: "invalid_request_error"},
			`{"error":{"message":"prompt is too long","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}`, 400},
		{"auth", provider.Error{Kind: provider.KindAuth, Message: "bad key"},
			`{"error":{"message":"bad key","type":"authentication_error","param":null,"code":"invalid_api_key"}}`, 401},
		{"payment", provider.Error{Kind: provider.KindPayment, Message: "budget exhausted"},
			`{"error":{"message":"budget exhausted","type":"billing_error","param":null,"code":"insufficient_balance"}}`, 402},
		{"permission", provider.Error{Kind: provider.KindPermission, Message: "model not allowed for this key", Code: "model_not_allowed"},
			`{"error":{"message":"model not allowed for this key","type":"permission_error","param":null,"code":"model_not_allowed"}}`, 403},
		{"unknown model", provider.Error{Kind: provider.KindNotFound, Message: "The model `x` does not exist"},
			`{"error":{"message":"The model ` + "`x`" + ` does not exist","type":"not_found_error","param":null,"code":"model_not_found"}}`, 404},
		{"unknown path", provider.Error{Kind: provider.KindNotFound, Message: "no such route"},
			`{"error":{"message":"no such route","type":"not_found_error","param":null,"code":null}}`, 404},
		{"too large", provider.Error{Kind: provider.KindTooLarge, Message: "body over 10 MiB"},
			`{"error":{"message":"body over 10 MiB","type":"invalid_request_error","param":null,"code":"request_too_large"}}`, 413},
		{"rate limited", provider.Error{Kind: provider.KindRateLimited, Message: "slow down"},
			`{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`, 429},
		{"quota", provider.Error{Kind: provider.KindQuota, Message: "out of credit"},
			`{"error":{"message":"out of credit","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, 429},
		{"anthropic overload becomes 503", provider.Error{Kind: provider.KindOverloaded, Message: "Overloaded", Format: provider.FormatAnthropic, Type: "overloaded_error"},
			`{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded"}}`, 503},
		{"timeout", provider.Error{Kind: provider.KindTimeout, Message: "upstream timed out"},
			`{"error":{"message":"upstream timed out","type":"server_error","param":null,"code":"timeout"}}`, 504},
		{"server with empty message", provider.Error{Kind: provider.KindServer},
			`{"error":{"message":"Internal Server Error","type":"server_error","param":null,"code":null}}`, 500},
		{"openai upstream keeps its own type and code", provider.Error{Kind: provider.KindRateLimited, Message: "Rate limit reached", Format: provider.FormatOpenAI, Type: "tokens", Code: "rate_limit_exceeded", UpstreamStatus: 429},
			`{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`, 429},
		{"openai upstream key rejected is not the client's fault", provider.Error{Kind: provider.KindBadGateway, Status: 502, Message: "the upstream rejected llmgate's key", Format: provider.FormatOpenAI, Type: "invalid_request_error", Code: "invalid_api_key"},
			`{"error":{"message":"the upstream rejected llmgate's key","type":"server_error","param":null,"code":null}}`, 502},
		{"escaping", provider.Error{Kind: provider.KindBadRequest, Message: "bad \"x\"\n\t<b>"},
			`{"error":{"message":"bad \"x\"\n\t<b>","type":"invalid_request_error","param":null,"code":null}}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Client{}.EncodeError(&tt.err, "req_1"))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if s := (Client{}).StatusFor(&tt.err); s != tt.wantStatus {
				t.Errorf("StatusFor = %d, want %d", s, tt.wantStatus)
			}
		})
	}
}
