package governance

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// KeyPrefix starts every virtual key, so that people and secret scanners
// recognise one and the gateway tells it from a provider key to pass
// through.
const KeyPrefix = "sk-lg-"

// secretLen is the number of random base62 characters after KeyPrefix:
// 40 characters carry about 238 bits.
const secretLen = 40

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n uniformly random base62 characters from
// crypto/rand (bytes of 248 or more are rejected to avoid modulo bias).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

// NewSecret returns a new virtual key: KeyPrefix and 40 random base62
// characters.
func NewSecret() string { return KeyPrefix + randomBase62(secretLen) }

// newKeyID returns a public key identifier, "key_" and 16 base62 characters.
func newKeyID() string { return "key_" + randomBase62(16) }

// IsVirtualKey reports whether s has the shape of a virtual key: KeyPrefix
// followed by 32 or more base62 characters. Anything else is a provider
// key (or garbage) that the gateway does not own.
func IsVirtualKey(s string) bool {
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok || len(rest) < 32 || len(rest) > 128 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(base62, rest[i]) < 0 {
			return false
		}
	}
	return true
}

// hashSecret is the stored form of a secret: the hex SHA-256 of pepper
// and the secret. A pepper (optional) kept outside the database makes a
// stolen database useless for guessing keys offline; changing it
// invalidates every key.
func hashSecret(pepper, secret string) string {
	var buf [128]byte // on the stack for any usual pepper and key
	sum := sha256.Sum256(append(append(buf[:0], pepper...), secret...))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// hint is the part of a secret safe to show later: the prefix, four
// characters from each end.
func hint(secret string) string {
	rest := strings.TrimPrefix(secret, KeyPrefix)
	if len(rest) < 8 {
		return KeyPrefix + "..."
	}
	return KeyPrefix + rest[:4] + "..." + rest[len(rest)-4:]
}
