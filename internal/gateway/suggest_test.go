package gateway

import (
	"slices"
	"testing"
)

func TestClosest(t *testing.T) {
	names := []string{"aaa-fast", "abc", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o", "gpt-4o-mini", "gemini-2.5-flash", "o1", "zeta"}
	tests := []struct {
		model string
		want  []string
	}{
		{"gpt-4o-mnii", []string{"gpt-4o-mini", "gpt-4o"}},
		{"claude-sonet-4-5", []string{"claude-sonnet-4-5", "claude-haiku-4-5"}},
		{"gemini-2.5-flash-latest", []string{"gemini-2.5-flash"}},
		{"GPT-4O", []string{"gpt-4o", "gpt-4o-mini"}},
		{"totally-unrelated-name", nil},
	}
	for _, tt := range tests {
		got := closest(tt.model, names, 3)
		if len(got) < len(tt.want) || !slices.Equal(got[:len(tt.want)], tt.want) || (tt.want == nil && len(got) != 0) {
			t.Errorf("closest(%q) = %v, want it to start with %v", tt.model, got, tt.want)
		}
	}
}
