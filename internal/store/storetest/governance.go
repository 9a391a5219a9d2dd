package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// GovernanceStore is the governance half of a backend: virtual keys, teams,
// spend counters and top-ups. internal/governance defines the same methods
// as the interfaces it consumes; this suite checks that every backend
// gives them the same meaning.
type GovernanceStore interface {
	CreateKey(ctx context.Context, k store.Key) error
	Key(ctx context.Context, id string) (store.Key, error)
	KeyByHash(ctx context.Context, hash string) (store.Key, error)
	Keys(ctx context.Context, f store.KeyFilter) ([]store.Key, error)
	UpdateKey(ctx context.Context, k store.Key) error
	DeleteKey(ctx context.Context, id string) error

	CreateTeam(ctx context.Context, t store.Team) error
	Team(ctx context.Context, name string) (store.Team, error)
	Teams(ctx context.Context) ([]store.Team, error)
	UpdateTeam(ctx context.Context, t store.Team) error

	ReserveSpend(ctx context.Context, holds []store.Hold) ([]store.Spend, int, error)
	SettleSpend(ctx context.Context, sts []store.Settlement) ([]store.Spend, error)
	Spends(ctx context.Context, keys []store.SpendKey) ([]store.Spend, error)
	SpendsSince(ctx context.Context, since time.Time) ([]store.Spend, error)
	PutSpent(ctx context.Context, sps []store.Spend) error
	AddCredit(ctx context.Context, k store.SpendKey, t store.TopUp) (store.Spend, error)
	TopUps(ctx context.Context, keyID string) ([]store.TopUp, error)
}

// RunGovernance runs the governance conformance suite as subtests of t. The
// stores open returns must implement GovernanceStore.
func RunGovernance(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"KeyRoundTrip", testKeyRoundTrip},
		{"KeyConflict", testKeyConflict},
		{"KeyNotFound", testKeyNotFound},
		{"KeyFilter", testKeyFilter},
		{"KeyUpdateDelete", testKeyUpdateDelete},
		{"Teams", testTeams},
		{"ReserveWithinLimit", testReserveLimit},
		{"ReserveAllOrNothing", testReserveAllOrNothing},
		{"ReserveAgainstCredit", testReserveCredit},
		{"Settle", testSettle},
		{"RecordChargesWithTheRow", testRecordCharges},
		{"RetriedBatchChargesOnce", testRetriedBatchCharges},
		{"SpendReads", testSpendReads},
		{"ConcurrentReserve", testConcurrentReserve},
		{"ConcurrentReserveTwoHandles", testConcurrentReserveTwoHandles},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func openGov(t *testing.T, open Opener) GovernanceStore {
	t.Helper()
	s := openStore(t, open)
	g, ok := s.(GovernanceStore)
	if !ok {
		t.Fatalf("%T does not implement storetest.GovernanceStore", s)
	}
	return g
}

// us truncates t to what backends keep.
func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func fullKey(id string) store.Key {
	return store.Key{
		ID: id, Hash: "hash-" + id, Hint: "sk-lg-Ab...yZ", Name: "ci bot \"quoted\"", Owner: "ana@example.com",
		Team: "platform", Models: []string{"gpt-4o*", "claude-*"}, RPM: 60, TPM: 100000, MaxParallel: 4,
		BudgetUSD: 12.5, BudgetPeriod: "monthly", SoftBudget: 0.8, Prepaid: true,
		ExpiresAt: base.Add(720 * time.Hour), Metadata: map[string]string{"cost_center": "42", "ünï": "cødé"},
		CreatedAt: base, UpdatedAt: base.Add(time.Second),
	}
}

func sameKey(t *testing.T, want, got store.Key) {
	t.Helper()
	want.ExpiresAt, want.RevokedAt, want.CreatedAt, want.UpdatedAt = us(want.ExpiresAt), us(want.RevokedAt), us(want.CreatedAt), us(want.UpdatedAt)
	if len(want.Models) == 0 {
		want.Models = nil
	}
	if len(got.Models) == 0 {
		got.Models = nil
	}
	if len(want.Metadata) == 0 {
		want.Metadata = nil
	}
	if len(got.Metadata) == 0 {
		got.Metadata = nil
	}
	if !slices.Equal(want.Models, got.Models) || !maps.Equal(want.Metadata, got.Metadata) {
		t.Errorf("key %s models/metadata = %q %v, want %q %v", want.ID, got.Models, got.Metadata, want.Models, want.Metadata)
	}
	want.Models, got.Models, want.Metadata, got.Metadata = nil, nil, nil, nil
	for _, tm := range []*time.Time{&got.ExpiresAt, &got.RevokedAt, &got.CreatedAt, &got.UpdatedAt} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("key %s: time %v is not UTC", want.ID, *tm)
		}
	}
	if fmt.Sprintf("%+v", want) != fmt.Sprintf("%+v", got) {
		t.Errorf("key mismatch\n got %+v\nwant %+v", got, want)
	}
}

func testKeyRoundTrip(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	for _, k := range []store.Key{fullKey("k1"), {ID: "k2", Hash: "h2", CreatedAt: base, UpdatedAt: base}} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey(%s): %v", k.ID, err)
		}
		got, err := s.Key(ctx, k.ID)
		if err != nil {
			t.Fatalf("Key(%s): %v", k.ID, err)
		}
		sameKey(t, k, got)
		got, err = s.KeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("KeyByHash(%s): %v", k.Hash, err)
		}
		sameKey(t, k, got)
	}
}

func testKeyConflict(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	if err := s.CreateKey(ctx, fullKey("k1")); err != nil {
		t.Fatal(err)
	}
	dupHash := fullKey("k2")
	dupHash.Hash = "hash-k1"
	dupID := fullKey("k1")
	dupID.Hash = "other"
	for name, k := range map[string]store.Key{"same id": dupID, "same hash": dupHash} {
		if err := s.CreateKey(ctx, k); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: CreateKey = %v, want ErrConflict", name, err)
		}
	}
	if got, err := s.Keys(ctx, store.KeyFilter{IncludeRevoked: true}); err != nil || len(got) != 1 {
		t.Errorf("after conflicts: %d keys, err %v; want 1", len(got), err)
	}
}

func testKeyNotFound(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	checks := map[string]func() error{
		"Key":       func() error { _, err := s.Key(ctx, "nope"); return err },
		"KeyByHash": func() error { _, err := s.KeyByHash(ctx, "nope"); return err },
		"UpdateKey": func() error { return s.UpdateKey(ctx, store.Key{ID: "nope"}) },
		"DeleteKey": func() error { return s.DeleteKey(ctx, "nope") },
		"Team":      func() error { _, err := s.Team(ctx, "nope"); return err },
		"UpdateTeam": func() error {
			return s.UpdateTeam(ctx, store.Team{Name: "nope"})
		},
	}
	for name, f := range checks {
		if err := f(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s = %v, want ErrNotFound", name, err)
		}
	}
}

func testKeyFilter(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	var all []store.Key
	for i, spec := range []struct{ team, owner string }{
		{"a", "x"}, {"a", "y"}, {"b", "x"}, {"", "x"}, {"a", "x"}, {"b", ""},
	} {
		k := store.Key{ID: fmt.Sprintf("k%d", i), Hash: fmt.Sprintf("h%d", i), Team: spec.team, Owner: spec.owner,
			CreatedAt: base.Add(time.Duration(i) * time.Minute), UpdatedAt: base}
		if i%3 == 1 {
			k.RevokedAt = base.Add(time.Hour)
		}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		all = append(all, k)
	}
	for _, f := range []store.KeyFilter{
		{}, {IncludeRevoked: true}, {Team: "a"}, {Team: "a", IncludeRevoked: true}, {Owner: "x"},
		{Team: "b", Owner: "x"}, {Team: "zzz"},
	} {
		got, err := s.Keys(ctx, f)
		if err != nil {
			t.Fatalf("Keys(%+v): %v", f, err)
		}
		if got == nil {
			t.Fatalf("Keys(%+v) returned a nil slice", f)
		}
		var want []string
		for i := range all {
			if f.Match(&all[i]) {
				want = append(want, all[i].ID)
			}
		}
		var gotIDs []string
		for _, k := range got {
			gotIDs = append(gotIDs, k.ID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("Keys(%+v) = %v, want %v (oldest first)", f, gotIDs, want)
		}
	}
}

func testKeyUpdateDelete(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	k := fullKey("k1")
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	u := k
	u.Hash, u.Hint, u.CreatedAt = "ignored", "ignored", base.Add(99*time.Hour) // not updatable
	u.Name, u.Owner, u.Team, u.Models = "renamed", "bo", "", nil
	u.RPM, u.TPM, u.MaxParallel, u.BudgetUSD, u.BudgetPeriod, u.SoftBudget, u.Prepaid = 1, 2, 3, 0.25, "daily", 0.5, false
	u.ExpiresAt, u.RevokedAt, u.Metadata = time.Time{}, base.Add(2*time.Hour), map[string]string{"a": "b"}
	u.UpdatedAt = base.Add(3 * time.Hour)
	if err := s.UpdateKey(ctx, u); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	got, err := s.Key(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	want := u
	want.Hash, want.Hint, want.CreatedAt = k.Hash, k.Hint, k.CreatedAt
	sameKey(t, want, got)
	if !got.Revoked() {
		t.Error("updated key with RevokedAt set is not Revoked()")
	}
	if err := s.DeleteKey(ctx, "k1"); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if _, err := s.KeyByHash(ctx, k.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeyByHash after delete = %v, want ErrNotFound", err)
	}
}

func testTeams(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	tm := store.Team{Name: "platform", BudgetUSD: 100, BudgetPeriod: "monthly", SoftBudget: 0.9, RPM: 600, TPM: 1e6,
		Metadata: map[string]string{"slack": "#plat"}, CreatedAt: base, UpdatedAt: base}
	for _, x := range []store.Team{tm, {Name: "Zeta", CreatedAt: base, UpdatedAt: base}, {Name: "alpha", CreatedAt: base, UpdatedAt: base}} {
		if err := s.CreateTeam(ctx, x); err != nil {
			t.Fatalf("CreateTeam(%s): %v", x.Name, err)
		}
	}
	if err := s.CreateTeam(ctx, store.Team{Name: "platform"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate CreateTeam = %v, want ErrConflict", err)
	}
	got, err := s.Team(ctx, "platform")
	if err != nil {
		t.Fatal(err)
	}
	want := tm
	want.CreatedAt, want.UpdatedAt = us(want.CreatedAt), us(want.UpdatedAt)
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("Team = %+v\nwant %+v", got, want)
	}
	tm.BudgetUSD, tm.RPM, tm.Metadata, tm.UpdatedAt = 5, 0, nil, base.Add(time.Hour)
	if err := s.UpdateTeam(ctx, tm); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Team(ctx, "platform"); got.BudgetUSD != 5 || got.RPM != 0 || len(got.Metadata) != 0 || !got.UpdatedAt.Equal(us(tm.UpdatedAt)) {
		t.Errorf("after update: %+v", got)
	}
	list, err := s.Teams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	if want := []string{"Zeta", "alpha", "platform"}; !slices.Equal(names, want) {
		t.Errorf("Teams = %v, want %v (byte order)", names, want)
	}
}

var day = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)

func keyA() store.SpendKey { return store.SpendKey{Scope: "key", Subject: "k1", Start: day} }
func keyB() store.SpendKey { return store.SpendKey{Scope: "team", Subject: "t1", Start: day} }
func keyC() store.SpendKey {
	return store.SpendKey{Scope: "balance", Subject: "k1", Start: store.Epoch}
}

func reserve(t *testing.T, s GovernanceStore, holds ...store.Hold) ([]store.Spend, int) {
	t.Helper()
	st, refused, err := s.ReserveSpend(context.Background(), holds)
	if err != nil {
		t.Fatalf("ReserveSpend: %v", err)
	}
	if len(st) != len(holds) {
		t.Fatalf("ReserveSpend returned %d states for %d holds", len(st), len(holds))
	}
	return st, refused
}

func spends(t *testing.T, s GovernanceStore, keys ...store.SpendKey) []store.Spend {
	t.Helper()
	st, err := s.Spends(context.Background(), keys)
	if err != nil {
		t.Fatalf("Spends: %v", err)
	}
	return st
}

func testReserveLimit(t *testing.T, open Opener) {
	s := openGov(t, open)
	for i, step := range []struct {
		amount, limit int64
		refused       int
		reserved      int64
	}{
		{60, 100, -1, 60},
		{40, 100, -1, 100}, // exactly at the limit fits
		{1, 100, 0, 100},
		{0, 100, -1, 100},
		{5, 200, -1, 105}, // the limit is the caller's: a raised budget applies at once
	} {
		st, refused := reserve(t, s, store.Hold{SpendKey: keyA(), Amount: step.amount, Limit: step.limit})
		if refused != step.refused || st[0].Reserved != step.reserved || st[0].Spent != 0 {
			t.Errorf("step %d: refused %d, state %+v; want refused %d, reserved %d", i, refused, st[0], step.refused, step.reserved)
		}
		if !st[0].Start.Equal(day) || st[0].Scope != "key" || st[0].Subject != "k1" {
			t.Errorf("step %d: state names %+v", i, st[0].SpendKey)
		}
	}
}

func testReserveAllOrNothing(t *testing.T, open Opener) {
	s := openGov(t, open)
	reserve(t, s, store.Hold{SpendKey: keyB(), Amount: 90, Limit: 100})
	st, refused := reserve(t, s,
		store.Hold{SpendKey: keyA(), Amount: 20, Limit: 100},
		store.Hold{SpendKey: keyB(), Amount: 20, Limit: 100})
	if refused != 1 {
		t.Fatalf("refused = %d, want 1 (the team counter)", refused)
	}
	if st[0].Reserved != 0 || st[1].Reserved != 90 {
		t.Errorf("states after refusal = %+v, want the first untouched and the second at 90", st)
	}
	if got := spends(t, s, keyA()); got[0].Reserved != 0 {
		t.Errorf("a refused reservation left %d reserved on another counter", got[0].Reserved)
	}
}

func testReserveCredit(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	hold := store.Hold{SpendKey: keyC(), Amount: 30, AgainstCredit: true, Limit: 1 << 60}
	if _, refused := reserve(t, s, hold); refused != 0 {
		t.Fatalf("reserving against no credit: refused = %d, want 0", refused)
	}
	for i, amt := range []int64{20, 25} {
		sp, err := s.AddCredit(ctx, keyC(), store.TopUp{KeyID: "k1", Amount: amt, Note: fmt.Sprintf("top-up %d", i), Time: base.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatalf("AddCredit: %v", err)
		}
		if want := []int64{20, 45}[i]; sp.Credit != want {
			t.Errorf("credit after top-up %d = %d, want %d", i, sp.Credit, want)
		}
	}
	st, refused := reserve(t, s, hold)
	if refused != -1 || st[0].Reserved != 30 || st[0].Credit != 45 {
		t.Errorf("after top-ups: refused %d, state %+v", refused, st[0])
	}
	if _, refused := reserve(t, s, hold); refused != 0 {
		t.Errorf("second reservation of 30 against 45 credit: refused = %d, want 0", refused)
	}
	tops, err := s.TopUps(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tops) != 2 || tops[0].Amount != 20 || tops[1].Note != "top-up 1" || tops[0].ID == "" || !tops[1].Time.Equal(base.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("TopUps = %+v", tops)
	}
	if tops, _ := s.TopUps(ctx, "other"); tops == nil || len(tops) != 0 {
		t.Errorf("TopUps(other) = %#v, want an empty slice", tops)
	}
}

func testSettle(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	reserve(t, s, store.Hold{SpendKey: keyA(), Amount: 50, Limit: 100}, store.Hold{SpendKey: keyB(), Amount: 50, Limit: 100})
	st, err := s.SettleSpend(ctx, []store.Settlement{
		{SpendKey: keyB(), Release: 50, Spend: 7},
		{SpendKey: keyA(), Release: 50, Spend: 7},
	})
	if err != nil {
		t.Fatalf("SettleSpend: %v", err)
	}
	if st[0].Subject != "t1" || st[0].Spent != 7 || st[0].Reserved != 0 || st[1].Subject != "k1" || st[1].Spent != 7 {
		t.Errorf("settled states = %+v (want input order, spent 7, reserved 0)", st)
	}
	// Releasing more than is reserved clamps at zero; settling a counter
	// never reserved creates it.
	st, err = s.SettleSpend(ctx, []store.Settlement{{SpendKey: keyA(), Release: 10, Spend: 1},
		{SpendKey: store.SpendKey{Scope: "global", Subject: "hourly", Start: day}, Spend: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Reserved != 0 || st[0].Spent != 8 || st[1].Spent != 3 {
		t.Errorf("states = %+v", st)
	}
	// What was spent counts against the limit.
	if _, refused := reserve(t, s, store.Hold{SpendKey: keyA(), Amount: 93, Limit: 100}); refused != 0 {
		t.Errorf("8 spent + 93 reserved over a limit of 100 was accepted")
	}
	if _, refused := reserve(t, s, store.Hold{SpendKey: keyA(), Amount: 92, Limit: 100}); refused != -1 {
		t.Errorf("8 spent + 92 reserved within a limit of 100 was refused")
	}
}

// A record's charges reach the spend counters in the record's own
// transaction, once: a retried write of the same record charges nothing.
func testRecordCharges(t *testing.T, open Opener) {
	s := openGov(t, open)
	w := s.(store.RecordWriter)
	ctx := context.Background()
	budget := keyA()
	balance := store.SpendKey{Scope: "balance", Subject: "k1"}
	rec := func(id string, nanos int64) store.Record {
		return store.Record{ID: id, Time: day.Add(time.Hour), KeyID: "k1", CostUSD: float64(nanos) / store.NanosPerUSD, Priced: true,
			Charges: []store.Charge{{SpendKey: budget, Amount: nanos}, {SpendKey: balance, Amount: nanos}}}
	}
	if err := w.WriteRecords(ctx, []store.Record{rec("a", 1000), rec("b", 250)}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecords(ctx, []store.Record{rec("a", 1000), rec("c", 5)}); err != nil { // "a" again: a retry
		t.Fatal(err)
	}
	for _, sp := range spends(t, s, budget, balance) {
		if sp.Spent != 1255 || sp.Reserved != 0 {
			t.Errorf("%s/%s spent %d reserved %d nano-USD, want 1255 and 0 (each row charged once)", sp.Scope, sp.Subject, sp.Spent, sp.Reserved)
		}
	}
}

// A batch of 85 records (every multi-row chunk size a backend may use),
// then retried with new rows mixed in: every record is stored once, and
// the counters are charged once per stored row.
func testRetriedBatchCharges(t *testing.T, open Opener) {
	s := openGov(t, open)
	w := s.(store.RecordWriter)
	r := s.(store.RecordReader)
	ctx := context.Background()
	keyK, teamK := keyA(), keyB()
	rec := func(i int) store.Record {
		return store.Record{ID: fmt.Sprintf("r%03d", i), Time: day.Add(time.Duration(i) * time.Second), KeyID: "k1", Team: "t1",
			Charges: []store.Charge{{SpendKey: keyK, Amount: int64(i + 1)}, {SpendKey: teamK, Amount: 2 * int64(i+1)}}}
	}
	var first []store.Record
	for i := range 85 { // 64 + 16 + 4 + 1
		first = append(first, rec(i))
	}
	if err := w.WriteRecords(ctx, first); err != nil {
		t.Fatal(err)
	}
	var retry []store.Record // the first 70 again, with 15 new ones
	for i := range 100 {
		if i < 70 || i >= 85 {
			retry = append(retry, rec(i))
		}
	}
	if err := w.WriteRecords(ctx, retry); err != nil {
		t.Fatal(err)
	}
	got, err := r.Records(ctx, store.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Fatalf("row %s stored twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(got) != 100 {
		t.Fatalf("%d rows, want 100", len(got))
	}
	want := int64(100 * 101 / 2)
	if sps := spends(t, s, keyK, teamK); sps[0].Spent != want || sps[1].Spent != 2*want {
		t.Errorf("spent key %d team %d, want %d and %d (each row charged once)", sps[0].Spent, sps[1].Spent, want, 2*want)
	}
}

func testSpendReads(t *testing.T, open Opener) {
	s := openGov(t, open)
	ctx := context.Background()
	old := store.SpendKey{Scope: "key", Subject: "k1", Start: day.AddDate(0, -2, 0)}
	zero := store.SpendKey{Scope: "key", Subject: "k9"} // zero Start means the epoch
	if err := s.PutSpent(ctx, []store.Spend{{SpendKey: keyA(), Spent: 11}, {SpendKey: old, Spent: 5}, {SpendKey: zero, Spent: 4}}); err != nil {
		t.Fatalf("PutSpent: %v", err)
	}
	reserve(t, s, store.Hold{SpendKey: keyA(), Amount: 3, Limit: 100})
	if _, err := s.AddCredit(ctx, keyA(), store.TopUp{KeyID: "k1", Amount: 9, Time: base}); err != nil {
		t.Fatal(err)
	}
	// PutSpent leaves Reserved and Credit alone.
	if err := s.PutSpent(ctx, []store.Spend{{SpendKey: keyA(), Spent: 12, Reserved: 999, Credit: 999}}); err != nil {
		t.Fatal(err)
	}
	got := spends(t, s, keyA(), keyB(), zero)
	if got[0].Spent != 12 || got[0].Reserved != 3 || got[0].Credit != 9 {
		t.Errorf("Spends[0] = %+v, want spent 12 reserved 3 credit 9", got[0])
	}
	if got[1] != (store.Spend{SpendKey: keyB()}) {
		t.Errorf("an unwritten counter reads %+v, want zeros named %+v", got[1], keyB())
	}
	if !got[2].Start.Equal(store.Epoch) || got[2].Spent != 4 {
		t.Errorf("zero-start counter = %+v, want the epoch and spent 4", got[2])
	}
	since, err := s.SpendsSince(ctx, day.AddDate(0, 0, -31))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range since {
		names = append(names, fmt.Sprintf("%s/%s/%s", sp.Scope, sp.Subject, sp.Start.Format("2006-01-02")))
	}
	if want := []string{"key/k1/2025-03-14", "key/k9/1970-01-01"}; !slices.Equal(names, want) {
		t.Errorf("SpendsSince = %v, want %v", names, want)
	}
}

// testConcurrentReserve: many goroutines race for a limit of 10 units on a
// key counter and a shared team counter, in both lock orders; exactly 10
// win, and the counters agree.
func testConcurrentReserve(t *testing.T, open Opener) {
	s := openGov(t, open)
	raceForLimit(t, []GovernanceStore{s})
}

// testConcurrentReserveTwoHandles is the same race through two handles on
// one database, as two gateway replicas would run it.
func testConcurrentReserveTwoHandles(t *testing.T, open Opener) {
	a := openGov(t, open)
	b := openGov(t, open)
	raceForLimit(t, []GovernanceStore{a, b})
}

func raceForLimit(t *testing.T, handles []GovernanceStore) {
	const (
		workers = 24
		limit   = 10
	)
	var (
		wg  sync.WaitGroup
		won atomic.Int64
	)
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holds := []store.Hold{{SpendKey: keyA(), Amount: 1, Limit: limit}, {SpendKey: keyB(), Amount: 1, Limit: 1000}}
			if i%2 == 1 {
				holds[0], holds[1] = holds[1], holds[0]
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, refused, err := handles[i%len(handles)].ReserveSpend(ctx, holds)
			if err != nil {
				errs <- err
				return
			}
			if refused < 0 {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("ReserveSpend: %v", err)
	}
	if won.Load() != limit {
		t.Errorf("%d reservations of 1 fit a limit of %d, want exactly %d", won.Load(), limit, limit)
	}
	got := spends(t, handles[0], keyA(), keyB())
	if got[0].Reserved != limit || got[1].Reserved != limit {
		t.Errorf("reserved = %d (key) and %d (team), want %d each", got[0].Reserved, got[1].Reserved, limit)
	}
}
