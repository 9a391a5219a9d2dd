package governance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// testRedis connects to the Redis the tests share (127.0.0.1:6379, or
// LLMGATE_TEST_REDIS_ADDR) and returns a prefix of keys of its own, deleted
// after the test. Without a Redis the test is skipped, or fails when CI or
// LLMGATE_REQUIRE_REDIS=1 is set.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("LLMGATE_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb, err := dialRedis(context.Background(), config.Redis{Addr: addr})
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("LLMGATE_REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis is required (CI or LLMGATE_REQUIRE_REDIS=1): %v", err)
		}
		t.Skipf("no Redis at %s (set LLMGATE_TEST_REDIS_ADDR): %v", addr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "llmgate-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

func newTestRedisLimiter(t *testing.T, ttl time.Duration) (*redisLimiter, *redisLimiter) {
	rdb, prefix := testRedis(t)
	return newRedisLimiter(rdb, prefix, ttl, slog.New(slog.DiscardHandler)),
		newRedisLimiter(rdb, prefix, ttl, slog.New(slog.DiscardHandler))
}

// TestRedisLimiterRPMShared: two replicas' limiters draw from one RPM
// bucket, and each reports the shared remaining count.
func TestRedisLimiterRPMShared(t *testing.T) {
	a, b := newTestRedisLimiter(t, 0)
	ctx := context.Background()
	lim := &rateLimits{key: &store.Key{ID: "key_shared"}, rpm: 10}
	const n = 40
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		seen     = map[int]bool{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			lease, lv, ref, err := l.take(ctx, time.Now(), lim, 0)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ref == nil {
				admitted++
				seen[(&bucket{tokens: lv.req}).remaining()] = true
				lease.settle(time.Now(), 0)
			} else if ref.reason != "rpm" || ref.wait <= 0 || ref.wait > 7*time.Second {
				t.Errorf("refusal %+v, want rpm with a wait of about 6s", ref)
			}
		}()
	}
	wg.Wait()
	if admitted != 10 {
		t.Errorf("%d of %d admitted under a shared RPM of 10", admitted, n)
	}
	// Remaining counts 9..0 each seen once: the replicas share one count.
	for r := range 10 {
		if !seen[r] {
			t.Errorf("no admitted request saw %d remaining; saw %v", r, seen)
		}
	}
	h := rateHeaders([]taken{{limits: *lim, lv: levels{req: 0.5}}})
	if h.Get(hRemainingRequests) != "0" || h.Get(hLimitRequests) != "10" || h.Get(hResetRequests) != "57s" {
		t.Errorf("headers %v", h)
	}
}

// TestRedisLimiterTPMDebt: a request that used more tokens than estimated
// leaves the bucket in debt at settle, which delays the next request.
func TestRedisLimiterTPMDebt(t *testing.T) {
	a, b := newTestRedisLimiter(t, 0)
	ctx := context.Background()
	lim := &rateLimits{team: &store.Team{Name: "platform"}, tpm: 6000}
	lease, lv, ref, err := a.take(ctx, time.Now(), lim, 1000)
	if err != nil || ref != nil {
		t.Fatalf("first request: %v %+v", err, ref)
	}
	if lv.tok < 4999 || lv.tok > 5001 {
		t.Errorf("after an estimate of 1000 of 6000: %v tokens left", lv.tok)
	}
	lease.settle(time.Now(), 9000) // 8000 more than estimated: 3000 in debt
	_, lv, ref, err = b.take(ctx, time.Now(), lim, 100)
	if err != nil {
		t.Fatal(err)
	}
	if ref == nil || ref.reason != "tpm" {
		t.Fatalf("after the debt: %+v (levels %+v), want a tpm refusal", ref, lv)
	}
	// 3100 tokens at 100 a second: about 31s.
	if ref.wait < 30*time.Second || ref.wait > 32*time.Second {
		t.Errorf("wait %v, want about 31s", ref.wait)
	}
	if lv.tok > -2990 || lv.tok < -3010 {
		t.Errorf("levels %+v, want about -3000 tokens", lv)
	}
}

// TestRedisLimiterParallel: max_parallel counts leases across replicas;
// settle and undo release them, and a lease never settled (its replica
// died) stops counting after the lease TTL.
func TestRedisLimiterParallel(t *testing.T) {
	const ttl = 300 * time.Millisecond
	a, b := newTestRedisLimiter(t, ttl)
	ctx := context.Background()
	lim := &rateLimits{key: &store.Key{ID: "key_par"}, maxParallel: 2}
	take := func(l *redisLimiter) (rateLease, *refusal) {
		t.Helper()
		lease, _, ref, err := l.take(ctx, time.Now(), lim, 0)
		if err != nil {
			t.Fatal(err)
		}
		return lease, ref
	}
	l1, r1 := take(a)
	l2, r2 := take(b)
	if r1 != nil || r2 != nil {
		t.Fatalf("two within max_parallel 2: %+v %+v", r1, r2)
	}
	if _, r := take(a); r == nil || r.reason != "parallel" {
		t.Fatalf("third in flight: %+v, want a parallel refusal", r)
	}
	l1.settle(time.Now(), 0)
	l3, r := take(a)
	if r != nil {
		t.Fatalf("after a settle: %+v", r)
	}
	l3.undo()
	if _, r := take(b); r != nil {
		t.Fatalf("after an undo: %+v", r)
	}
	// l2 and the last lease are never settled: they heal after the TTL.
	_ = l2
	if _, r := take(a); r == nil {
		t.Fatal("a third request while two leases are live was admitted")
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if _, r := take(a); r != nil {
		t.Fatalf("after the lease TTL: %+v", r)
	}
}

// TestRedisLimiterUnavailable: with Redis gone, take returns an error (the
// Governor refuses with a 503: fail closed).
func TestRedisLimiterUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	l := newRedisLimiter(rdb, "x:", 0, slog.New(slog.DiscardHandler))
	_, _, _, err := l.take(context.Background(), time.Now(), &rateLimits{key: &store.Key{ID: "k"}, rpm: 1}, 0)
	if err == nil {
		t.Fatal("take succeeded without Redis")
	}
}

// TestAdmitRedisDown: a key with rate limits is refused with a 503 when
// Redis cannot be asked (fail closed); a key without any is not affected.
func TestAdmitRedisDown(t *testing.T) {
	g, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	g.limits = newRedisLimiter(rdb, "x:", 0, slog.New(slog.DiscardHandler))
	admit := func(k *store.Key) error {
		_, err := g.Admit(context.Background(), &gateway.Admission{Model: "m",
			Principal: &gateway.Principal{KeyID: k.ID, Ref: &keyEntry{key: k}}})
		return err
	}
	err = admit(&store.Key{ID: "key_limited", RPM: 5})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindUnavailable || !strings.Contains(pe.Message, "rate limits") {
		t.Errorf("limited key with Redis down: %v, want a 503 that names the rate limits", err)
	}
	if err := admit(&store.Key{ID: "key_free"}); err != nil {
		t.Errorf("key without limits with Redis down: %v", err)
	}
}

// TestNewRedisUnreachable: New fails with an error naming the address.
func TestNewRedisUnreachable(t *testing.T) {
	_, err := New(context.Background(), Options{Config: config.Governance{Redis: config.Redis{Addr: "127.0.0.1:1"}}})
	if err == nil || !strings.Contains(err.Error(), "governance.redis") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("New with Redis down: %v", err)
	}
}
