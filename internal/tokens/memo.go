package tokens

import (
	"hash/maphash"
	"sync"
)

const (
	// memoMinLen is the shortest text whose count is remembered. Below
	// it, tokenizing (a few µs for 32 bytes) costs little more than a
	// lookup, and short texts would crowd out the long ones worth keeping.
	memoMinLen = 32
	// memoEntries bounds each generation of a memo; a memo holds at most
	// twice this many counts (about 16 bytes each plus map overhead).
	memoEntries = 4096
)

// memo remembers token counts by a 64-bit hash of the text, so that the
// system prompt, tool definitions and earlier turns a conversation resends
// on every request are tokenized once. It keeps two generations: when the
// current one fills up it becomes the old one and the previous old one is
// dropped, and a hit in the old generation is copied forward. That bounds
// memory and keeps what is in use, without per-entry bookkeeping.
//
// A hash collision (odds about n/2^64) would return another text's count;
// for an estimate that feeds limits, that risk is acceptable.
//
// The zero memo is not usable; use newMemo. A memo is safe for concurrent
// use.
type memo struct {
	seed maphash.Seed
	max  int

	mu       sync.Mutex // protects following
	cur, old map[uint64]int
}

func newMemo(max int) *memo {
	return &memo{seed: maphash.MakeSeed(), max: max, cur: make(map[uint64]int)}
}

func (m *memo) keyString(s string) uint64 { return maphash.String(m.seed, s) }
func (m *memo) keyBytes(b []byte) uint64  { return maphash.Bytes(m.seed, b) }

func (m *memo) get(key uint64) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.cur[key]; ok {
		return n, true
	}
	if n, ok := m.old[key]; ok {
		m.putLocked(key, n)
		return n, true
	}
	return 0, false
}

func (m *memo) put(key uint64, n int) {
	m.mu.Lock()
	m.putLocked(key, n)
	m.mu.Unlock()
}

func (m *memo) putLocked(key uint64, n int) {
	if len(m.cur) >= m.max {
		m.old, m.cur = m.cur, make(map[uint64]int, m.max)
	}
	m.cur[key] = n
}
