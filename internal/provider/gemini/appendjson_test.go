package gemini

import (
	"encoding/json"
	"github.com/llmgate/llmgate/internal/jsonw"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote \" backslash \\ newline \n tab \t", "\x00\x1f\x7f", "bad \xff utf8", "sep \u2028 \u2029", "<&>", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := jsonw.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("jsonw.AppendString(%q) = %s: invalid JSON: %v", s, out, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if !utf8.ValidString(s) {
			// Each invalid byte becomes one U+FFFD, as encoding/json does.
			b, _ := json.Marshal(s)
			json.Unmarshal(b, &want)
		}
		if back != want {
			t.Fatalf("jsonw.AppendString(%q) decodes to %q, want %q", s, back, want)
		}
	})
}
