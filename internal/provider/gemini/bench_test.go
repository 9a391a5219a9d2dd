package gemini

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

func BenchmarkStreamEncoderText(b *testing.B) {
	enc := Client{}.NewStreamEncoder(io.Discard, &provider.Request{Model: "gemini-2.5-flash"})
	enc.Encode(provider.Event{Type: provider.EventStart, ID: "r1", Model: "gemini-2.5-flash"})
	ev := provider.Event{Type: provider.EventText, Text: "The quick brown fox jumps over the lazy dog. "}
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDecoder(b *testing.B) {
	var stream bytes.Buffer
	for range 100 {
		stream.WriteString(`data: {"candidates":[{"content":{"parts":[{"text":"The quick brown fox jumps over the lazy dog. "}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r1"}` + "\r\n\r\n")
	}
	stream.WriteString(`data: {"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}]}` + "\r\n\r\n")
	data := stream.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := (&Upstream{}).NewStreamDecoder(bytes.NewReader(data))
		for {
			if _, err := d.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

func BenchmarkPassthroughScanEvent(b *testing.B) {
	raw := `data: {"candidates":[{"content":{"parts":[{"text":"The quick brown fox jumps over the lazy dog. "}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash"}` + "\n\n"
	ev, err := sse.NewReader(strings.NewReader(raw)).Next()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if info := (Passthrough{}).ScanEvent(&ev); !info.HasUsage {
			b.Fatal("no usage")
		}
	}
}
