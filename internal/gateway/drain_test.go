package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

// rawGateway is startGateway in front of one upstream the test serves
// itself at base: provider p1 of type typ, routed as model "chat".
func rawGateway(t *testing.T, typ, base, resilience string) *pipelineGW {
	t.Helper()
	return startGateway(t, []upstreamSpec{{Name: "p1", Type: typ, URL: base}}, resilience,
		fmt.Sprintf("  chat: {route: [p1/%s]}\n", wireModel[typ]))
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
		resp, err := front.hc.Do(req)
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
