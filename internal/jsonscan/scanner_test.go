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

// FuzzScanner checks Skip against json.Valid and String, Int, Bool and
// Fields against encoding/json.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`"x"`, `"\u00e9"`, `12`, `-0`, `1.5e3`, `{"a":[1,{"b":null}]}`, `[true,false]`, "\"\xff\"", `01`, `{"a":1,"bC":[2]}`, `{"BC":1}`, `false`} {
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
		flag := false
		if s.Bool(i, &flag) >= 0 {
			var want bool
			if err := json.Unmarshal(b, &want); err != nil || flag != want {
				t.Fatalf("Bool(%q) = %v, encoding/json %v, %v", b, flag, want, err)
			}
		}
		s = Scanner{B: b}
		var got2 [2][]byte
		if e := s.Fields(i, []string{"a", "bC"}, func(field, v int) int {
			e := s.Skip(v, 0)
			if e >= 0 {
				got2[field] = b[v:e]
			}
			return e
		}); e >= 0 && !s.Bad {
			var want struct {
				A  json.RawMessage `json:"a"`
				BC json.RawMessage `json:"bC"`
			}
			if err := json.Unmarshal(b, &want); err != nil || string(got2[0]) != string(want.A) || string(got2[1]) != string(want.BC) {
				t.Fatalf("Fields(%q) = %q, encoding/json %q %q, %v", b, got2, want.A, want.BC, err)
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

func TestScannerFields(t *testing.T) {
	names := []string{"usageMetadata", "text"}
	for _, tt := range []struct {
		in   string
		want string // the fields read, in order; "bad" for a failure
	}{
		{`{"usageMetadata":1,"other":[{"Text":2}],"text":3}`, "0 1 "},
		{`{ "text" : 1 , "usage_metadata": 2 }`, "1 "},
		{`{}`, ""},
		{`{"UsageMetadata":1}`, "bad"},    // encoding/json matches it case-insensitively
		{`{"TEXT":1}`, "bad"},             // likewise
		{`{"text":1,"text":2}`, "bad"},    // encoding/json would merge them
		{`{"t\u0065xt":1}`, "bad"},        // an escaped key
		{"{\"\xe2\x84\xaaey\":1}", "bad"}, // not ASCII: the Kelvin sign folds to K
		{`{"text":1,}`, "bad"},
		{`[]`, "bad"},
	} {
		s := Scanner{B: []byte(tt.in)}
		got := ""
		e := s.Fields(0, names, func(field, v int) int {
			got += string(rune('0'+field)) + " "
			return s.Skip(v, 0)
		})
		if e < 0 || s.Bad {
			got = "bad"
		} else if e != len(tt.in) {
			t.Errorf("Fields(%s) ended at %d of %d", tt.in, e, len(tt.in))
		}
		if got != tt.want {
			t.Errorf("Fields(%s) read %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScannerBool(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
		ok   bool
	}{{"true", true, true}, {"false", false, true}, {"null", true, true}, {"1", true, false}, {"tru", true, false}} {
		s := Scanner{B: []byte(tt.in)}
		got := true // null leaves it as it is
		e := s.Bool(0, &got)
		if (e == len(tt.in)) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("Bool(%s) = %v, %d; want %v, ok %v", tt.in, got, e, tt.want, tt.ok)
		}
	}
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
