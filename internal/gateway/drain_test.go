package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
)

// anthropicStream is a whole Anthropic text stream, up to message_stop.
const anthropicStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello"}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":0}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}` + "\n\n" +
	"event: message_stop\n" +
	`data: {"type":"message_stop"}` + "\n\n"

// rawGateway serves a gateway (cli.NewApp) whose one provider, p1 of type
// typ, is the upstream at base, routed as model "chat" to its
// claude-sonnet-4-5 or gpt-4o-mini; resilience is extra lines under
// resilience:. It stops when the test ends.
func rawGateway(t *testing.T, typ, base, resilience string) *httptest.Server {
	t.Helper()
	model := "claude-sonnet-4-5"
	if typ == "openai" {
		base += "/v1"
		model = "gpt-4o-mini"
	}
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {data_dir: %q}\nproviders:\n  p1: {type: %s, base_url: %s, api_key: x, models: [%s]}\nmodels:\n  chat: {route: [p1/%s]}\n",
		t.TempDir(), typ, base, model, model)
	if resilience != "" {
		yaml += "resilience:\n" + resilience
	}
	cfg, err := config.Parse("raw.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		front.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return front
}

// TestTranslatedStreamReusesUpstreamConnection: an upstream whose chunked
// terminator comes after its last event, in a read of its own, must not
// cost a new upstream connection per translated stream (the decoder stops
// at message_stop; the gateway reads the rest of the body).
func TestTranslatedStreamReusesUpstreamConnection(t *testing.T) {
	var conns connCounter
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, anthropicStream)
		w.(http.Flusher).Flush()
		// The terminator follows the flushed last event a little later,
		// as it does from a remote provider under load.
		time.Sleep(5 * time.Millisecond)
	}))
	up.Config.ConnState = conns.track
	up.Start()
	defer up.Close()
	front := rawGateway(t, "anthropic", up.URL, "")
	const n = 20
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/v1/chat/completions", strings.NewReader(
			`{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hello") || !strings.Contains(string(body), "data: [DONE]") {
			t.Fatalf("stream %d: HTTP %d, %v:\n%s", i, resp.StatusCode, err, body)
		}
	}
	if got := conns.opened(); got != 1 {
		t.Errorf("%d translated streams opened %d upstream connections, want 1 (reused)", n, got)
	}
}
