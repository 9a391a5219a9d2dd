package governance

import "strings"

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
