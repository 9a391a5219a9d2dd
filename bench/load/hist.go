package main

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^(subBits-1) buckets, so a recorded value is off by at most 1/64 (1.6%).
const subBits = 7

const (
	subCount  = 1 << subBits            // values below this have their own bucket
	halfCount = subCount / 2            // buckets per power of two above that
	nBuckets  = subCount + 57*halfCount // covers every uint64
)

// histogram is a log-linear latency histogram in the manner of HDR
// histograms: fixed memory, no allocation per value, bounded relative error.
// The zero value is empty and ready to use. It is not safe for concurrent
// use: each load worker keeps its own and they are merged at the end.
type histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits // >= 1
	m := v >> uint(e)            // in [halfCount, subCount)
	return subCount + (e-1)*halfCount + int(m-halfCount)
}

// bucketMid is the value a bucket stands for: the middle of its range.
func bucketMid(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := (i-subCount)/halfCount + 1
	m := uint64((i-subCount)%halfCount + halfCount)
	lo := m << uint(e)
	return lo + (uint64(1)<<uint(e))/2
}

// record adds one value; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// merge adds o's values to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value below which a fraction q (0..1) of the values
// fall, within the histogram's precision; 0 when empty. The extremes are
// exact.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketMid(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// mean is the average value, 0 when empty.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
