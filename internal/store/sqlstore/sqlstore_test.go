package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/store/sqlstore"
)

// One WHERE, two dialects: the same conditions with each one's
// placeholders and time encoding. (The queries themselves run against
// both databases in storetest.)
func TestWhereInEachDialect(t *testing.T) {
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d         *sqlstore.Dialect
		want      string
		sinceWant any
	}{
		{sqlstore.SQLite, " WHERE provider = ? AND (model_asked = ? OR model_served = ?) AND time_us >= ?", since.UnixMicro()},
		{sqlstore.Postgres, " WHERE provider = $1 AND (model_asked = $2 OR model_served = $3) AND time >= $4", since},
	} {
		t.Run(tc.d.Name, func(t *testing.T) {
			w := tc.d.Where()
			w.Add("provider = ?", "oa")
			w.Add("(model_asked = ? OR model_served = ?)", "m", "m")
			w.TimeRange(since, time.Time{})
			if got := w.String(); got != tc.want {
				t.Errorf("WHERE = %q, want %q", got, tc.want)
			}
			if len(w.Args) != 4 || w.Args[3] != tc.sinceWant {
				t.Errorf("args = %v, want the since time as %v last", w.Args, tc.sinceWant)
			}
			if ph := w.Arg(10); ph != tc.d.Placeholder(5) {
				t.Errorf("the LIMIT's placeholder = %q, want the fifth", ph)
			}
		})
	}
}

func TestKeysQueryInEachDialect(t *testing.T) {
	q, args := sqlstore.Postgres.KeysQuery(store.KeyFilter{Team: "t", Owner: "o"})
	if !strings.Contains(q, "WHERE team = $1 AND owner = $2 AND revoked_at IS NULL") ||
		!strings.HasSuffix(q, `ORDER BY created_at, id COLLATE "C"`) || len(args) != 2 {
		t.Errorf("postgres keys query %q %v", q, args)
	}
	q, args = sqlstore.SQLite.KeysQuery(store.KeyFilter{IncludeRevoked: true})
	if strings.Contains(q, "WHERE") || !strings.HasSuffix(q, "ORDER BY created_us, id") || len(args) != 0 {
		t.Errorf("sqlite keys query %q %v", q, args)
	}
}
