package openai

import (
	"encoding/json"
	"reflect"
	"testing"
)

// referenceChunk is the stream decoder's chunk reading before scanChunk:
// encoding/json into wireChunk. ok is false where the decoder reports an
// error (invalid JSON or an error object).
func referenceChunk(data []byte) (c chunkView, ok bool) {
	var w wireChunk
	if json.Unmarshal(data, &w) != nil || hasValue(w.Error) {
		return c, false
	}
	c.fromWire(&w)
	return c, true
}

// FuzzScanChunk checks that the scanner, where it does not hand the chunk
// to encoding/json, reads exactly what encoding/json reads.
func FuzzScanChunk(f *testing.F) {
	for _, s := range []string{
		`{"id":"x","choices":[{"index":0,"delta":{"content":"hi\n\u00e9\ud83d\ude00"},"finish_reason":null}],"usage":null}`,
		`{"choices":[{"index":1,"delta":{"content":"b"}},{"delta":{"reasoning_content":"r","reasoning":"s","refusal":"no"},"finish_reason":"stop"}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\"a\":1}"}},{"function":{"arguments":{"a":[1, 2]}}}]}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":1},"prompt_cache_hit_tokens":4}}`,
		`{"x_groq":{"usage":{"prompt_tokens":1,"completion_tokens":2}},"choices":[{"delta":{}}]}`,
		`{"choices":[{"delta":{"content":"a"}}],"Choices":[]}`,
		`{"choices":[{"index":1.0,"delta":{"content":"\ud800x"}}]}`,
		`{"choices":[{"delta":{"content":"` + "\xff" + `","reasoning":"` + "\xfe" + `"}}]}`,
		`{"a":[1,-0.5e+3,true,false,null,{"b":"\/"}],"choices":null,"error":null}`,
		`{"choices":[{"delta":{"content":[{"type":"text","text":"t"}]}}]}`,
		`{"error":{"message":"m"}}`, `null`, `{}`, `{"a":01}`, `{"a":"` + "\x01" + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got chunkView
		if !scanChunk(data, &got) {
			return // decoded by encoding/json, as before
		}
		want, ok := referenceChunk(data)
		if !ok {
			t.Fatalf("scanChunk accepted %q, which encoding/json rejects", data)
		}
		if len(got.tools) == 0 && len(want.tools) == 0 {
			got.tools, want.tools = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanChunk(%q)\n got %+v\nwant %+v", data, got, want)
		}
	})
}

// TestScanChunkTakesCommonChunks checks that the chunks OpenAI-compatible
// servers send are read without encoding/json.
func TestScanChunkTakesCommonChunks(t *testing.T) {
	for _, s := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"1","choices":[{"index":0,"delta":{"content":"line\nnext \"q\" caf\u00e9"},"finish_reason":null}]}`,
		`{"id":"1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":""}}]}}]}`,
		`{"id":"1","choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}`,
		`{"id":"1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
	} {
		var c chunkView
		if !scanChunk([]byte(s), &c) {
			t.Errorf("scanChunk fell back to encoding/json for %s", s)
		}
		want, _ := referenceChunk([]byte(s))
		if len(c.tools) == 0 {
			c.tools, want.tools = nil, nil
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("scanChunk(%s) = %+v, want %+v", s, c, want)
		}
	}
}
