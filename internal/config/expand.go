package config

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// expand replaces ${VAR} and ${VAR:-default} in s using getenv. An unset or
// empty VAR expands to "" (or to default, which is itself expanded); $$ is a
// literal $; a $ followed by anything else is kept as is, so values such as
// passwords containing a lone $ need no escaping.
func expand(s string, getenv func(string) string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", errUnterminated
			}
			v, err := expandRef(s[i+2:end], getenv)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes a ${ whose body starts
// at from, allowing nested ${...} in a default; -1 if there is none.
func closingBrace(s string, from int) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				depth++
				i++
			} else if i+1 < len(s) && s[i+1] == '$' {
				i++
			}
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

var errUnterminated = errors.New("unterminated ${ in value; close it with } or write $$ for a literal $")

// errBadRef reports a malformed reference without quoting it.
var errBadRef = errors.New("invalid ${...}: write ${NAME} or ${NAME:-default} with NAME made of letters, digits and _ (or $$ for a literal $)")

// expandRef resolves the body of one ${...}: NAME or NAME:-default.
func expandRef(body string, getenv func(string) string) (string, error) {
	name, def, hasDef := strings.Cut(body, ":-")
	if !validEnvName(name) {
		return "", errors.New("invalid ${" + body + "}: write ${NAME} or ${NAME:-default} with NAME made of letters, digits and _ (or $$ for a literal $)")
	}
	if v := getenv(name); v != "" || !hasDef {
		return v, nil
	}
	return expand(def, getenv)
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// YAML gives { and } a meaning in flow collections, so the natural
//
//	openai: {type: openai, api_key: ${OPENAI_API_KEY}}
//
// does not parse. Before parsing, the braces of each ${...} are swapped for
// two private-use characters (one character each, so the parser's columns
// stay right); after parsing, restoreRefs swaps them back in every scalar.
const (
	openRef  = '\uE07B'
	closeRef = '\uE07D'
)

// protectRefs returns data with the braces of ${...} references replaced,
// or data itself when there is nothing to do or it cannot be done safely
// (the text already holds the private-use characters, or is UTF-16).
func protectRefs(data []byte) []byte {
	if !bytes.Contains(data, []byte("${")) ||
		bytes.ContainsRune(data, openRef) || bytes.ContainsRune(data, closeRef) ||
		bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return data
	}
	out := make([]byte, 0, len(data)+32)
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '$' || i+1 >= len(data) {
			out = append(out, c)
			continue
		}
		out = append(out, '$')
		if data[i+1] == '$' {
			// $$ is a literal $; protect the braces of an escaped
			// $${NAME} as well, so that it too can sit in a flow mapping.
			out = append(out, '$')
			i++
			if i+1 >= len(data) || data[i+1] != '{' {
				continue
			}
		}
		if data[i+1] != '{' {
			continue
		}
		end := closingBraceLine(data, i+2)
		if end < 0 || !validEnvName(refName(data[i+2:end])) {
			continue
		}
		for _, b := range data[i+1 : end+1] {
			switch b {
			case '{':
				out = utf8.AppendRune(out, openRef)
			case '}':
				out = utf8.AppendRune(out, closeRef)
			default:
				out = append(out, b)
			}
		}
		i = end
	}
	return out
}

// closingBraceLine is closingBrace for bytes, stopping at the end of the
// line: a reference never spans lines.
func closingBraceLine(s []byte, from int) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r':
			return -1
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				depth++
				i++
			} else if i+1 < len(s) && s[i+1] == '$' {
				i++
			}
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// refName returns the NAME of a ${NAME} or ${NAME:-default} body.
func refName(body []byte) string {
	if i := bytes.Index(body, []byte(":-")); i >= 0 {
		body = body[:i]
	}
	return string(body)
}

// restoreRefs undoes protectRefs in every scalar of the tree.
func restoreRefs(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.ContainsRune(n.Value, openRef) {
		n.Value = strings.NewReplacer(string(openRef), "{", string(closeRef), "}").Replace(n.Value)
	}
	for _, c := range n.Content {
		restoreRefs(c)
	}
}
