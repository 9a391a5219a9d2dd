package gemini

import "crypto/rand"

// newCallID returns a fresh tool call id, for function calls that arrive
// without one (Gemini usually omits them). Ids go back to clients that key
// tool results by them across turns, so they are random, not counters.
func newCallID() string { return "call_" + rand.Text() }
