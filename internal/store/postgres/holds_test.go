package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/postgres"
)

// TestHoldsHealWhenReplicaDies: two replicas (two Stores on one database)
// share a budget of 100. Replica a's reservation of 60 keeps b from
// reserving 60 for as long as a renews; once a stops renewing (it was
// killed: nothing settles), b's next renewal releases a's hold within the
// TTL and b's reservation fits. When a turns out to be alive after all,
// its late settlement charges its spend but does not release b's hold.
func TestHoldsHealWhenReplicaDies(t *testing.T) {
	const ttl = time.Second
	ctx := context.Background()
	a, b := open(t).(*postgres.Store), open(t).(*postgres.Store)
	defer a.Close()
	defer b.Close()
	k := store.SpendKey{Scope: "key", Subject: "key_heal"}
	hold := []store.Hold{{SpendKey: k, Amount: 60, Limit: 100}}
	renew := func(s *postgres.Store) int64 {
		t.Helper()
		n, err := s.RenewHolds(ctx, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	reserve := func(s *postgres.Store) int {
		t.Helper()
		_, refused, err := s.ReserveSpend(ctx, hold)
		if err != nil {
			t.Fatal(err)
		}
		return refused
	}
	reserved := func() int64 {
		t.Helper()
		sps, err := b.Spends(ctx, []store.SpendKey{k})
		if err != nil {
			t.Fatal(err)
		}
		return sps[0].Reserved
	}
	renew(a)
	renew(b)
	if reserve(a) != -1 {
		t.Fatal("replica a could not reserve 60 of 100")
	}
	// While a renews, its hold outlives the TTL twice over.
	start := time.Now()
	for time.Since(start) < 2*ttl {
		renew(a)
		if n := renew(b); n != 0 {
			t.Fatalf("b released %d of a live replica's holds", n)
		}
		if reserve(b) != 0 {
			t.Fatal("replica b reserved 60 more of 100 while a holds 60")
		}
		time.Sleep(ttl / 5) // a's heartbeat interval
	}
	// a is killed: it stops renewing, and never settles.
	killed := time.Now()
	var released int64
	for reserve(b) != -1 {
		if time.Since(killed) > 3*ttl {
			t.Fatalf("a dead replica's hold still counts %v after it stopped renewing (TTL %v); reserved %d",
				time.Since(killed), ttl, reserved())
		}
		released += renew(b)
		time.Sleep(10 * time.Millisecond)
	}
	if el := time.Since(killed); el > ttl+500*time.Millisecond {
		t.Errorf("a dead replica's hold was released after %v, want within the TTL %v", el, ttl)
	}
	if released != 60 {
		t.Errorf("released %d, want a's 60", released)
	}
	if r := reserved(); r != 60 {
		t.Errorf("reserved %d after a's hold healed and b reserved 60, want 60", r)
	}
	// a was only late: its settlement charges the spend, and releases
	// nothing of b's hold.
	sps, err := a.SettleSpend(ctx, []store.Settlement{{SpendKey: k, Release: 60, Spend: 50}})
	if err != nil {
		t.Fatal(err)
	}
	if sps[0].Spent != 50 || sps[0].Reserved != 60 {
		t.Errorf("after the late replica settled: %+v, want spent 50 and b's 60 still reserved", sps[0])
	}
	sps, err = b.SettleSpend(ctx, []store.Settlement{{SpendKey: k, Release: 60, Spend: 40}})
	if err != nil {
		t.Fatal(err)
	}
	if sps[0].Spent != 90 || sps[0].Reserved != 0 {
		t.Errorf("after b settled: %+v, want spent 90 and nothing reserved", sps[0])
	}
}

// TestHoldsUnderConcurrency: two live replicas reserve and settle against
// one budget while a third that died holds part of it and the live ones
// sweep it away: the budget is never overspent, nothing deadlocks, and in
// the end nothing stays reserved.
func TestHoldsUnderConcurrency(t *testing.T) {
	const ttl = 300 * time.Millisecond
	ctx := context.Background()
	a, b, dead := open(t).(*postgres.Store), open(t).(*postgres.Store), open(t).(*postgres.Store)
	defer a.Close()
	defer b.Close()
	defer dead.Close()
	k := store.SpendKey{Scope: "team", Subject: "busy"}
	const limit = 1000
	for _, s := range []*postgres.Store{dead, a, b} {
		if _, err := s.RenewHolds(ctx, ttl); err != nil {
			t.Fatal(err)
		}
	}
	if _, refused, err := dead.ReserveSpend(ctx, []store.Hold{{SpendKey: k, Amount: 400, Limit: limit}}); err != nil || refused != -1 {
		t.Fatalf("dead replica's reservation: %d %v", refused, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, s := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() { // heartbeat
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.RenewHolds(ctx, ttl); err != nil {
					errs <- err
					return
				}
				time.Sleep(ttl / 4)
			}
		}()
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					sps, refused, err := s.ReserveSpend(ctx, []store.Hold{{SpendKey: k, Amount: 100, Limit: limit}})
					if err != nil {
						errs <- err
						return
					}
					if sps[0].Spent+sps[0].Reserved > limit {
						errs <- fmt.Errorf("counter %+v over its limit %d", sps[0], limit)
						return
					}
					if refused != -1 {
						continue
					}
					if _, err := s.SettleSpend(ctx, []store.Settlement{{SpendKey: k, Release: 100, Spend: 0}}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	// The dead replica's row and its hold of 400 are swept (one
	// transaction) while the others reserve and settle.
	deadline := time.Now().Add(10 * ttl)
	for {
		var n int64
		err := a.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM gateway_replicas) - 2 + (SELECT count(*) FROM spend_holds h WHERE amount > 0
			AND NOT EXISTS (SELECT 1 FROM gateway_replicas r WHERE r.id = h.replica AND r.expires_at > now()))`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead replica's hold was not released under load")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sps, err := a.Spends(ctx, []store.SpendKey{k})
	if err != nil {
		t.Fatal(err)
	}
	var held int64
	if err := a.Pool().QueryRow(ctx, `SELECT COALESCE(sum(amount), 0)::BIGINT FROM spend_holds`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if sps[0].Reserved != 0 || held != 0 {
		t.Errorf("after everything settled: reserved %d, holds %d, want 0", sps[0].Reserved, held)
	}
}

// A settlement OnRecord keeps the request's spend held by its replica, as
// pending, until the request's record charges it: spent always equals the
// ledger rows. When the replica dies before writing the record, the row
// and the pending spend go together; a record written late still charges
// its row, and only its row.
func TestSettledSpendWaitsForItsRecord(t *testing.T) {
	ctx := context.Background()
	a, b := open(t).(*postgres.Store), open(t).(*postgres.Store)
	defer a.Close()
	defer b.Close()
	k := store.SpendKey{Scope: "key", Subject: "key_pending"}
	state := func() store.Spend {
		t.Helper()
		sps, err := b.Spends(ctx, []store.SpendKey{k})
		if err != nil {
			t.Fatal(err)
		}
		return sps[0]
	}
	request := func(id string, worst, cost int64) store.Record {
		t.Helper()
		if _, refused, err := a.ReserveSpend(ctx, []store.Hold{{SpendKey: k, Amount: worst, Limit: 100}}); err != nil || refused != -1 {
			t.Fatalf("reserve %d of 100: refused %d, %v", worst, refused, err)
		}
		sts, err := a.SettleSpend(ctx, []store.Settlement{{SpendKey: k, Release: worst, Spend: cost, OnRecord: true}})
		if err != nil {
			t.Fatal(err)
		}
		if sts[0].Pending < cost || sts[0].Settled() < cost {
			t.Fatalf("after settling %d on record: %+v", cost, sts[0])
		}
		return store.Record{ID: id, Time: time.Now(), KeyID: "key_pending", Charges: []store.Charge{{SpendKey: k, Amount: cost}}}
	}
	if _, err := a.RenewHolds(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	r1 := request("pending-1", 60, 40)
	if sp := state(); sp.Spent != 0 || sp.Reserved != 40 || sp.Pending != 40 {
		t.Fatalf("settled, record not written: spent %d reserved %d pending %d, want 0, 40, 40", sp.Spent, sp.Reserved, sp.Pending)
	}
	// The pending spend still counts against the limit.
	if _, refused, err := b.ReserveSpend(ctx, []store.Hold{{SpendKey: k, Amount: 61, Limit: 100}}); err != nil || refused != 0 {
		t.Fatalf("61 more of 100 with 40 pending: refused %d, %v; want refused", refused, err)
	}
	if err := a.WriteRecords(ctx, []store.Record{r1}); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteRecords(ctx, []store.Record{r1}); err != nil { // a retry charges nothing
		t.Fatal(err)
	}
	if sp := state(); sp.Spent != 40 || sp.Reserved != 0 || sp.Pending != 0 {
		t.Fatalf("record written: spent %d reserved %d pending %d, want 40, 0, 0", sp.Spent, sp.Reserved, sp.Pending)
	}

	// a settles a second request and dies before its record is written.
	if _, err := a.RenewHolds(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r2 := request("pending-2", 30, 20)
	deadline := time.Now().Add(10 * time.Second)
	for state().Reserved != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a dead replica's pending spend is still held: %+v", state())
		}
		if _, err := b.RenewHolds(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sp := state(); sp.Spent != 40 || sp.Pending != 0 {
		t.Fatalf("after the dead replica's holds went: spent %d pending %d, want 40 (the one row written) and 0", sp.Spent, sp.Pending)
	}
	// It was alive after all: its record, written late, charges its row.
	if err := a.WriteRecords(ctx, []store.Record{r2}); err != nil {
		t.Fatal(err)
	}
	if sp := state(); sp.Spent != 60 || sp.Reserved != 0 || sp.Pending != 0 {
		t.Fatalf("late record: spent %d reserved %d pending %d, want 60, 0, 0", sp.Spent, sp.Reserved, sp.Pending)
	}
}

// The pending spend of a record the request log gave up on is released
// (ReleaseCharges): nothing stays held, nothing is spent.
func TestReleasedChargesFreeTheirPendingSpend(t *testing.T) {
	ctx := context.Background()
	s := open(t).(*postgres.Store)
	defer s.Close()
	k := store.SpendKey{Scope: "key", Subject: "key_release"}
	if _, err := s.RenewHolds(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, refused, err := s.ReserveSpend(ctx, []store.Hold{{SpendKey: k, Amount: 60, Limit: 100}}); err != nil || refused != -1 {
		t.Fatalf("reserve: refused %d, %v", refused, err)
	}
	if _, err := s.SettleSpend(ctx, []store.Settlement{{SpendKey: k, Release: 60, Spend: 40, OnRecord: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseCharges(ctx, []store.Charge{{SpendKey: k, Amount: 40}}); err != nil {
		t.Fatal(err)
	}
	sps, err := s.Spends(ctx, []store.SpendKey{k})
	if err != nil {
		t.Fatal(err)
	}
	if sp := sps[0]; sp.Spent != 0 || sp.Reserved != 0 || sp.Pending != 0 {
		t.Errorf("after releasing the dropped record's charge: spent %d reserved %d pending %d, want 0, 0, 0", sp.Spent, sp.Reserved, sp.Pending)
	}
}
