package gateway

// Benchmarks of the stream pumps alone: a canned upstream body through
// pumpTranslated or pumpPassthrough into a ResponseWriter that counts its
// writes and flushes, with no HTTP on either side. Run them with
//
//	go test -run XXX -bench Pump -benchmem ./internal/gateway
//
// Besides ns/op, B/op and allocs/op they report writes/op and flushes/op
// (what reaches the client connection) and allocs/event.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/anthropic"
	"github.com/llmgate/llmgate/internal/provider/openai"
	"github.com/llmgate/llmgate/internal/tokens"
)

// anthropicBenchStream is a stream as the mock sends it, with n text deltas.
func anthropicBenchStream(n int) []string {
	ev := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock000000008401\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":6,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: ping\ndata: {\"type\":\"ping\"}\n\n",
	}
	for i := range n {
		ev = append(ev, fmt.Sprintf("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" word%d\"}}\n\n", i))
	}
	return append(ev,
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		fmt.Sprintf("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n", n),
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}

// openaiBenchStream is an OpenAI stream as the mock sends it (with usage),
// with n text deltas.
func openaiBenchStream(n int) []string {
	const head = `data: {"id":"chatcmpl-mock000000008402","object":"chat.completion.chunk","created":1796410983,"model":"gpt-4o-mini","system_fingerprint":"fp_mock0001","choices":[`
	ev := []string{head + `{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"}
	for i := range n {
		ev = append(ev, head+fmt.Sprintf(`{"index":0,"delta":{"content":" word%d"},"logprobs":null,"finish_reason":null}],"usage":null}`, i)+"\n\n")
	}
	return append(ev,
		head+`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`+"\n\n",
		head+fmt.Sprintf(`],"usage":{"prompt_tokens":6,"completion_tokens":%d,"total_tokens":%d}}`, n, n+6)+"\n\n",
		"data: [DONE]\n\n")
}

// partsReader returns one part per Read, as an upstream whose events
// arrive one by one, or all in one part, as one that sent them at once.
type partsReader struct {
	parts []string
	i     int
	cur   string
}

func (r *partsReader) Read(p []byte) (int, error) {
	for r.cur == "" {
		if r.i == len(r.parts) {
			return 0, io.EOF
		}
		r.cur = r.parts[r.i]
		r.i++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *partsReader) Close() error { return nil }

// countingWriter is an http.ResponseWriter that counts writes and flushes.
type countingWriter struct {
	h               http.Header
	writes, flushes int
	n               int
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.n += len(p)
	return len(p), nil
}
func (w *countingWriter) Flush() { w.flushes++ }

func benchPump(b *testing.B, translated bool, events []string, perEvent bool) {
	g := New(Options{
		Clients:   map[provider.Format]provider.ClientCodec{provider.FormatOpenAI: openai.Client{}},
		Estimate:  tokens.EstimateRequest,
		CountText: tokens.Count,
	})
	u := &Upstream{Name: "mock-an", Format: provider.FormatAnthropic,
		Codec: anthropic.NewUpstream(anthropic.Options{}), Pass: anthropic.Passthrough{}}
	model := "claude-haiku-4-5"
	if !translated {
		u = &Upstream{Name: "mock", Format: provider.FormatOpenAI,
			Codec: openai.NewUpstream(openai.Options{StreamUsage: true}), Pass: openai.Passthrough{}}
		model = "gpt-4o-mini"
	}
	d := newDeployment(u, model)
	body := []byte(`{"model":"` + model + `","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`)
	cc := openai.Client{}
	req, err := cc.DecodeRequest(body)
	if err != nil {
		b.Fatal(err)
	}
	parts := events
	if !perEvent {
		parts = []string{strings.Join(events, "")}
	}
	w := &countingWriter{h: http.Header{}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		x := &exchange{c: &Call{RequestID: "req_bench", Start: time.Now(), Format: provider.FormatOpenAI,
			Op: provider.OpChat, Model: model, Stream: true, Body: body}, cc: cc, req: req}
		actx, cancel := context.WithCancel(ctx)
		wd := newWatchdog(time.Minute, time.Minute, cancel)
		resp := &http.Response{Body: &partsReader{parts: parts}}
		var perr *provider.Error
		if translated {
			perr = g.pumpTranslated(actx, w, x, d, resp, wd)
		} else {
			perr = g.pumpPassthrough(actx, w, x, d, resp, false, wd)
		}
		wd.stop()
		cancel()
		if perr != nil {
			b.Fatal(perr)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(w.writes)/n, "writes/op")
	b.ReportMetric(float64(w.flushes)/n, "flushes/op")
}

// BenchmarkPumpTranslated: an Anthropic stream re-encoded for an OpenAI
// client, with 8 text deltas (the mock's answer) or 100; the upstream body
// arriving event by event or in one read.
func BenchmarkPumpTranslated(b *testing.B) { pumpCases(b, true, anthropicBenchStream) }

// BenchmarkPumpPassthrough: an OpenAI stream passed through to an OpenAI
// client (usage hidden: the client did not ask for it).
func BenchmarkPumpPassthrough(b *testing.B) { pumpCases(b, false, openaiBenchStream) }

// pumpCases runs benchPump for 8 and 100 deltas, read per event and in one
// read.
func pumpCases(b *testing.B, translated bool, stream func(n int) []string) {
	for _, n := range []int{8, 100} {
		for _, per := range []bool{true, false} {
			reads := "one-read"
			if per {
				reads = "per-event"
			}
			b.Run(fmt.Sprintf("deltas=%d/%s", n, reads), func(b *testing.B) {
				benchPump(b, translated, stream(n), per)
			})
		}
	}
}
