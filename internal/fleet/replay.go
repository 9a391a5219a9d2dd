package fleet

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/gateway"
)

// lockTTL is how long a claim on an Idempotency-Key lives without being
// renewed: a replica that dies holding one frees it within this time.
const lockTTL = 30 * time.Second

// Replay keeps Idempotency-Key and stale-if-error answers in Redis, where
// every replica finds them. It implements gateway.SharedAnswers.
type Replay struct {
	rdb    *redis.Client
	prefix string
}

// NewReplay returns a Replay over rdb; prefix starts every key.
func NewReplay(rdb *redis.Client, prefix string) *Replay {
	if prefix == "" {
		prefix = "llmgate:"
	}
	return &Replay{rdb: rdb, prefix: prefix}
}

func (r *Replay) key(kind string, k [32]byte) string {
	return r.prefix + kind + ":" + hex.EncodeToString(k[:])
}

// claimScript: KEYS answer, lock; ARGV body hash, lock ttl (ms).
// Returns {1, answer} when answered, {2} when the caller now owns the key,
// {3} for a conflict (another body), {4} when another request holds it.
var claimScript = redis.NewScript(`
local a = redis.call('GET', KEYS[1])
if a then
  if string.sub(a, 1, 32) ~= ARGV[1] then return {3} end
  return {1, string.sub(a, 33)}
end
local l = redis.call('GET', KEYS[2])
if not l then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {2}
end
if l ~= ARGV[1] then return {3} end
return {4}
`)

// Claim implements gateway.SharedAnswers.
func (r *Replay) Claim(ctx context.Context, key, bodyHash [32]byte) (gateway.Claim, []byte, error) {
	v, err := claimScript.Run(ctx, r.rdb, []string{r.key("idem", key), r.key("idemlock", key)},
		string(bodyHash[:]), lockTTL.Milliseconds()).Slice()
	if err != nil {
		return 0, nil, err
	}
	if len(v) == 0 {
		return 0, nil, errors.New("fleet: empty claim reply")
	}
	code, _ := v[0].(int64)
	switch code {
	case 1:
		s, _ := v[1].(string)
		return gateway.ClaimAnswered, []byte(s), nil
	case 2:
		return gateway.ClaimOwner, nil, nil
	case 3:
		return gateway.ClaimConflict, nil, nil
	}
	return gateway.ClaimInFlight, nil, nil
}

// Renew implements gateway.SharedAnswers.
func (r *Replay) Renew(ctx context.Context, key [32]byte) error {
	return r.rdb.PExpire(ctx, r.key("idemlock", key), lockTTL).Err()
}

// Finish implements gateway.SharedAnswers.
func (r *Replay) Finish(ctx context.Context, key, bodyHash [32]byte, answer []byte, ttl time.Duration) error {
	pipe := r.rdb.TxPipeline()
	if answer != nil {
		pipe.Set(ctx, r.key("idem", key), append(bodyHash[:], answer...), ttl)
	}
	pipe.Del(ctx, r.key("idemlock", key))
	_, err := pipe.Exec(ctx)
	return err
}

// Put implements gateway.SharedAnswers.
func (r *Replay) Put(ctx context.Context, key [32]byte, answer []byte, ttl time.Duration) error {
	return r.rdb.Set(ctx, r.key("stale", key), answer, ttl).Err()
}

// Get implements gateway.SharedAnswers.
func (r *Replay) Get(ctx context.Context, key [32]byte) ([]byte, bool, error) {
	b, err := r.rdb.Get(ctx, r.key("stale", key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return b, err == nil, err
}
