package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlite"
	"github.com/llmgate/llmgate/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	path := storetest.Once(t, func() string {
		return filepath.Join(t.TempDir(), "data", sqlite.FileName)
	})
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestGovernanceConformance(t *testing.T) { storetest.RunGovernance(t, open) }

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data dir?#%")
	path := filepath.Join(dir, sqlite.FileName)
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.WriteRecords(context.Background(), []store.Record{{ID: "x", Time: time.Now()}}); err != nil {
		t.Fatalf("WriteRecords: %v", err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("%s mode = %v, want %v", c.path, got, c.mode)
		}
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL file next to the database: %v", err)
	}
}

func TestOpenFailsOnUnusablePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"empty":             "",
		"parent is a file":  filepath.Join(file, sqlite.FileName),
		"path is directory": t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := sqlite.Open(context.Background(), path); err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", path)
			}
		})
	}
}

func BenchmarkWriteBatch256(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), sqlite.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]store.Record, 256)
	now := time.Now()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			n++
			batch[i] = store.Record{
				ID: fmt.Sprintf("bench-%d", n), Time: now, ClientFormat: "openai", Op: "chat",
				ModelAsked: "gpt-4o", Provider: "openai", ModelServed: "gpt-4o", Status: 200,
				Attempts: 1, Latency: time.Second, InputTokens: 100, OutputTokens: 50, CostUSD: 0.001, Priced: true,
			}
		}
		if err := s.WriteRecords(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}

// A record's charges reach the spend counters in the record's own
// transaction, once: a retried write of the same record charges nothing.
func TestRecordChargesAreWrittenWithTheRow(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	budget := store.SpendKey{Scope: "key", Subject: "k1", Start: day}
	balance := store.SpendKey{Scope: "balance", Subject: "k1"}
	rec := func(id string, nanos int64) store.Record {
		return store.Record{ID: id, Time: day.Add(time.Hour), KeyID: "k1", CostUSD: float64(nanos) / store.NanosPerUSD, Priced: true,
			Charges: []store.Charge{{SpendKey: budget, Amount: nanos}, {SpendKey: balance, Amount: nanos}}}
	}
	if err := s.WriteRecords(ctx, []store.Record{rec("a", 1000), rec("b", 250)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRecords(ctx, []store.Record{rec("a", 1000), rec("c", 5)}); err != nil { // "a" again: a retry
		t.Fatal(err)
	}
	sps, err := s.Spends(ctx, []store.SpendKey{budget, balance})
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range sps {
		if sp.Spent != 1255 {
			t.Errorf("%s/%s spent = %d nano-USD, want 1255 (each row charged once)", sp.Scope, sp.Subject, sp.Spent)
		}
	}
}

// A batch cut into multi-row statements of every size (64, 16, 4, 1), then
// retried with new rows mixed in: every record is stored once, and the
// counters are charged once per stored row, whatever the chunking.
func TestMultiRowBatchRetriedChargesOnce(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	keyK := store.SpendKey{Scope: "key", Subject: "k1", Start: day}
	teamK := store.SpendKey{Scope: "team", Subject: "t1", Start: day}
	rec := func(i int) store.Record {
		return store.Record{ID: fmt.Sprintf("r%03d", i), Time: day.Add(time.Duration(i) * time.Second), KeyID: "k1", Team: "t1",
			Charges: []store.Charge{{SpendKey: keyK, Amount: int64(i + 1)}, {SpendKey: teamK, Amount: 2 * int64(i+1)}}}
	}
	var first []store.Record
	for i := range 85 { // 64 + 16 + 4 + 1
		first = append(first, rec(i))
	}
	if err := s.WriteRecords(ctx, first); err != nil {
		t.Fatal(err)
	}
	// A retry of the first 70 with 30 new ones.
	var retry []store.Record
	for i := range 100 {
		if i < 70 || i >= 85 {
			retry = append(retry, rec(i))
		}
	}
	if err := s.WriteRecords(ctx, retry); err != nil {
		t.Fatal(err)
	}
	got, err := s.Records(ctx, store.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("%d rows, want 100", len(got))
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Fatalf("row %s stored twice", r.ID)
		}
		seen[r.ID] = true
	}
	want := int64(100 * 101 / 2)
	sps, err := s.Spends(ctx, []store.SpendKey{keyK, teamK})
	if err != nil {
		t.Fatal(err)
	}
	if sps[0].Spent != want || sps[1].Spent != 2*want {
		t.Errorf("spent key %d team %d, want %d and %d (each row charged once)", sps[0].Spent, sps[1].Spent, want, 2*want)
	}
}

// A database made by the first two migrations keeps its rows through the
// rebuild of 0003, and still refuses a row it holds.
func TestUpgradeKeepsRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"0001_requests.sql", "0002_governance.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, i+1, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO requests (id, time_us, provider, key_id, cost_usd) VALUES ('old', 1000000, 'openai', 'k1', 0.5)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := store.Record{ID: "old", Time: time.UnixMicro(1000000), Provider: "other"}
	if err := s.WriteRecords(ctx, []store.Record{old, {ID: "new", Time: time.UnixMicro(2000000)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Records(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "new" || got[1].ID != "old" || got[1].Provider != "openai" || got[1].KeyID != "k1" || got[1].CostUSD != 0.5 {
		t.Fatalf("after upgrade: %+v", got)
	}
}
