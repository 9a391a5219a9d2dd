// Package sqlstore is the SQL both store backends share: the request
// log's queries (Records, Usage), the WHERE builder, and how a virtual
// key's row is encoded and scanned. What differs between SQLite and
// PostgreSQL (placeholders, how times are stored, the day expression, sums
// and byte-order sorting) is a Dialect; how a query is run (database/sql
// or pgx) is a Querier.
package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Rows is what a Querier returns: database/sql's *sql.Rows (wrapped for
// Close) and pgx.Rows both fit.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Scanner is one row: *sql.Row, pgx.Row, or Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// Querier runs a query with its args.
type Querier func(ctx context.Context, sql string, args ...any) (Rows, error)

// TimeCodec stores a time.Time in a column: Arg encodes it as a query
// argument, Dest returns a Scan destination and a function that decodes
// what was scanned.
type TimeCodec struct {
	Arg  func(t time.Time) any
	Dest func() (dest any, get func() time.Time)
}

// Dialect is what the two backends' SQL differs in. Its zero value is not
// usable; SQLite and Postgres are the two there are.
type Dialect struct {
	// Name prefixes error messages: "sqlite", "postgres".
	Name string
	// Placeholder is the SQL of the nth argument, from 1: "?" or "$n".
	Placeholder func(n int) string
	// TimeColumn is the requests table's time column, coded by RecordTime.
	TimeColumn string
	RecordTime TimeCodec
	// KeyTime codes a key's created and updated times, NullTime its
	// expiry and revocation (the zero time is "none").
	KeyTime, NullTime TimeCodec
	// KeyTimeSuffix ends the names of virtual_keys' time columns
	// (expires, revoked, created, updated): "_us" or "_at".
	KeyTimeSuffix string
	// NotRevoked is the condition of a key that is not revoked.
	NotRevoked string
	// Day is the UTC day of a request, as 2006-01-02.
	Day string
	// SumInt and SumFloat are the SQL sums of an integer and a float
	// column, as int64 and float64.
	SumInt, SumFloat func(col string) string
	// ByteOrder is expr sorted by bytes, whatever the collation.
	ByteOrder func(expr string) string
}

// Where builds a WHERE clause for a Dialect. The zero value is not
// usable: make it with d.Where().
type Where struct {
	d     *Dialect
	conds []string
	Args  []any
}

// Where returns an empty WHERE builder.
func (d *Dialect) Where() *Where { return &Where{d: d} }

// Add appends cond, in which each "?" stands for the next of args.
func (w *Where) Add(cond string, args ...any) {
	for _, a := range args {
		w.Args = append(w.Args, a)
		cond = strings.Replace(cond, "?", w.d.Placeholder(len(w.Args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// Arg appends an argument used outside the WHERE clause (a LIMIT) and
// returns its placeholder.
func (w *Where) Arg(a any) string {
	w.Args = append(w.Args, a)
	return w.d.Placeholder(len(w.Args))
}

// TimeRange adds since (inclusive) and until (exclusive) on the requests'
// time, each when non-zero.
func (w *Where) TimeRange(since, until time.Time) {
	if !since.IsZero() {
		w.Add(w.d.TimeColumn+" >= ?", w.d.RecordTime.Arg(since))
	}
	if !until.IsZero() {
		w.Add(w.d.TimeColumn+" < ?", w.d.RecordTime.Arg(until))
	}
}

// String is " WHERE ..." or "" without conditions.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// RecordColumns are the requests table's columns Records reads, in the
// order of RecordArgs.
func (d *Dialect) RecordColumns() string {
	return `id, ` + d.TimeColumn + `, client_format, op, model_asked, provider, model_served,
	status, error_kind, error_message, attempts, fallback, stream, latency_us, ttft_us,
	input_tokens, output_tokens, cached_tokens, reasoning_tokens, tokens_estimated,
	cost_usd, priced, key_id, team, prompt, completion`
}

// NumRecordColumns is how many values RecordArgs appends.
const NumRecordColumns = 26

// RecordArgs appends r's column values, in RecordColumns order, to args,
// with id as its ID.
func (d *Dialect) RecordArgs(args []any, r *store.Record, id string) []any {
	return append(args,
		id, d.RecordTime.Arg(r.Time), r.ClientFormat, r.Op, r.ModelAsked, r.Provider, r.ModelServed,
		r.Status, r.ErrorKind, r.ErrorMessage, r.Attempts, r.Fallback, r.Stream,
		r.Latency.Microseconds(), r.TTFT.Microseconds(),
		r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens, r.TokensEstimated,
		r.CostUSD, r.Priced, r.KeyID, r.Team, r.Prompt, r.Completion)
}

// Records returns the records f selects, newest first.
func (d *Dialect) Records(ctx context.Context, query Querier, f store.Filter) ([]store.Record, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	w := d.Where()
	if f.Provider != "" {
		w.Add("provider = ?", f.Provider)
	}
	if f.Model != "" {
		w.Add("(model_asked = ? OR model_served = ?)", f.Model, f.Model)
	}
	if f.KeyID != "" {
		w.Add("key_id = ?", f.KeyID)
	}
	if f.Team != "" {
		w.Add("team = ?", f.Team)
	}
	switch f.Status {
	case store.StatusOK:
		w.Add("status < 400")
	case store.StatusError:
		w.Add("status >= 400")
	}
	w.TimeRange(f.Since, f.Until)
	limit := f.EffectiveLimit()
	where := w.String()
	q := "SELECT " + d.RecordColumns() + " FROM requests" + where +
		" ORDER BY " + d.TimeColumn + " DESC, seq DESC LIMIT " + w.Arg(limit)
	rows, err := query(ctx, q, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("%s: query records: %w", d.Name, err)
	}
	defer rows.Close()
	out := make([]store.Record, 0, min(limit, 64))
	for rows.Next() {
		var (
			r                 store.Record
			latencyUS, ttftUS int64
		)
		tdest, tget := d.RecordTime.Dest()
		if err := rows.Scan(&r.ID, tdest, &r.ClientFormat, &r.Op, &r.ModelAsked, &r.Provider, &r.ModelServed,
			&r.Status, &r.ErrorKind, &r.ErrorMessage, &r.Attempts, &r.Fallback, &r.Stream, &latencyUS, &ttftUS,
			&r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.ReasoningTokens, &r.TokensEstimated,
			&r.CostUSD, &r.Priced, &r.KeyID, &r.Team, &r.Prompt, &r.Completion); err != nil {
			return nil, fmt.Errorf("%s: scan record: %w", d.Name, err)
		}
		r.Time = tget()
		r.Latency = time.Duration(latencyUS) * time.Microsecond
		r.TTFT = time.Duration(ttftUS) * time.Microsecond
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: query records: %w", d.Name, err)
	}
	return out, nil
}

// groupExpr is the SQL of a usage dimension.
func (d *Dialect) groupExpr(g store.GroupBy) string {
	switch g {
	case store.GroupKey:
		return "key_id"
	case store.GroupTeam:
		return "team"
	case store.GroupModel:
		return "CASE WHEN model_served <> '' THEN model_served ELSE model_asked END"
	case store.GroupProvider:
		return "provider"
	}
	return d.Day
}

// Usage sums the records in q's range by q's dimension, ordered by group
// (byte order, whatever the database's collation).
func (d *Dialect) Usage(ctx context.Context, query Querier, q store.UsageQuery) ([]store.UsageRow, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	w := d.Where()
	w.TimeRange(q.Since, q.Until)
	if q.KeyID != "" {
		w.Add("key_id = ?", q.KeyID)
	}
	if q.Team != "" {
		w.Add("team = ?", q.Team)
	}
	grp := d.groupExpr(q.GroupBy)
	sqlText := "SELECT " + grp + ` AS grp, COUNT(*),
		SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
		` + d.SumInt("input_tokens") + `, ` + d.SumInt("output_tokens") + `,
		` + d.SumInt("cached_tokens") + `, ` + d.SumInt("reasoning_tokens") + `,
		` + d.SumFloat("cost_usd") + `
		FROM requests` + w.String() + " GROUP BY 1 ORDER BY " + d.ByteOrder(grp)
	rows, err := query(ctx, sqlText, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("%s: usage: %w", d.Name, err)
	}
	defer rows.Close()
	out := []store.UsageRow{}
	for rows.Next() {
		var u store.UsageRow
		if err := rows.Scan(&u.Group, &u.Requests, &u.Errors, &u.InputTokens, &u.OutputTokens,
			&u.CachedTokens, &u.ReasoningTokens, &u.CostUSD); err != nil {
			return nil, fmt.Errorf("%s: scan usage: %w", d.Name, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: usage: %w", d.Name, err)
	}
	return out, nil
}

// KeyColumns are virtual_keys' columns, in the order of KeyArgs and
// ScanKey.
func (d *Dialect) KeyColumns() string {
	x := d.KeyTimeSuffix
	return `id, hash, hint, name, owner, team, models, rpm, tpm, max_parallel,
	budget_usd, budget_period, soft_budget, prepaid, expires` + x + `, revoked` + x + `, metadata, created` + x + `, updated` + x
}

// KeyArgs are k's column values in KeyColumns order; models and metadata
// as JSON text (never null).
func (d *Dialect) KeyArgs(k *store.Key) ([]any, error) {
	models := k.Models
	if models == nil {
		models = []string{}
	}
	meta := k.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	m, err := json.Marshal(models)
	if err != nil {
		return nil, err
	}
	md, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	return []any{k.ID, k.Hash, k.Hint, k.Name, k.Owner, k.Team, string(m), k.RPM, k.TPM, k.MaxParallel,
		k.BudgetUSD, k.BudgetPeriod, k.SoftBudget, k.Prepaid, d.NullTime.Arg(k.ExpiresAt), d.NullTime.Arg(k.RevokedAt), string(md),
		d.KeyTime.Arg(k.CreatedAt), d.KeyTime.Arg(k.UpdatedAt)}, nil
}

// ScanKey reads a row of KeyColumns.
func (d *Dialect) ScanKey(r Scanner) (store.Key, error) {
	var (
		k            store.Key
		models, meta []byte
	)
	expires, getExpires := d.NullTime.Dest()
	revoked, getRevoked := d.NullTime.Dest()
	created, getCreated := d.KeyTime.Dest()
	modified, getModified := d.KeyTime.Dest()
	if err := r.Scan(&k.ID, &k.Hash, &k.Hint, &k.Name, &k.Owner, &k.Team, &models, &k.RPM, &k.TPM, &k.MaxParallel,
		&k.BudgetUSD, &k.BudgetPeriod, &k.SoftBudget, &k.Prepaid, expires, revoked, &meta, created, modified); err != nil {
		return k, err
	}
	if err := json.Unmarshal(models, &k.Models); err != nil {
		return k, fmt.Errorf("key %s models: %w", k.ID, err)
	}
	if err := json.Unmarshal(meta, &k.Metadata); err != nil {
		return k, fmt.Errorf("key %s metadata: %w", k.ID, err)
	}
	k.ExpiresAt, k.RevokedAt, k.CreatedAt, k.UpdatedAt = getExpires(), getRevoked(), getCreated(), getModified()
	return k, nil
}

// KeysQuery is the SELECT of the keys f selects, oldest first, and its
// arguments.
func (d *Dialect) KeysQuery(f store.KeyFilter) (string, []any) {
	w := d.Where()
	if f.Team != "" {
		w.Add("team = ?", f.Team)
	}
	if f.Owner != "" {
		w.Add("owner = ?", f.Owner)
	}
	if !f.IncludeRevoked {
		w.Add(d.NotRevoked)
	}
	return `SELECT ` + d.KeyColumns() + ` FROM virtual_keys` + w.String() +
		` ORDER BY created` + d.KeyTimeSuffix + `, ` + d.ByteOrder("id"), w.Args
}

// Keys returns the keys f selects, oldest first.
func (d *Dialect) Keys(ctx context.Context, query Querier, f store.KeyFilter) ([]store.Key, error) {
	q, args := d.KeysQuery(f)
	rows, err := query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: list keys: %w", d.Name, err)
	}
	defer rows.Close()
	out := []store.Key{}
	for rows.Next() {
		k, err := d.ScanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: list keys: %w", d.Name, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: list keys: %w", d.Name, err)
	}
	return out, nil
}

// The two dialects.
var (
	// SQLite stores times as integer microseconds since the epoch (0 for
	// none in key columns) and booleans as integers.
	SQLite = &Dialect{
		Name:          "sqlite",
		Placeholder:   func(int) string { return "?" },
		TimeColumn:    "time_us",
		RecordTime:    TimeCodec{Arg: func(t time.Time) any { return t.UnixMicro() }, Dest: microsDest(false)},
		KeyTime:       TimeCodec{Arg: microsOrZero, Dest: microsDest(true)},
		NullTime:      TimeCodec{Arg: microsOrZero, Dest: microsDest(true)},
		KeyTimeSuffix: "_us",
		NotRevoked:    "revoked_us = 0",
		Day:           "strftime('%Y-%m-%d', time_us / 1000000, 'unixepoch')",
		SumInt:        func(c string) string { return "SUM(" + c + ")" },
		SumFloat:      func(c string) string { return "TOTAL(" + c + ")" },
		ByteOrder:     func(e string) string { return e }, // BINARY, SQLite's default collation
	}
	// Postgres stores times as TIMESTAMPTZ (NULL for none in key
	// columns).
	Postgres = &Dialect{
		Name:          "postgres",
		Placeholder:   func(n int) string { return "$" + strconv.Itoa(n) },
		TimeColumn:    "time",
		RecordTime:    TimeCodec{Arg: func(t time.Time) any { return t.UTC() }, Dest: timestampDest},
		KeyTime:       TimeCodec{Arg: func(t time.Time) any { return t.UTC() }, Dest: timestampDest},
		NullTime:      TimeCodec{Arg: nullTimestamp, Dest: nullTimestampDest},
		KeyTimeSuffix: "_at",
		NotRevoked:    "revoked_at IS NULL",
		Day:           "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
		SumInt:        func(c string) string { return "sum(" + c + ")::bigint" },
		SumFloat:      func(c string) string { return "sum(" + c + ")" },
		ByteOrder:     func(e string) string { return e + ` COLLATE "C"` },
	}
)

// microsOrZero is t in microseconds since the epoch, 0 for the zero time.
func microsOrZero(t time.Time) any {
	if t.IsZero() {
		return int64(0)
	}
	return t.UnixMicro()
}

// microsDest scans microseconds; zeroIsNone reads 0 as the zero time.
func microsDest(zeroIsNone bool) func() (any, func() time.Time) {
	return func() (any, func() time.Time) {
		us := new(int64)
		return us, func() time.Time {
			if zeroIsNone && *us == 0 {
				return time.Time{}
			}
			return time.UnixMicro(*us).UTC()
		}
	}
}

func timestampDest() (any, func() time.Time) {
	t := new(time.Time)
	return t, func() time.Time { return t.UTC() }
}

// nullTimestamp is nil (NULL) for the zero time.
func nullTimestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nullTimestampDest() (any, func() time.Time) {
	t := new(*time.Time)
	return t, func() time.Time {
		if *t == nil {
			return time.Time{}
		}
		return (*t).UTC()
	}
}
