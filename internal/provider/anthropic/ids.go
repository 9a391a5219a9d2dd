package anthropic

import "math/rand/v2"

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID returns prefix followed by 24 random base62 characters, the shape
// of Anthropic's msg_ and toolu_ ids. math/rand/v2's global generator is
// safe for concurrent use and unpredictable enough for ids that are not
// secrets.
func randomID(prefix string) string {
	b := make([]byte, len(prefix), len(prefix)+24)
	copy(b, prefix)
	for range 4 {
		x := rand.Uint64()
		for range 6 {
			b = append(b, idAlphabet[x%62])
			x /= 62
		}
	}
	return string(b)
}

// newID calls fn when set, else randomID.
func newID(fn func(string) string, prefix string) string {
	if fn != nil {
		return fn(prefix)
	}
	return randomID(prefix)
}

// messageID returns the id a client sees: an upstream msg_ id as it is,
// another provider's id behind "msg_", or a fresh one.
func messageID(fn func(string) string, id string) string {
	switch {
	case id == "":
		return newID(fn, "msg_")
	case len(id) >= 4 && id[:4] == "msg_":
		return id
	}
	return "msg_" + id
}

// sanitizeToolID makes id match Anthropic's ^[a-zA-Z0-9_-]+$ by replacing
// other bytes with '_'. Valid ids (OpenAI call_..., toolu_...) come back
// unchanged and unallocated. The same mapping is applied to tool_use and
// tool_result ids, so pairs still match.
func sanitizeToolID(id string) string {
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if !idByte(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return id
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
