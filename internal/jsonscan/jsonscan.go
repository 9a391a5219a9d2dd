// Package jsonscan finds and rewrites top-level members of a JSON object
// without decoding the rest of it. The passthrough path uses it to read the
// few fields routing needs (model, stream) and to rewrite the model name,
// leaving every other byte of the client's body as it was.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// SyntaxError reports malformed JSON with the byte offset where it was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// Member is one top-level member of an object.
type Member struct {
	Key   []byte // raw key bytes between the quotes (escapes not decoded)
	Value []byte // raw value bytes
	// Start and End are the value's offsets in the body; KeyStart is the
	// offset of the key's opening quote.
	KeyStart, Start, End int
}

// Each calls fn for every top-level member of the JSON object in body, in
// order, until fn returns false. It returns a *SyntaxError if body is not an
// object or a value is malformed.
func Each(body []byte, fn func(m Member) bool) error {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return &SyntaxError{i, "expected a JSON object"}
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		return trailing(body, i+1)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return &SyntaxError{i, "expected a string key"}
		}
		ks := i
		ke, err := skipString(body, i)
		if err != nil {
			return err
		}
		i = skipWS(body, ke)
		if i >= len(body) || body[i] != ':' {
			return &SyntaxError{i, "expected ':' after key"}
		}
		i = skipWS(body, i+1)
		vs := i
		ve, err := skipValue(body, i, 0)
		if err != nil {
			return err
		}
		if !fn(Member{Key: body[ks+1 : ke-1], Value: body[vs:ve], KeyStart: ks, Start: vs, End: ve}) {
			return nil
		}
		i = skipWS(body, ve)
		if i >= len(body) {
			return &SyntaxError{i, "unexpected end of input in object"}
		}
		switch body[i] {
		case ',':
			i = skipWS(body, i+1)
		case '}':
			return trailing(body, i+1)
		default:
			return &SyntaxError{i, "expected ',' or '}'"}
		}
	}
}

func trailing(body []byte, i int) error {
	if i = skipWS(body, i); i != len(body) {
		return &SyntaxError{i, "unexpected data after the object"}
	}
	return nil
}

// Get returns the raw value of the top-level member key.
func Get(body []byte, key string) (value []byte, ok bool, err error) {
	err = Each(body, func(m Member) bool {
		if string(m.Key) == key {
			value, ok = m.Value, true
		}
		return true // the last duplicate wins, as in encoding/json
	})
	return value, ok, err
}

// Fields reads several top-level members in one pass. It returns a slice of
// raw values parallel to keys (nil where absent).
func Fields(body []byte, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	err := Each(body, func(m Member) bool {
		for i, k := range keys {
			if string(m.Key) == k {
				out[i] = m.Value
			}
		}
		return true
	})
	return out, err
}

// String decodes a raw JSON string value; ok is false if raw is not a string.
func String(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// Bool reports whether raw is the literal true.
func Bool(raw []byte) bool { return string(raw) == "true" }

// Set returns body with the top-level member key set to rawValue: replaced in
// place when present, else inserted as the first member. body must be an
// object. The input slice is not modified.
func Set(body []byte, key string, rawValue []byte) ([]byte, error) {
	start, end := -1, -1
	err := Each(body, func(m Member) bool {
		if string(m.Key) == key {
			start, end = m.Start, m.End
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if start >= 0 {
		out := make([]byte, 0, len(body)-(end-start)+len(rawValue))
		out = append(out, body[:start]...)
		out = append(out, rawValue...)
		return append(out, body[end:]...), nil
	}
	open := bytes.IndexByte(body, '{')
	out := make([]byte, 0, len(body)+len(key)+len(rawValue)+4)
	out = append(out, body[:open+1]...)
	out = strconv.AppendQuote(out, key)
	out = append(out, ':')
	out = append(out, rawValue...)
	rest := body[open+1:]
	if i := skipWS(rest, 0); i < len(rest) && rest[i] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// SetString is Set with a string value.
func SetString(body []byte, key, value string) ([]byte, error) {
	v, _ := json.Marshal(value)
	return Set(body, key, v)
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset just past the string starting at b[i] == '"'.
// A byte loop: bytes.IndexAny with two characters builds a set on every call
// and was most of a stream decoder's time.
func skipString(b []byte, i int) (int, error) {
	start := i
	for i++; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++ // skip the escaped character
		}
	}
	return 0, &SyntaxError{start, "unterminated string"}
}

const maxDepth = 10000

// skipValue returns the offset just past the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &SyntaxError{i, "nesting too deep"}
	}
	if i >= len(b) {
		return 0, &SyntaxError{i, "unexpected end of input, expected a value"}
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, &SyntaxError{i, "expected a string key"}
				}
				e, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = skipWS(b, e)
				if i >= len(b) || b[i] != ':' {
					return 0, &SyntaxError{i, "expected ':' after key"}
				}
				i = skipWS(b, i+1)
			}
			e, err := skipValue(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, e)
			if i >= len(b) {
				return 0, &SyntaxError{i, "unexpected end of input"}
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, &SyntaxError{i, fmt.Sprintf("expected ',' or '%c'", closer)}
			}
			i = skipWS(b, i+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		s := i
		for i < len(b) {
			switch b[i] {
			case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				i++
				continue
			}
			break
		}
		if i == s+1 && b[s] == '-' {
			return 0, &SyntaxError{s, "invalid number"}
		}
		return i, nil
	default:
		return 0, &SyntaxError{i, fmt.Sprintf("invalid character %q looking for a value", c)}
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if bytes.HasPrefix(b[i:], []byte(lit)) {
		return i + len(lit), nil
	}
	return 0, &SyntaxError{i, "invalid literal"}
}
