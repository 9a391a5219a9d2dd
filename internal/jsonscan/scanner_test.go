package jsonscan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestScannerString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`"a\"b\\c\/d\n"`, "a\"b\\c/d\n"},
		{`"\u00e9\ud83d\ude00"`, "é😀"},
		{`"\ud83d"`, "\ufffd"},
		{"\"\xff\"", "\ufffd"},
	} {
		s := Scanner{B: []byte(tt.in)}
		var got string
		if e := s.String(0, &got); e != len(tt.in) || got != tt.want {
			t.Errorf("String(%s) = %q, %d; want %q", tt.in, got, e, tt.want)
		}
	}
}

func TestScannerObjectKeys(t *testing.T) {
	for _, in := range []string{`{"Type":1}`, `{"typ\u0065":1}`, "{\"\xc5\xbf\":1}"} {
		s := Scanner{B: []byte(in)}
		if e := s.Object(0, func(_ []byte, v int) int { return s.Skip(v, 0) }); e >= 0 || !s.Bad {
			t.Errorf("Object(%s) = %d, want a failure (encoding/json may match the key)", in, e)
		}
	}
}

// FuzzScanner checks Skip against json.Valid and String and Int against
// encoding/json.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`"x"`, `"\u00e9"`, `12`, `-0`, `1.5e3`, `{"a":[1,{"b":null}]}`, `[true,false]`, "\"\xff\"", `01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Scanner{B: b}
		i := s.WS(0)
		e := s.Skip(i, 0)
		valid := e >= 0 && s.WS(e) == len(b)
		if valid != json.Valid(b) {
			t.Fatalf("Skip(%q) valid = %v, json.Valid says %v", b, valid, !valid)
		}
		if !valid {
			return
		}
		s = Scanner{B: b}
		var got string
		if s.String(i, &got) >= 0 {
			var want string
			if err := json.Unmarshal(b, &want); err != nil || got != want {
				t.Fatalf("String(%q) = %q, encoding/json %q, %v", b, got, want, err)
			}
		}
		s = Scanner{B: b}
		n := -1
		if s.IntOnly(i, &n) >= 0 {
			var want int
			if err := json.Unmarshal(b, &want); err != nil || n != want {
				t.Fatalf("Int(%q) = %d, encoding/json %d, %v", b, n, want, err)
			}
		}
	})
}

// Strings gives what Unquote gives, and a string it handed out does not
// change as later ones are added to its block.
func TestStringsUnquote(t *testing.T) {
	var s Strings
	var got, want []string
	for i := range 300 {
		raw := []byte(fmt.Sprintf("tok%d", i))
		switch i % 7 {
		case 3:
			raw = []byte(`a\nb\u00e9`)
		case 5:
			raw = []byte(strings.Repeat("x", stringsMax+i%3))
		case 6:
			raw = nil
		}
		got = append(got, s.Unquote(raw))
		want = append(want, Unquote(raw))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func BenchmarkStringsUnquote(b *testing.B) {
	raw := []byte(" token")
	var s Strings
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Unquote(raw)
	}
}
