package gateway

import (
	"encoding/json"

	"github.com/llmgate/llmgate/internal/provider"
)

// checkAnswer is the gate a complete 2xx upstream body passes before it is
// sent on unchanged as a 200: it must be valid JSON and, when u's
// passthrough codec can tell (provider.ResponseChecker), have the shape of
// the answer to op. Anything else is a 502 in the client's format (or the
// upstream's own error, when it sent one with 200), so a client never gets
// a 200 it cannot parse. Translated answers need no gate: the codec's
// DecodeResponse rejects what is not its format.
func checkAnswer(u *Upstream, op provider.Op, body []byte) *provider.Error {
	if !json.Valid(body) {
		return garbage(u, body)
	}
	c, ok := u.Pass.(provider.ResponseChecker)
	if !ok {
		return nil
	}
	err := c.CheckResponse(op, body)
	if err == nil {
		return nil
	}
	e := provider.AsError(err)
	if e.Provider == "" {
		e.Provider = u.Name
	}
	if e.Kind == provider.KindBadGateway {
		e.Message = "provider " + u.Name + ": " + e.Message
	}
	return e
}
