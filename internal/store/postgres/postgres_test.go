package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/postgres"
	"github.com/llmgate/llmgate/internal/store/storetest"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testDSN() string {
	if dsn := os.Getenv("LLMGATE_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

var (
	reachOnce sync.Once
	reachErr  error
)

// requirePostgres skips t when the test database cannot be reached, or
// fails it when CI or LLMGATE_REQUIRE_POSTGRES=1 says it must be there.
func requirePostgres(t *testing.T) {
	t.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testDSN())
		if err != nil {
			reachErr = err
			return
		}
		reachErr = conn.Ping(ctx)
		conn.Close(ctx)
	})
	if reachErr == nil {
		return
	}
	msg := fmt.Sprintf("PostgreSQL is not reachable (%v); set LLMGATE_TEST_POSTGRES_DSN (default %s)", reachErr, defaultDSN)
	if os.Getenv("CI") != "" || os.Getenv("LLMGATE_REQUIRE_POSTGRES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping (set CI or LLMGATE_REQUIRE_POSTGRES=1 to fail instead)")
}

// admin runs one statement on its own connection.
func admin(t *testing.T, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newSchema creates a schema of its own for t and drops it when t ends.
func newSchema(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("llmgate_test_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	admin(t, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { admin(t, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`) })
	return name
}

// withSearchPath returns dsn with its search_path set to schema, in the
// DSN's own form (URL or key=value).
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse DSN: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func open(t *testing.T) store.Store {
	t.Helper()
	requirePostgres(t)
	schema := storetest.Once(t, func() string { return newSchema(t) })
	s, err := postgres.Open(context.Background(), withSearchPath(t, testDSN(), schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	requirePostgres(t)
	storetest.Run(t, open)
}

func TestGovernanceConformance(t *testing.T) {
	requirePostgres(t)
	storetest.RunGovernance(t, open)
}

func TestTablesLiveInTheSearchPathSchema(t *testing.T) {
	s := open(t)
	defer s.Close()
	schema := storetest.Once(t, func() string { return "" })
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables []string
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	const want = "gateway_replicas,requests,schema_migrations,spend,spend_holds,teams,topups,virtual_keys"
	if got := strings.Join(tables, ","); got != want {
		t.Errorf("tables in %s = %q, want %s", schema, got, want)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	if s, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"); err == nil {
		s.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	if _, err := postgres.Open(ctx, ""); err == nil {
		t.Fatal("Open with an empty DSN succeeded")
	}
}
