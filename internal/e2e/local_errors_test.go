package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"
)

// checkErrorShape checks a raw error body against the client format's
// error shape and returns its message.
func checkErrorShape(t *testing.T, f string, status int, body []byte) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, body)
	}
	switch f {
	case fmtOpenAI:
		var e struct {
			Error map[string]json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		var msg, typ string
		_ = json.Unmarshal(e.Error["message"], &msg)
		_ = json.Unmarshal(e.Error["type"], &typ)
		_, hasParam := e.Error["param"]
		_, hasCode := e.Error["code"]
		if msg == "" || typ == "" || !hasParam || !hasCode {
			t.Errorf("not an OpenAI error {\"error\":{message,type,param,code}}: %s", body)
		}
		return msg
	case fmtAnthropic:
		var e struct {
			Type  string `json:"type"`
			Error *struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(body, &e) != nil || e.Type != "error" || e.Error == nil || e.Error.Type == "" || e.RequestID == "" {
			t.Errorf("not an Anthropic error {\"type\":\"error\",\"error\":{type,message},\"request_id\"}: %s", body)
			return ""
		}
		return e.Error.Message
	}
	var e struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil || e.Error.Code != status || e.Error.Status == "" {
		t.Errorf("not a Google error {\"error\":{code:%d,message,status}}: %s", status, body)
		return ""
	}
	return e.Error.Message
}

// TestUnknownModel asks every SDK for a model nobody serves: a 404 in the
// client's format that names the models that are served.
func TestUnknownModel(t *testing.T) {
	g := newGate(t, gateOptions{})
	const model = "nonexistent-model-x"
	for _, in := range formats {
		for _, stream := range []bool{false, true} {
			t.Run(in+"/"+mode(stream), func(t *testing.T) {
				g.reset()
				res := runChat(t, g, in, chatTurn{Model: model, Stream: stream, Prompt: matrixPrompt})
				e := asSDKError(t, in, res.Err)
				wantType := map[string]string{fmtOpenAI: "", fmtAnthropic: "not_found_error", fmtGemini: "NOT_FOUND"}[in]
				if e.Status != http.StatusNotFound || (wantType != "" && e.Type != wantType) {
					t.Errorf("status %d type %q, want 404 %q", e.Status, e.Type, wantType)
				}
				if in == fmtOpenAI && e.Code != "model_not_found" {
					t.Errorf("OpenAI error code %q, want model_not_found", e.Code)
				}
				for _, m := range []string{model, modelOA, modelAN, modelGE} {
					if !strings.Contains(e.Message, m) {
						t.Errorf("message %q does not name %s", e.Message, m)
					}
				}
				for _, f := range formats {
					if n := len(g.upstreamRequests(f)); n != 0 {
						t.Errorf("the %s upstream got %d requests", f, n)
					}
				}
			})
		}
	}
}

// TestMalformedJSON sends broken JSON to every client endpoint: a 400 in
// the client's format whose message gives the byte offset of the fault.
func TestMalformedJSON(t *testing.T) {
	g := newGate(t, gateOptions{})
	for _, in := range formats {
		for _, stream := range []bool{false, true} {
			t.Run(in+"/"+mode(stream), func(t *testing.T) {
				body := `{"model":"` + modelFor[in] + `","stream":` + strconv.FormatBool(stream) + `,"messages":[{"role":"user","content":"hi"},}`
				if in == fmtGemini {
					body = `{"contents":[{"role":"user","parts":[{"text":"hi"}]},}`
				}
				offset := strings.LastIndex(body, "}") // the '}' where a value should be
				resp, b := g.post(t, pathFor(in, modelGE, stream), headersFor(in), []byte(body))
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
				}
				msg := checkErrorShape(t, in, resp.StatusCode, b)
				if !strings.Contains(msg, "byte "+strconv.Itoa(offset)) {
					t.Errorf("message %q does not give the byte offset %d", msg, offset)
				}
				if resp.Header.Get("X-Should-Retry") != "false" {
					t.Errorf("x-should-retry %q, want false", resp.Header.Get("X-Should-Retry"))
				}
			})
		}
	}
}

// TestOversizedBody sends a body over server.max_body_bytes with every SDK:
// a 413 in the client's format, and nothing reaches the upstream.
func TestOversizedBody(t *testing.T) {
	g := newGate(t, gateOptions{YAML: "server:\n  max_body_bytes: 2048\n"})
	big := strings.Repeat("lorem ipsum ", 400) // 4800 bytes
	for _, in := range formats {
		for _, up := range []string{in, fmtOpenAI} {
			t.Run(in+"_to_"+up, func(t *testing.T) {
				g.reset()
				res := runChat(t, g, in, chatTurn{Model: modelFor[up], Prompt: big})
				e := asSDKError(t, in, res.Err)
				if e.Status != http.StatusRequestEntityTooLarge {
					t.Errorf("status %d, want 413 (%+v)", e.Status, e)
				}
				if in == fmtAnthropic && e.Type != "request_too_large" {
					t.Errorf("Anthropic error type %q, want request_too_large", e.Type)
				}
				if !strings.Contains(e.Message, "2048") {
					t.Errorf("message %q does not give the limit", e.Message)
				}
				if n := len(g.upstreamRequests(up)); n != 0 {
					t.Errorf("the upstream got %d requests", n)
				}
			})
		}
	}
	// The raw body shape too.
	for _, in := range formats {
		t.Run(in+"/raw", func(t *testing.T) {
			body := `{"model":"` + modelFor[in] + `","messages":[{"role":"user","content":"` + big + `"}]}`
			resp, b := g.post(t, pathFor(in, modelGE, false), headersFor(in), []byte(body))
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %s", resp.StatusCode, b)
			}
			checkErrorShape(t, in, resp.StatusCode, b)
		})
	}
}

// TestWrongMethod sends GET to the POST endpoints: 405 with Allow: POST and
// a body in the client's format.
func TestWrongMethod(t *testing.T) {
	g := newGate(t, gateOptions{})
	for _, in := range formats {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			t.Run(in+"/"+method, func(t *testing.T) {
				resp, b := g.do(t, method, pathFor(in, modelGE, false), headersFor(in), nil)
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("status %d, want 405: %s", resp.StatusCode, b)
				}
				if got := resp.Header.Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow %q, want POST", got)
				}
				checkErrorShape(t, in, resp.StatusCode, b)
			})
		}
	}
}

// TestSDKSeesLocalErrors checks that the SDKs parse local errors into their
// typed errors (the raw shape is checked above).
func TestSDKSeesLocalErrors(t *testing.T) {
	g := newGate(t, gateOptions{})
	ctx := context.Background()
	t.Run("openai empty messages", func(t *testing.T) {
		c := g.openai()
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: modelAN})
		e := asSDKError(t, fmtOpenAI, err)
		if e.Status != http.StatusBadRequest || e.Type != "invalid_request_error" {
			t.Errorf("%+v", e)
		}
	})
	t.Run("anthropic no model", func(t *testing.T) {
		c := g.anthropic()
		_, err := c.Messages.New(ctx, anthropic.MessageNewParams{MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		e := asSDKError(t, fmtAnthropic, err)
		if e.Status != http.StatusBadRequest || e.Type != "invalid_request_error" || !strings.Contains(e.Message, "model") {
			t.Errorf("%+v", e)
		}
	})
	t.Run("gemini no contents", func(t *testing.T) {
		_, err := g.gemini(t).Models.GenerateContent(ctx, modelOA, []*genai.Content{}, nil)
		e := asSDKError(t, fmtGemini, err)
		if e.Status != http.StatusBadRequest || e.Type != "INVALID_ARGUMENT" {
			t.Errorf("%+v", e)
		}
	})
}
