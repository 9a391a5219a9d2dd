// Package postgres is the store backend for deployments that run several
// llmgate replicas against one PostgreSQL database, through pgx's pool.
//
// The schema ships in the binary (migrations/*.sql) and is brought up to
// date by Open inside one transaction that holds an advisory lock, so
// replicas starting together apply each migration exactly once. Tables are
// created in the first schema of the connection's search_path, which a DSN
// can set (search_path=...).
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store and store.UsageReporter over a PostgreSQL pool. It
// is safe for concurrent use. Create it with Open; the zero value is not
// usable.
type Store struct {
	pool *pgxpool.Pool
	// replica names this Store's reservations (spend_holds); random.
	replica string
	holdTTL atomic.Int64 // ms, the last RenewHolds's ttl
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.UsageReporter = (*Store)(nil)
)

// Open connects to the database dsn names (a postgres:// URL or key=value
// string, as pgx accepts), checks it answers and applies any migration it
// lacks.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors already hide the password.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	var rid [8]byte
	_, _ = rand.Read(rid[:])
	s := &Store{pool: pool, replica: hex.EncodeToString(rid[:])}
	s.holdTTL.Store(store.DefaultHoldTTL.Milliseconds())
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies, in one transaction holding an advisory lock scoped to
// the current schema, every embedded migration not yet recorded in
// schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	migs, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`SELECT pg_advisory_xact_lock(hashtextextended('llmgate.migrate:' || coalesce(current_schema(), ''), 0))`); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT        NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		applied := make(map[int]bool, len(versions))
		for _, v := range versions {
			applied[int(v)] = true
		}
		for _, m := range migs {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// d is the SQL dialect this backend shares with store/sqlite.
var d = sqlstore.Postgres

// query runs a query for the shared SQL (sqlstore.Querier).
func (s *Store) query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return s.pool.Query(ctx, q, args...)
}

var insertSQL = `INSERT INTO requests (` + d.RecordColumns() + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
		$21, $22, $23, $24, $25, $26)
	ON CONFLICT (id) DO NOTHING`

// WriteRecords inserts recs in one transaction, sent as one pgx.Batch (one
// round trip; the insert is prepared once per connection), and charges the
// inserted records' charges (Record.Charges) to their spend counters in the
// same transaction, one pair of statements per distinct counter, summed:
// each charge moves from what this Store holds as pending on the counter
// (Settlement.OnRecord) to its Spent. Records whose ID is already stored
// are skipped and charge nothing, so a retried batch charges once.
func (s *Store) WriteRecords(ctx context.Context, recs []store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for i := range recs {
		r := &recs[i]
		id := r.ID
		if id == "" {
			id = store.NewID()
		}
		b.Queue(insertSQL, d.RecordArgs(make([]any, 0, sqlstore.NumRecordColumns), r, id)...)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		var charges map[counterID]int64
		for i := range recs {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // already stored: already charged
			}
			for _, c := range recs[i].Charges {
				if charges == nil {
					charges = make(map[counterID]int64, 4)
				}
				charges[idOf(c.SpendKey)] += c.Amount
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if len(charges) == 0 {
			return nil
		}
		cb := &pgx.Batch{}
		s.queueCharges(cb, charges, true)
		return tx.SendBatch(ctx, cb).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: write %d records: %w", len(recs), err)
	}
	return nil
}

// Records returns the records f selects, newest first.
func (s *Store) Records(ctx context.Context, f store.Filter) ([]store.Record, error) {
	return d.Records(ctx, s.query, f)
}

// Usage sums the records in q's range by q's dimension, ordered by group
// (byte order, as SQLite orders, whatever the database's collation).
func (s *Store) Usage(ctx context.Context, q store.UsageQuery) ([]store.UsageRow, error) {
	return d.Usage(ctx, s.query, q)
}
