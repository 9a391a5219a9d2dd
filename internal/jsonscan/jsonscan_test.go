package jsonscan

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestFields(t *testing.T) {
	body := []byte(` {"messages":[{"role":"user","content":"say \"model\": x"}],"model" : "gpt-4o","stream":true,"n":{"model":"inner"}} `)
	v, err := Fields(body, "model", "stream", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := String(v[0]); s != "gpt-4o" {
		t.Errorf("model = %q", s)
	}
	if !Bool(v[1]) || v[2] != nil {
		t.Errorf("stream = %q, missing = %q", v[1], v[2])
	}
}

func TestSet(t *testing.T) {
	tests := []struct{ name, in, key, val, want string }{
		{"replace", `{"model":"a","x":1}`, "model", `"b"`, `{"model":"b","x":1}`},
		{"insert", `{"x":1}`, "model", `"b"`, `{"model":"b","x":1}`},
		{"insert empty", `{ }`, "model", `"b"`, `{"model":"b" }`},
		{"replace object", `{"stream_options":{"include_usage":false}}`, "stream_options", `{"include_usage":true}`, `{"stream_options":{"include_usage":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Set([]byte(tt.in), tt.key, []byte(tt.val))
			if err != nil || string(got) != tt.want {
				t.Fatalf("Set = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"a":}`, `{"a":1,}`, `{"a":"x`, `{"a":1} x`, `{"a" 1}`, `{"a":tru}`, `{"a":[1,2}`} {
		var se *SyntaxError
		if _, _, err := Get([]byte(in), "a"); !errors.As(err, &se) {
			t.Errorf("%q: err = %v, want a SyntaxError", in, err)
		}
	}
}

func FuzzEach(f *testing.F) {
	for _, s := range []string{`{"model":"x","stream":true}`, `{"a":[{"b":"\""}],"c":-1.5e3}`, `{}`, `{"a":{"b":{"c":null}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var n int
		err := Each(body, func(m Member) bool {
			if m.Start > m.End || m.End > len(body) {
				t.Fatalf("bad offsets %d..%d", m.Start, m.End)
			}
			n++
			return true
		})
		// Whatever the standard library accepts as an object, we must too
		// (it also decodes null into a map, as a nil one: not an object).
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil && obj != nil && err != nil {
			t.Fatalf("rejected valid object %q: %v", body, err)
		}
		if err == nil && json.Valid(body) {
			if _, err := Set(body, "model", []byte(`"m"`)); err != nil {
				t.Fatalf("Set failed on valid input: %v", err)
			}
		}
	})
}

func BenchmarkFieldsAndSet(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there, how are you today? Please answer in one sentence."}],"max_tokens":64,"stream":false,"temperature":0.2}`)
	b.ReportAllocs()
	for b.Loop() {
		v, _ := Fields(body, "model", "stream")
		_, _ = String(v[0])
		_, _ = SetString(body, "model", "gpt-4o")
	}
}
