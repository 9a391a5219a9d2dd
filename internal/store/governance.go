package store

import (
	"context"
	"errors"
	"time"
)

// Governance rows: virtual keys, teams, spend counters and top-ups. The
// backends store them beside the request records; the interfaces that read
// and write them are defined by their consumer (internal/governance).

// Errors the governance methods of every backend return, wrapped.
var (
	// ErrNotFound: no key or team with that id or name.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a key with that id or hash, or a team with that name,
	// already exists.
	ErrConflict = errors.New("store: already exists")
)

// Key is a virtual key as stored: its secret never is, only the hex
// SHA-256 of it. Times are stored at microsecond precision, in UTC. The
// zero value of every limit means "no limit".
type Key struct {
	ID   string // public identifier, used in URLs and records
	Hash string // hex SHA-256 of the secret; unique
	Hint string // a recognisable, non-secret part of the secret: "sk-lg-AbCd...wXyZ"

	Name  string
	Owner string
	Team  string // "" for none

	// Models are the model names the key may ask for, with * wildcards;
	// empty allows every model.
	Models []string

	RPM         int // requests per minute
	TPM         int // tokens per minute
	MaxParallel int // requests in flight at once

	BudgetUSD    float64 // spend cap per BudgetPeriod
	BudgetPeriod string  // daily, weekly, monthly or total
	SoftBudget   float64 // share of BudgetUSD (0-1) that triggers a warning
	// Prepaid makes requests draw on the key's balance (its top-ups).
	Prepaid bool

	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: not revoked
	Metadata  map[string]string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Revoked reports whether the key was revoked.
func (k *Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// KeyFilter selects keys. The zero value selects every key that is not
// revoked.
type KeyFilter struct {
	Team           string // exact team when non-empty
	Owner          string // exact owner when non-empty
	IncludeRevoked bool
}

// Match reports whether k passes f; the reference semantics of Keys.
func (f *KeyFilter) Match(k *Key) bool {
	return (f.Team == "" || k.Team == f.Team) && (f.Owner == "" || k.Owner == f.Owner) &&
		(f.IncludeRevoked || !k.Revoked())
}

// Team groups keys that share a budget and rate limits. Zero limits mean
// "no limit".
type Team struct {
	Name         string
	BudgetUSD    float64
	BudgetPeriod string
	SoftBudget   float64
	RPM          int
	TPM          int
	Metadata     map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Money in spend counters is in integer nano-dollars (1e-9 USD), so that
// reservations and settlements add and subtract exactly.
const NanosPerUSD = 1e9

// SpendKey names one spend counter: a scope ("key", "team", "balance",
// "global"), its subject (key id, team name, ...) and the start of its
// period (Epoch for counters that never reset; the zero time means Epoch
// too). Backends return Start in UTC, at microsecond precision.
type SpendKey struct {
	Scope   string
	Subject string
	Start   time.Time
}

// Epoch is the period start of counters that never reset.
var Epoch = time.Unix(0, 0).UTC()

// NormStart is t as backends store and return it: Epoch for the zero time,
// else t in UTC truncated to the microsecond.
func NormStart(t time.Time) time.Time {
	if t.IsZero() {
		return Epoch
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Spend is a counter's state, in nano-dollars. A counter that was never
// written reads as zeros.
type Spend struct {
	SpendKey
	Spent    int64 // spend charged by the ledger's rows
	Reserved int64 // held by requests in flight, Pending included
	Credit   int64 // sum of top-ups (balances)
	// Pending is the part of Reserved that is settled spend whose ledger
	// row is not written yet (Settlement.OnRecord); always zero on SQLite.
	Pending int64
}

// Settled is the spend of every settled request: Spent and Pending.
func (s *Spend) Settled() int64 { return s.Spent + s.Pending }

// InFlight is what requests not yet settled hold: Reserved less Pending.
func (s *Spend) InFlight() int64 { return s.Reserved - s.Pending }

// Charge adds Amount (nano-dollars) to the Spent of one counter; see
// Record.Charges.
type Charge struct {
	SpendKey
	Amount int64
}

// Hold asks ReserveSpend to reserve Amount on a counter, provided
// Spent+Reserved+Amount stays at or below Limit (or, with AgainstCredit,
// below the counter's own Credit).
type Hold struct {
	SpendKey
	Amount        int64
	Limit         int64
	AgainstCredit bool
}

// DefaultHoldTTL is how long a replica's reservations on a shared store
// (HoldKeeper) outlive its last heartbeat: a killed replica's holds are
// released within this time and one heartbeat interval.
const DefaultHoldTTL = 15 * time.Second

// HoldKeeper is a spend store shared by several replicas whose
// reservations belong to the replica that made them (store/postgres).
type HoldKeeper interface {
	// RenewHolds says this replica is alive for ttl more (its holds count
	// until then), and releases the holds of every replica whose time ran
	// out, returning how many nano-dollars it released. A replica calls it
	// every ttl/4 or so. A settlement of a hold already released this way
	// releases nothing more.
	RenewHolds(ctx context.Context, ttl time.Duration) (int64, error)
}

// Settlement replaces a reservation by real spend: Reserved decreases by
// Release, Spent increases by Spend.
type Settlement struct {
	SpendKey
	Release int64
	Spend   int64
	// OnRecord keeps Spend reserved, as Pending held by this replica,
	// instead of adding it to Spent: the request's record carries it as a
	// Charge (Record.Charges), and WriteRecords moves it to Spent in the
	// transaction that inserts the row, so Spent always equals the
	// ledger. If the replica dies first, its row and its Pending go
	// together (HoldKeeper). Only store/postgres (a HoldKeeper) supports
	// it; SQLite's counters are charged by the records alone.
	OnRecord bool
}

// TopUp is one addition to a key's prepaid balance.
type TopUp struct {
	ID     string // assigned by the backend when empty
	KeyID  string
	Amount int64 // nano-dollars
	Note   string
	Time   time.Time
}
