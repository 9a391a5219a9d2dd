package mock

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Header values are set straight into the map with canonical keys; the
// static values are shared read-only slices.
var (
	hvJSON        = []string{"application/json"}
	hvGeminiJSON  = []string{"application/json; charset=UTF-8"}
	hvEventStream = []string{"text/event-stream; charset=utf-8"}
	hvGeminiSSE   = []string{"text/event-stream"}
	hvNoCache     = []string{"no-cache"}
	hvOAVersion   = []string{"2020-10-01"}
	hvOrgID       = []string{"00000000-0000-4000-8000-00000000mock"}
	hvZero        = []string{"0"}

	hvOAReqLimit   = []string{strconv.Itoa(oaRequestLimit)}
	hvOAReqLeft    = []string{strconv.Itoa(oaRequestLimit - 1)}
	hvOATokLimit   = []string{strconv.Itoa(oaTokenLimit)}
	hvOAReqReset   = []string{"6ms"}
	hvANReqLimit   = []string{strconv.Itoa(anRequestLimit)}
	hvANReqLeft    = []string{strconv.Itoa(anRequestLimit - 1)}
	hvANTokLimit   = []string{strconv.Itoa(anTokenLimit)}
	hvANOutLimit   = []string{strconv.Itoa(anOutputLimit)}
	hvANOutLeft    = []string{strconv.Itoa(anOutputLimit)}
	hvANInputLimit = hvANTokLimit
)

// The rate limits the mock advertises. It never enforces them: inject a 429
// fault to test limiting.
const (
	oaRequestLimit = 10000
	oaTokenLimit   = 2000000
	anRequestLimit = 4000
	anTokenLimit   = 2000000
	anOutputLimit  = 400000
)

// requestID is the mock's deterministic request id for ordinal n, padded so
// that ids sort by ordinal.
func requestID(n int) string {
	s := strconv.Itoa(n)
	if len(s) < 12 {
		s = "000000000000"[:12-len(s)] + s
	}
	return "req_mock" + s
}

// cachedReset formats "now + 1s" as RFC 3339 once per second.
type cachedReset struct{ p atomic.Pointer[resetStamp] }

type resetStamp struct {
	sec int64
	v   []string
}

func (c *cachedReset) get(now time.Time) []string {
	sec := now.Unix()
	if s := c.p.Load(); s != nil && s.sec == sec {
		return s.v
	}
	s := &resetStamp{sec: sec, v: []string{time.Unix(sec+1, 0).UTC().Format(time.RFC3339)}}
	c.p.Store(s)
	return s.v
}

// setHeaders sets the format's usual response headers (request id, rate
// limits); limited means the request was refused for rate.
func (x *exchange) setHeaders(limited bool) {
	h := x.w.Header()
	switch x.ep.format {
	case fmtOpenAI:
		h["X-Request-Id"] = []string{x.reqID}
		h["Openai-Version"] = hvOAVersion
		h["Openai-Processing-Ms"] = []string{strconv.FormatInt(x.m.clock.Now().Sub(x.start).Milliseconds(), 10)}
		h["X-Ratelimit-Limit-Requests"] = hvOAReqLimit
		h["X-Ratelimit-Limit-Tokens"] = hvOATokLimit
		h["X-Ratelimit-Reset-Requests"] = hvOAReqReset
		if limited {
			h["X-Ratelimit-Remaining-Requests"] = hvZero
			h["X-Ratelimit-Remaining-Tokens"] = hvZero
			h["X-Ratelimit-Reset-Tokens"] = []string{"1s"}
			return
		}
		h["X-Ratelimit-Remaining-Requests"] = hvOAReqLeft
		h["X-Ratelimit-Remaining-Tokens"] = []string{strconv.Itoa(oaTokenLimit - x.inTok)}
		// The token bucket refills oaTokenLimit per minute.
		reset := time.Duration(x.inTok) * time.Minute / oaTokenLimit
		h["X-Ratelimit-Reset-Tokens"] = []string{reset.Round(time.Millisecond).String()}
	case fmtAnthropic:
		h["Request-Id"] = []string{x.reqID}
		h["Anthropic-Organization-Id"] = hvOrgID
		reset := x.m.reset.get(x.m.clock.Now())
		h["Anthropic-Ratelimit-Requests-Limit"] = hvANReqLimit
		h["Anthropic-Ratelimit-Requests-Reset"] = reset
		h["Anthropic-Ratelimit-Tokens-Limit"] = hvANTokLimit
		h["Anthropic-Ratelimit-Tokens-Reset"] = reset
		h["Anthropic-Ratelimit-Input-Tokens-Limit"] = hvANInputLimit
		h["Anthropic-Ratelimit-Input-Tokens-Reset"] = reset
		h["Anthropic-Ratelimit-Output-Tokens-Limit"] = hvANOutLimit
		h["Anthropic-Ratelimit-Output-Tokens-Reset"] = reset
		if limited {
			h["Anthropic-Ratelimit-Requests-Remaining"] = hvZero
			h["Anthropic-Ratelimit-Tokens-Remaining"] = hvZero
			h["Anthropic-Ratelimit-Input-Tokens-Remaining"] = hvZero
			h["Anthropic-Ratelimit-Output-Tokens-Remaining"] = hvZero
			return
		}
		left := []string{strconv.Itoa(anTokenLimit - x.inTok)}
		h["Anthropic-Ratelimit-Requests-Remaining"] = hvANReqLeft
		h["Anthropic-Ratelimit-Tokens-Remaining"] = left
		h["Anthropic-Ratelimit-Input-Tokens-Remaining"] = left
		h["Anthropic-Ratelimit-Output-Tokens-Remaining"] = hvANOutLeft
	}
}

func (x *exchange) setContentType(stream bool) {
	h := x.w.Header()
	switch {
	case stream && x.ep.format == fmtGemini:
		h["Content-Type"] = hvGeminiSSE
	case stream:
		h["Content-Type"] = hvEventStream
		h["Cache-Control"] = hvNoCache
	case x.ep.format == fmtGemini:
		h["Content-Type"] = hvGeminiJSON
	default:
		h["Content-Type"] = hvJSON
	}
}

// writeJSON answers with a complete JSON body, applying the malformed and
// cut_after faults to a 200.
func (x *exchange) writeJSON(status int, body []byte) {
	if x.clientGone() {
		return // nobody to answer
	}
	x.setHeaders(status == http.StatusTooManyRequests)
	x.setContentType(false)
	if status == http.StatusOK && x.failing {
		switch {
		case x.fault.Malformed:
			body = body[:len(body)/2] // an unclosed object: never valid JSON
		case x.fault.CutAfter > 0:
			x.w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
			x.w.WriteHeader(status)
			_, _ = x.w.Write(body[:min(x.fault.CutAfter, len(body)-1)])
			_ = http.NewResponseController(x.w).Flush()
			x.abort()
		}
	}
	x.w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
}
