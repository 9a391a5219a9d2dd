package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Governance rows (virtual keys, teams, spend counters, top-ups). Every
// write runs in an IMMEDIATE transaction (the DSN's _txlock), so writers
// from any number of goroutines are serialized by SQLite itself and a
// conditional reservation cannot race another one.

// usOf is t in microseconds since the epoch, 0 for the zero time.
func usOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// timeOf is the inverse of usOf.
func timeOf(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func mapOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

type scanner interface{ Scan(dest ...any) error }

// CreateKey stores a new key; ErrConflict if its id or hash is taken.
func (s *Store) CreateKey(ctx context.Context, k store.Key) error {
	args, err := d.KeyArgs(&k)
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO virtual_keys (`+d.KeyColumns()+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: create key %s: %w", k.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: key %s: %w", k.ID, store.ErrConflict)
	}
	return nil
}

func (s *Store) oneKey(ctx context.Context, where string, arg any) (store.Key, error) {
	k, err := d.ScanKey(s.db.QueryRowContext(ctx, `SELECT `+d.KeyColumns()+` FROM virtual_keys WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("sqlite: key: %w", store.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("sqlite: read key: %w", err)
	}
	return k, nil
}

// Key returns the key with that id, or ErrNotFound.
func (s *Store) Key(ctx context.Context, id string) (store.Key, error) {
	return s.oneKey(ctx, "id = ?", id)
}

// KeyByHash returns the key whose secret hashes to hash, or ErrNotFound.
func (s *Store) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	return s.oneKey(ctx, "hash = ?", hash)
}

// Keys returns the keys f selects, oldest first.
func (s *Store) Keys(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	return d.Keys(ctx, s.query, f)
}

// UpdateKey replaces every field of the key with k's id except its hash,
// hint and creation time; ErrNotFound if there is none.
func (s *Store) UpdateKey(ctx context.Context, k store.Key) error {
	args, err := d.KeyArgs(&k)
	if err != nil {
		return fmt.Errorf("sqlite: update key: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE virtual_keys SET name = ?, owner = ?, team = ?, models = ?, rpm = ?, tpm = ?,
		max_parallel = ?, budget_usd = ?, budget_period = ?, soft_budget = ?, prepaid = ?, expires_us = ?, revoked_us = ?,
		metadata = ?, updated_us = ? WHERE id = ?`,
		append(args[3:17:17], args[18], k.ID)...)
	if err != nil {
		return fmt.Errorf("sqlite: update key %s: %w", k.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: key %s: %w", k.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteKey removes the key; ErrNotFound if there is none. Its spend
// counters and top-ups stay, as history.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM virtual_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete key %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

const teamColumns = `name, budget_usd, budget_period, soft_budget, rpm, tpm, metadata, created_us, updated_us`

func scanTeam(r scanner) (store.Team, error) {
	var (
		t                 store.Team
		meta              string
		created, modified int64
	)
	if err := r.Scan(&t.Name, &t.BudgetUSD, &t.BudgetPeriod, &t.SoftBudget, &t.RPM, &t.TPM, &meta, &created, &modified); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(meta), &t.Metadata); err != nil {
		return t, fmt.Errorf("team %s metadata: %w", t.Name, err)
	}
	t.CreatedAt, t.UpdatedAt = timeOf(created), timeOf(modified)
	return t, nil
}

// CreateTeam stores a new team; ErrConflict if the name is taken.
func (s *Store) CreateTeam(ctx context.Context, t store.Team) error {
	meta, err := jsonText(mapOrEmpty(t.Metadata))
	if err != nil {
		return fmt.Errorf("sqlite: create team: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO teams (`+teamColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, t.Name, t.BudgetUSD, t.BudgetPeriod, t.SoftBudget, t.RPM, t.TPM, meta,
		usOf(t.CreatedAt), usOf(t.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: create team %s: %w", t.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: team %s: %w", t.Name, store.ErrConflict)
	}
	return nil
}

// Team returns the team with that name, or ErrNotFound.
func (s *Store) Team(ctx context.Context, name string) (store.Team, error) {
	t, err := scanTeam(s.db.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("sqlite: team %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: read team: %w", err)
	}
	return t, nil
}

// Teams returns every team by name.
func (s *Store) Teams(ctx context.Context) ([]store.Team, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+teamColumns+` FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list teams: %w", err)
	}
	defer rows.Close()
	out := []store.Team{}
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list teams: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list teams: %w", err)
	}
	return out, nil
}

// UpdateTeam replaces the team's limits and metadata; ErrNotFound if there
// is none.
func (s *Store) UpdateTeam(ctx context.Context, t store.Team) error {
	meta, err := jsonText(mapOrEmpty(t.Metadata))
	if err != nil {
		return fmt.Errorf("sqlite: update team: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE teams SET budget_usd = ?, budget_period = ?, soft_budget = ?, rpm = ?, tpm = ?,
		metadata = ?, updated_us = ? WHERE name = ?`,
		t.BudgetUSD, t.BudgetPeriod, t.SoftBudget, t.RPM, t.TPM, meta, usOf(t.UpdatedAt), t.Name)
	if err != nil {
		return fmt.Errorf("sqlite: update team %s: %w", t.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: team %s: %w", t.Name, store.ErrNotFound)
	}
	return nil
}

// startUS is a counter's period start; the epoch is 0.
func startUS(t time.Time) int64 { return store.NormStart(t).UnixMicro() }

func compareSpendKey(a, b store.SpendKey) int {
	return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Subject, b.Subject), a.Start.Compare(b.Start))
}

const spendCols = `scope, subject, start_us, spent, reserved, credit`

func scanSpend(r scanner) (store.Spend, error) {
	var (
		sp store.Spend
		us int64
	)
	err := r.Scan(&sp.Scope, &sp.Subject, &us, &sp.Spent, &sp.Reserved, &sp.Credit)
	sp.Start = time.UnixMicro(us).UTC()
	return sp, err
}

// readSpend reads one counter in q (a tx or the db); zeros when absent.
func readSpend(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, k store.SpendKey) (store.Spend, error) {
	sp, err := scanSpend(q.QueryRowContext(ctx, `SELECT `+spendCols+` FROM spend WHERE scope = ? AND subject = ? AND start_us = ?`,
		k.Scope, k.Subject, startUS(k.Start)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Spend{SpendKey: store.SpendKey{Scope: k.Scope, Subject: k.Subject, Start: store.NormStart(k.Start)}}, nil
	}
	return sp, err
}

// ReserveSpend adds each hold's Amount to its counter's Reserved when every
// counter stays within its limit, and changes nothing otherwise. It returns
// the counters' states in the order of holds (after reserving, or as they
// were when refused) and the index of the first hold that did not fit, -1
// when all fit.
func (s *Store) ReserveSpend(ctx context.Context, holds []store.Hold) (states []store.Spend, refused int, err error) {
	refused = -1
	if len(holds) == 0 {
		return []store.Spend{}, -1, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("sqlite: reserve spend: %w", err)
	}
	defer func() {
		if err != nil || refused >= 0 {
			tx.Rollback()
		}
	}()
	states = make([]store.Spend, len(holds))
	for i, h := range holds {
		if _, err := tx.ExecContext(ctx, `INSERT INTO spend (scope, subject, start_us) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			h.Scope, h.Subject, startUS(h.Start)); err != nil {
			return nil, -1, fmt.Errorf("sqlite: reserve spend: %w", err)
		}
		row := tx.QueryRowContext(ctx, `UPDATE spend SET reserved = reserved + ?
			WHERE scope = ? AND subject = ? AND start_us = ?
			AND spent + reserved + ? <= CASE WHEN ? THEN credit ELSE ? END
			RETURNING `+spendCols, h.Amount, h.Scope, h.Subject, startUS(h.Start), h.Amount, h.AgainstCredit, h.Limit)
		sp, err := scanSpend(row)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			refused = i
		case err != nil:
			return nil, -1, fmt.Errorf("sqlite: reserve spend: %w", err)
		default:
			states[i] = sp
			continue
		}
		break
	}
	if refused >= 0 {
		_ = tx.Rollback()
		// Report the state as it stands without this attempt.
		for i, h := range holds {
			if states[i], err = readSpend(ctx, s.db, h.SpendKey); err != nil {
				return nil, -1, fmt.Errorf("sqlite: reserve spend: %w", err)
			}
		}
		return states, refused, nil
	}
	if err := tx.Commit(); err != nil {
		return nil, -1, fmt.Errorf("sqlite: reserve spend: %w", err)
	}
	return states, -1, nil
}

// SettleSpend applies each settlement (Reserved never goes below zero) and
// returns the counters' new states in order.
func (s *Store) SettleSpend(ctx context.Context, sts []store.Settlement) (states []store.Spend, err error) {
	if len(sts) == 0 {
		return []store.Spend{}, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: settle spend: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	states = make([]store.Spend, len(sts))
	for i, st := range sts {
		row := tx.QueryRowContext(ctx, `INSERT INTO spend (scope, subject, start_us, spent) VALUES (?, ?, ?, ?)
			ON CONFLICT (scope, subject, start_us) DO UPDATE SET
				reserved = MAX(spend.reserved - ?, 0), spent = spend.spent + excluded.spent
			RETURNING `+spendCols, st.Scope, st.Subject, startUS(st.Start), st.Spend, st.Release)
		if states[i], err = scanSpend(row); err != nil {
			return nil, fmt.Errorf("sqlite: settle spend: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: settle spend: %w", err)
	}
	return states, nil
}

// Spends returns the state of each counter in keys, in order (zeros for
// counters never written).
func (s *Store) Spends(ctx context.Context, keys []store.SpendKey) ([]store.Spend, error) {
	out := make([]store.Spend, len(keys))
	for i, k := range keys {
		sp, err := readSpend(ctx, s.db, k)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read spend: %w", err)
		}
		out[i] = sp
	}
	return out, nil
}

// SpendsSince returns every counter whose period started at or after since,
// and every counter that never resets (period start at the epoch).
func (s *Store) SpendsSince(ctx context.Context, since time.Time) ([]store.Spend, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+spendCols+` FROM spend WHERE start_us >= ? OR start_us = 0
		ORDER BY scope, subject, start_us`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: read spend: %w", err)
	}
	defer rows.Close()
	out := []store.Spend{}
	for rows.Next() {
		sp, err := scanSpend(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read spend: %w", err)
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read spend: %w", err)
	}
	return out, nil
}

// PutSpent sets each counter's Spent to the given value (Reserved and
// Credit are left alone). A single gateway that keeps its counters in
// memory persists them with it.
func (s *Store) PutSpent(ctx context.Context, sps []store.Spend) (err error) {
	if len(sps) == 0 {
		return nil
	}
	sorted := slices.Clone(sps)
	slices.SortFunc(sorted, func(a, b store.Spend) int { return compareSpendKey(a.SpendKey, b.SpendKey) })
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: put spend: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, sp := range sorted {
		if _, err := tx.ExecContext(ctx, `INSERT INTO spend (scope, subject, start_us, spent) VALUES (?, ?, ?, ?)
			ON CONFLICT (scope, subject, start_us) DO UPDATE SET spent = excluded.spent`,
			sp.Scope, sp.Subject, startUS(sp.Start), sp.Spent); err != nil {
			return fmt.Errorf("sqlite: put spend: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: put spend: %w", err)
	}
	return nil
}

// AddCredit records t and adds t.Amount to k's Credit in one transaction,
// returning the counter's new state.
func (s *Store) AddCredit(ctx context.Context, k store.SpendKey, t store.TopUp) (sp store.Spend, err error) {
	if t.ID == "" {
		t.ID = store.NewID()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return sp, fmt.Errorf("sqlite: add credit: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO topups (id, key_id, amount, note, time_us) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.KeyID, t.Amount, t.Note, usOf(t.Time)); err != nil {
		return sp, fmt.Errorf("sqlite: add credit: %w", err)
	}
	row := tx.QueryRowContext(ctx, `INSERT INTO spend (scope, subject, start_us, credit) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, subject, start_us) DO UPDATE SET credit = spend.credit + excluded.credit
		RETURNING `+spendCols, k.Scope, k.Subject, startUS(k.Start), t.Amount)
	if sp, err = scanSpend(row); err != nil {
		return sp, fmt.Errorf("sqlite: add credit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return sp, fmt.Errorf("sqlite: add credit: %w", err)
	}
	return sp, nil
}

// TopUps returns a key's top-ups, oldest first.
func (s *Store) TopUps(ctx context.Context, keyID string) ([]store.TopUp, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, key_id, amount, note, time_us FROM topups WHERE key_id = ? ORDER BY time_us, seq`, keyID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list top-ups: %w", err)
	}
	defer rows.Close()
	out := []store.TopUp{}
	for rows.Next() {
		var (
			t  store.TopUp
			us int64
		)
		if err := rows.Scan(&t.ID, &t.KeyID, &t.Amount, &t.Note, &us); err != nil {
			return nil, fmt.Errorf("sqlite: list top-ups: %w", err)
		}
		t.Time = timeOf(us)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list top-ups: %w", err)
	}
	return out, nil
}
