package governance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/config"
)

// Shared rate limits (governance.redis): the same buckets as limiter, with
// the same semantics, kept in Redis so that every replica draws from one
// allowance. Each take, undo and settle is one Lua script, so it is atomic;
// scripts read the time from Redis (TIME), so replicas with skewed clocks
// agree. A subject's state is one hash, prefix+"rl:key:"+id or
// prefix+"rl:team:"+name, expiring once its buckets would be full again,
// and a sorted set of requests in flight (the hash's name + ":inflight")
// scored by when each lease expires. A lease is short (DefaultRateLeaseTTL)
// and renewed by one heartbeat per process (Governor.Run starts it, Close
// stops it) for every lease this replica holds, however long its request
// (a stream) lasts; settle and undo remove it. So a replica that dies with
// requests in flight stops counting against max_parallel within the TTL.
// If Redis cannot be reached for longer than the TTL, that replica's
// requests stop counting too (max_parallel then admits more, never fewer,
// than its limit); the heartbeat logs it.
//
// When Redis cannot be asked, admission fails closed: a request of a key or
// team with rate limits is refused with a 503 (see Admit); requests without
// rate limits never touch Redis.

// DefaultRateLeaseTTL is how long a request in flight counts against
// max_parallel in Redis after its replica last renewed it: a killed
// replica's slots are free again within this time. The heartbeat renews
// every TTL/3, so two renewals in a row may fail (a Redis timeout is 1s)
// before a live request stops counting.
const DefaultRateLeaseTTL = 15 * time.Second

// redisOpTimeout bounds one undo, settle or forget call, which run without
// the request's context.
const redisOpTimeout = 2 * time.Second

// luaRefill is shared by the scripts: now (ms, from Redis) and refill,
// which brings a bucket stored as tokens, last refill (ms) and limit up to
// now for a limit per minute, as bucket.refill does.
const luaRefill = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function refill(tok, last, lim, limit)
  tok, last, lim = tonumber(tok), tonumber(last), tonumber(lim)
  if tok == nil or last == nil or lim == nil then return limit, now end
  if limit > lim then tok = tok + (limit - lim) end
  if now > last then
    tok = tok + (now - last) * limit / 60000
    last = now
  end
  if tok > limit then tok = limit end
  return tok, last
end
-- full is how many ms until a bucket is full again.
local function full(tok, limit)
  if limit <= 0 or tok >= limit then return 0 end
  return math.ceil((limit - tok) * 60000 / limit)
end
local function keep(key, ms)
  redis.call('PEXPIRE', key, ms + 60000)
end
`

// takeScript: KEYS state, inflight; ARGV rpm, tpm, max_parallel, estimate,
// lease id, lease TTL ms. Returns {verdict, wait ms or taken tokens,
// request tokens left, tokens left}; verdict is ok, parallel, rpm or tpm.
var takeScript = redis.NewScript(luaRefill + `
local rpm, tpm, par = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local est, lease, ttl = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local eps = 1e-6
local s = redis.call('HMGET', KEYS[1], 'rt', 'rl', 'rn', 'tt', 'tl', 'tn')
local rt, rl, tt, tl = 0, now, 0, now
if rpm > 0 then rt, rl = refill(s[1], s[2], s[3], rpm) end
if tpm > 0 then tt, tl = refill(s[4], s[5], s[6], tpm) end
if par > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local n = redis.call('ZCARD', KEYS[2])
  if n >= par then return {'parallel', tostring(n), tostring(rt), tostring(tt)} end
end
if rpm > 0 and rt < 1 - eps then
  return {'rpm', tostring(math.ceil((1 - rt) * 60000 / rpm)), tostring(rt), tostring(tt)}
end
local need = 0
if tpm > 0 then
  need = math.min(est, tpm)
  if tt < need - eps then
    return {'tpm', tostring(math.ceil((need - tt) * 60000 / tpm)), tostring(rt), tostring(tt)}
  end
end
local ms = 0
if rpm > 0 then
  rt = rt - 1
  redis.call('HSET', KEYS[1], 'rt', tostring(rt), 'rl', tostring(rl), 'rn', tostring(rpm))
  ms = math.max(ms, full(rt, rpm))
end
if tpm > 0 then
  tt = tt - need
  redis.call('HSET', KEYS[1], 'tt', tostring(tt), 'tl', tostring(tl), 'tn', tostring(tpm))
  ms = math.max(ms, full(tt, tpm))
end
if rpm > 0 or tpm > 0 then keep(KEYS[1], ms) end
if par > 0 then
  redis.call('ZADD', KEYS[2], now + ttl, lease)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return {'ok', tostring(need), tostring(rt), tostring(tt)}
`)

// undoScript: KEYS state, inflight; ARGV rpm, tpm, taken tokens, lease id.
var undoScript = redis.NewScript(`
local rpm, tpm, taken = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if rpm > 0 then
  local rt = tonumber(redis.call('HGET', KEYS[1], 'rt'))
  if rt then redis.call('HSET', KEYS[1], 'rt', tostring(math.min(rt + 1, rpm))) end
end
if tpm > 0 then
  local tt = tonumber(redis.call('HGET', KEYS[1], 'tt'))
  if tt then redis.call('HSET', KEYS[1], 'tt', tostring(math.min(tt + taken, tpm))) end
end
redis.call('ZREM', KEYS[2], ARGV[4])
return 1
`)

// settleScript: KEYS state, inflight; ARGV tpm, taken tokens, used tokens,
// lease id.
var settleScript = redis.NewScript(luaRefill + `
local tpm, taken, used = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tpm > 0 then
  local s = redis.call('HMGET', KEYS[1], 'tt', 'tl', 'tn', 'rt', 'rn', 'rl')
  local tt, tl = refill(s[1], s[2], s[3], tpm)
  tt = tt - (used - taken)
  redis.call('HSET', KEYS[1], 'tt', tostring(tt), 'tl', tostring(tl), 'tn', tostring(tpm))
  local ms = full(tt, tpm)
  local rn = tonumber(s[5])
  if rn and rn > 0 then
    local rt = refill(s[4], s[6], s[5], rn)
    ms = math.max(ms, full(rt, rn))
  end
  keep(KEYS[1], ms)
end
redis.call('ZREM', KEYS[2], ARGV[4])
return 1
`)

// renewScript: KEYS in-flight sets; ARGV lease TTL ms, then for each key
// the number of its leases and their ids. Each lease still in its set gets
// a new expiry; one already gone (settled, or expired) is not added back.
// Returns how many leases were renewed.
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local i, renewed = 2, 0
for k = 1, #KEYS do
  local n = tonumber(ARGV[i])
  i = i + 1
  for j = 1, n do
    renewed = renewed + redis.call('ZADD', KEYS[k], 'XX', 'CH', now + ttl, ARGV[i])
    i = i + 1
  end
  if redis.call('EXISTS', KEYS[k]) == 1 then redis.call('PEXPIRE', KEYS[k], ttl) end
end
return renewed
`)

// renewBatch is how many leases one renew call carries at most.
const renewBatch = 500

// redisLimiter keeps rate-limit state in Redis, shared by every replica
// that uses the same server and prefix. It is safe for concurrent use.
type redisLimiter struct {
	rdb      *redis.Client
	prefix   string
	leaseTTL time.Duration
	log      *slog.Logger
	replica  string // random, so lease ids of replicas never collide
	seq      atomic.Uint64

	mu   sync.Mutex                     // protects held
	held map[string]map[string]struct{} // in-flight set -> lease ids this replica holds

	hbOnce, stopOnce sync.Once
	hbStop           chan struct{} // closed by stopHeartbeat
	hbDone           chan struct{} // closed when the heartbeat returned
}

// newRedisLimiter returns a limiter on rdb; leaseTTL <= 0 means
// DefaultRateLeaseTTL.
func newRedisLimiter(rdb *redis.Client, prefix string, leaseTTL time.Duration, log *slog.Logger) *redisLimiter {
	if leaseTTL <= 0 {
		leaseTTL = DefaultRateLeaseTTL
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &redisLimiter{rdb: rdb, prefix: prefix, leaseTTL: leaseTTL, log: log, replica: hex.EncodeToString(b[:]),
		held: map[string]map[string]struct{}{}, hbStop: make(chan struct{}), hbDone: make(chan struct{})}
}

// startHeartbeat starts renewing this replica's leases every leaseTTL/3,
// until stopHeartbeat. Calls after the first do nothing.
func (l *redisLimiter) startHeartbeat() {
	l.hbOnce.Do(func() {
		go func() {
			defer close(l.hbDone)
			t := time.NewTicker(l.leaseTTL / 3)
			defer t.Stop()
			for {
				select {
				case <-l.hbStop:
					return
				case <-t.C:
					l.renew()
				}
			}
		}()
	})
}

// stopHeartbeat stops the heartbeat and waits for it. The leases still
// held then expire within leaseTTL.
func (l *redisLimiter) stopHeartbeat() {
	l.stopOnce.Do(func() { close(l.hbStop) })
	started := true
	l.hbOnce.Do(func() { started = false })
	if started {
		<-l.hbDone
	}
}

func (l *redisLimiter) hold(set, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.held[set]
	if m == nil {
		m = map[string]struct{}{}
		l.held[set] = m
	}
	m[id] = struct{}{}
}

func (l *redisLimiter) release(set, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.held[set]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(l.held, set)
		}
	}
}

// renew gives every lease this replica holds a new expiry, leaseTTL from
// now, in batches of renewBatch leases.
func (l *redisLimiter) renew() {
	type batch struct {
		keys []string
		args []any
		n    int
	}
	var bs []*batch
	b := &batch{args: []any{l.leaseTTL.Milliseconds()}}
	l.mu.Lock()
	for set, ids := range l.held {
		b.keys = append(b.keys, set)
		at := len(b.args)
		b.args = append(b.args, 0)
		c := 0
		for id := range ids {
			if b.n == renewBatch {
				b.args[at] = c
				bs = append(bs, b)
				b = &batch{keys: []string{set}, args: []any{l.leaseTTL.Milliseconds(), 0}}
				at, c = 1, 0
			}
			b.args = append(b.args, id)
			b.n++
			c++
		}
		b.args[at] = c
	}
	l.mu.Unlock()
	if b.n > 0 {
		bs = append(bs, b)
	}
	for _, b := range bs {
		ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
		err := renewScript.Run(ctx, l.rdb, b.keys, b.args...).Err()
		cancel()
		if err != nil {
			l.log.Warn("governance: could not renew this replica's max_parallel leases in Redis; they stop counting if this lasts longer than the lease TTL",
				"leases", b.n, "lease_ttl", l.leaseTTL.String(), "err", strings.TrimSpace(err.Error()))
		}
	}
}

// dialRedis connects to the configured server and checks it answers.
func dialRedis(ctx context.Context, c config.Redis) (*redis.Client, error) {
	rdb := redis.NewClient(&redis.Options{Addr: c.Addr, Password: c.Password, DB: c.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("governance.redis: cannot reach Redis at %s (rate limits are shared there): %w", c.Addr, err)
	}
	return rdb, nil
}

func (l *redisLimiter) stateKey(r *rateLimits) string {
	if r.team != nil {
		return l.prefix + "rl:team:" + r.team.Name
	}
	return l.prefix + "rl:key:" + r.key.ID
}

func (l *redisLimiter) take(ctx context.Context, _ time.Time, r *rateLimits, est int, _ *localLease) (rateLease, levels, *refusal, error) {
	st := l.stateKey(r)
	keys := []string{st, st + ":inflight"}
	lease := l.replica + "-" + strconv.FormatUint(l.seq.Add(1), 36)
	res, err := takeScript.Run(ctx, l.rdb, keys, r.rpm, r.tpm, r.maxParallel, est, lease, l.leaseTTL.Milliseconds()).StringSlice()
	if err != nil {
		return nil, levels{}, nil, fmt.Errorf("rate limits in Redis: %w", err)
	}
	if len(res) != 4 {
		return nil, levels{}, nil, fmt.Errorf("rate limits in Redis: unexpected reply %q", res)
	}
	n, _ := strconv.ParseFloat(res[1], 64)
	var lv levels
	lv.req, _ = strconv.ParseFloat(res[2], 64)
	lv.tok, _ = strconv.ParseFloat(res[3], 64)
	if res[0] == "ok" {
		if r.maxParallel > 0 {
			l.hold(keys[1], lease)
		}
		return &redisLease{l: l, keys: keys, id: lease, limits: *r, tokens: n}, lv, nil, nil
	}
	ref := refusalFor(res[0], r, int(n), time.Duration(n)*time.Millisecond, est)
	return nil, lv, ref, nil
}

// refusalFor builds the refusal the in-process limiter would give: for
// parallel, n is the number in flight; for rpm and tpm, wait is the delay.
func refusalFor(reason string, l *rateLimits, n int, wait time.Duration, est int) *refusal {
	switch reason {
	case "parallel":
		return &refusal{reason: "parallel", wait: time.Second,
			msg: l.who() + " already has " + strconv.Itoa(n) + " requests in flight, its limit (max_parallel " +
				strconv.Itoa(l.maxParallel) + "): wait for one to finish, or " + l.fix() + " --max-parallel N"}
	case "rpm":
		return &refusal{reason: "rpm", wait: wait,
			msg: l.who() + " is over its rate limit of " + strconv.Itoa(l.rpm) + " requests per minute: retry in " +
				fmtWait(wait) + ", or " + l.fix() + " --rpm N"}
	default:
		return &refusal{reason: "tpm", wait: wait,
			msg: l.who() + " is over its rate limit of " + strconv.Itoa(l.tpm) + " tokens per minute (this request needs about " +
				strconv.Itoa(est) + "): retry in " + fmtWait(wait) + ", or " + l.fix() + " --tpm N"}
	}
}

func (l *redisLimiter) forgetKey(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
	defer cancel()
	st := l.prefix + "rl:key:" + id
	if err := l.rdb.Del(ctx, st, st+":inflight").Err(); err != nil {
		l.log.Warn("governance: could not drop a key's rate-limit state in Redis; it expires by itself", "key", id, "err", err)
	}
}

// redisLease is one admitted request's hold on a subject in Redis.
type redisLease struct {
	l      *redisLimiter
	keys   []string
	id     string
	limits rateLimits
	tokens float64 // taken from the TPM bucket
}

func (t *redisLease) undo() {
	t.l.release(t.keys[1], t.id)
	ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
	defer cancel()
	if err := undoScript.Run(ctx, t.l.rdb, t.keys, t.limits.rpm, t.limits.tpm, t.tokens, t.id).Err(); err != nil {
		t.l.warn("undo", err)
	}
}

func (t *redisLease) settle(_ time.Time, used int) {
	t.l.release(t.keys[1], t.id)
	ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
	defer cancel()
	if err := settleScript.Run(ctx, t.l.rdb, t.keys, t.limits.tpm, t.tokens, used, t.id).Err(); err != nil {
		t.l.warn("settle", err)
	}
}

func (l *redisLimiter) warn(op string, err error) {
	l.log.Warn("governance: rate-limit "+op+" in Redis failed; a request in flight stays counted until its lease expires",
		"lease_ttl", l.leaseTTL.String(), "err", strings.TrimSpace(err.Error()))
}
