package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/mock"
)

// The text every matrix case sends, and what the mock answers to it.
const (
	matrixSystem = "You are terse."
	matrixPrompt = "Say hello to the gateway"
	matrixReply  = "Mock reply to: Say hello to the gateway"
)

// stopFor is the clean-end stop reason in each client format.
var stopFor = map[string]string{fmtOpenAI: "stop", fmtAnthropic: "end_turn", fmtGemini: "STOP"}

// toolStopFor is the stop reason of a tool call in each client format.
var toolStopFor = map[string]string{fmtOpenAI: "tool_calls", fmtAnthropic: "tool_use", fmtGemini: "STOP"}

// TestMatrix sends a text request from every client SDK to every upstream
// format, unary and streamed, and checks what the client sees and what the
// upstream received.
func TestMatrix(t *testing.T) {
	g := newGate(t, gateOptions{})
	// The mock's tokenizer: a quarter of the prompt bytes; one token per word.
	wantIn := int64((len(matrixSystem) + len(matrixPrompt)) / 4)
	wantOut := int64(words(matrixReply))
	for _, in := range formats {
		for _, up := range formats {
			for _, stream := range []bool{false, true} {
				name := in + "_to_" + up + "/" + mode(stream)
				t.Run(name, func(t *testing.T) {
					g.reset()
					turn := chatTurn{Model: modelFor[up], Stream: stream, System: matrixSystem, Prompt: matrixPrompt}
					res := runChat(t, g, in, turn)
					if res.Err != nil {
						t.Fatalf("%s SDK: %v", in, res.Err)
					}
					if res.Text != matrixReply {
						t.Errorf("text = %q, want %q", res.Text, matrixReply)
					}
					if res.Finish != stopFor[in] {
						t.Errorf("stop reason = %q, want %q", res.Finish, stopFor[in])
					}
					if res.In != wantIn || res.Out != wantOut || res.Total != wantIn+wantOut {
						t.Errorf("usage in/out/total = %d/%d/%d, want the mock's %d/%d/%d", res.In, res.Out, res.Total, wantIn, wantOut, wantIn+wantOut)
					}
					checkServedBy(t, res.Header, up)
					checkUpstreamChat(t, g, in, up, turn)
				})
			}
		}
	}
}

// TestOpenAIStreamWithoutUsage checks that an OpenAI client that did not ask
// for usage gets no usage chunk, even though the gateway asks the upstream
// for usage to meter the request.
func TestOpenAIStreamWithoutUsage(t *testing.T) {
	g := newGate(t, gateOptions{})
	for _, up := range formats {
		t.Run(up, func(t *testing.T) {
			g.reset()
			res := oaChat(t, g, chatTurn{Model: modelFor[up], Stream: true, Prompt: matrixPrompt, NoUsage: true}, nil)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.Text != matrixReply || res.Finish != "stop" {
				t.Errorf("text %q finish %q", res.Text, res.Finish)
			}
			if res.In != 0 || res.Out != 0 {
				t.Errorf("usage %d/%d reached a client that did not ask for it", res.In, res.Out)
			}
		})
	}
}

func mode(stream bool) string {
	if stream {
		return "stream"
	}
	return "unary"
}

// checkServedBy checks the x-llmgate-provider / x-llmgate-model headers.
func checkServedBy(t *testing.T, h http.Header, up string) {
	t.Helper()
	if h == nil {
		t.Error("the SDK exposed no response headers")
		return
	}
	if got := h.Get("X-Llmgate-Provider"); got != providerFor[up] {
		t.Errorf("x-llmgate-provider = %q, want %q", got, providerFor[up])
	}
	if got := h.Get("X-Llmgate-Model"); got != upstreamModelFor[up] {
		t.Errorf("x-llmgate-model = %q, want %q", got, upstreamModelFor[up])
	}
	if h.Get("X-Request-Id") == "" {
		t.Error("no x-request-id header")
	}
}

// checkUpstreamChat checks the one request the upstream of format up
// received for turn, sent by a client of format in.
func checkUpstreamChat(t *testing.T, g *gate, in, up string, turn chatTurn) {
	t.Helper()
	recs := g.upstreamRequests(up)
	if len(recs) != 1 {
		t.Fatalf("the %s upstream received %d requests, want 1", up, len(recs))
	}
	rec := recs[0]
	checkUpstreamRoute(t, rec, up, turn.Stream)
	if in == up {
		checkPassthrough(t, g.lastInbound(t), rec, in, turn.Model, upstreamModelFor[up])
		return
	}
	body := decodeObject(t, rec.Body)
	switch up {
	case fmtOpenAI:
		if body["model"] != upOA {
			t.Errorf("upstream model = %v, want %s", body["model"], upOA)
		}
		msgs, _ := body["messages"].([]any)
		if len(msgs) == 0 {
			t.Fatalf("no messages upstream: %s", rec.Body)
		}
		first, last := asObject(msgs[0]), asObject(msgs[len(msgs)-1])
		if turn.System != "" {
			if first["role"] != "system" || textOf(first["content"]) != turn.System {
				t.Errorf("first upstream message = %v, want the system prompt as a system message", first)
			}
		}
		if last["role"] != "user" || textOf(last["content"]) != turn.Prompt {
			t.Errorf("last upstream message = %v, want the user prompt", last)
		}
		if _, ok := body["system"]; ok {
			t.Error("an OpenAI upstream got an Anthropic-style top-level system field")
		}
		checkStreamFlag(t, body, turn.Stream)
		if turn.Stream {
			so := asObject(body["stream_options"])
			if so["include_usage"] != true {
				t.Errorf("stream_options = %v, want include_usage true so the gateway can meter the stream", body["stream_options"])
			}
		}
	case fmtAnthropic:
		if body["model"] != upAN {
			t.Errorf("upstream model = %v, want %s", body["model"], upAN)
		}
		if turn.System != "" && textOf(body["system"]) != turn.System {
			t.Errorf("upstream system = %v, want %q", body["system"], turn.System)
		}
		msgs, _ := body["messages"].([]any)
		if len(msgs) == 0 {
			t.Fatalf("no messages upstream: %s", rec.Body)
		}
		for _, m := range msgs {
			if r := asObject(m)["role"]; r != "user" && r != "assistant" {
				t.Errorf("an Anthropic upstream got a message with role %v", r)
			}
		}
		if first := asObject(msgs[0]); first["role"] != "user" || textOf(first["content"]) != turn.Prompt {
			t.Errorf("first upstream message = %v, want the user prompt", first)
		}
		if mt, _ := body["max_tokens"].(float64); mt <= 0 {
			t.Errorf("upstream max_tokens = %v, want a positive number (Anthropic requires it)", body["max_tokens"])
		}
		checkStreamFlag(t, body, turn.Stream)
	case fmtGemini:
		if _, ok := body["model"]; ok {
			t.Errorf("a Gemini upstream body has a model field: %s", rec.Body)
		}
		if turn.System != "" {
			si := asObject(body["systemInstruction"])
			if textOf(si["parts"]) != turn.System {
				t.Errorf("upstream systemInstruction = %v, want %q", body["systemInstruction"], turn.System)
			}
		}
		cs, _ := body["contents"].([]any)
		if len(cs) == 0 {
			t.Fatalf("no contents upstream: %s", rec.Body)
		}
		if c := asObject(cs[0]); c["role"] != "user" || textOf(c["parts"]) != turn.Prompt {
			t.Errorf("first upstream content = %v, want the user prompt", c)
		}
		if _, ok := body["stream"]; ok {
			t.Errorf("a Gemini upstream body has a stream field: %s", rec.Body)
		}
	}
}

// checkUpstreamRoute checks the upstream path, query and credentials.
func checkUpstreamRoute(t *testing.T, rec mock.Recorded, up string, stream bool) {
	t.Helper()
	if rec.Method != http.MethodPost {
		t.Errorf("upstream method %s", rec.Method)
	}
	switch up {
	case fmtOpenAI:
		if rec.Path != "/v1/chat/completions" {
			t.Errorf("upstream path %s", rec.Path)
		}
		if got := rec.Header.Get("Authorization"); got != "Bearer x" {
			t.Errorf("upstream Authorization %q", got)
		}
	case fmtAnthropic:
		if rec.Path != "/v1/messages" {
			t.Errorf("upstream path %s", rec.Path)
		}
		if rec.Header.Get("X-Api-Key") != "x" || rec.Header.Get("Anthropic-Version") == "" {
			t.Errorf("upstream x-api-key %q anthropic-version %q", rec.Header.Get("X-Api-Key"), rec.Header.Get("Anthropic-Version"))
		}
	case fmtGemini:
		want := "/v1beta/models/" + upGE + ":generateContent"
		if stream {
			want = "/v1beta/models/" + upGE + ":streamGenerateContent"
			if !strings.Contains(rec.Query, "alt=sse") {
				t.Errorf("upstream query %q, want alt=sse", rec.Query)
			}
		}
		if rec.Path != want {
			t.Errorf("upstream path %s, want %s", rec.Path, want)
		}
		if rec.Header.Get("X-Goog-Api-Key") != "x" {
			t.Errorf("upstream x-goog-api-key %q", rec.Header.Get("X-Goog-Api-Key"))
		}
	}
}

// checkPassthrough checks that a same-format request reached the upstream
// byte for byte, but for the model (in the body, or for Gemini in the path).
func checkPassthrough(t *testing.T, client received, rec mock.Recorded, f, model, upModel string) {
	t.Helper()
	want := client.Body
	if f != fmtGemini {
		old, nw := []byte(`"model":"`+model+`"`), []byte(`"model":"`+upModel+`"`)
		if bytes.Count(want, old) != 1 {
			t.Fatalf("the client body does not name the model once as %s: %s", old, want)
		}
		want = bytes.Replace(want, old, nw, 1)
	}
	if !bytes.Equal(rec.Body, want) {
		t.Errorf("passthrough body changed beyond the model:\n client:   %s\n upstream: %s", client.Body, rec.Body)
	}
}

func checkStreamFlag(t *testing.T, body map[string]any, stream bool) {
	t.Helper()
	got, _ := body["stream"].(bool)
	if got != stream {
		t.Errorf("upstream stream = %v, want %v", body["stream"], stream)
	}
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// textOf is the text of a content value in any format: a string, an array
// of parts or blocks with "text", or an object with "parts".
func textOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var b strings.Builder
		for _, p := range v {
			if s, ok := asObject(p)["text"].(string); ok {
				b.WriteString(s)
			}
		}
		return b.String()
	case map[string]any:
		if p, ok := v["parts"]; ok {
			return textOf(p)
		}
		if s, ok := v["text"].(string); ok {
			return s
		}
	}
	return ""
}
