package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
)

// Scenario names.
const (
	Baseline  = "baseline"  // both providers healthy: the reference latency
	Failover  = "failover"  // the primary fails every request (503)
	Random5xx = "random5xx" // 30% random 503s on both providers
	Mixed     = "mixed"     // 5xx, 429 with Retry-After, hangs, cut and failing streams
)

// Scenarios lists the scenarios "all" runs, in order. Failover runs the
// Baseline first to compare against it.
func Scenarios() []string { return []string{Failover, Random5xx, Mixed} }

// scenario is one fault setup: the gateway's resilience settings, the two
// mocks' faults, and the mix of client requests.
type scenario struct {
	name string
	// about says in a line what the scenario does, for the report.
	about string
	// resilience is the resilience: block of the gateway config.
	resilience string
	// primary and secondary build the two mocks' options; seed makes the
	// fault draws repeatable.
	primary, secondary func(seed uint64) mock.Options
	// request gives the shape of client request i.
	request func(i int) request
}

// request is the shape of one client request.
type request struct {
	Format string // openai, anthropic or gemini
	Stream bool
}

// fastRetry is the retry profile every scenario uses: short backoffs so a
// run takes seconds, and room to honour a 1s Retry-After.
const fastRetry = "  retry: {base: 20ms, cap: 500ms, max_retry_wait: 2s}\n"

// ratioBreaker opens on a failure ratio, not a failure count: under
// steady random errors a count rule (the default, 3 failures a minute)
// trips every deployment at once. The count is set out of reach because
// the config cannot switch the count rule off.
const ratioBreaker = "  breaker: {failures: 1000000, ratio: 0.6, min_requests: 20, window: 10s, recovery_timeout: 5s}\n"

func healthy(uint64) mock.Options { return mock.Options{} }

// openaiHalfStream alternates non-streamed and streamed OpenAI requests.
func openaiHalfStream(i int) request { return request{Format: "openai", Stream: i%2 == 1} }

var formats = [...]string{"openai", "anthropic", "gemini"}

func lookup(name string) (scenario, error) {
	switch name {
	case Baseline:
		return scenario{
			name:       Baseline,
			about:      "both providers healthy (reference for failover)",
			resilience: fastRetry + "  breaker: {failures: 3, window: 60s, recovery_timeout: 5s}\n",
			primary:    healthy, secondary: healthy,
			request: openaiHalfStream,
		}, nil
	case Failover:
		return scenario{
			name:       Failover,
			about:      "primary answers 503 to everything, secondary (another wire format) healthy",
			resilience: fastRetry + "  breaker: {failures: 3, window: 60s, recovery_timeout: 5s}\n",
			primary: func(uint64) mock.Options {
				return mock.Options{Faults: mock.Fault{Status: http.StatusServiceUnavailable}}
			},
			secondary: healthy,
			request:   openaiHalfStream,
		}, nil
	case Random5xx:
		random := func(seed uint64) mock.Options {
			return mock.Options{Faults: mock.Fault{Status: http.StatusServiceUnavailable, Rate: 0.3},
				Rand: rand.New(rand.NewPCG(seed, 0x5005))}
		}
		// With failures independent at 30%, n attempts fail together with
		// probability 0.3^n: 0.81% at the default 4 attempts, right at the
		// 1% the target allows, 0.24% at 5. The retry budget keeps the
		// extra attempt from amplifying load.
		return scenario{
			name:       Random5xx,
			about:      "30% random 503s on both providers; max_attempts 5",
			resilience: fastRetry + ratioBreaker + "  max_attempts: 5\n",
			primary:    random,
			secondary:  func(seed uint64) mock.Options { return random(seed + 1) },
			request:    openaiHalfStream,
		}, nil
	case Mixed:
		// Hangs end at response_header (streams) or total (non-streamed
		// answers, which the gateway gives their whole time to finish).
		return scenario{
			name: Mixed,
			about: "each upstream request: 12% 503, 5% 429 (Retry-After 1s), 3% hang, 5% stream cut, " +
				"4% in-stream error, 2% malformed; all client formats, half streamed",
			resilience: fastRetry + ratioBreaker +
				"  timeouts: {response_header: 300ms, first_token: 300ms, idle: 1s, total: 2s}\n",
			primary:   mixedFaults,
			secondary: func(seed uint64) mock.Options { return mixedFaults(seed + 1) },
			request: func(i int) request {
				return request{Format: formats[i%len(formats)], Stream: i%2 == 1}
			},
		}, nil
	}
	return scenario{}, fmt.Errorf("chaos: unknown scenario %q (want %s, %s, %s or %s)", name, Failover, Random5xx, Mixed, Baseline)
}

// mixedFaults draws every request's fault from a seeded generator.
func mixedFaults(seed uint64) mock.Options {
	var mu sync.Mutex // protects rng: Script is called concurrently
	rng := rand.New(rand.NewPCG(seed, 0x31eed))
	return mock.Options{Script: func(*http.Request, int) *mock.Fault {
		mu.Lock()
		u := rng.Float64()
		mu.Unlock()
		switch {
		case u < 0.12:
			return &mock.Fault{Status: http.StatusServiceUnavailable}
		case u < 0.17:
			return &mock.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second}
		case u < 0.20:
			return &mock.Fault{Hang: true}
		case u < 0.25:
			return &mock.Fault{CutAfter: 5}
		case u < 0.29:
			return &mock.Fault{ErrorEventAfter: 5}
		case u < 0.31:
			return &mock.Fault{Malformed: true}
		}
		return nil
	}}
}
