package e2e

import (
	"flag"
	"testing"
)

var runKnownBugs = flag.Bool("known-bugs", false, "run the subtests of known, unfixed bugs instead of skipping them")

// knownBugs are failures these tests found in other packages, by subtest
// name, each with its proposed fix. skipKnownBug skips them (go test
// -known-bugs runs them); delete an entry together with its fix.
var knownBugs = map[string]string{}

func init() {
	// BUG: an upstream 503 (OpenAI; Gemini UNAVAILABLE) reaches Anthropic clients as 503 api_error,
	// while an Anthropic upstream's overload reaches them as 529 overloaded_error. protocols.md 7.8
	// puts 503 in the overloaded class ("503, or 529 on the Anthropic surface"). Fix: classify an
	// upstream 503 as provider.KindOverloaded (provider.KindFromStatus(503), or openai/gemini DecodeError).
	for _, up := range []string{"openai", "gemini"} {
		for _, m := range []string{"unary", "stream"} {
			knownBugs["TestUpstreamErrors/503_overloaded/anthropic_to_"+up+"/"+m] =
				"upstream 503 reaches Anthropic clients as 503 api_error, not 529 overloaded_error"
			// BUG: a context overflow from a non-Anthropic upstream reaches Anthropic clients with the
			// upstream's wording; Claude Code matches "prompt is too long" to compact. Fix: the
			// anthropic Client EncodeError renders KindContextLength from another format as
			// "prompt is too long: " + the upstream message.
			knownBugs["TestUpstreamErrors/400_context_length/anthropic_to_"+up+"/"+m] =
				`context overflow from a non-Anthropic upstream lacks Anthropic's "prompt is too long" wording`
		}
	}
	// BUG: a Gemini passthrough stream cut mid-way: the upstream's events end in \r\n\r\n (as Google's
	// do) and the gemini stream encoder's Fail appends an event ending in \n\n; go-genai's scanner
	// looks for \n\n first in its whole buffer and parses everything before it as one event, so the
	// client gets a JSON syntax error instead of the APIError. Fix: internal/provider/gemini
	// encoder.go ends events (at least Fail's) with \r\n\r\n, which go-genai splits either way.
	for _, r := range []string{"live", "buffered"} {
		knownBugs["TestMidStreamFailure/cut/gemini_to_gemini/"+r] =
			"Gemini passthrough stream mixes \\r\\n\\r\\n and \\n\\n event endings after a cut; go-genai misparses it"
	}
}

// skipKnownBug skips t if it is a known bug.
func skipKnownBug(t *testing.T) {
	t.Helper()
	if b, ok := knownBugs[t.Name()]; ok && !*runKnownBugs {
		t.Skip("BUG: " + b)
	}
}
