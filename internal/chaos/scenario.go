package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
)

// Scenario names.
const (
	Baseline  = "baseline"  // both providers healthy: the reference latency
	Failover  = "failover"  // the primary fails every request (503)
	Random5xx = "random5xx" // 30% random 503s on both providers
	Blip      = "blip"      // one route; it fails everything for 0.3 s, then recovers
	RateLimit = "ratelimit" // the primary answers 429 to everything; healthy fallback
	Overload  = "overload"  // both providers overloaded: what the failures look like
	Mixed     = "mixed"     // 5xx, 429 with Retry-After, slow answers, cut and failing streams
	Budget    = "budget"    // a key's budget, the cheap primary down, a 20x pricier fallback
)

// Scenarios lists the scenarios "all" runs, in order. Failover runs the
// Baseline beside it to compare against it.
func Scenarios() []string {
	return []string{Random5xx, Failover, Blip, RateLimit, Mixed, Overload, Budget}
}

// scenario is one fault setup: the gateway's configuration, the mocks'
// faults, and the mix of client requests. Every scenario runs on the
// default resilience settings: what a user who tunes nothing gets.
type scenario struct {
	name string
	// about says in a line what the scenario does, for the report.
	about string
	// single routes the model to the primary only.
	single bool
	// primary and secondary build the two mocks' options; seed makes the
	// fault draws repeatable. Each call makes a fresh mock's options (the
	// direct run gets its own).
	primary, secondary func(seed uint64) mock.Options
	// request gives the shape of client request i.
	request func(i int) request
	// gap is how long each client waits between its requests (0: none),
	// to spread the load over a fault that lasts a while.
	gap time.Duration
	// budgetUSD, when set, sends every request with a virtual key of this
	// total budget, and prices the routes (cheap primary, 20x secondary).
	budgetUSD float64
	// recovered, when set, is when the latest mock made by primary ended
	// its fault.
	recovered func() time.Time
}

// request is the shape of one client request.
type request struct {
	Format    string // openai, anthropic or gemini
	Stream    bool
	MaxTokens int // 0: the format's default request
}

func healthy(uint64) mock.Options { return mock.Options{} }

// openaiHalfStream alternates non-streamed and streamed OpenAI requests.
func openaiHalfStream(i int) request { return request{Format: "openai", Stream: i%2 == 1} }

var formats = [...]string{"openai", "anthropic", "gemini"}

// everyFormat cycles through the three client formats, half streamed.
func everyFormat(i int) request {
	return request{Format: formats[i%len(formats)], Stream: (i/len(formats))%2 == 1}
}

func always(f mock.Fault) func(uint64) mock.Options {
	return func(uint64) mock.Options { return mock.Options{Faults: f} }
}

func lookup(name string) (scenario, error) {
	switch name {
	case Baseline:
		return scenario{name: Baseline, about: "both providers healthy (reference for failover)",
			primary: healthy, secondary: healthy, request: openaiHalfStream}, nil
	case Failover:
		return scenario{name: Failover, about: "primary answers 503 to everything, secondary (another wire format) healthy",
			primary: always(mock.Fault{Status: http.StatusServiceUnavailable}), secondary: healthy, request: openaiHalfStream}, nil
	case Random5xx:
		random := func(seed uint64) mock.Options {
			return mock.Options{Faults: mock.Fault{Status: http.StatusServiceUnavailable, Rate: 0.3},
				Rand: rand.New(rand.NewPCG(seed, 0x5005))}
		}
		return scenario{name: Random5xx, about: "30% random 503s on both providers",
			primary: random, secondary: func(seed uint64) mock.Options { return random(seed + 1) },
			request: openaiHalfStream}, nil
	case Blip:
		b := &blipFault{after: 150 * time.Millisecond, d: 300 * time.Millisecond}
		return scenario{name: Blip, about: "one route only; it answers 503 to everything for 0.3 s, 0.15 s into the run, then recovers",
			single: true, primary: b.options, secondary: healthy, recovered: b.recovered,
			request: everyFormat, gap: 40 * time.Millisecond}, nil
	case RateLimit:
		return scenario{name: RateLimit, about: "primary answers 429 (Retry-After: 1) to everything, secondary healthy",
			primary:   always(mock.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second}),
			secondary: healthy, request: everyFormat}, nil
	case Overload:
		return scenario{name: Overload, about: "both providers answer 529/503 overloaded to everything: every failure must be the real one",
			primary:   always(mock.Fault{Status: http.StatusServiceUnavailable}),
			secondary: always(mock.Fault{Status: 529}), request: everyFormat}, nil
	case Mixed:
		return scenario{name: Mixed,
			about: "each upstream request: 12% 503, 5% 429 (Retry-After 1s), 3% slow (1.5 s), 5% stream cut, " +
				"4% in-stream error, 2% malformed; all client formats, half streamed",
			primary: mixedFaults, secondary: func(seed uint64) mock.Options { return mixedFaults(seed + 1) },
			request: everyFormat}, nil
	case Budget:
		return scenario{name: Budget, about: "a key with a $0.001 budget; cheap primary down (503), secondary 20x pricier",
			primary: always(mock.Fault{Status: http.StatusServiceUnavailable}), secondary: healthy,
			request:   func(int) request { return request{Format: "openai", MaxTokens: 32} },
			budgetUSD: 0.001}, nil
	}
	all := append(Scenarios(), Baseline)
	slices.Sort(all)
	return scenario{}, fmt.Errorf("chaos: unknown scenario %q (want one of %s)", name, strings.Join(all, ", "))
}

// blipFault fails every request that arrives between after and after+d,
// counted from the mock's first request.
type blipFault struct {
	after, d time.Duration
	mu       sync.Mutex // protects t0
	t0       time.Time  // of the latest mock's first request
}

func (b *blipFault) options(uint64) mock.Options {
	var once sync.Once
	var t0 time.Time
	return mock.Options{Script: func(*http.Request, int) *mock.Fault {
		once.Do(func() {
			t0 = time.Now()
			b.mu.Lock()
			b.t0 = t0
			b.mu.Unlock()
		})
		if e := time.Since(t0); e >= b.after && e < b.after+b.d {
			return &mock.Fault{Status: http.StatusServiceUnavailable}
		}
		return nil
	}}
}

// recovered is when the latest mock's fault ended.
func (b *blipFault) recovered() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t0.Add(b.after + b.d)
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
			return &mock.Fault{Latency: 1500 * time.Millisecond}
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
