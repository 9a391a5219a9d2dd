package gemini

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// referenceChunk is the stream decoder's chunk reading before scanChunk:
// encoding/json into generateContentResponse. ok is false where the decoder
// reports an error (invalid JSON or an error object).
func referenceChunk(data []byte) (v chunkView, ok bool) {
	var w generateContentResponse
	if json.Unmarshal(data, &w) != nil || !isNull(w.Error) {
		return v, false
	}
	v.fromWire(&w)
	return v, true
}

// streamChunks returns the data of every event in testdata/stream and in
// typicalStream.
func streamChunks(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/stream/*.sse")
	var out [][]byte
	for _, p := range append(files, "") {
		b := typicalStream()
		if p != "" {
			var err error
			if b, err = os.ReadFile(p); err != nil {
				t.Fatal(err)
			}
		}
		for line := range bytes.Lines(b) {
			if d, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:")); ok {
				out = append(out, bytes.TrimSpace(d))
			}
		}
	}
	return out
}

var scanSeeds = []string{
	`{"candidates":[{"content":{"parts":[{"text":"hi\n\u00e9\ud83d\ude00"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`,
	`{"candidates": [{"content": {"parts": [{"text": "a"},{"text":"b","thought":true,"thoughtSignature":"c2ln"},{"functionCall":{"id":"c1","name":"f","args":{"a": [1, 2]}},"thoughtSignature":"s"}],"role": "model"},"finishReason": "STOP","index": 0}]}`,
	`{"candidates":[{"index":1,"content":{"parts":[{"text":"x"}]}},{"content":{"parts":[{"text":"y"}]},"finishReason":"MAX_TOKENS"},{"content":{"parts":[{"text":"z"}]}}]}`,
	`{"candidates":[null,{"content":{"parts":[null,{"text":"y"}]}}],"promptFeedback":{"blockReason":"SAFETY"}}`,
	`{"candidates":[],"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},"usageMetadata":{"promptTokenCount":3,"cachedContentTokenCount":1,"thoughtsTokenCount":2,"toolUsePromptTokenCount":4,"candidatesTokenCount":5,"promptTokensDetails":[{"modality":"TEXT","tokenCount":3}]}}`,
	`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":null}},{"functionCall":{"name":"g","args":"x"}},{"functionCall":null,"text":"t"},{"functionCall":{}}]}}]}`,
	`{"candidates":[{"index":-0,"finishReason":null,"content":null}],"usageMetadata":null,"modelVersion":null,"responseId":null,"error":null}`,
	`{"candidates":[{"content":{"parts":[{"Text":"a"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"text":"a","text":"b"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"te\u0078t":"a"}]}}]}`,
	"{\"candidates\":[{\"content\":{\"parts\":[{\"\xe2\x84\xaaey\":\"a\",\"text\":\"\xff\"}]}}]}",
	`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}},{"inline_data":null}]}}]}`,
	`{"candidates":[{"index":1.0}]}`,
	`{"candidates":[{"content":{"parts":[{"thought":1}]}}]}`,
	`{"error":{"code":500,"message":"m","status":"INTERNAL"}}`,
	`{"usageMetadata":{"promptTokenCount":1e3}}`,
	`{"usageMetadata":{"promptTokenCount":12345678901234567890}}`,
	`{"a":[1,-0.5e+3,true,false,null,{"b":"\/"}],"candidates":null}`,
	`null`, `{}`, `[]`, `{"a":01}`, `{"a":"` + "\x01" + `"}`, `{"candidates":[{}]} x`,
}

// scanTemplates put a fuzzed fragment (@) at the places the scanner reads:
// most random bytes are not JSON, but many are a valid string body, key or
// value inside a chunk.
var scanTemplates = []string{
	`{"candidates":[{"content":{"parts":[{"text":"@"}],"role":"model"},"index":0}]}`,
	`{"candidates":[{"content":{"parts":[{"@":"x","text":"y"}]}}]}`,
	`{"candidates":[{"@":1,"content":{"parts":[{"text":"y"}]}}]}`,
	`{"candidates":[{"content":{"@":[],"parts":[{"text":"y"}]}}],"responseId":"@"}`,
	`{"@":{},"candidates":[],"promptFeedback":{"blockReason":"@"}}`,
	`{"usageMetadata":{"@":1,"promptTokenCount":2}}`,
	`{"candidates":[{"content":{"parts":[{"functionCall":{"@":"a","args":{"k":1}},"thoughtSignature":"@"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"text":"a"},@]}},@]}`,
	`{"candidates":[{"index":@,"content":{"parts":[{"text":"a","thought":@}]},"finishReason":"@"}],"usageMetadata":{"promptTokenCount":@}}`,
}

// FuzzStreamScan checks that the scanner, where it does not hand the chunk
// to encoding/json, reads exactly what encoding/json reads: for the input,
// and for the input put into each of scanTemplates.
func FuzzStreamScan(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	for _, c := range streamChunks(f) {
		f.Add(c)
	}
	for _, s := range []string{"x", `\u00e9\"`, "Text", "index", "1", "-0", "true", "null", `{"text":"b"}`, "\xff", "\u212aey"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScan(t, in)
		for _, tmpl := range scanTemplates {
			checkScan(t, bytes.ReplaceAll([]byte(tmpl), []byte("@"), in))
		}
	})
}

func checkScan(t *testing.T, data []byte) {
	var got chunkView
	if !scanChunk(data, &got, true) {
		return // decoded by encoding/json, as before
	}
	want, ok := referenceChunk(data)
	if !ok {
		t.Fatalf("scanChunk accepted %q, which encoding/json rejects", data)
	}
	if len(got.parts) == 0 && len(want.parts) == 0 {
		got.parts, want.parts = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanChunk(%q)\n got %+v\nwant %+v", data, got, want)
	}
	// Without start, the same but for the id and model.
	var rest chunkView
	if !scanChunk(data, &rest, false) {
		t.Fatalf("scanChunk(%q) without start fell back", data)
	}
	if len(rest.parts) == 0 {
		rest.parts = nil
	}
	rest.id, rest.model = want.id, want.model
	if !reflect.DeepEqual(rest, want) {
		t.Fatalf("scanChunk(%q) without start\n got %+v\nwant %+v", data, rest, want)
	}
}

// TestScanChunkTakesCommonChunks checks that the chunks Gemini sends (and
// the encoder writes) are read without encoding/json.
func TestScanChunkTakesCommonChunks(t *testing.T) {
	chunks := streamChunks(t)
	for _, s := range scanSeeds[:7] {
		chunks = append(chunks, []byte(s))
	}
	for _, c := range chunks {
		if bytes.HasPrefix(c, []byte(`{"error"`)) {
			continue // testdata/stream/fail.sse
		}
		var v chunkView
		if !scanChunk(c, &v, true) {
			t.Errorf("scanChunk fell back to encoding/json for %s", c)
			continue
		}
		want, _ := referenceChunk(c)
		if len(v.parts) == 0 {
			v.parts, want.parts = nil, nil
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("scanChunk(%s) = %+v, want %+v", c, v, want)
		}
	}
}

// TestScanChunkFallsBack checks chunks where encoding/json's reading could
// differ are left to it.
func TestScanChunkFallsBack(t *testing.T) {
	for _, s := range scanSeeds[7:17] {
		var v chunkView
		if scanChunk([]byte(s), &v, true) {
			t.Errorf("scanChunk read %s, want the encoding/json fallback", s)
		}
	}
}

// FuzzScanUsage checks scanUsage, which the passthrough reads every stream
// chunk's usageMetadata with, against json.Unmarshal.
func FuzzScanUsage(f *testing.F) {
	for _, s := range []string{
		`{"promptTokenCount": 18,"candidatesTokenCount": 1000,"totalTokenCount": 1530,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 18}],"thoughtsTokenCount": 512}`,
		`{"cachedContentTokenCount":1,"toolUsePromptTokenCount":-2,"promptTokenCount":null}`,
		`null`, `{}`, `{"PromptTokenCount":1}`, `{"promptTokenCount":1,"promptTokenCount":2}`, `{"promptTokenCount":1.5}`, `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got usageMetadata
		if !scanUsage(raw, &got) {
			return
		}
		var want usageMetadata
		if err := json.Unmarshal(raw, &want); err != nil || got != want {
			t.Fatalf("scanUsage(%q) = %+v, json.Unmarshal %+v, %v", raw, got, want, err)
		}
	})
}

func TestScanUsage(t *testing.T) {
	raw := []byte(`{"promptTokenCount": 18,"candidatesTokenCount": 1000,"totalTokenCount": 1530,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 18}],"thoughtsTokenCount": 512}`)
	var m usageMetadata
	if !scanUsage(raw, &m) || m != (usageMetadata{PromptTokenCount: 18, CandidatesTokenCount: 1000, TotalTokenCount: 1530, ThoughtsTokenCount: 512}) {
		t.Errorf("scanUsage = %+v", m)
	}
	for _, s := range []string{`{"PromptTokenCount":1}`, `{"promptTokenCount":1.5}`, `[]`} {
		if scanUsage([]byte(s), &m) {
			t.Errorf("scanUsage(%s) read it, want the encoding/json fallback", s)
		}
	}
}
