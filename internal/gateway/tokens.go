package gateway

import (
	"strconv"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
)

// reqTokens is an exchange's Tokens for governance: each answer is worked
// out once, on first use. It lives in the exchange, so handing it to
// Admit allocates nothing. Governance calls it only during Admit, on the
// request's goroutine.
type reqTokens struct {
	g     *Gateway
	x     *exchange
	model string // the first route's upstream model, for Input

	bound, in, out             int
	boundOK                    bool
	boundDone, inDone, outDone bool
}

var _ Tokens = (*reqTokens)(nil)

func (t *reqTokens) InputBound() (int, bool) {
	if !t.boundDone {
		t.boundDone = true
		if t.g.opts.InputBound != nil {
			t.bound, t.boundOK = t.g.opts.InputBound(t.x.c.Body)
		}
	}
	return t.bound, t.boundOK
}

func (t *reqTokens) Input() int {
	if !t.inDone {
		t.inDone = true
		// A body the canonical decoder refuses (or no estimator): a
		// quarter of its bytes, below any bound from them.
		t.in = len(t.x.c.Body) / 4
		if t.g.opts.Estimate != nil {
			if req, err := t.x.canonical(); err == nil && req != nil {
				t.in = t.g.opts.Estimate(t.model, req)
			}
		}
	}
	return t.in
}

func (t *reqTokens) MaxOutput() int {
	if !t.outDone {
		t.outDone = true
		out, sure := t.x.outputCap()
		if !sure {
			out = 0
			if req, err := t.x.canonical(); err == nil && req != nil && req.MaxTokens != nil {
				out = *req.MaxTokens
			}
		}
		if out <= 0 && t.g.opts.MaxOutput != nil {
			out = t.g.opts.MaxOutput(t.model)
		}
		if out <= 0 {
			out = t.g.opts.DefaultMaxOutput
		}
		t.out = out
	}
	return t.out
}

// outputCap is the request's output cap as its body sets it, read with
// one scan of the top level (and of Gemini's generationConfig) instead of
// a decode: the largest positive value among the members the client's own
// format names the cap with; 0 when it sets none. The largest, because a
// body may name several (OpenAI's max_tokens and max_completion_tokens;
// Gemini's camelCase and snake_case spellings): the canonical decoder
// prefers one, a passthrough upstream may honour another, and the largest
// bounds both. Names match ignoring ASCII case, as encoding/json matches
// them. sure is false when the scan cannot say what a decoder would read
// (a key with an escape or non-ASCII bytes, a cap that is not a plain
// integer, malformed JSON): decode then.
func (x *exchange) outputCap() (n int, sure bool) {
	if !x.capDone {
		x.capDone = true
		x.capN, x.capSure = outputCap(x.c.Format, x.c.Body)
	}
	return x.capN, x.capSure
}

func outputCap(f provider.Format, body []byte) (int, bool) {
	switch f {
	case provider.FormatOpenAI:
		return scanCap(body, openaiCaps, nil)
	case provider.FormatAnthropic:
		return scanCap(body, anthropicCaps, nil)
	case provider.FormatResponses:
		return scanCap(body, responsesCaps, nil)
	case provider.FormatGemini:
		best, sure := 0, true
		_, ok := scanCap(body, geminiConfig, func(v []byte) bool {
			if string(v) == "null" {
				return true
			}
			n, ok := scanCap(v, geminiCaps, nil)
			best, sure = max(best, n), ok
			return ok
		})
		return best, ok && sure
	}
	return 0, true
}

// Output-cap member names by format, lowercase.
var (
	openaiCaps    = []string{"max_completion_tokens", "max_tokens"}
	anthropicCaps = []string{"max_tokens"}
	responsesCaps = []string{"max_output_tokens"}
	geminiConfig  = []string{"generationconfig", "generation_config"}
	geminiCaps    = []string{"maxoutputtokens", "max_output_tokens"}
)

// scanCap scans the top level of the object obj for members named (ASCII
// case ignored) one of names, which are lowercase. With visit nil each
// value must be null or an integer, and scanCap returns the largest; with
// visit set, each value goes to visit instead and n is 0. sure is false
// for anything a decoder might read differently (see outputCap).
func scanCap(obj []byte, names []string, visit func(v []byte) bool) (n int, sure bool) {
	sure = true
	err := jsonscan.Each(obj, func(m jsonscan.Member) bool {
		for _, c := range m.Key {
			if c == '\\' || c >= 0x80 {
				sure = false // an escaped or non-ASCII key could fold to a name
				return false
			}
		}
		for _, name := range names {
			if len(m.Key) != len(name) || !asciiFoldEq(m.Key, name) {
				continue
			}
			if visit != nil {
				if !visit(m.Value) {
					sure = false
					return false
				}
				return true
			}
			if string(m.Value) == "null" {
				return true
			}
			v, err := strconv.Atoi(string(m.Value))
			if err != nil {
				sure = false
				return false
			}
			n = max(n, v)
		}
		return true
	})
	if err != nil {
		return 0, false
	}
	return n, sure
}

// asciiFoldEq reports whether key equals the lowercase ASCII name,
// ignoring ASCII case.
func asciiFoldEq(key []byte, name string) bool {
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
