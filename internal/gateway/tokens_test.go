package gateway

import (
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

// TestOutputCap: the cap read without a decode is the largest of the
// names the client's format uses for it, whatever their ASCII case, and
// is unsure (decode instead) where a decoder might read something else.
func TestOutputCap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format provider.Format
		body   string
		want   int
		sure   bool
	}{
		{"openai max_tokens", provider.FormatOpenAI, `{"model":"m","max_tokens":64}`, 64, true},
		{"openai both, largest", provider.FormatOpenAI, `{"max_tokens":64,"max_completion_tokens":512}`, 512, true},
		{"openai both, other order", provider.FormatOpenAI, `{"max_completion_tokens":100,"max_tokens":900}`, 900, true},
		{"openai none", provider.FormatOpenAI, `{"model":"m","messages":[{"role":"user","content":"max_tokens"}]}`, 0, true},
		{"openai ignores other formats' names", provider.FormatOpenAI, `{"max_output_tokens":9000,"maxOutputTokens":9000,"max_tokens":10}`, 10, true},
		{"openai folded case", provider.FormatOpenAI, `{"Max_Tokens":300}`, 300, true},
		{"openai null", provider.FormatOpenAI, `{"max_tokens":null}`, 0, true},
		{"duplicate names", provider.FormatOpenAI, `{"max_tokens":5,"max_tokens":70}`, 70, true},
		{"anthropic", provider.FormatAnthropic, `{"model":"m","max_tokens":1024,"max_completion_tokens":99999}`, 1024, true},
		{"responses", provider.FormatResponses, `{"model":"m","max_output_tokens":2048,"max_tokens":99999}`, 2048, true},
		{"gemini camelCase", provider.FormatGemini, `{"contents":[],"generationConfig":{"maxOutputTokens":256}}`, 256, true},
		{"gemini snake_case", provider.FormatGemini, `{"generation_config":{"max_output_tokens":128}}`, 128, true},
		{"gemini both spellings", provider.FormatGemini, `{"generationConfig":{"maxOutputTokens":100},"generation_config":{"max_output_tokens":300}}`, 300, true},
		{"gemini top-level name is not read", provider.FormatGemini, `{"maxOutputTokens":5,"generationConfig":{"temperature":1}}`, 0, true},
		{"gemini null config", provider.FormatGemini, `{"generationConfig":null}`, 0, true},
		{"escaped key", provider.FormatOpenAI, `{"max_tok\u0065ns":50}`, 0, false},
		{"non-ASCII key", provider.FormatOpenAI, "{\"max_to\u212aens\":50}", 0, false},
		{"not an integer", provider.FormatOpenAI, `{"max_tokens":1e3}`, 0, false},
		{"a string", provider.FormatAnthropic, `{"max_tokens":"64"}`, 0, false},
		{"malformed", provider.FormatOpenAI, `{"max_tokens":64`, 0, false},
		{"gemini config not an object", provider.FormatGemini, `{"generationConfig":7}`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, sure := outputCap(tc.format, []byte(tc.body))
			if n != tc.want || sure != tc.sure {
				t.Fatalf("outputCap = %d, %v; want %d, %v", n, sure, tc.want, tc.sure)
			}
		})
	}
}

// TestReqTokens: the exchange's sizes for governance: a byte bound with
// no decode, the exact count, and the output cap falling back to the
// model's and then the gateway's default; each worked out once.
func TestReqTokens(t *testing.T) {
	decodes := 0
	g := &Gateway{opts: Options{
		InputBound: func(b []byte) (int, bool) { return len(b) + 3, true },
		Estimate: func(model string, req *provider.Request) int {
			decodes++
			return 7
		},
		MaxOutput:        func(model string) int { return map[string]int{"big": 32000}[model] },
		DefaultMaxOutput: 4096,
	}}
	newX := func(body string) *exchange {
		return &exchange{c: &Call{Format: provider.FormatOpenAI, Body: []byte(body)}, cc: fakeDecoder{}}
	}
	body := `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	x := newX(body)
	tk := reqTokens{g: g, x: x, model: "m"}
	if n, ok := tk.InputBound(); !ok || n != len(body)+3 {
		t.Fatalf("InputBound = %d, %v", n, ok)
	}
	if got := tk.MaxOutput(); got != 64 {
		t.Errorf("MaxOutput = %d, want the body's 64", got)
	}
	if x.req != nil || decodes != 0 {
		t.Fatalf("the bound and the cap decoded the body")
	}
	if tk.Input() != 7 || tk.Input() != 7 || decodes != 1 {
		t.Errorf("Input: %d estimates, want 1", decodes)
	}
	for _, tc := range []struct {
		model, body string
		want        int
	}{
		{"big", `{"model":"big","messages":[]}`, 32000},
		{"m", `{"model":"m","messages":[]}`, 4096},
		{"m", `{"model":"m","max_tokens":0}`, 4096},
	} {
		tk := reqTokens{g: g, x: newX(tc.body), model: tc.model}
		if got := tk.MaxOutput(); got != tc.want {
			t.Errorf("%s %s: MaxOutput = %d, want %d", tc.model, tc.body, got, tc.want)
		}
	}
}

// fakeDecoder decodes every body into an empty request.
type fakeDecoder struct{ provider.ClientCodec }

func (fakeDecoder) DecodeRequest([]byte) (*provider.Request, error) { return &provider.Request{}, nil }
