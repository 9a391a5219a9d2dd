package governance

import (
	"strings"

	"github.com/llmgate/llmgate/internal/gateway"
)

// matchModel reports whether model matches pattern, in which each '*'
// stands for any run of characters ('/' included, so "openai/*" works) and
// everything else matches itself. Matching is case-sensitive, like model
// names at the providers.
func matchModel(pattern, model string) bool {
	// Split off the literal prefix and suffix, then find the middle
	// pieces in order (greedy from the left is correct for '*'-only
	// patterns).
	first := strings.IndexByte(pattern, '*')
	if first < 0 {
		return pattern == model
	}
	if !strings.HasPrefix(model, pattern[:first]) {
		return false
	}
	last := strings.LastIndexByte(pattern, '*')
	suffix := pattern[last+1:]
	rest := model[first:]
	if len(rest) < len(suffix) || !strings.HasSuffix(rest, suffix) {
		return false
	}
	rest = rest[:len(rest)-len(suffix)]
	for _, piece := range strings.Split(pattern[first+1:last+1], "*") {
		if piece == "" {
			continue
		}
		i := strings.Index(rest, piece)
		if i < 0 {
			return false
		}
		rest = rest[i+len(piece):]
	}
	return true
}

// allowed reports whether model matches any of patterns; an empty list
// allows every model.
func allowed(patterns []string, model string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if matchModel(p, model) {
			return true
		}
	}
	return false
}

// MayServe reports whether the key behind p may be served by model at
// provider: its models list (empty allows all) matches the model name or
// "provider/model". The pipeline asks it about fallback routes, so a key
// allowed "gpt-4o-mini*" is not answered by o1 because a route falls back
// to it (gateway.ModelACL).
func (g *Governor) MayServe(p *gateway.Principal, provider, model string) bool {
	if p == nil {
		return true
	}
	e, ok := p.Ref.(*keyEntry)
	if !ok || e.key == nil || len(e.key.Models) == 0 {
		return true
	}
	return allowed(e.key.Models, model) || allowed(e.key.Models, provider+"/"+model)
}

var _ gateway.ModelACL = (*Governor)(nil)
