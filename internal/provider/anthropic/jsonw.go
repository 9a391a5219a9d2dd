package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"
)

const hexDigits = "0123456789abcdef"

func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// marshal encodes v without HTML escaping, so text reaches the other side
// byte for byte.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil // Encode adds a newline
}

var emptyObject = json.RawMessage(`{}`)

// objectOrEmpty returns raw when it is a JSON object, else {}. Tool inputs
// must be objects on the Anthropic wire; a truncated or odd argument string
// from another provider must not make the whole body invalid.
func objectOrEmpty(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) < 2 || t[0] != '{' || !json.Valid(t) {
		return emptyObject
	}
	return t
}

// parseUint parses a non-negative decimal integer of at most 10 digits
// (enough for any block index or token counter); ok is false for anything
// else, which callers treat as garbage or absent.
func parseUint(b []byte) (n int, ok bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
