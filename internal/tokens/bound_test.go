package tokens_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/anthropic"
	"github.com/llmgate/llmgate/internal/provider/gemini"
	"github.com/llmgate/llmgate/internal/provider/openai"
	"github.com/llmgate/llmgate/internal/provider/responses"
	"github.com/llmgate/llmgate/internal/tokens"
)

// decoders are every client format llmgate reads.
var decoders = []provider.ClientCodec{openai.Client{}, anthropic.Client{}, gemini.Client{}, responses.Client{}}

// boundModels cover both tiktoken vocabularies and each estimate ratio.
var boundModels = []string{"gpt-4o", "gpt-4", "claude-sonnet-4-5", "gemini-2.5-pro", "llama-3.3-70b"}

// checkBound fails when BodyBound gives a bound that some decoder's
// request, counted for some model, exceeds.
func checkBound(t *testing.T, body []byte) {
	t.Helper()
	n, ok := tokens.BodyBound(body)
	if !ok {
		return
	}
	for _, d := range decoders {
		req, err := d.DecodeRequest(body)
		if err != nil || req == nil {
			continue
		}
		for _, m := range boundModels {
			if est := tokens.EstimateRequest(m, req); est > n {
				t.Fatalf("%s request for %s: EstimateRequest %d > BodyBound %d\nbody: %s", d.Format(), m, est, n, body)
			}
		}
	}
}

// boundSeeds are request bodies of every format: the decoders' golden
// inputs and a few hand-written edge cases.
func boundSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, pat := range []string{
		"../provider/openai/testdata/request/*.in.json",
		"../provider/anthropic/testdata/requests/*.json",
		"../provider/anthropic/testdata/*.json",
		"../provider/gemini/testdata/decode/*.json",
	} {
		files, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	for _, s := range []string{
		`{}`,
		`{"model":"m","messages":[{"role":"user","content":"a"}]}`,
		`{"model":"m","messages":[{"role":"user"},{"role":"assistant"},{"role":"user","content":""}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"r"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"\n\t\"\\é日本語😀"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}}}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`,
		`{"model":"m","max_tokens":1,"system":"s","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`,
		`{"model":"m","max_tokens":1,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"x"}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"},{"name":"c"}]}]}`,
		`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`,
		`{"model":"m","input":"hi","instructions":"x"}`,
		`{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"o"}],"tools":[{"type":"function","name":"f"}]}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"}]}],"text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"\u0069mage_url","image_url":{"url":"https://x/y.png"}}]}]}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}`,
		`{"contents":[{"parts":[{"INLINEDATA":{"mimeType":"image/png","data":"AA=="}}]}]}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x"}]}]}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

func TestBodyBoundSeeds(t *testing.T) {
	for _, b := range boundSeeds(t) {
		checkBound(t, b)
	}
}

// TestBodyBoundMedia: bodies with images, audio or documents get no byte
// bound (they are priced per part), text-only bodies do, and text that
// merely mentions files or images keeps it.
func TestBodyBoundMedia(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"openai text", `{"model":"m","messages":[{"role":"user","content":"read the file and the image"}]}`, true},
		{"schema names a file", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"read","parameters":{"type":"object","properties":{"file_path":{"type":"string"}}}}}]}`, true},
		{"non-ASCII escapes", `{"model":"m","messages":[{"role":"user","content":"caf\u00e9 \u65e5\u672c \u001b"}]}`, true},
		{"openai image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, false},
		{"openai audio", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]}`, false},
		{"openai file", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}`, false},
		{"anthropic image", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}`, false},
		{"anthropic document", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x"}}]}]}`, false},
		{"gemini inlineData", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`, false},
		{"gemini file_data", `{"contents":[{"parts":[{"file_data":{"mime_type":"video/mp4","file_uri":"gs://b/c"}}]}]}`, false},
		{"key case folded", `{"contents":[{"parts":[{"InlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`, false},
		{"responses image", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x"}]}]}`, false},
		{"responses file", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}`, false},
		{"escaped name", `{"model":"m","messages":[{"role":"user","content":[{"type":"im\u0061ge_url","image_url":{"url":"https://x"}}]}]}`, false},
		{"invalid UTF-8", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := tokens.BodyBound([]byte(tc.body))
			if ok != tc.ok {
				t.Fatalf("BodyBound ok = %v, want %v", ok, tc.ok)
			}
			if ok && n != len(tc.body)+tokens.ReplyPrimer {
				t.Fatalf("BodyBound = %d, want %d", n, len(tc.body)+tokens.ReplyPrimer)
			}
		})
	}
	// Every golden request with a media part is refused a bound.
	for _, b := range boundSeeds(t) {
		if _, ok := tokens.BodyBound(b); !ok {
			continue
		}
		for _, d := range decoders {
			req, err := d.DecodeRequest(b)
			if err != nil {
				continue
			}
			if hasMedia(req) {
				t.Errorf("%s request with a media part got a byte bound: %.200s", d.Format(), b)
			}
		}
	}
}

func hasMedia(req *provider.Request) bool {
	var walk func([]provider.Part) bool
	walk = func(ps []provider.Part) bool {
		for _, p := range ps {
			if p.Type == provider.PartImage || p.Type == provider.PartDocument {
				return true
			}
			if p.ToolResult != nil && walk(p.ToolResult.Content) {
				return true
			}
		}
		return false
	}
	if walk(req.System) {
		return true
	}
	for _, m := range req.Messages {
		if walk(m.Parts) {
			return true
		}
	}
	return false
}

// FuzzBodyBound: for any body, whenever BodyBound gives a bound, no
// decoder's request counts more tokens than it for any model.
func FuzzBodyBound(f *testing.F) {
	for _, b := range boundSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkBound(t, body)
	})
}

func BenchmarkBodyBound(b *testing.B) {
	body, err := os.ReadFile("../provider/anthropic/testdata/requests/claude_code.json")
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := tokens.BodyBound(body); !ok {
		b.Fatal("no bound for a coding agent's request")
	}
	short := []byte(`{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"` + strings.Repeat("Say hello. ", 3) + `"}]}`)
	for _, c := range []struct {
		name string
		body []byte
	}{{"short", short}, {"claude-code", body}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				tokens.BodyBound(c.body)
			}
		})
	}
}
