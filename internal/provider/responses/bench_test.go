package responses

import (
	"io"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// BenchmarkStreamText measures one text delta through the stream encoder,
// the bulk of a translated Responses stream.
func BenchmarkStreamText(b *testing.B) {
	enc := Client{}.NewStreamEncoder(io.Discard, &provider.Request{Model: "m"})
	_ = enc.Encode(provider.Event{Type: provider.EventStart})
	ev := provider.Event{Type: provider.EventText, Text: "a token "}
	b.ReportAllocs()
	for b.Loop() {
		_ = enc.Encode(ev)
	}
}

// BenchmarkDecodeCodexRequest measures decoding a Codex-shaped request.
func BenchmarkDecodeCodexRequest(b *testing.B) {
	body := []byte(codexRequest)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Client{}).DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCodexSized measures a Codex-sized body (about 40 KB, most
// of it the developer prompt).
func BenchmarkDecodeCodexSized(b *testing.B) {
	body := []byte(strings.Replace(codexRequest, "You are a coding agent.", strings.Repeat("You are a coding agent. ", 1600), 1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Client{}).DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
