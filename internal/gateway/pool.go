package gateway

import (
	"slices"
)

// Pool strategies: how a chain's deployments are ordered for one request.
const (
	StrategyOrdered   = "ordered"    // as configured: the first, then the fallbacks
	StrategyWeighted  = "weighted"   // random, in proportion to provider weights
	StrategyLeastBusy = "least_busy" // fewest requests in flight first
	StrategyLatency   = "latency"    // power of two choices on decaying latency
)

// order returns the chain in the order to try it for one request. The
// result is a new slice when it differs from chain. rnd returns [0,1).
func order(chain []*Deployment, strategy string, rnd func() float64) []*Deployment {
	if len(chain) < 2 {
		return chain
	}
	switch strategy {
	case StrategyWeighted:
		out := slices.Clone(chain)
		// Weighted shuffle: repeatedly draw the next by weight.
		for i := 0; i < len(out)-1; i++ {
			total := 0
			for _, d := range out[i:] {
				total += weight(d)
			}
			x := int(rnd() * float64(total))
			for j := i; j < len(out); j++ {
				x -= weight(out[j])
				if x < 0 {
					out[i], out[j] = out[j], out[i]
					break
				}
			}
		}
		return out
	case StrategyLeastBusy:
		out := slices.Clone(chain)
		slices.SortStableFunc(out, func(a, b *Deployment) int {
			return int(a.Inflight() - b.Inflight())
		})
		return out
	case StrategyLatency:
		// Two random candidates; the one with the lower decaying latency
		// (unknown counts as fastest, so new members get traffic) goes
		// first, the rest keep their order as fallbacks.
		i := int(rnd() * float64(len(chain)))
		j := int(rnd() * float64(len(chain)-1))
		if j >= i {
			j++
		}
		if chain[j].latency.value() < chain[i].latency.value() {
			i = j
		}
		out := make([]*Deployment, 0, len(chain))
		out = append(out, chain[i])
		for k, d := range chain {
			if k != i {
				out = append(out, d)
			}
		}
		return out
	}
	return chain
}

func weight(d *Deployment) int {
	if d.Upstream.Weight > 0 {
		return d.Upstream.Weight
	}
	return 1
}
