package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
)

// Claim is what SharedAnswers.Claim found for an Idempotency-Key.
type Claim int

// Claim results.
const (
	ClaimOwner    Claim = iota + 1 // the caller owns the key: it must Finish it
	ClaimAnswered                  // the first request's answer is stored
	ClaimInFlight                  // another request (on any replica) holds it
	ClaimConflict                  // the key was used with another body
)

// SharedAnswers keeps Idempotency-Key and stale-if-error answers where
// every replica finds them (Redis). An error means the store cannot be
// reached: the gateway then goes on with its own memory only, so that
// this state never fails closed.
type SharedAnswers interface {
	// Claim takes key for a request with this body hash, or finds the
	// answer stored for it.
	Claim(ctx context.Context, key, bodyHash [32]byte) (Claim, []byte, error)
	// Renew keeps the owner's claim alive while its request runs.
	Renew(ctx context.Context, key [32]byte) error
	// Finish stores the owner's answer for ttl and releases the claim;
	// a nil answer (the request failed) only releases it.
	Finish(ctx context.Context, key, bodyHash [32]byte, answer []byte, ttl time.Duration) error
	// Put and Get keep last good answers for stale-if-error.
	Put(ctx context.Context, key [32]byte, answer []byte, ttl time.Duration) error
	Get(ctx context.Context, key [32]byte) ([]byte, bool, error)
}

// sharedTimeout bounds one round trip to the shared store.
const sharedTimeout = 2 * time.Second

type savedJSON struct {
	Status int         `json:"s"`
	Header http.Header `json:"h"`
	Body   []byte      `json:"b"`
}

func (s *saved) encode() []byte {
	b, _ := json.Marshal(savedJSON{s.status, s.header, s.body})
	return b
}

func decodeSaved(b []byte) (*saved, bool) {
	var v savedJSON
	if json.Unmarshal(b, &v) != nil || v.Status == 0 {
		return nil, false
	}
	return &saved{status: v.Status, header: v.Header, body: v.Body}, true
}

// claimShared makes the request the fleet-wide owner of an
// Idempotency-Key, waiting while another replica's request holds it. It
// returns the stored answer when there is one, conflict for a key used
// with another body, and owned when the caller must finish the claim
// (with release, which also stops the renewals). Unreachable shared
// state makes it return nothing: the request goes on locally.
func (g *Gateway) claimShared(ctx context.Context, key, bodyHash [32]byte) (resp *saved, conflict bool, release func(*saved)) {
	sh := g.opts.Shared
	for {
		cctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		c, answer, err := sh.Claim(cctx, key, bodyHash)
		cancel()
		if err != nil {
			g.log.Warn("idempotency: shared store unreachable; this replica answers on its own", "err", err)
			return nil, false, nil
		}
		switch c {
		case ClaimAnswered:
			if s, ok := decodeSaved(answer); ok {
				return s, false, nil
			}
			return nil, false, nil
		case ClaimConflict:
			return nil, true, nil
		case ClaimOwner:
			return nil, false, g.renewClaim(key, bodyHash)
		}
		// Another replica's request holds the key: wait for its answer.
		if clock.Sleep(ctx, g.clk, 100*time.Millisecond) != nil {
			return nil, false, nil
		}
	}
}

// renewClaim keeps key claimed until the returned release is called with
// the answer (nil: none), which stores it and joins the renewer.
func (g *Gateway) renewClaim(key, bodyHash [32]byte) func(*saved) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			t := g.clk.NewTimer(10 * time.Second)
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C():
				ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
				_ = g.opts.Shared.Renew(ctx, key)
				cancel()
			}
		}
	}()
	return func(s *saved) {
		close(stop)
		<-done
		var answer []byte
		if s != nil {
			answer = s.encode()
		}
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := g.opts.Shared.Finish(ctx, key, bodyHash, answer, g.opts.IdempotencyTTL); err != nil {
			g.log.Warn("idempotency: could not store the answer in the shared store", "err", err)
		}
	}
}

// storeStale keeps a good answer for stale-if-error, here and in the
// shared store.
func (g *Gateway) storeStale(key [32]byte, s *saved) {
	g.stale.store(key, s)
	if g.opts.Shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if err := g.opts.Shared.Put(ctx, key, s.encode(), g.opts.StaleTTL); err != nil {
		g.log.Warn("stale-if-error: could not store the answer in the shared store", "err", err)
	}
}

// getStale finds a last good answer, here or in the shared store.
func (g *Gateway) getStale(ctx context.Context, key [32]byte) (*saved, bool) {
	if s, ok := g.stale.get(key); ok {
		return s, true
	}
	if g.opts.Shared == nil {
		return nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	b, ok, err := g.opts.Shared.Get(cctx, key)
	if err != nil || !ok {
		return nil, false
	}
	return decodeSaved(b)
}
