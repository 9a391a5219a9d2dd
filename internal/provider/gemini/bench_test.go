package gemini

import (
	"bytes"
	"fmt"
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

// typicalStream is a streamGenerateContent?alt=sse body as the Gemini API
// writes it (a space after each colon, CRLF framing, running usage on every
// chunk): 100 text chunks, some with escapes, and a last chunk with the
// finish reason and the whole usage.
func typicalStream() []byte {
	var b bytes.Buffer
	for i := range 100 {
		text := "The quick brown fox jumps over the lazy dog, "
		if i%10 == 9 {
			text = `and then it said \"done\".\n\n`
		}
		fmt.Fprintf(&b, `data: {"candidates": [{"content": {"parts": [{"text": "%s"}],"role": "model"},"index": 0}],`+
			`"usageMetadata": {"promptTokenCount": 18,"totalTokenCount": %d,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 18}]},`+
			`"modelVersion": "gemini-2.5-flash","responseId": "8Zk3aNfPLMe1nvgPz5LIyA0"}`+"\r\n\r\n", text, 18+10*i)
	}
	b.WriteString(`data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],` +
		`"usageMetadata": {"promptTokenCount": 18,"candidatesTokenCount": 1000,"totalTokenCount": 1530,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 18}],"thoughtsTokenCount": 512},` +
		`"modelVersion": "gemini-2.5-flash","responseId": "8Zk3aNfPLMe1nvgPz5LIyA0"}` + "\r\n\r\n")
	return b.Bytes()
}

// BenchmarkStreamDecoderTypical decodes typicalStream whole.
func BenchmarkStreamDecoderTypical(b *testing.B) {
	data := typicalStream()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := (&Upstream{}).NewStreamDecoder(bytes.NewReader(data))
		n := 0
		for {
			ev, err := d.Next()
			if err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			if ev.Type == provider.EventText {
				n++
			}
		}
		if n != 100 {
			b.Fatalf("%d text events, want 100", n)
		}
	}
}
