package anthropic

import (
	"bytes"
	"reflect"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"testing"
)

// scanSeeds are event bodies of every kind the scanner reads, in the shapes
// Anthropic sends and a few it does not.
var scanSeeds = []string{
	`{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":1,"service_tier":"standard"}}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}`,
	`{"type":"content_block_start","index":2,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
	`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"t","name":"n","input":{"a":[1,"x"]}}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, \u00e9 \"world\"\n"}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`,
	`{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"Let me think"}}`,
	`{"type":"content_block_delta","index":2,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"x"}}}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`,
	`{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"\n\nHuman:"},"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":15,"output_tokens_details":{"thinking_tokens":7}}}`,
	`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":null}`,
	`{"index":0,"delta":{"type":"text_delta","text":null}}`,
	`{"Index":0,"delta":{"type":"text_delta","text":"x"}}`,
	`{"index":0,"index":1,"delta":{"type":"text_delta","text":"x"}}`,
	"{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\xff\"}}",
	`{"index":-1,"delta":{"type":"text_delta","text":"x"}} `,
	`{"index":1.0,"delta":{}}`,
	`{"message":null}`,
	`null`,
	`{"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":" word"}}`,
	`{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}} `,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x\u"}}`,
	"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\xff\"}}",
}

// FuzzStreamScan checks that whatever the stream scanner reads (ok), the
// encoding/json reading it otherwise falls back to reads the same.
func FuzzStreamScan(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s startView
		if scanStart(data, &s) {
			want, err := decodeStart(data)
			if err != nil || !reflect.DeepEqual(s, want) {
				t.Fatalf("message_start %q: scan %+v, encoding/json %+v, %v", data, s, want, err)
			}
		}
		var b blockStartView
		if scanBlockStart(data, &b) {
			want, err := decodeBlockStart(data)
			if err != nil || !bytes.Equal(b.input, want.input) || (b.input == nil) != (want.input == nil) {
				t.Fatalf("content_block_start %q: scan %+v, encoding/json %+v, %v", data, b, want, err)
			}
			b.input, want.input = nil, nil
			if !reflect.DeepEqual(b, want) {
				t.Fatalf("content_block_start %q: scan %+v, encoding/json %+v", data, b, want)
			}
		}
		var d deltaView
		if scanDelta(data, &d) {
			want, err := decodeDelta(data)
			if err != nil || d != want {
				t.Fatalf("content_block_delta %q: scan %+v, encoding/json %+v, %v", data, d, want, err)
			}
		}
		var tv deltaView
		if scanTextDelta(data, &tv, nil) && (!scanDelta(data, &d) || tv != d) {
			t.Fatalf("content_block_delta %q: scanTextDelta %+v, scanDelta %+v", data, tv, d)
		}
		var strs jsonscan.Strings
		var ds deltaView
		if scanDeltaIn(data, &ds, &strs) != scanDelta(data, &d) || ds != d {
			t.Fatalf("content_block_delta %q: with Strings %+v, without %+v", data, ds, d)
		}
		var m stopView
		if scanMessageDelta(data, &m) {
			want, err := decodeMessageDelta(data)
			if err != nil || m != want {
				t.Fatalf("message_delta %q: scan %+v, encoding/json %+v, %v", data, m, want, err)
			}
		}
	})
}

// TestStreamScanShapes: the shapes Anthropic sends are read by the scanner,
// not left to encoding/json.
func TestStreamScanShapes(t *testing.T) {
	scan := map[string]func([]byte) bool{
		"message_start":       func(b []byte) bool { var v startView; return scanStart(b, &v) },
		"content_block_start": func(b []byte) bool { var v blockStartView; return scanBlockStart(b, &v) },
		"content_block_delta": func(b []byte) bool { var v deltaView; return scanDelta(b, &v) },
		"message_delta":       func(b []byte) bool { var v stopView; return scanMessageDelta(b, &v) },
	}
	for _, s := range scanSeeds[:13] {
		var typ string
		for k := range scan {
			if bytes.Contains([]byte(s), []byte(`"type":"`+k+`"`)) {
				typ = k
			}
		}
		if !scan[typ]([]byte(s)) {
			t.Errorf("%s not scanned: %s", typ, s)
		}
	}
	var v deltaView
	if !scanDelta([]byte(scanSeeds[5]), &v) || v.text != "Hello, é \"world\"\n" || v.kind != deltaText || v.index != 0 {
		t.Errorf("text delta = %+v", v)
	}
	// Anthropic's text deltas take the fast path.
	v = deltaView{}
	if !scanTextDelta([]byte(scanSeeds[5]), &v, nil) || v.text != "Hello, é \"world\"\n" || v.index != 0 {
		t.Errorf("text delta not read by scanTextDelta: %+v", v)
	}
}

func BenchmarkScanDelta(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a token"}}`)
	b.ReportAllocs()
	for b.Loop() {
		var v deltaView
		if !scanDelta(data, &v) {
			b.Fatal("not scanned")
		}
	}
}

func BenchmarkScanTextDelta(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a token"}}`)
	var strs jsonscan.Strings
	b.ReportAllocs()
	for b.Loop() {
		var v deltaView
		if !scanTextDelta(data, &v, &strs) {
			b.Fatal("not scanned")
		}
	}
}
