package gemini

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// checkGolden compares got with the file at path, or rewrites the file
// with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test -update to accept it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

var callIDPattern = regexp.MustCompile(`call_[A-Z2-7]{26}`)

// normalizeIDs replaces synthesized call ids with call_#1, call_#2, ... in
// order of first appearance, so golden files are stable but still show
// which result answers which call.
func normalizeIDs(b []byte) []byte {
	seen := map[string]string{}
	return callIDPattern.ReplaceAllFunc(b, func(id []byte) []byte {
		n, ok := seen[string(id)]
		if !ok {
			n = fmt.Sprintf("call_#%d", len(seen)+1)
			seen[string(id)] = n
		}
		return []byte(n)
	})
}

// indentJSON pretty-prints v (or raw JSON bytes) for a golden file.
func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	if raw, ok := v.([]byte); ok {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			t.Fatalf("output is not valid JSON: %v\n%s", err, raw)
		}
		b.WriteByte('\n')
		return b.Bytes()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// canonicalJSON renders a canonical value for a golden file without its
// unset Go fields (null, "", false), which would drown the ones that matter.
// Members of embedded JSON (schemas, arguments) have lower-case keys and are
// kept as they are.
func canonicalJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		t.Fatal(err)
	}
	return normalizeIDs(indentJSON(t, prune(x)))
}

func prune(x any) any {
	switch v := x.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "" || k[0] < 'A' || k[0] > 'Z' {
				v[k] = prune(e)
				continue
			}
			switch e := e.(type) {
			case nil:
				delete(v, k)
			case string:
				if e == "" {
					delete(v, k)
				}
			case bool:
				if !e {
					delete(v, k)
				}
			default:
				v[k] = prune(e)
			}
		}
	case []any:
		for i := range v {
			v[i] = prune(v[i])
		}
	}
	return x
}
