// Package sqlite is the default store backend: one SQLite file in the data
// directory, written through modernc.org/sqlite (pure Go, no cgo).
//
// The database runs in WAL mode with a busy timeout and immediate write
// transactions, so concurrent writers queue instead of failing and readers
// never block writers. The schema ships in the binary (migrations/*.sql) and
// is brought up to date by Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlstore"

	msqlite "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
)

// FileName is the database file's name inside the data directory.
const FileName = "llmgate.db"

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store and store.UsageReporter over one SQLite file. It is
// safe for concurrent use. Create it with Open; the zero value is not usable.
type Store struct {
	db *sql.DB

	stmtMu sync.Mutex        // protects stmts
	stmts  map[int]*sql.Stmt // multi-row inserts by size (insertStmt)
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.UsageReporter = (*Store)(nil)
)

// DSN is the data source name Open uses for the database file at path.
func DSN(path string) string {
	q := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	// A file: URI, percent-encoded so a '?' or '%' in the path stays in the path.
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q}).String()
}

// Open opens (creating it and its directory, mode 0700, when missing) the
// SQLite database at path and applies any migration it lacks.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	// Create the file ourselves so it is private (SQLite would use 0644);
	// the -wal and -shm files inherit its mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	db, err := sql.Open("sqlite", DSN(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s := &Store{db: db}
	if err := s.start(ctx, abs); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBusyWait bounds how long Open retries a database another process is
// creating or migrating at the same moment.
const openBusyWait = 15 * time.Second

// start connects and migrates. Several processes opening a new database at
// once race to switch it to WAL and to migrate it, and SQLite answers some
// of that with SQLITE_BUSY without waiting on busy_timeout, so start retries
// busy errors for up to openBusyWait.
func (s *Store) start(ctx context.Context, path string) error {
	deadline := time.Now().Add(openBusyWait)
	wait := 10 * time.Millisecond
	for {
		err := s.db.PingContext(ctx)
		if err != nil {
			err = fmt.Errorf("sqlite: open %s: %w", path, err)
		} else {
			err = s.migrate(ctx)
		}
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// isBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED (any extended
// code).
func isBusy(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code() & 0xff
	return c == 5 || c == 6
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	return s.db.Close()
}

// migrate applies, in one transaction, every embedded migration not yet
// recorded in schema_migrations. The transaction begins IMMEDIATE (the DSN's
// _txlock), so two processes opening the same file apply them once.
func (s *Store) migrate(ctx context.Context) (err error) {
	migs, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_us INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	applied := make(map[int]bool)
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range migs {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// d is the SQL dialect this backend shares with store/postgres.
var d = sqlstore.SQLite

// query runs a query for the shared SQL (sqlstore.Querier).
func (s *Store) query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// sqlRows is *sql.Rows as a sqlstore.Rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// insertRows is the multi-row INSERT of n records.
func insertRows(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	var b strings.Builder
	columns := d.RecordColumns()
	b.Grow(len(columns) + 64 + n*(len(row)+2))
	b.WriteString("INSERT INTO requests (" + columns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (time_us, id) DO NOTHING")
	return b.String()
}

// chunkSizes are the statement sizes WriteRecords uses, largest first: a
// batch is cut into chunks of these sizes (256 = 3 x 64 + 4 x 16, 37 =
// 2 x 16 + 4 + 1), each one statement prepared once per connection.
var chunkSizes = [...]int{64, 16, 4, 1}

// insertStmt returns the prepared statement that inserts n records, n one
// of chunkSizes.
func (s *Store) insertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st := s.stmts[n]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, insertRows(n))
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = make(map[int]*sql.Stmt, len(chunkSizes))
	}
	s.stmts[n] = st
	return st, nil
}

// counterID is a spend counter as a map key.
// counterID names one spend counter row.
type counterID = sqlstore.CounterID

// errStoredBefore says a multi-row chunk held a record already stored.
var errStoredBefore = errors.New("a record of the chunk is already stored")

// WriteRecords inserts recs in one transaction, as multi-row INSERT
// statements of chunkSizes records (prepared once), and adds the records'
// charges to their spend counters in the same transaction: one upsert per
// distinct counter, summed over the records inserted. Records whose ID is
// already stored are skipped and charge nothing: a batch holding one (a
// retry after an error) is rolled back and written again one row at a
// time, so that only the new rows charge.
func (s *Store) WriteRecords(ctx context.Context, recs []store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.writeRecords(ctx, recs, false)
	if errors.Is(err, errStoredBefore) {
		err = s.writeRecords(ctx, recs, true)
	}
	return err
}

// writeRecords is one transaction of WriteRecords; rowByRow writes one
// record per statement and tells which ones were already stored.
func (s *Store) writeRecords(ctx context.Context, recs []store.Record, rowByRow bool) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: write records: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var charges map[counterID]int64
	args := make([]any, 0, sqlstore.NumRecordColumns*min(len(recs), chunkSizes[0]))
	for rest := recs; len(rest) > 0; {
		n := 1
		for _, size := range chunkSizes {
			if len(rest) >= size && !rowByRow {
				n = size
				break
			}
		}
		chunk := rest[:n]
		rest = rest[n:]
		st, err := s.insertStmt(ctx, n)
		if err != nil {
			return fmt.Errorf("sqlite: write records: %w", err)
		}
		args = args[:0]
		for i := range chunk {
			id := chunk[i].ID
			if id == "" {
				id = store.NewID()
			}
			args = d.RecordArgs(args, &chunk[i], id)
		}
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("sqlite: write %d records: %w", n, err)
		}
		inserted, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: write records: %w", err)
		}
		if int(inserted) != n {
			if n > 1 {
				return errStoredBefore
			}
			continue // already stored: already charged
		}
		for i := range chunk {
			for _, c := range chunk[i].Charges {
				if charges == nil {
					charges = make(map[counterID]int64, 4)
				}
				charges[counterID{Scope: c.Scope, Subject: c.Subject, StartUS: startUS(c.Start)}] += c.Amount
			}
		}
	}
	if len(charges) > 0 {
		for _, id := range sqlstore.SortedCounters(charges) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO spend (scope, subject, start_us, spent) VALUES (?, ?, ?, ?)
				ON CONFLICT (scope, subject, start_us) DO UPDATE SET spent = spend.spent + excluded.spent`,
				id.Scope, id.Subject, id.StartUS, charges[id]); err != nil {
				return fmt.Errorf("sqlite: charge records: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: write records: %w", err)
	}
	return nil
}

// Records returns the records f selects, newest first.
func (s *Store) Records(ctx context.Context, f store.Filter) ([]store.Record, error) {
	return d.Records(ctx, s.query, f)
}

// Usage sums the records in q's range by q's dimension, ordered by group.
func (s *Store) Usage(ctx context.Context, q store.UsageQuery) ([]store.UsageRow, error) {
	return d.Usage(ctx, s.query, q)
}
