package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// serve runs a call through the pipeline and writes its error, if any.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	g := s.gw()
	if e := g.Handle(w, r, c); e != nil {
		writeError(w, g.Client(c.Format), c.RequestID, e)
	}
}

// writeError answers a problem found before the pipeline ran (bad path,
// body or key) in the client's format, and records it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, f provider.Format, id string, e *provider.Error) {
	cc := s.gw().Client(f)
	if s.o.Recorder != nil {
		s.o.Recorder.Record(store.Record{ID: id, Time: time.Now().UTC(), ClientFormat: string(f), Op: r.URL.Path,
			Status: cc.StatusFor(e), ErrorKind: string(e.Kind), ErrorMessage: e.Message})
	}
	writeError(w, cc, id, e)
}

// writeError is llmgate's one error writer: every error answer, local or
// from the pipeline, goes out through it, in the client's own error format
// and status (the client codec's StatusFor), with
//   - Retry-After (seconds) and Retry-After-Ms when the wait is known: the
//     upstream's for a rate limit, the time until a route takes traffic
//     again when every route is ejected, a local limiter's reset;
//   - X-Should-Retry: false when retrying cannot help (the kind is not
//     transient) or the gateway already retried (the error came from an
//     upstream), so SDKs do not multiply the attempts. A transient local
//     refusal (a virtual key's rate limit) leaves the SDK its own retry.
func writeError(w http.ResponseWriter, cc provider.ClientCodec, id string, e *provider.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", id)
	h.Set("Request-Id", id)
	for k, v := range e.Header {
		h[k] = v
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if !e.Kind.Retryable() || e.Provider != "" {
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(cc.StatusFor(e))
	_, _ = w.Write(cc.EncodeError(e, id))
}
