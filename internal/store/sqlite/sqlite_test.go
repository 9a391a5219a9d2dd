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
