// Package store defines what llmgate keeps about the requests it served: one
// Record per request, the small interfaces that write and read them, and the
// usage report built from them (the request log and the usage ledger are the
// same rows).
//
// The concrete backends live in sub-packages (store/sqlite, store/postgres)
// so this package imports no database driver; the SQL they share (request
// queries, usage, key rows) is store/sqlstore, parameterised by a small
// dialect; store/storetest is the conformance suite every backend runs. Only the wiring code (internal/cli)
// picks a backend.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Record is one request as llmgate served it. The zero value is a valid,
// empty record. Records are plain values: copying one is safe.
type Record struct {
	// ID identifies the request. Backends assign a NewID when it is empty
	// and ignore a record whose ID they already hold, so a retried write
	// never duplicates rows.
	ID string
	// Time is when the request arrived. Backends store it in UTC at
	// microsecond precision.
	Time time.Time

	ClientFormat string // wire format the client spoke: openai, anthropic, gemini
	Op           string // chat, embeddings, responses, count_tokens, ...
	ModelAsked   string // the model name the client sent
	Provider     string // the provider that served it (the last one tried)
	ModelServed  string // the upstream model that served it

	Status       int    // HTTP status sent to the client
	ErrorKind    string // provider.Kind of the failure, empty on success
	ErrorMessage string // the cause, for operators (never shown to clients)
	Attempts     int    // upstream attempts, retries and fallbacks included
	Fallback     bool   // served by a fallback, not the first target
	Stream       bool   // the client asked for a stream

	Latency time.Duration // arrival to last byte sent
	TTFT    time.Duration // arrival to first byte sent (streams), zero if none

	InputTokens     int
	OutputTokens    int
	CachedTokens    int
	ReasoningTokens int
	// TokensEstimated says the counts were estimated locally because the
	// upstream reported none.
	TokensEstimated bool
	CostUSD         float64
	// Priced says CostUSD comes from a known price; false means the model
	// had no price and CostUSD is zero.
	Priced bool

	KeyID string // the virtual key used, empty until virtual keys exist
	Team  string // the key's team, empty if none

	// Charges are the spend counters the request's cost was charged to
	// (its key's budget, balance, team, spend guard). Both backends add
	// each Amount to its counter's Spent in the transaction that inserts
	// the record, and only when they insert it, so the counters always
	// equal the sum of the rows that exist: a crash loses a row and its
	// charge together, and a retried write charges once. PostgreSQL also
	// takes the Amount off what the writing Store holds as Pending on the
	// counter (Settlement.OnRecord). Not stored as a column.
	Charges []Charge

	// Prompt and Completion are only filled when content storage is on.
	Prompt     string
	Completion string
}

// OK reports whether the request succeeded in the sense Filter.Status uses:
// an HTTP status below 400.
func (r *Record) OK() bool { return r.Status < 400 }

// Status values of Filter.Status.
const (
	StatusAny   = ""      // every record
	StatusOK    = "ok"    // Status < 400
	StatusError = "error" // Status >= 400
)

// Limits applied by Filter.EffectiveLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// ErrInvalidQuery is wrapped by the error every reader returns for a Filter
// or UsageQuery that fails Validate.
var ErrInvalidQuery = errors.New("store: invalid query")

// Filter selects records. The zero value selects the newest DefaultLimit
// records. All non-empty conditions must hold (AND). Results are always
// newest first (by Time, then by write order).
type Filter struct {
	// Limit caps the number of records: <= 0 means DefaultLimit, more than
	// MaxLimit means MaxLimit.
	Limit int
	// Provider, KeyID and Team match exactly when non-empty.
	Provider string
	KeyID    string
	Team     string
	// Model matches either the model asked or the model served, so that
	// filtering by an upstream model also finds requests for its aliases.
	Model string
	// Status is StatusAny, StatusOK or StatusError.
	Status string
	// Since is inclusive and Until exclusive; zero means unbounded. Until
	// also serves as a cursor: pass the Time of the last record seen to get
	// the next page.
	Since, Until time.Time
}

// Validate reports a filter readers cannot answer, wrapping ErrInvalidQuery.
func (f Filter) Validate() error {
	switch f.Status {
	case StatusAny, StatusOK, StatusError:
	default:
		return fmt.Errorf("%w: status %q (want \"\", %q or %q)", ErrInvalidQuery, f.Status, StatusOK, StatusError)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return fmt.Errorf("%w: until %s is before since %s", ErrInvalidQuery, f.Until, f.Since)
	}
	return nil
}

// EffectiveLimit is Limit clamped to [1, MaxLimit], DefaultLimit when unset.
func (f Filter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// Match reports whether r passes every condition of f except Limit. It is the
// reference semantics the SQL backends implement.
func (f *Filter) Match(r *Record) bool {
	if f.Provider != "" && r.Provider != f.Provider {
		return false
	}
	if f.Model != "" && r.ModelAsked != f.Model && r.ModelServed != f.Model {
		return false
	}
	if f.KeyID != "" && r.KeyID != f.KeyID {
		return false
	}
	if f.Team != "" && r.Team != f.Team {
		return false
	}
	switch f.Status {
	case StatusOK:
		if !r.OK() {
			return false
		}
	case StatusError:
		if r.OK() {
			return false
		}
	}
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	return true
}

// RecordWriter stores records. WriteRecords writes the whole batch or
// nothing; a record whose ID is already stored is skipped, so a batch may be
// retried after an error. It must not keep recs after it returns: callers
// reuse the slice.
type RecordWriter interface {
	WriteRecords(ctx context.Context, recs []Record) error
}

// ChargeReleaser is a RecordWriter whose Charges hold spend until their
// record is written (store/postgres: Settlement.OnRecord). ReleaseCharges
// gives up that pending spend for records that will never be written (the
// request log dropped them), so a budget is not held for rows that do not
// exist: the counters stay equal to the ledger. Writers find it by type
// assertion.
type ChargeReleaser interface {
	ReleaseCharges(ctx context.Context, charges []Charge) error
}

// RecordReader answers Filter queries, newest first. It returns a non-nil
// (possibly empty) slice when err is nil.
type RecordReader interface {
	Records(ctx context.Context, f Filter) ([]Record, error)
}

// Store is a backend: a writer and a reader over the same rows. Backends are
// safe for concurrent use.
type Store interface {
	RecordWriter
	RecordReader
	Close() error
}

// GroupBy is the dimension of a usage report.
type GroupBy string

// The dimensions a usage report can group by.
const (
	GroupKey      GroupBy = "key"
	GroupTeam     GroupBy = "team"
	GroupModel    GroupBy = "model" // the model served, else the model asked
	GroupProvider GroupBy = "provider"
	GroupDay      GroupBy = "day" // the UTC day, as 2006-01-02
)

// UsageQuery asks for usage sums over a time range, one row per group.
type UsageQuery struct {
	GroupBy GroupBy
	// Since is inclusive and Until exclusive; zero means unbounded.
	Since, Until time.Time
	// KeyID and Team restrict the report to one key or team when non-empty.
	KeyID, Team string
}

// Validate reports a query reporters cannot answer, wrapping ErrInvalidQuery.
func (q UsageQuery) Validate() error {
	switch q.GroupBy {
	case GroupKey, GroupTeam, GroupModel, GroupProvider, GroupDay:
	default:
		return fmt.Errorf("%w: group by %q (want key, team, model, provider or day)", ErrInvalidQuery, q.GroupBy)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return fmt.Errorf("%w: until %s is before since %s", ErrInvalidQuery, q.Until, q.Since)
	}
	return nil
}

// UsageRow is the sums for one group. Rows are ordered by Group ascending.
type UsageRow struct {
	// Group is the value of the grouping dimension: a key id, team, model,
	// provider or UTC day. Records without a key or team form the group "".
	Group           string
	Requests        int64
	Errors          int64 // requests with status >= 400
	InputTokens     int64
	OutputTokens    int64
	CachedTokens    int64
	ReasoningTokens int64
	CostUSD         float64
}

// UsageReporter sums records into a usage report. Backends that can answer
// it implement it beside Store; callers find it by type assertion.
type UsageReporter interface {
	Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error)
}

// NewID returns a random 32-character hex identifier for a record.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
