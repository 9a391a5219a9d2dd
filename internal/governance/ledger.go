package governance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// ledger holds the spend counters that budgets, balances and the spend
// guard reserve against. Two implementations: memLedger (one gateway: the
// counters live in memory and are written behind to the store) and the
// store itself (several replicas: every reservation is an atomic
// conditional UPDATE in PostgreSQL). Both are safe for concurrent use.
type ledger interface {
	// ReserveSpend reserves every hold or none; see store.Hold.
	ReserveSpend(ctx context.Context, holds []store.Hold) ([]store.Spend, int, error)
	SettleSpend(ctx context.Context, sts []store.Settlement) ([]store.Spend, error)
	Spends(ctx context.Context, keys []store.SpendKey) ([]store.Spend, error)
	AddCredit(ctx context.Context, k store.SpendKey, t store.TopUp) (store.Spend, error)
}

// counterID is a SpendKey usable as a map key (time.Time is not: two
// equal instants may differ in location).
type counterID struct {
	scope, subject string
	startUS        int64
}

func idOf(k store.SpendKey) counterID {
	return counterID{k.Scope, k.Subject, store.NormStart(k.Start).UnixMicro()}
}

func (c counterID) key() store.SpendKey {
	return store.SpendKey{Scope: c.scope, Subject: c.subject, Start: time.UnixMicro(c.startUS).UTC()}
}

// memLedger keeps the counters of a single gateway in memory: a
// reservation is a few map operations under one mutex, with no database
// round trip. Settled spend is written to the store in batches by flush
// (Governor.Run calls it every second and at shutdown); credits (top-ups)
// are written through at once. Reservations are never persisted: after a
// restart nothing is in flight. Counters are loaded from the store when
// the ledger is created.
type memLedger struct {
	persist SpendStore // nil: nothing is persisted
	log     *slog.Logger
	// chargesOnRecords: spent reaches the store with each request's record
	// (Options.ChargesOnRecords), so flush never writes it.
	chargesOnRecords bool

	mu       sync.Mutex // protects following
	counters map[counterID]*store.Spend
	dirty    map[counterID]bool // Spent changed since the last flush

	flushMu sync.Mutex // one flush at a time
}

// newMemLedger loads the counters of periods that started at or after
// since (and the never-resetting ones) from persist.
func newMemLedger(ctx context.Context, persist SpendStore, since time.Time, log *slog.Logger) (*memLedger, error) {
	l := &memLedger{persist: persist, log: log, counters: map[counterID]*store.Spend{}, dirty: map[counterID]bool{}}
	if persist == nil {
		return l, nil
	}
	sps, err := persist.SpendsSince(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("governance: loading spend counters: %w", err)
	}
	for _, sp := range sps {
		sp.Reserved = 0 // nothing is in flight after a restart
		l.counters[idOf(sp.SpendKey)] = &sp
	}
	return l, nil
}

// counterLocked returns the counter for k, creating it.
func (l *memLedger) counterLocked(k store.SpendKey) (*store.Spend, counterID) {
	id := idOf(k)
	c := l.counters[id]
	if c == nil {
		c = &store.Spend{SpendKey: id.key()}
		l.counters[id] = c
	}
	return c, id
}

func (l *memLedger) ReserveSpend(_ context.Context, holds []store.Hold) ([]store.Spend, int, error) {
	states, refused := l.reserve(make([]store.Spend, len(holds)), holds)
	return states, refused, nil
}

// reserve is ReserveSpend into states, which has one element per hold.
func (l *memLedger) reserve(states []store.Spend, holds []store.Hold) ([]store.Spend, int) {
	var buf [8]*store.Spend
	cs := buf[:0]
	l.mu.Lock()
	defer l.mu.Unlock()
	refused := -1
	for i := range holds {
		h := &holds[i]
		c, _ := l.counterLocked(h.SpendKey)
		cs = append(cs, c)
		limit := h.Limit
		if h.AgainstCredit {
			limit = c.Credit
		}
		if c.Spent+c.Reserved+h.Amount > limit && refused < 0 {
			refused = i
		}
	}
	for i, c := range cs {
		if refused < 0 {
			c.Reserved += holds[i].Amount
		}
		states[i] = *c
	}
	return states, refused
}

func (l *memLedger) SettleSpend(_ context.Context, sts []store.Settlement) ([]store.Spend, error) {
	return l.settle(make([]store.Spend, len(sts)), sts), nil
}

// settle is SettleSpend into states, which has one element per settlement.
func (l *memLedger) settle(states []store.Spend, sts []store.Settlement) []store.Spend {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range sts {
		s := &sts[i]
		c, id := l.counterLocked(s.SpendKey)
		c.Reserved = max(c.Reserved-s.Release, 0)
		c.Spent += s.Spend
		if s.Spend != 0 && !l.chargesOnRecords {
			l.dirty[id] = true
		}
		states[i] = *c
	}
	return states
}

func (l *memLedger) Spends(_ context.Context, keys []store.SpendKey) ([]store.Spend, error) {
	out := make([]store.Spend, len(keys))
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, k := range keys {
		if c := l.counters[idOf(k)]; c != nil {
			out[i] = *c
		} else {
			out[i] = store.Spend{SpendKey: idOf(k).key()}
		}
	}
	return out, nil
}

// AddCredit writes the top-up through to the store (the store's credit is
// the truth) and then updates the counter in memory.
func (l *memLedger) AddCredit(ctx context.Context, k store.SpendKey, t store.TopUp) (store.Spend, error) {
	credit := t.Amount
	if l.persist != nil {
		sp, err := l.persist.AddCredit(ctx, k, t)
		if err != nil {
			return store.Spend{}, err
		}
		credit = sp.Credit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c, _ := l.counterLocked(k)
	if l.persist != nil {
		c.Credit = credit
	} else {
		c.Credit += credit
	}
	return *c, nil
}

// flush writes the counters whose spend changed to the store, and forgets
// counters of periods that started before forgetBefore (except the
// never-resetting ones) once they are written. On failure the counters
// stay dirty for the next flush.
func (l *memLedger) flush(ctx context.Context, forgetBefore time.Time) error {
	if l.persist == nil {
		return nil
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	batch := make([]store.Spend, 0, len(l.dirty))
	for id := range l.dirty {
		batch = append(batch, *l.counters[id])
	}
	clear(l.dirty)
	l.mu.Unlock()
	if len(batch) > 0 {
		if err := l.persist.PutSpent(ctx, batch); err != nil {
			l.mu.Lock()
			for _, sp := range batch {
				l.dirty[idOf(sp.SpendKey)] = true
			}
			l.mu.Unlock()
			return fmt.Errorf("governance: writing %d spend counters: %w", len(batch), err)
		}
	}
	cut := forgetBefore.UnixMicro()
	l.mu.Lock()
	for id, c := range l.counters {
		if id.startUS != 0 && id.startUS < cut && !l.dirty[id] && c.Reserved == 0 {
			delete(l.counters, id)
		}
	}
	l.mu.Unlock()
	return nil
}
