package governance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
// scored by when each lease expires, so that a replica that dies with
// requests in flight stops counting against max_parallel after the lease
// TTL (DefaultRateLeaseTTL).
//
// When Redis cannot be asked, admission fails closed: a request of a key or
// team with rate limits is refused with a 503 (see Admit); requests without
// rate limits never touch Redis.

// DefaultRateLeaseTTL is how long a request in flight counts against
// max_parallel in Redis when its replica never settles it.
const DefaultRateLeaseTTL = 10 * time.Minute

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

// redisLimiter keeps rate-limit state in Redis, shared by every replica
// that uses the same server and prefix. It is safe for concurrent use.
type redisLimiter struct {
	rdb      *redis.Client
	prefix   string
	leaseTTL time.Duration
	log      *slog.Logger
	replica  string // random, so lease ids of replicas never collide
	seq      atomic.Uint64
}

// newRedisLimiter returns a limiter on rdb; leaseTTL <= 0 means
// DefaultRateLeaseTTL.
func newRedisLimiter(rdb *redis.Client, prefix string, leaseTTL time.Duration, log *slog.Logger) *redisLimiter {
	if leaseTTL <= 0 {
		leaseTTL = DefaultRateLeaseTTL
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &redisLimiter{rdb: rdb, prefix: prefix, leaseTTL: leaseTTL, log: log, replica: hex.EncodeToString(b[:])}
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

func (l *redisLimiter) take(ctx context.Context, _ time.Time, r *rateLimits, est int) (rateLease, levels, *refusal, error) {
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
	ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
	defer cancel()
	if err := undoScript.Run(ctx, t.l.rdb, t.keys, t.limits.rpm, t.limits.tpm, t.tokens, t.id).Err(); err != nil {
		t.l.warn("undo", err)
	}
}

func (t *redisLease) settle(_ time.Time, used int) {
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
