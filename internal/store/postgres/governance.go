package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlstore"
)

// Governance rows (virtual keys, teams, spend counters, top-ups). Several
// replicas share them: a reservation is one conditional UPDATE per counter
// (spent + reserved + amount <= limit), which PostgreSQL re-checks against
// the latest committed row once it holds the row lock, so no two replicas
// can both take the last of a budget. Counters are locked in one global
// order (scope, subject, start) so that transactions touching several never
// deadlock; a transaction that also touches spend_holds locks the spend
// rows first.
//
// Reservations belong to the Store (the replica) that made them: beside
// spend.reserved, each replica's share is a row of spend_holds, and the
// replica renews its row of gateway_replicas (RenewHolds). Once that row
// expires, any replica's RenewHolds deletes the dead replica's holds and
// takes them off spend.reserved in one transaction, so spend.reserved is
// always the sum of live holds (up to the TTL) and a killed replica's
// reservations heal within the TTL. Time is the database's (now()).

func jsonb(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// CreateKey stores a new key; ErrConflict if its id or hash is taken.
func (s *Store) CreateKey(ctx context.Context, k store.Key) error {
	args, err := d.KeyArgs(&k)
	if err != nil {
		return fmt.Errorf("postgres: create key: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO virtual_keys (`+d.KeyColumns()+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("postgres: create key %s: %w", k.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: key %s: %w", k.ID, store.ErrConflict)
	}
	return nil
}

func (s *Store) oneKey(ctx context.Context, where string, arg any) (store.Key, error) {
	k, err := d.ScanKey(s.pool.QueryRow(ctx, `SELECT `+d.KeyColumns()+` FROM virtual_keys WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("postgres: key: %w", store.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("postgres: read key: %w", err)
	}
	return k, nil
}

// Key returns the key with that id, or ErrNotFound.
func (s *Store) Key(ctx context.Context, id string) (store.Key, error) {
	return s.oneKey(ctx, "id = $1", id)
}

// KeyByHash returns the key whose secret hashes to hash, or ErrNotFound.
func (s *Store) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	return s.oneKey(ctx, "hash = $1", hash)
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
		return fmt.Errorf("postgres: update key: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE virtual_keys SET name = $1, owner = $2, team = $3, models = $4, rpm = $5, tpm = $6,
		max_parallel = $7, budget_usd = $8, budget_period = $9, soft_budget = $10, prepaid = $11, expires_at = $12,
		revoked_at = $13, metadata = $14, updated_at = $15 WHERE id = $16`,
		append(args[3:17:17], args[18], k.ID)...)
	if err != nil {
		return fmt.Errorf("postgres: update key %s: %w", k.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: key %s: %w", k.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteKey removes the key; ErrNotFound if there is none. Its spend
// counters and top-ups stay, as history.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM virtual_keys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

const teamColumns = `name, budget_usd, budget_period, soft_budget, rpm, tpm, metadata, created_at, updated_at`

func scanTeam(r pgx.Row) (store.Team, error) {
	var (
		t    store.Team
		meta []byte
	)
	if err := r.Scan(&t.Name, &t.BudgetUSD, &t.BudgetPeriod, &t.SoftBudget, &t.RPM, &t.TPM, &meta, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return t, err
	}
	if err := json.Unmarshal(meta, &t.Metadata); err != nil {
		return t, fmt.Errorf("team %s metadata: %w", t.Name, err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, nil
}

func teamMeta(t *store.Team) (string, error) {
	m := t.Metadata
	if m == nil {
		m = map[string]string{}
	}
	return jsonb(m)
}

// CreateTeam stores a new team; ErrConflict if the name is taken.
func (s *Store) CreateTeam(ctx context.Context, t store.Team) error {
	meta, err := teamMeta(&t)
	if err != nil {
		return fmt.Errorf("postgres: create team: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO teams (`+teamColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING`, t.Name, t.BudgetUSD, t.BudgetPeriod, t.SoftBudget, t.RPM, t.TPM, meta,
		t.CreatedAt.UTC(), t.UpdatedAt.UTC())
	if err != nil {
		return fmt.Errorf("postgres: create team %s: %w", t.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: team %s: %w", t.Name, store.ErrConflict)
	}
	return nil
}

// Team returns the team with that name, or ErrNotFound.
func (s *Store) Team(ctx context.Context, name string) (store.Team, error) {
	t, err := scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamColumns+` FROM teams WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("postgres: team %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("postgres: read team: %w", err)
	}
	return t, nil
}

// Teams returns every team by name (byte order).
func (s *Store) Teams(ctx context.Context) ([]store.Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+teamColumns+` FROM teams ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list teams: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Team, error) { return scanTeam(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list teams: %w", err)
	}
	if out == nil {
		out = []store.Team{}
	}
	return out, nil
}

// UpdateTeam replaces the team's limits and metadata; ErrNotFound if there
// is none.
func (s *Store) UpdateTeam(ctx context.Context, t store.Team) error {
	meta, err := teamMeta(&t)
	if err != nil {
		return fmt.Errorf("postgres: update team: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE teams SET budget_usd = $1, budget_period = $2, soft_budget = $3, rpm = $4, tpm = $5,
		metadata = $6, updated_at = $7 WHERE name = $8`,
		t.BudgetUSD, t.BudgetPeriod, t.SoftBudget, t.RPM, t.TPM, meta, t.UpdatedAt.UTC(), t.Name)
	if err != nil {
		return fmt.Errorf("postgres: update team %s: %w", t.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: team %s: %w", t.Name, store.ErrNotFound)
	}
	return nil
}

const spendCols = `scope, subject, start_at, spent, reserved, credit, pending`

func scanSpend(r pgx.Row) (store.Spend, error) {
	var sp store.Spend
	err := r.Scan(&sp.Scope, &sp.Subject, &sp.Start, &sp.Spent, &sp.Reserved, &sp.Credit, &sp.Pending)
	sp.Start = sp.Start.UTC()
	return sp, err
}

func compareSpendKey(a, b store.SpendKey) int {
	return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Subject, b.Subject),
		store.NormStart(a.Start).Compare(store.NormStart(b.Start)))
}

// lockOrder returns the indexes of keys in the global lock order.
func lockOrder(n int, key func(i int) store.SpendKey) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareSpendKey(key(a), key(b)) })
	return order
}

// errRefused rolls back a reservation that did not fit.
var errRefused = errors.New("reservation refused")

// ReserveSpend adds each hold's Amount to its counter's Reserved when every
// counter stays within its limit, and changes nothing otherwise. It returns
// the counters' states in the order of holds (after reserving, or as they
// were when refused) and the index of the first hold that did not fit, -1
// when all fit. It is one transaction of one round trip of statements.
func (s *Store) ReserveSpend(ctx context.Context, holds []store.Hold) ([]store.Spend, int, error) {
	if len(holds) == 0 {
		return []store.Spend{}, -1, nil
	}
	order := lockOrder(len(holds), func(i int) store.SpendKey { return holds[i].SpendKey })
	states := make([]store.Spend, len(holds))
	refused := -1
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// A replica that never renewed yet is alive for one TTL.
		b.Queue(`INSERT INTO gateway_replicas (id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
			ON CONFLICT DO NOTHING`, s.replica, s.holdTTL.Load())
		for _, i := range order {
			h := &holds[i]
			b.Queue(`INSERT INTO spend (scope, subject, start_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				h.Scope, h.Subject, store.NormStart(h.Start))
		}
		for _, i := range order {
			h := &holds[i]
			b.Queue(`UPDATE spend SET reserved = reserved + $1
				WHERE scope = $2 AND subject = $3 AND start_at = $4
				AND spent + reserved + $1 <= CASE WHEN $5 THEN credit ELSE $6 END
				RETURNING `+spendCols, h.Amount, h.Scope, h.Subject, store.NormStart(h.Start), h.AgainstCredit, h.Limit)
		}
		for _, i := range order {
			h := &holds[i]
			b.Queue(`INSERT INTO spend_holds (scope, subject, start_at, replica, amount) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (scope, subject, start_at, replica) DO UPDATE SET amount = spend_holds.amount + EXCLUDED.amount`,
				h.Scope, h.Subject, store.NormStart(h.Start), s.replica, h.Amount)
		}
		br := tx.SendBatch(ctx, b)
		for range len(order) + 1 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		for _, i := range order {
			sp, err := scanSpend(br.QueryRow())
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				if refused < 0 || i < refused {
					refused = i
				}
			case err != nil:
				br.Close()
				return err
			default:
				states[i] = sp
			}
		}
		for range order {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if refused >= 0 {
			return errRefused
		}
		return nil
	})
	switch {
	case errors.Is(err, errRefused):
		keys := make([]store.SpendKey, len(holds))
		for i := range holds {
			keys[i] = holds[i].SpendKey
		}
		st, err := s.Spends(ctx, keys)
		if err != nil {
			return nil, -1, fmt.Errorf("postgres: reserve spend: %w", err)
		}
		return st, refused, nil
	case err != nil:
		return nil, -1, fmt.Errorf("postgres: reserve spend: %w", err)
	}
	return states, -1, nil
}

// SettleSpend applies each settlement and returns the counters' new states
// in order. It releases at most what this replica still holds on the
// counter: a hold already released because this replica was taken for dead
// (RenewHolds) is not released twice. A settlement OnRecord keeps its
// Spend held by this replica as pending, until WriteRecords charges it.
func (s *Store) SettleSpend(ctx context.Context, sts []store.Settlement) ([]store.Spend, error) {
	if len(sts) == 0 {
		return []store.Spend{}, nil
	}
	order := lockOrder(len(sts), func(i int) store.SpendKey { return sts[i].SpendKey })
	states := make([]store.Spend, len(sts))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, i := range order {
			st := &sts[i]
			spent, pending := st.Spend, int64(0)
			if st.OnRecord {
				spent, pending = 0, st.Spend
			}
			start := store.NormStart(st.Start)
			// The counter's row first (lock order: spend, then spend_holds).
			b.Queue(`INSERT INTO spend (scope, subject, start_at, spent) VALUES ($1, $2, $3, $4)
				ON CONFLICT (scope, subject, start_at) DO UPDATE SET spent = spend.spent + EXCLUDED.spent`,
				st.Scope, st.Subject, start, spent)
			if pending == 0 {
				b.Queue(`WITH h AS (
						SELECT amount FROM spend_holds
						WHERE scope = $1 AND subject = $2 AND start_at = $3 AND replica = $4 FOR UPDATE
					), u AS (
						UPDATE spend_holds SET amount = amount - LEAST(amount, $5)
						WHERE scope = $1 AND subject = $2 AND start_at = $3 AND replica = $4
					)
					UPDATE spend SET reserved = GREATEST(reserved - LEAST(COALESCE((SELECT amount FROM h), 0), $5), 0)
					WHERE scope = $1 AND subject = $2 AND start_at = $3
					RETURNING `+spendCols, st.Scope, st.Subject, start, s.replica, st.Release)
				continue
			}
			b.Queue(`WITH h AS (
					SELECT amount FROM spend_holds
					WHERE scope = $1 AND subject = $2 AND start_at = $3 AND replica = $4 FOR UPDATE
				), r AS (
					SELECT LEAST(COALESCE((SELECT amount FROM h), 0), $5::BIGINT) AS rel
				), u AS (
					INSERT INTO spend_holds (scope, subject, start_at, replica, amount, pending) VALUES ($1, $2, $3, $4, $6, $6)
					ON CONFLICT (scope, subject, start_at, replica) DO UPDATE SET
						amount = spend_holds.amount - (SELECT rel FROM r) + EXCLUDED.amount,
						pending = spend_holds.pending + EXCLUDED.pending
				)
				UPDATE spend SET reserved = GREATEST(reserved - (SELECT rel FROM r), 0) + $6, pending = pending + $6
				WHERE scope = $1 AND subject = $2 AND start_at = $3
				RETURNING `+spendCols, st.Scope, st.Subject, start, s.replica, st.Release, pending)
		}
		br := tx.SendBatch(ctx, b)
		for _, i := range order {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
			sp, err := scanSpend(br.QueryRow())
			if err != nil {
				br.Close()
				return err
			}
			states[i] = sp
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: settle spend: %w", err)
	}
	return states, nil
}

// counterID is a spend counter as a map key.
// counterID names one spend counter row.
type counterID = sqlstore.CounterID

func idOf(k store.SpendKey) counterID {
	return counterID{Scope: k.Scope, Subject: k.Subject, StartUS: store.NormStart(k.Start).UnixMicro()}
}

// queueCharges queues, in lock order, the statements that take each
// charge off what this replica holds as pending on its counter
// (Settlement.OnRecord) and, with spend, add it to the counter's Spent:
// the ledger rows and the counters they charge move together.
func (s *Store) queueCharges(b *pgx.Batch, charges map[counterID]int64, spend bool) {
	for _, id := range sqlstore.SortedCounters(charges) {
		amount := charges[id]
		spent := amount
		if !spend {
			spent = 0 // only locks the row
		}
		k := store.SpendKey{Scope: id.Scope, Subject: id.Subject, Start: time.UnixMicro(id.StartUS).UTC()}
		b.Queue(`INSERT INTO spend (scope, subject, start_at, spent) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope, subject, start_at) DO UPDATE SET spent = spend.spent + EXCLUDED.spent`,
			k.Scope, k.Subject, k.Start, spent)
		b.Queue(`WITH h AS (
				SELECT pending FROM spend_holds
				WHERE scope = $1 AND subject = $2 AND start_at = $3 AND replica = $4 FOR UPDATE
			), t AS (
				SELECT LEAST(COALESCE((SELECT pending FROM h), 0), $5::BIGINT) AS take
			), u AS (
				UPDATE spend_holds SET amount = GREATEST(amount - (SELECT take FROM t), 0), pending = pending - (SELECT take FROM t)
				WHERE scope = $1 AND subject = $2 AND start_at = $3 AND replica = $4
			)
			UPDATE spend SET reserved = GREATEST(reserved - (SELECT take FROM t), 0),
				pending = GREATEST(pending - (SELECT take FROM t), 0)
			WHERE scope = $1 AND subject = $2 AND start_at = $3`,
			k.Scope, k.Subject, k.Start, s.replica, amount)
	}
}

// deadHolds selects the holds of replicas that are not alive (their row
// expired or is gone). now() is the transaction's start, so every
// statement of one transaction agrees on who is dead.
const deadHolds = `NOT EXISTS (SELECT 1 FROM gateway_replicas r WHERE r.id = h.replica AND r.expires_at > now())`

// RenewHolds keeps this replica's holds alive for ttl more and releases
// the holds of dead replicas; see store.HoldKeeper.
func (s *Store) RenewHolds(ctx context.Context, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		ttl = store.DefaultHoldTTL
	}
	s.holdTTL.Store(ttl.Milliseconds())
	// Its own row first, in a statement of its own, so that this replica's
	// reservations never wait for the sweep below.
	if _, err := s.pool.Exec(ctx, `INSERT INTO gateway_replicas (id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
		ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`, s.replica, ttl.Milliseconds()); err != nil {
		return 0, fmt.Errorf("postgres: renew holds: %w", err)
	}
	var released int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the counters first, in the global order, as reservations do.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM spend s WHERE (s.scope, s.subject, s.start_at) IN (
				SELECT h.scope, h.subject, h.start_at FROM spend_holds h WHERE `+deadHolds+`)
			ORDER BY s.scope COLLATE "C", s.subject COLLATE "C", s.start_at FOR UPDATE OF s`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `WITH dead AS (
				DELETE FROM spend_holds h WHERE `+deadHolds+` RETURNING h.scope, h.subject, h.start_at, h.amount, h.pending
			), sums AS (
				SELECT scope, subject, start_at, sum(amount) AS amount, sum(pending) AS pending
				FROM dead GROUP BY scope, subject, start_at
			), upd AS (
				UPDATE spend s SET reserved = GREATEST(s.reserved - sums.amount, 0),
					pending = GREATEST(s.pending - sums.pending, 0) FROM sums
				WHERE s.scope = sums.scope AND s.subject = sums.subject AND s.start_at = sums.start_at
				RETURNING sums.amount
			)
			SELECT COALESCE(sum(amount), 0)::BIGINT FROM upd`).Scan(&released); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM gateway_replicas WHERE expires_at <= now()`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: renew holds: %w", err)
	}
	return released, nil
}

var _ store.HoldKeeper = (*Store)(nil)

// Spends returns the state of each counter in keys, in order (zeros for
// counters never written).
func (s *Store) Spends(ctx context.Context, keys []store.SpendKey) ([]store.Spend, error) {
	out := make([]store.Spend, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`SELECT `+spendCols+` FROM spend WHERE scope = $1 AND subject = $2 AND start_at = $3`,
			k.Scope, k.Subject, store.NormStart(k.Start))
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for i, k := range keys {
		sp, err := scanSpend(br.QueryRow())
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			sp = store.Spend{SpendKey: store.SpendKey{Scope: k.Scope, Subject: k.Subject, Start: store.NormStart(k.Start)}}
		case err != nil:
			return nil, fmt.Errorf("postgres: read spend: %w", err)
		}
		out[i] = sp
	}
	return out, nil
}

// SpendsSince returns every counter whose period started at or after since,
// and every counter that never resets (period start at the epoch).
func (s *Store) SpendsSince(ctx context.Context, since time.Time) ([]store.Spend, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+spendCols+` FROM spend WHERE start_at >= $1 OR start_at = $2
		ORDER BY scope COLLATE "C", subject COLLATE "C", start_at`, since.UTC(), store.Epoch)
	if err != nil {
		return nil, fmt.Errorf("postgres: read spend: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Spend, error) { return scanSpend(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: read spend: %w", err)
	}
	if out == nil {
		out = []store.Spend{}
	}
	return out, nil
}

// PutSpent sets each counter's Spent to the given value (Reserved and
// Credit are left alone).
func (s *Store) PutSpent(ctx context.Context, sps []store.Spend) error {
	if len(sps) == 0 {
		return nil
	}
	order := lockOrder(len(sps), func(i int) store.SpendKey { return sps[i].SpendKey })
	b := &pgx.Batch{}
	for _, i := range order {
		sp := &sps[i]
		b.Queue(`INSERT INTO spend (scope, subject, start_at, spent) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope, subject, start_at) DO UPDATE SET spent = EXCLUDED.spent`,
			sp.Scope, sp.Subject, store.NormStart(sp.Start), sp.Spent)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("postgres: put spend: %w", err)
	}
	return nil
}

// AddCredit records t and adds t.Amount to k's Credit in one transaction,
// returning the counter's new state.
func (s *Store) AddCredit(ctx context.Context, k store.SpendKey, t store.TopUp) (store.Spend, error) {
	if t.ID == "" {
		t.ID = store.NewID()
	}
	var sp store.Spend
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO topups (id, key_id, amount, note, time) VALUES ($1, $2, $3, $4, $5)`,
			t.ID, t.KeyID, t.Amount, t.Note, t.Time.UTC()); err != nil {
			return err
		}
		var err error
		sp, err = scanSpend(tx.QueryRow(ctx, `INSERT INTO spend (scope, subject, start_at, credit) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope, subject, start_at) DO UPDATE SET credit = spend.credit + EXCLUDED.credit
			RETURNING `+spendCols, k.Scope, k.Subject, store.NormStart(k.Start), t.Amount))
		return err
	})
	if err != nil {
		return sp, fmt.Errorf("postgres: add credit: %w", err)
	}
	return sp, nil
}

// TopUps returns a key's top-ups, oldest first.
func (s *Store) TopUps(ctx context.Context, keyID string) ([]store.TopUp, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, key_id, amount, note, time FROM topups WHERE key_id = $1 ORDER BY time, seq`, keyID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list top-ups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.TopUp, error) {
		var t store.TopUp
		err := r.Scan(&t.ID, &t.KeyID, &t.Amount, &t.Note, &t.Time)
		t.Time = t.Time.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list top-ups: %w", err)
	}
	if out == nil {
		out = []store.TopUp{}
	}
	return out, nil
}

// ReleaseCharges gives up the pending spend this replica holds for the
// charges of records that will never be written; see
// store.ChargeReleaser.
func (s *Store) ReleaseCharges(ctx context.Context, charges []store.Charge) error {
	sums := make(map[counterID]int64, len(charges))
	for _, c := range charges {
		sums[idOf(c.SpendKey)] += c.Amount
	}
	if len(sums) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	s.queueCharges(b, sums, false)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("postgres: release charges: %w", err)
	}
	return nil
}

var _ store.ChargeReleaser = (*Store)(nil)
