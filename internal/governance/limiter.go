package governance

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Rate limits (requests per minute, tokens per minute, requests in flight)
// are enforced in process with token buckets: a bucket holds up to a
// minute's allowance and refills continuously, so a key with an RPM of 60
// may send 60 requests at once and then one a second. Time is a parameter,
// so tests pass instants instead of sleeping.
//
// Tokens are charged in two steps: a request takes its estimated input
// tokens when admitted (it must fit in the bucket, or the bucket must be
// full when the estimate is larger than the whole allowance) and, when it
// ends, the bucket is charged the difference to its real input plus output
// tokens. The bucket may go negative then, which delays later requests:
// over time a key never exceeds its TPM.

// epsilon absorbs float rounding: a bucket refilled for exactly the time
// one token takes holds that token.
const epsilon = 1e-6

// bucket is a token bucket whose capacity is a per-minute limit. Its zero
// value is full.
type bucket struct {
	tokens float64
	last   time.Time
	limit  int // the limit of the last refill
	init   bool
}

// refill brings b up to now for a limit per minute. A raised limit adds
// its difference at once, so that raising a key's RPM lets it send more
// right away.
func (b *bucket) refill(now time.Time, limit int) {
	c := float64(limit)
	if !b.init {
		b.tokens, b.last, b.limit, b.init = c, now, limit, true
		return
	}
	if limit > b.limit {
		b.tokens += float64(limit - b.limit)
	}
	b.limit = limit
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * c / 60
		b.last = now
	}
	if b.tokens > c {
		b.tokens = c
	}
}

// until is how long until b holds n tokens, for a limit per minute.
func (b *bucket) until(n float64, limit int) time.Duration {
	need := n - b.tokens
	if need <= 0 || limit <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(need * 60 / float64(limit) * float64(time.Second)))
}

// remaining is the whole tokens left, never negative.
func (b *bucket) remaining() int { return max(int(math.Floor(b.tokens+epsilon)), 0) }

// rateState is the rate-limit state of one key or team. It is safe for
// concurrent use.
type rateState struct {
	mu       sync.Mutex // protects following
	req, tok bucket
	inflight int
}

// rateLimiter is what admission needs of a rate-limit store: limiter
// keeps the buckets in this process, redisLimiter shares them between
// replicas through Redis.
type rateLimiter interface {
	// take admits one request estimated at est input tokens against the
	// subject of l, or says why not (nothing is taken then). It reports
	// the subject's bucket levels after the call, for the X-RateLimit-*
	// headers. An error means the store could not be asked. The lease may
	// be spare, which the caller owns (nil: none), filled in.
	take(ctx context.Context, now time.Time, l *rateLimits, est int, spare *localLease) (rateLease, levels, *refusal, error)
	// forgetKey drops a key's state (it was revoked or deleted).
	forgetKey(id string)
}

// rateLease is what one admitted request holds of one subject.
type rateLease interface {
	// undo gives back what take took (a later check refused the request).
	undo()
	// settle ends the request: frees its slot and charges the TPM bucket
	// the difference between used and the estimate taken.
	settle(now time.Time, used int)
}

// levels are the tokens left in a subject's RPM and TPM buckets.
type levels struct{ req, tok float64 }

// limiter holds the rate states of every key and team seen, in process.
// Its zero value is ready; it is safe for concurrent use.
type limiter struct {
	keys  sync.Map // key id -> *rateState
	teams sync.Map // team name -> *rateState
}

func (l *limiter) state(r *rateLimits) *rateState {
	m, id := &l.keys, ""
	if r.team != nil {
		m, id = &l.teams, r.team.Name
	} else {
		id = r.key.ID
	}
	if v, ok := m.Load(id); ok {
		return v.(*rateState)
	}
	v, _ := m.LoadOrStore(id, &rateState{})
	return v.(*rateState)
}

func (l *limiter) take(_ context.Context, now time.Time, r *rateLimits, est int, spare *localLease) (rateLease, levels, *refusal, error) {
	ls := spare
	if ls == nil {
		ls = new(localLease)
	}
	*ls = localLease{st: l.state(r), limits: *r}
	lv, ref := ls.take(now, est)
	if ref != nil {
		return nil, lv, ref, nil
	}
	return ls, lv, nil, nil
}

func (l *limiter) forgetKey(id string) { l.keys.Delete(id) }

// rateLimits are the limits of one key, or of a team when team is set, as
// they stood when a request was admitted; 0 means none.
type rateLimits struct {
	key                   *store.Key
	team                  *store.Team
	rpm, tpm, maxParallel int
}

// who names the subject in messages: `key key_x "ci-bot"`, `team "platform"`.
func (r *rateLimits) who() string {
	if r.team != nil {
		return fmt.Sprintf("team %q", r.team.Name)
	}
	return "key " + describeKey(r.key)
}

// fix is the command that raises the limits.
func (r *rateLimits) fix() string {
	if r.team != nil {
		return "ask your gateway admin: llmgate teams update " + r.team.Name
	}
	return "ask your gateway admin: llmgate keys update " + r.key.ID
}

func (r *rateLimits) any() bool { return r.rpm > 0 || r.tpm > 0 || r.maxParallel > 0 }

// taken is what one admitted request took from one subject.
type taken struct {
	lease  rateLease
	limits rateLimits
	lv     levels     // bucket levels after the take
	local  localLease // the lease, when it is in process
}

func (t *taken) undo()                          { t.lease.undo() }
func (t *taken) settle(now time.Time, used int) { t.lease.settle(now, used) }

// localLease is a request's hold on an in-process rateState.
type localLease struct {
	st     *rateState
	limits rateLimits
	tokens float64 // tokens taken from the TPM bucket
}

// refusal says why a subject refused a request.
type refusal struct {
	reason string // rpm, tpm or parallel
	msg    string
	wait   time.Duration
}

// take admits one request estimated at est input tokens against st, or
// says why not. Nothing is taken on refusal.
func (t *localLease) take(now time.Time, est int) (levels, *refusal) {
	st := t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	ref := t.takeLocked(now, est)
	return levels{st.req.tokens, st.tok.tokens}, ref
}

// takeLocked is take with t.st.mu held.
func (t *localLease) takeLocked(now time.Time, est int) *refusal {
	st, l := t.st, &t.limits
	if l.maxParallel > 0 && st.inflight >= l.maxParallel {
		return &refusal{reason: "parallel", wait: time.Second,
			msg: l.who() + " already has " + strconv.Itoa(st.inflight) + " requests in flight, its limit (max_parallel " +
				strconv.Itoa(l.maxParallel) + "): wait for one to finish, or " + l.fix() + " --max-parallel N"}
	}
	if l.rpm > 0 {
		st.req.refill(now, l.rpm)
		if st.req.tokens < 1-epsilon {
			w := st.req.until(1, l.rpm)
			return &refusal{reason: "rpm", wait: w,
				msg: l.who() + " is over its rate limit of " + strconv.Itoa(l.rpm) + " requests per minute: retry in " +
					fmtWait(w) + ", or " + l.fix() + " --rpm N"}
		}
	}
	need := 0.0
	if l.tpm > 0 {
		st.tok.refill(now, l.tpm)
		need = math.Min(float64(est), float64(l.tpm))
		if st.tok.tokens < need-epsilon {
			w := st.tok.until(need, l.tpm)
			return &refusal{reason: "tpm", wait: w,
				msg: l.who() + " is over its rate limit of " + strconv.Itoa(l.tpm) + " tokens per minute (this request needs about " +
					strconv.Itoa(est) + "): retry in " + fmtWait(w) + ", or " + l.fix() + " --tpm N"}
		}
	}
	if l.rpm > 0 {
		st.req.tokens--
	}
	st.tok.tokens -= need
	t.tokens = need
	st.inflight++
	return nil
}

// undo gives back what take took (a later check refused the request).
func (t *localLease) undo() {
	st, l := t.st, &t.limits
	st.mu.Lock()
	defer st.mu.Unlock()
	if l.rpm > 0 {
		st.req.tokens = math.Min(st.req.tokens+1, float64(l.rpm))
	}
	if l.tpm > 0 {
		st.tok.tokens = math.Min(st.tok.tokens+t.tokens, float64(l.tpm))
	}
	st.inflight--
}

// settle ends the request: frees its slot and charges the TPM bucket for
// the real tokens used.
func (t *localLease) settle(now time.Time, used int) {
	st, l := t.st, &t.limits
	st.mu.Lock()
	defer st.mu.Unlock()
	st.inflight--
	if l.tpm > 0 {
		st.tok.refill(now, l.tpm)
		st.tok.tokens -= float64(used) - t.tokens
	}
}

// Rate-limit response headers, as OpenAI sends them.
const (
	hLimitRequests     = "X-Ratelimit-Limit-Requests"
	hLimitTokens       = "X-Ratelimit-Limit-Tokens"
	hRemainingRequests = "X-Ratelimit-Remaining-Requests"
	hRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	hResetRequests     = "X-Ratelimit-Reset-Requests"
	hResetTokens       = "X-Ratelimit-Reset-Tokens"
)

// rateHeaders describes the tightest of the subjects' limits: for requests
// and for tokens, the subject with the fewest remaining (see
// setRateHeaders); nil when none has an RPM or TPM limit.
func rateHeaders(ts []taken) http.Header {
	h := make(http.Header, 6)
	if !setRateHeaders(h, ts) {
		return nil
	}
	return h
}

// setRateHeaders sets rateHeaders' headers on h, reporting whether there
// were any. The values share one string and one backing array: two
// allocations on every governed request.
func setRateHeaders(h http.Header, ts []taken) bool {
	type snap struct {
		limit  int
		tokens float64
	}
	var req, tok *snap
	var rs, tks snap
	for i := range ts {
		t := &ts[i]
		if t.limits.rpm > 0 && (req == nil || t.lv.req < req.tokens) {
			rs = snap{t.limits.rpm, t.lv.req}
			req = &rs
		}
		if t.limits.tpm > 0 && (tok == nil || t.lv.tok < tok.tokens) {
			tks = snap{t.limits.tpm, t.lv.tok}
			tok = &tks
		}
	}
	if req == nil && tok == nil {
		return false
	}
	// Each value's end offset in buf, in the order of names.
	var (
		arr   [96]byte
		buf   = arr[:0]
		ends  [6]int
		names [6]string
		n     int
	)
	add := func(name string, end int) {
		names[n], ends[n] = name, end
		n++
	}
	if req != nil {
		b := bucket{tokens: req.tokens}
		buf = strconv.AppendInt(buf, int64(req.limit), 10)
		add(hLimitRequests, len(buf))
		buf = strconv.AppendInt(buf, int64(b.remaining()), 10)
		add(hRemainingRequests, len(buf))
		buf = appendReset(buf, b.until(float64(req.limit), req.limit))
		add(hResetRequests, len(buf))
	}
	if tok != nil {
		b := bucket{tokens: tok.tokens}
		buf = strconv.AppendInt(buf, int64(tok.limit), 10)
		add(hLimitTokens, len(buf))
		buf = strconv.AppendInt(buf, int64(b.remaining()), 10)
		add(hRemainingTokens, len(buf))
		buf = appendReset(buf, b.until(float64(tok.limit), tok.limit))
		add(hResetTokens, len(buf))
	}
	all := string(buf)
	vals := make([]string, n)
	start := 0
	for i := range n {
		vals[i] = all[start:ends[i]]
		start = ends[i]
		h[names[i]] = vals[i : i+1 : i+1]
	}
	return true
}

// set adds a canonical header without re-canonicalizing its name.
func set(h http.Header, k, v string) { h[k] = []string{v} }

// fmtReset formats a reset delay as OpenAI does ("1s", "6m0s", "20ms").
func fmtReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// appendReset appends fmtReset(d) to b without allocating: the same text
// as time.Duration's String for the roundings fmtReset makes.
func appendReset(b []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(b, "0s"...)
	}
	if d < time.Second {
		ms := d.Round(time.Millisecond) / time.Millisecond
		if ms < 1000 {
			if ms == 0 {
				return append(b, "0s"...)
			}
			b = strconv.AppendInt(b, int64(ms), 10)
			return append(b, "ms"...)
		}
		d = time.Second
	}
	tenths := int64(d.Round(100*time.Millisecond) / (100 * time.Millisecond))
	h, m, sec, frac := tenths/36000, tenths/600%60, tenths/10%60, tenths%10
	if h > 0 {
		b = strconv.AppendInt(b, h, 10)
		b = append(b, 'h')
	}
	if h > 0 || m > 0 {
		b = strconv.AppendInt(b, m, 10)
		b = append(b, 'm')
	}
	b = strconv.AppendInt(b, sec, 10)
	if frac > 0 {
		b = append(b, '.', byte('0'+frac))
	}
	return append(b, 's')
}

// fmtWait formats a wait for a message, in whole seconds (at least 1s).
func fmtWait(d time.Duration) string {
	s := max(int(math.Ceil(d.Seconds())), 1)
	return strconv.Itoa(s) + "s"
}
