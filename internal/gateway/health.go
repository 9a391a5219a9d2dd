package gateway

import (
	"sync"
	"time"
)

// healthWindow is how many recent outcomes per provider decide its health.
const healthWindow = 20

// health tracks a provider's recent real outcomes (no probe calls). The zero
// value is ready; it is safe for concurrent use.
type health struct {
	mu     sync.Mutex // protects following
	ring   [healthWindow]bool
	n, pos int
	fails  int // failures among the ring's entries
	streak int // consecutive failures, newest last

	lastErr   string
	lastErrAt time.Time
	lastOKAt  time.Time
}

// record notes one upstream outcome. Client-side failures (their own 4xx,
// cancellations) are not recorded.
func (h *health) record(ok bool, errMsg string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == healthWindow && !h.ring[h.pos] {
		h.fails--
	}
	h.ring[h.pos] = ok
	h.pos = (h.pos + 1) % healthWindow
	if h.n < healthWindow {
		h.n++
	}
	if ok {
		h.streak = 0
		h.lastOKAt = now
	} else {
		h.fails++
		h.streak++
		h.lastErr, h.lastErrAt = errMsg, now
	}
}

// HealthStatus values.
const (
	Healthy  = "ok"
	Degraded = "degraded"
	// Down is a provider whose every recent request failed, or whose last
	// five in a row did.
	Down = "down"
)

// HealthReport is one provider's health for GET /health.
type HealthReport struct {
	Status         string    `json:"status"`
	RecentRequests int       `json:"recent_requests"`
	RecentFailures int       `json:"recent_failures"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	LastSuccessAt  time.Time `json:"last_success_at,omitzero"`
}

func (h *health) report() HealthReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := HealthReport{RecentRequests: h.n, RecentFailures: h.fails, LastError: h.lastErr,
		LastErrorAt: h.lastErrAt, LastSuccessAt: h.lastOKAt}
	switch {
	case h.n == 0 || h.fails == 0:
		r.Status = Healthy
	case h.streak >= 5 || h.fails == h.n:
		r.Status = Down
	default:
		r.Status = Degraded
	}
	return r
}
