package retry

import (
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

// budgetBuckets is how many slices the sliding window is cut into.
const budgetBuckets = 10

// Budget caps retries to one upstream so that retries cannot multiply an
// outage into a storm: within a sliding window, retries may reach
// minRetries + ratio × requests. With ratio 0.2 and minRetries 3, an
// upstream that saw 100 requests in the last window allows 23 retries;
// an idle one still allows 3.
//
// The window slides by tenths. Call OnRequest for every first attempt
// (not for retries) and TryRetry before each retry. A Budget is safe for
// concurrent use and allocates nothing per call. A nil *Budget allows
// every retry.
type Budget struct {
	ratio float64
	min   int
	width time.Duration // of one bucket
	clk   clock.Clock
	base  time.Time // bucket epochs count widths since base

	mu      sync.Mutex // protects following
	buckets [budgetBuckets]budgetBucket
}

type budgetBucket struct {
	epoch          int64
	requests, used int64
}

// NewBudget returns a Budget allowing minRetries + ratio × requests retries
// per window. Negative ratio or minRetries count as 0; window <= 0 means
// 10s; a nil clk means clock.Real.
func NewBudget(ratio float64, minRetries int, window time.Duration, clk clock.Clock) *Budget {
	if clk == nil {
		clk = clock.Real{}
	}
	if window <= 0 {
		window = 10 * time.Second
	}
	b := &Budget{
		ratio: max(ratio, 0),
		min:   max(minRetries, 0),
		width: max(window/budgetBuckets, 1),
		clk:   clk,
		base:  clk.Now(),
	}
	for i := range b.buckets {
		b.buckets[i].epoch = -budgetBuckets // older than any window
	}
	return b
}

// OnRequest records one request (a first attempt) to the upstream.
func (b *Budget) OnRequest() {
	if b == nil {
		return
	}
	e := b.epoch()
	b.mu.Lock()
	b.bucketLocked(e).requests++
	b.mu.Unlock()
}

// TryRetry reports whether a retry is within budget and, if so, spends it.
func (b *Budget) TryRetry() bool {
	if b == nil {
		return true
	}
	e := b.epoch()
	b.mu.Lock()
	defer b.mu.Unlock()
	var requests, used int64
	for i := range b.buckets {
		if x := &b.buckets[i]; x.epoch > e-budgetBuckets && x.epoch <= e {
			requests += x.requests
			used += x.used
		}
	}
	if float64(used+1) > float64(b.min)+b.ratio*float64(requests) {
		return false
	}
	b.bucketLocked(e).used++
	return true
}

func (b *Budget) epoch() int64 { return int64(b.clk.Now().Sub(b.base) / b.width) }

// bucketLocked returns the bucket of epoch e, emptied if it held an older
// epoch.
func (b *Budget) bucketLocked(e int64) *budgetBucket {
	x := &b.buckets[((e%budgetBuckets)+budgetBuckets)%budgetBuckets]
	if x.epoch != e {
		*x = budgetBucket{epoch: e}
	}
	return x
}
