package postgres_test

import (
	"context"
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
