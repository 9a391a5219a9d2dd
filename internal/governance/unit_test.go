package governance

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/store"
)

func TestSecretShape(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := NewSecret()
		if !strings.HasPrefix(s, KeyPrefix) || len(s) != len(KeyPrefix)+secretLen || !IsVirtualKey(s) {
			t.Fatalf("NewSecret() = %q: not a well-formed key", s)
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"sk-lg-" + strings.Repeat("a", 32), true},
		{"sk-lg-" + strings.Repeat("a", 31), false},
		{"sk-lg-" + strings.Repeat("a", 31) + "-", false},
		{"sk-proj-" + strings.Repeat("a", 40), false},
		{"", false},
		{"sk-lg-", false},
	} {
		if got := IsVirtualKey(tc.in); got != tc.want {
			t.Errorf("IsVirtualKey(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	s := "sk-lg-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	if got := hint(s); got != "sk-lg-ABCD...klmn" {
		t.Errorf("hint = %q", got)
	}
	if hashSecret("", s) == hashSecret("pepper", s) || hashSecret("", s) != hashSecret("", s) || len(hashSecret("", s)) != 64 {
		t.Error("hashSecret must be a deterministic hex SHA-256 that depends on the pepper")
	}
}

func TestMatchModel(t *testing.T) {
	for _, tc := range []struct {
		pattern, model string
		want           bool
	}{
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"gpt-4o*", "gpt-4o-mini", true},
		{"gpt-4o*", "gpt-4o", true},
		{"gpt-4o*", "gpt-4", false},
		{"claude-*", "claude-sonnet-4-5", true},
		{"claude-*", "claude", false},
		{"*", "anything/at all", true},
		{"openai/*", "openai/gpt-4o", true},
		{"*-mini", "gpt-4o-mini", true},
		{"*-mini", "gpt-4o-mini-2024", false},
		{"gpt-*-mini*", "gpt-4o-mini-2024-07-18", true},
		{"ab*ba", "aba", false},
		{"a**b", "ab", true},
		{"GPT-4o*", "gpt-4o", false},
	} {
		if got := matchModel(tc.pattern, tc.model); got != tc.want {
			t.Errorf("matchModel(%q, %q) = %v, want %v", tc.pattern, tc.model, got, tc.want)
		}
	}
	if !allowed(nil, "x") || allowed([]string{"a*"}, "b") || !allowed([]string{"a*", "b"}, "b") {
		t.Error("allowed: an empty list allows all; otherwise any pattern must match")
	}
}

// FuzzMatchModel checks matchModel against a regular expression built from
// the pattern.
func FuzzMatchModel(f *testing.F) {
	for _, s := range [][2]string{{"gpt-4o*", "gpt-4o-mini"}, {"*a*b*", "xaxbx"}, {"ab*ba", "aba"}, {"**", ""}, {"a*", "ä"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, model string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(model) {
			t.Skip("the regexp reference needs UTF-8; model names are")
		}
		parts := strings.Split(pattern, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if got, want := matchModel(pattern, model), re.MatchString(model); got != want {
			t.Fatalf("matchModel(%q, %q) = %v, want %v", pattern, model, got, want)
		}
	})
}

func TestPeriods(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		p          Period
		now        string
		start, end string
	}{
		{Hourly, "2025-03-14T15:09:26Z", "2025-03-14T15:00:00Z", "2025-03-14T16:00:00Z"},
		{Daily, "2025-03-14T15:09:26Z", "2025-03-14T00:00:00Z", "2025-03-15T00:00:00Z"},
		{Daily, "2025-03-14T23:30:00-05:00", "2025-03-15T00:00:00Z", "2025-03-16T00:00:00Z"}, // UTC days
		{Weekly, "2025-03-14T15:09:26Z", "2025-03-10T00:00:00Z", "2025-03-17T00:00:00Z"},     // a Friday
		{Weekly, "2025-03-16T23:59:59Z", "2025-03-10T00:00:00Z", "2025-03-17T00:00:00Z"},     // a Sunday
		{Weekly, "2025-03-17T00:00:00Z", "2025-03-17T00:00:00Z", "2025-03-24T00:00:00Z"},     // a Monday
		{Monthly, "2025-01-31T12:00:00Z", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"},
		{Monthly, "2024-12-31T23:59:59Z", "2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z"},
	} {
		start := tc.p.Start(at(tc.now))
		if !start.Equal(at(tc.start)) || !tc.p.End(start).Equal(at(tc.end)) {
			t.Errorf("%s at %s: start %s end %s, want %s and %s", tc.p, tc.now, start, tc.p.End(start), tc.start, tc.end)
		}
	}
	if !Total.Start(time.Now()).Equal(store.Epoch) || !Total.End(store.Epoch).IsZero() {
		t.Error("total budgets start at the epoch and never end")
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bucket
	b.refill(t0, 60)
	if b.tokens != 60 {
		t.Fatalf("a new bucket holds %v, want its full minute (60)", b.tokens)
	}
	b.tokens = 0
	if w := b.until(1, 60); w != time.Second {
		t.Errorf("empty 60/min bucket: one token in %v, want 1s", w)
	}
	b.refill(t0.Add(500*time.Millisecond), 60)
	if b.tokens != 0.5 {
		t.Errorf("after 0.5s: %v tokens, want 0.5", b.tokens)
	}
	b.refill(t0.Add(time.Hour), 60)
	if b.tokens != 60 {
		t.Errorf("refill overflows: %v tokens, want the cap 60", b.tokens)
	}
	b.refill(t0.Add(time.Hour), 10) // a lowered limit caps at once
	if b.tokens != 10 {
		t.Errorf("after the limit dropped to 10: %v tokens", b.tokens)
	}
	b.tokens = 0
	b.refill(t0.Add(time.Hour), 60) // a raised limit adds the difference at once
	if b.tokens != 50 {
		t.Errorf("after the limit rose from 10 to 60: %v tokens, want 50", b.tokens)
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {17 * time.Millisecond, "17ms"}, {1500 * time.Millisecond, "1.5s"}, {6 * time.Minute, "6m0s"}} {
		if got := fmtReset(tc.d); got != tc.want {
			t.Errorf("fmtReset(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestAppendReset: the headers' allocation-free formatting says what
// fmtReset says, for delays from nothing to a day.
func TestAppendReset(t *testing.T) {
	var ds []time.Duration
	for _, step := range []time.Duration{time.Microsecond, 37 * time.Microsecond, 499 * time.Microsecond, 49 * time.Millisecond, 950 * time.Millisecond, 47 * time.Second} {
		for d := -step; d < 25*time.Hour && len(ds) < 1<<20; d += step {
			ds = append(ds, d)
			if step < 40*time.Microsecond && d > 3*time.Second {
				break
			}
		}
	}
	for _, d := range append(ds, 999*time.Millisecond+500*time.Microsecond, time.Hour-50*time.Millisecond, 59*time.Second+950*time.Millisecond) {
		if got, want := string(appendReset(nil, d)), fmtReset(d); got != want {
			t.Fatalf("appendReset(%v) = %q, fmtReset says %q", d, got, want)
		}
	}
}

// FuzzExpiry: any JSON string either fails to parse or round-trips.
func FuzzExpiry(f *testing.F) {
	for _, s := range []string{`"never"`, `""`, `"2026-01-31T00:00:00Z"`, `"2026-01-31T00:00:00+02:00"`, `"tomorrow"`, `5`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var e Expiry
		if err := e.UnmarshalJSON([]byte(in)); err != nil {
			return
		}
		out, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%v): %v", e, err)
		}
		var back Expiry
		if err := back.UnmarshalJSON(out); err != nil || !back.Equal(e.Time) {
			t.Fatalf("%s -> %s -> %v (%v), want %v", in, out, back, err, e)
		}
	})
}
