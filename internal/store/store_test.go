package store_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name string
		f    store.Filter
		ok   bool
	}{
		{"zero", store.Filter{}, true},
		{"ok", store.Filter{Status: store.StatusOK}, true},
		{"error", store.Filter{Status: store.StatusError}, true},
		{"unknown status", store.Filter{Status: "failed"}, false},
		{"until before since", store.Filter{Since: t0, Until: t0.Add(-time.Second)}, false},
		{"until equals since", store.Filter{Since: t0, Until: t0}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, store.ErrInvalidQuery) {
				t.Errorf("Validate error %v does not wrap ErrInvalidQuery", err)
			}
		})
	}
}

func TestFilterEffectiveLimit(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, store.DefaultLimit}, {-5, store.DefaultLimit}, {1, 1}, {store.MaxLimit, store.MaxLimit}, {store.MaxLimit + 1, store.MaxLimit},
	} {
		if got := (store.Filter{Limit: c.in}).EffectiveLimit(); got != c.want {
			t.Errorf("EffectiveLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	r := store.Record{Time: t0, Provider: "openai", ModelAsked: "smart", ModelServed: "gpt-4o", Status: 429, KeyID: "k", Team: "t"}
	tests := []struct {
		name string
		f    store.Filter
		want bool
	}{
		{"zero", store.Filter{}, true},
		{"provider", store.Filter{Provider: "openai"}, true},
		{"other provider", store.Filter{Provider: "gemini"}, false},
		{"model asked", store.Filter{Model: "smart"}, true},
		{"model served", store.Filter{Model: "gpt-4o"}, true},
		{"other model", store.Filter{Model: "gpt-5"}, false},
		{"key", store.Filter{KeyID: "k"}, true},
		{"other key", store.Filter{KeyID: "x"}, false},
		{"team", store.Filter{Team: "t"}, true},
		{"other team", store.Filter{Team: "x"}, false},
		{"error", store.Filter{Status: store.StatusError}, true},
		{"ok", store.Filter{Status: store.StatusOK}, false},
		{"since equal", store.Filter{Since: t0}, true},
		{"since after", store.Filter{Since: t0.Add(time.Nanosecond)}, false},
		{"until equal", store.Filter{Until: t0}, false},
		{"until after", store.Filter{Until: t0.Add(time.Nanosecond)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Match(&r); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
	if !(&store.Record{Status: 399}).OK() || (&store.Record{Status: 400}).OK() {
		t.Error("OK must be status < 400")
	}
}

func TestUsageQueryValidate(t *testing.T) {
	for _, g := range []store.GroupBy{store.GroupKey, store.GroupTeam, store.GroupModel, store.GroupProvider, store.GroupDay} {
		if err := (store.UsageQuery{GroupBy: g}).Validate(); err != nil {
			t.Errorf("group by %s: %v", g, err)
		}
	}
	for _, q := range []store.UsageQuery{{}, {GroupBy: "user"}, {GroupBy: store.GroupDay, Since: t0, Until: t0.Add(-1)}} {
		if err := q.Validate(); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidQuery", q, err)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    string // versions and names in order
		wantErr string
	}{
		{"ordered by number not name", fstest.MapFS{
			"m/0010_ten.sql": file("ten"), "m/0002_two.sql": file("two"), "m/0001_one.sql": file("one"),
			"m/README.md": file("ignored"),
		}, "1:0001_one.sql:one 2:0002_two.sql:two 10:0010_ten.sql:ten", ""},
		{"empty dir", fstest.MapFS{"m/x.txt": file("")}, "", ""},
		{"no underscore", fstest.MapFS{"m/0001.sql": file("")}, "", "NNNN_description"},
		{"bad number", fstest.MapFS{"m/one_x.sql": file("")}, "", "bad version"},
		{"zero version", fstest.MapFS{"m/0000_x.sql": file("")}, "", "bad version"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": file(""), "m/1_b.sql": file("")}, "", "share version 1"},
		{"missing dir", fstest.MapFS{}, "", "read migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			migs, err := store.LoadMigrations(tc.fs, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range migs {
				got = append(got, strings.Join([]string{strconv.Itoa(m.Version), m.Name, m.SQL}, ":"))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("migrations = %q, want %q", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestNewIDIsUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := store.NewID()
		if len(id) != 32 || seen[id] {
			t.Fatalf("NewID = %q (len %d, seen %v)", id, len(id), seen[id])
		}
		seen[id] = true
	}
}
