package gateway

import (
	"testing"
	"time"
)

func TestHealthStatus(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name     string
		outcomes []bool
		want     string
	}{
		{"no requests", nil, Healthy},
		{"all succeeded", []bool{true, true}, Healthy},
		{"the only request failed", []bool{false}, Down},
		{"every recent request failed", []bool{false, false, false}, Down},
		{"some failed", []bool{true, false, true}, Degraded},
		{"recovering after failures", []bool{false, false, true}, Degraded},
		{"five failures in a row after successes", []bool{true, true, false, false, false, false, false}, Down},
		{"failures pushed out of the window", append(make20(false), make20(true)...), Healthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h health
			for _, ok := range tt.outcomes {
				h.record(ok, "boom", now)
			}
			if got := h.report().Status; got != tt.want {
				t.Errorf("status = %q, want %q", got, tt.want)
			}
		})
	}
}

func make20(ok bool) []bool {
	out := make([]bool, healthWindow)
	for i := range out {
		out[i] = ok
	}
	return out
}
