package jsonscan

import "unsafe"

// Strings unquotes short strings into shared blocks: a stream decoder turns
// a text fragment of a few bytes into a string per event, and a separate
// allocation each was most of what it allocated per event. Bytes handed out
// are never written again, so each string stays valid, and keeps its block
// alive, for as long as it is kept. The zero value is ready to use; it is not
// safe for concurrent use.
type Strings struct {
	b []byte // the current block: handed out up to len, free after
}

const (
	stringsFirst = 64               // bytes of the first block; each next one doubles
	stringsBlock = 1024             // up to this
	stringsMax   = stringsBlock / 8 // longer strings get their own allocation
)

// Unquote is the package's Unquote, with plain short strings copied into
// the current block.
func (s *Strings) Unquote(raw []byte) string {
	if len(raw) == 0 || len(raw) > stringsMax || !Plain(raw) {
		return Unquote(raw)
	}
	if cap(s.b)-len(s.b) < len(raw) {
		n := min(max(2*cap(s.b), stringsFirst), stringsBlock)
		s.b = make([]byte, 0, max(n, len(raw)))
	}
	n := len(s.b)
	s.b = append(s.b, raw...)
	return unsafe.String(&s.b[n], len(raw))
}
