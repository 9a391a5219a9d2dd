package jsonscan

import (
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Scanner walks a JSON document by offsets, for decoders that read a few
// known shapes on a hot path (stream events) without encoding/json. It is
// deliberately conservative: anything where its reading could differ from
// encoding/json's (a key that is not plain lowercase ASCII, since
// encoding/json matches keys case-insensitively; a key with an escape; a
// value of an unexpected type) sets Bad, and the caller decodes the document
// with encoding/json instead. Syntax is checked as strictly as encoding/json
// checks it, so malformed input is an error either way.
//
// Methods take the offset of a value and return the offset just past it, or
// -1 with Bad set.
type Scanner struct {
	B   []byte
	Bad bool
}

// WS returns the offset of the first non-space byte at or after i.
func (s *Scanner) WS(i int) int {
	for i < len(s.B) {
		switch s.B[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Fail sets Bad and returns -1.
func (s *Scanner) Fail() int {
	s.Bad = true
	return -1
}

// Null reports whether the value at i is the literal null.
func (s *Scanner) Null(i int) bool {
	return len(s.B)-i >= 4 && string(s.B[i:i+4]) == "null"
}

// Object walks the object at s.B[i] == '{' (anything else fails), calling fn
// with each key and the offset of its value; fn returns the offset past the
// value or -1. Keys that are not plain lowercase ASCII, or that contain
// escapes, fail.
func (s *Scanner) Object(i int, fn func(key []byte, v int) int) int {
	return s.members(i, func(key []byte, v int) int {
		for _, k := range key {
			if k >= utf8.RuneSelf || (k >= 'A' && k <= 'Z') {
				return s.Fail()
			}
		}
		return fn(key, v)
	})
}

// members walks the object at s.B[i] == '{' (anything else fails), calling
// member with each key (a key with an escape fails) and the offset of its
// value; member returns the offset past the value or -1.
func (s *Scanner) members(i int, member func(key []byte, v int) int) int {
	b := s.B
	if i >= len(b) || b[i] != '{' {
		return s.Fail()
	}
	i = s.WS(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return s.Fail()
		}
		ke, esc := s.str(i)
		if ke < 0 || esc {
			return s.Fail()
		}
		key := b[i+1 : ke-1]
		i = s.WS(ke)
		if i >= len(b) || b[i] != ':' {
			return s.Fail()
		}
		i = s.WS(i + 1)
		if i >= len(b) {
			return s.Fail()
		}
		if i = member(key, i); i < 0 || s.Bad {
			return s.Fail()
		}
		i = s.WS(i)
		if i >= len(b) {
			return s.Fail()
		}
		switch b[i] {
		case ',':
			i = s.WS(i + 1)
		case '}':
			return i + 1
		default:
			return s.Fail()
		}
	}
}

// Fields walks the object at s.B[i] == '{' the way encoding/json decodes
// it into a struct whose JSON field names are names (camelCase allowed, at
// most 64): fn is called with the position in names of each key that is
// exactly one of them and the offset of its value, and returns the offset
// past the value or -1. Other keys are skipped, except where encoding/json's
// reading could differ: a key of names repeated (encoding/json merges the
// values), a key that matches one of names only case-insensitively, a key
// that is not ASCII (some runes fold to ASCII letters) or that has an escape.
// Those set Bad.
func (s *Scanner) Fields(i int, names []string, fn func(field, v int) int) int {
	return s.FieldsDepth(i, 0, names, fn)
}

// FieldsDepth is Fields for an object nested depth levels deep: the values
// of other keys are skipped with the levels above counted (Skip), so that
// nothing deeper than encoding/json accepts is read.
func (s *Scanner) FieldsDepth(i, depth int, names []string, fn func(field, v int) int) int {
	var seen uint64
	return s.members(i, func(key []byte, v int) int {
		field := -1
		for n, name := range names {
			if string(key) == name {
				field = n
				break
			}
		}
		if field < 0 {
			if !unrelated(key, names) {
				return s.Fail()
			}
			return s.Skip(v, depth)
		}
		if seen&(1<<field) != 0 {
			return s.Fail()
		}
		seen |= 1 << field
		return fn(field, v)
	})
}

// unrelated reports whether encoding/json matches key, which is none of
// names exactly, to none of them: it is ASCII and equals none of them
// case-insensitively.
func unrelated(key []byte, names []string) bool {
	for _, k := range key {
		if k >= utf8.RuneSelf {
			return false
		}
	}
	for _, name := range names {
		if len(name) == len(key) && asciiEqualFold(key, name) {
			return false
		}
	}
	return true
}

func asciiEqualFold(a []byte, b string) bool {
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Bool reads true or false into *dst (null leaves *dst as it is).
func (s *Scanner) Bool(i int, dst *bool) int {
	switch {
	case s.Null(i):
		return i + 4
	case len(s.B)-i >= 4 && string(s.B[i:i+4]) == "true":
		*dst = true
		return i + 4
	case len(s.B)-i >= 5 && string(s.B[i:i+5]) == "false":
		*dst = false
		return i + 5
	}
	return s.Fail()
}

// Array walks the array at s.B[i] == '[', calling fn with each element's
// offset and position.
func (s *Scanner) Array(i int, fn func(v, n int) int) int {
	b := s.B
	if i >= len(b) || b[i] != '[' {
		return s.Fail()
	}
	i = s.WS(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for n := 0; ; n++ {
		if i >= len(b) {
			return s.Fail()
		}
		if i = fn(i, n); i < 0 || s.Bad {
			return s.Fail()
		}
		i = s.WS(i)
		if i >= len(b) {
			return s.Fail()
		}
		switch b[i] {
		case ',':
			i = s.WS(i + 1)
		case ']':
			return i + 1
		default:
			return s.Fail()
		}
	}
}

// Int reads an integer into *dst (null leaves *dst as it is, as
// encoding/json does); fractions, exponents and values past 18 digits fail.
func (s *Scanner) Int(i int, dst *int) int {
	if s.Null(i) {
		return i + 4
	}
	return s.IntOnly(i, dst)
}

// IntOnly is Int without null.
func (s *Scanner) IntOnly(i int, dst *int) int {
	e := s.Skip(i, 0)
	if e < 0 {
		return -1
	}
	lit := s.B[i:e]
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	if len(lit) == 0 || len(lit) > 18 {
		return s.Fail()
	}
	n := 0
	for _, c := range lit {
		if c < '0' || c > '9' {
			return s.Fail()
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	*dst = n
	return e
}

// String reads a JSON string (null fails) into *dst as encoding/json
// decodes it: escapes decoded, invalid UTF-8 replaced by U+FFFD.
func (s *Scanner) String(i int, dst *string) int {
	raw, e := s.RawString(i)
	if e >= 0 {
		*dst = Unquote(raw)
	}
	return e
}

// RawString returns the bytes between the quotes of the string at i (null
// and other values fail), escapes not decoded; pass them to Unquote.
func (s *Scanner) RawString(i int) (raw []byte, end int) {
	if i >= len(s.B) || s.B[i] != '"' {
		return nil, s.Fail()
	}
	e, _ := s.str(i)
	if e < 0 {
		return nil, s.Fail()
	}
	return s.B[i+1 : e-1], e
}

// Skip returns the offset past the value at s.B[i], checking its syntax as
// strictly as encoding/json does.
func (s *Scanner) Skip(i, depth int) int {
	b := s.B
	if depth > maxDepth || i >= len(b) {
		return s.Fail()
	}
	switch c := b[i]; {
	case c == '"':
		e, _ := s.str(i)
		if e < 0 {
			return s.Fail()
		}
		return e
	case c == '{':
		return s.skipObject(i, depth)
	case c == '[':
		return s.Array(i, func(v, _ int) int { return s.Skip(v, depth+1) })
	case c == 't':
		return s.lit(i, "true")
	case c == 'f':
		return s.lit(i, "false")
	case c == 'n':
		return s.lit(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	}
	return s.Fail()
}

// skipObject skips an object whose keys may be anything (Object insists on
// plain keys, which only matters for keys that are read).
func (s *Scanner) skipObject(i, depth int) int {
	b := s.B
	i = s.WS(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return s.Fail()
		}
		ke, _ := s.str(i)
		if ke < 0 {
			return s.Fail()
		}
		i = s.WS(ke)
		if i >= len(b) || b[i] != ':' {
			return s.Fail()
		}
		i = s.WS(i + 1)
		if i = s.Skip(i, depth+1); i < 0 {
			return -1
		}
		i = s.WS(i)
		if i >= len(b) {
			return s.Fail()
		}
		switch b[i] {
		case ',':
			i = s.WS(i + 1)
		case '}':
			return i + 1
		default:
			return s.Fail()
		}
	}
}

// str returns the offset past the string at s.B[i] == '"' (or -1 if it is
// malformed) and whether it contains an escape.
func (s *Scanner) str(i int) (end int, esc bool) {
	b := s.B
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc
		case c < ' ':
			return -1, false
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *Scanner) lit(i int, lit string) int {
	if len(s.B)-i >= len(lit) && string(s.B[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return s.Fail()
}

// number returns the offset past the JSON number at s.B[i].
func (s *Scanner) number(i int) int {
	b := s.B
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return s.Fail()
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return s.Fail()
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return s.Fail()
		}
		i = j
	}
	return i
}

// Plain reports whether raw, a string body from RawString, needs no
// decoding: no escape, valid UTF-8. Then string(raw) is what encoding/json
// gives, and raw can be compared with a constant.
func Plain(raw []byte) bool {
	ascii := true
	for _, c := range raw {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(raw)
}

// Unquote decodes the body of a JSON string (from RawString, so its syntax
// is checked) as encoding/json does: invalid UTF-8 and unpaired surrogates
// become U+FFFD.
func Unquote(s []byte) string {
	if Plain(s) {
		return string(s)
	}
	out := make([]byte, 0, len(s))
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr := getu4(s[r+1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, getu4(s[r+2:])); dec != unicode.ReplacementChar {
							r += 6
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, rr)
				continue
			default: // " \ /
				out = append(out, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			out = append(out, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			out = utf8.AppendRune(out, rr)
		}
	}
	return string(out)
}

// getu4 decodes four hex digits, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(s[:4]), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}
