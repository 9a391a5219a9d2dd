package gateway

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// defaultHedgeDelay is used when a model asks for hedging at the observed
// p95 and no latency has been observed yet.
const defaultHedgeDelay = 2 * time.Second

// bufferedWriter holds a response until the hedge that produced it wins.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

type hedgeResult struct {
	sub  *exchange
	bw   *bufferedWriter
	perr *provider.Error
	d    *Deployment
	done func(Outcome)
}

// runHedged sends a non-streamed request to first and, when no answer came
// within the hedge delay, the same request to second; the first good answer
// wins and the other is cancelled. Both count against the attempt cap. It
// reports how many deployments it tried and, when none answered, the last
// error; the caller's loop carries on from there.
func (g *Gateway) runHedged(ctx context.Context, w http.ResponseWriter, x *exchange, first, second *Deployment) (ok bool, lastErr *provider.Error, launched int) {
	if _, err := x.canonical(); err != nil && x.c.Format != first.Upstream.Format {
		return false, provider.AsError(err), 0
	}
	delay := x.policy.HedgeDelay
	if delay <= 0 {
		if delay = first.latency.p95(); delay <= 0 {
			delay = defaultHedgeDelay
		}
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan hedgeResult, 2)
	var wg sync.WaitGroup
	reported := 0
	defer func() {
		// Join every hedge goroutine before returning; a loser's outcome
		// (it was cancelled) counts for nothing.
		cancel()
		wg.Wait()
		for ; reported < launched; reported++ {
			r := <-results
			g.observe(x, r.d, r.done, r.perr, decide(r.perr, attemptState{ended: true}))
		}
	}()
	launch := func(d *Deployment) bool {
		done, err := d.Guard.Allow()
		if err != nil {
			return false
		}
		sub := &exchange{c: x.c, cc: x.cc, policy: x.policy, req: x.req, reqErr: x.reqErr}
		bw := &bufferedWriter{header: make(http.Header)}
		x.attempts++
		launched++
		wg.Add(1)
		go func() {
			defer wg.Done()
			perr := g.attempt(hctx, bw, sub, d)
			results <- hedgeResult{sub, bw, perr, d, done}
		}()
		return true
	}
	if !launch(first) {
		return false, nil, 0
	}
	timer := g.clk.NewTimer(delay)
	defer timer.Stop()
	for received := 0; received < launched; {
		select {
		case <-timer.C():
			if launched == 1 && x.attempts < g.opts.MaxAttempts && launch(second) {
				x.fallback = true
				g.log.Debug("hedging", "request_id", x.c.RequestID, "after", delay, "to", second.Name)
			}
		case r := <-results:
			received++
			reported++
			if r.perr == nil {
				cancel() // the loser stops at once
				g.observe(x, r.d, r.done, nil, decide(nil, attemptState{}))
				x.usage, x.estimated, x.ttft, x.served, x.status = r.sub.usage, r.sub.estimated, r.sub.ttft, r.d, r.bw.status
				x.text = r.sub.text
				x.fallback = r.d != first
				h := w.Header()
				for k, v := range r.bw.header {
					h[k] = v
				}
				g.setHeaders(h, x, r.d)
				w.WriteHeader(r.bw.status)
				x.committed = true
				_, _ = w.Write(r.bw.body.Bytes())
				return true, nil, launched
			}
			r.perr.Provider = r.d.Upstream.Name
			g.observe(x, r.d, r.done, r.perr, decide(r.perr, attemptState{ended: ctx.Err() != nil}))
			lastErr = r.perr
			if launched == 1 && x.attempts < g.opts.MaxAttempts && (r.perr.Kind.Retryable() || r.perr.Kind.Fallback()) && launch(second) {
				x.fallback = true // the primary failed before the delay: go to the second now
			}
		}
	}
	return false, lastErr, launched
}
