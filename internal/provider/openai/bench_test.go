package openai

import (
	"bytes"
	"io"
	"testing"
)

// benchStream is a typical chat.completion.chunk stream: 100 text chunks,
// a finish chunk and a usage chunk.
func benchStream() []byte {
	var s bytes.Buffer
	for range 100 {
		s.WriteString(`data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":"The quick brown fox jumps over the lazy dog. "},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	s.WriteString(`data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	s.WriteString(`data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":200,"total_tokens":209,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n")
	s.WriteString("data: [DONE]\n\n")
	return s.Bytes()
}

// BenchmarkStreamDecoderTypical decodes benchStream; allocs/op / 102 is the
// per-chunk allocation count.
func BenchmarkStreamDecoderTypical(b *testing.B) {
	data := benchStream()
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
