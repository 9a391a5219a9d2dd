package governance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strconv"
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
			lease, lv, ref, err := l.take(ctx, time.Now(), lim, 0, nil)
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
	lease, lv, ref, err := a.take(ctx, time.Now(), lim, 1000, nil)
	if err != nil || ref != nil {
		t.Fatalf("first request: %v %+v", err, ref)
	}
	if lv.tok < 4999 || lv.tok > 5001 {
		t.Errorf("after an estimate of 1000 of 6000: %v tokens left", lv.tok)
	}
	lease.settle(time.Now(), 9000) // 8000 more than estimated: 3000 in debt
	_, lv, ref, err = b.take(ctx, time.Now(), lim, 100, nil)
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
// settle and undo release them.
func TestRedisLimiterParallel(t *testing.T) {
	a, b := newTestRedisLimiter(t, 0)
	ctx := context.Background()
	lim := &rateLimits{key: &store.Key{ID: "key_par"}, maxParallel: 2}
	take := func(l *redisLimiter) (rateLease, *refusal) {
		t.Helper()
		lease, _, ref, err := l.take(ctx, time.Now(), lim, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lease, ref
	}
	l1, r1 := take(a)
	_, r2 := take(b)
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
	if _, r := take(a); r == nil {
		t.Fatal("a third request while two leases are live was admitted")
	}
	if n := a.heldCount() + b.heldCount(); n != 2 {
		t.Errorf("the replicas hold %d leases, want 2 (settled and undone ones are dropped)", n)
	}
}

// heldCount is how many leases l renews.
func (l *redisLimiter) heldCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ids := range l.held {
		n += len(ids)
	}
	return n
}

// redisNow is the Redis server's clock, which lease expiries follow.
func redisNow(t *testing.T, rdb *redis.Client) time.Time {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedisLeasesHeal: a replica's leases outlive their TTL while its
// heartbeat renews them (a long stream keeps its slot), and when the
// replica dies without settling (its heartbeat stops, nothing is
// released) another replica gets the slots back within the TTL.
func TestRedisLeasesHeal(t *testing.T) {
	const ttl = 600 * time.Millisecond
	a, b := newTestRedisLimiter(t, ttl)
	ctx := context.Background()
	lim := &rateLimits{key: &store.Key{ID: "key_heal"}, maxParallel: 2}
	a.startHeartbeat()
	t.Cleanup(a.stopHeartbeat)
	for range 2 {
		if _, _, ref, err := a.take(ctx, time.Now(), lim, 0, nil); err != nil || ref != nil {
			t.Fatalf("take on replica a: %v %+v", err, ref)
		}
	}
	set := a.prefix + "rl:key:key_heal:inflight"
	first := redisNow(t, a.rdb).Add(ttl)
	// Wait until Redis's clock is past the first expiry by a whole TTL:
	// only renewals can have kept the leases.
	waitFor(t, 10*ttl, "Redis clock two TTLs on", func() bool { return redisNow(t, a.rdb).After(first.Add(ttl)) })
	if _, _, ref, err := b.take(ctx, time.Now(), lim, 0, nil); err != nil || ref == nil || ref.reason != "parallel" {
		t.Fatalf("replica b while a's heartbeat renews two leases for 2 TTLs: %v %+v, want a parallel refusal", err, ref)
	}
	if n, _ := a.rdb.ZCard(ctx, set).Result(); n != 2 {
		t.Errorf("%d leases in Redis, want 2", n)
	}
	// Replica a is killed: its heartbeat stops and it never settles.
	a.stopHeartbeat()
	killed := time.Now()
	got := 0
	waitFor(t, 3*ttl, "replica b gets both of a's slots", func() bool {
		_, _, ref, err := b.take(ctx, time.Now(), lim, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			got++
		}
		return got == 2
	})
	if el := time.Since(killed); el > ttl+300*time.Millisecond {
		t.Errorf("the dead replica's slots came back after %v, want within the lease TTL %v", el, ttl)
	}
}

// TestRedisLeaseRenewBatches: renew carries any number of leases, over
// several in-flight sets and more than one batch, and does not bring back a
// lease that was settled meanwhile.
func TestRedisLeaseRenewBatches(t *testing.T) {
	const ttl = 5 * time.Second
	a, _ := newTestRedisLimiter(t, ttl)
	ctx := context.Background()
	var leases []rateLease
	for i := range renewBatch + 20 {
		lim := &rateLimits{key: &store.Key{ID: "key_" + strconv.Itoa(i%3)}, maxParallel: 10000}
		lease, _, ref, err := a.take(ctx, time.Now(), lim, 0, nil)
		if err != nil || ref != nil {
			t.Fatalf("take %d: %v %+v", i, err, ref)
		}
		leases = append(leases, lease)
	}
	leases[0].settle(time.Now(), 0)
	before := redisNow(t, a.rdb)
	a.renew()
	total := int64(0)
	for i := range 3 {
		set := a.prefix + "rl:key:key_" + strconv.Itoa(i) + ":inflight"
		zs, err := a.rdb.ZRangeWithScores(ctx, set, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(zs))
		for _, z := range zs {
			if exp := time.UnixMilli(int64(z.Score)); exp.Before(before.Add(ttl - 50*time.Millisecond)) {
				t.Fatalf("lease %v expires at %v, not renewed to %v", z.Member, exp, before.Add(ttl))
			}
		}
		if pttl, _ := a.rdb.PTTL(ctx, set).Result(); pttl < ttl-time.Second {
			t.Errorf("set %s expires in %v, want about %v", set, pttl, ttl)
		}
	}
	if total != renewBatch+19 {
		t.Errorf("%d leases in Redis after renew, want %d (the settled one stays gone)", total, renewBatch+19)
	}
}

// TestRedisLimiterUnavailable: with Redis gone, take returns an error (the
// Governor refuses with a 503: fail closed).
func TestRedisLimiterUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	l := newRedisLimiter(rdb, "x:", 0, slog.New(slog.DiscardHandler))
	_, _, _, err := l.take(context.Background(), time.Now(), &rateLimits{key: &store.Key{ID: "k"}, rpm: 1}, 0, nil)
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

// TestGovernorLeasesHeal: a Governor's Run renews the max_parallel leases
// of its requests in flight (a request longer than the TTL keeps its
// slot), and a replica killed mid-request (no Settle, no Close) gives its
// slot back to the other replicas within the TTL.
func TestGovernorLeasesHeal(t *testing.T) {
	const ttl = 600 * time.Millisecond
	rdb, prefix := testRedis(t)
	addr := rdb.Options().Addr
	newGov := func() *Governor {
		g, err := New(context.Background(), Options{RateLeaseTTL: ttl,
			Config: config.Governance{Redis: config.Redis{Addr: addr, Prefix: prefix}}})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g1, g2 := newGov(), newGov()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, g := range []*Governor{g1, g2} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait(); g1.Close(); g2.Close() })
	k := &store.Key{ID: "key_gov_heal", MaxParallel: 1}
	admit := func(g *Governor) (gateway.Ticket, error) {
		return g.Admit(context.Background(), &gateway.Admission{Model: "m",
			Principal: &gateway.Principal{KeyID: k.ID, Ref: &keyEntry{key: k}}})
	}
	if _, err := admit(g1); err != nil {
		t.Fatalf("first request on replica 1: %v", err)
	}
	first := redisNow(t, rdb).Add(ttl)
	waitFor(t, 10*ttl, "Redis clock two TTLs on", func() bool { return redisNow(t, rdb).After(first.Add(ttl)) })
	var pe *provider.Error
	if _, err := admit(g2); !errors.As(err, &pe) || pe.Kind != provider.KindRateLimited {
		t.Fatalf("replica 2 while replica 1's request is in flight for 2 TTLs: %v, want a 429", err)
	}
	// Replica 1 is killed mid-request: its heartbeat stops, nothing settles.
	g1.limits.(*redisLimiter).stopHeartbeat()
	killed := time.Now()
	var tk gateway.Ticket
	waitFor(t, 3*ttl, "replica 2 admits after replica 1 died", func() bool {
		var err error
		tk, err = admit(g2)
		return err == nil
	})
	if el := time.Since(killed); el > ttl+300*time.Millisecond {
		t.Errorf("the dead replica's slot came back after %v, want within the lease TTL %v", el, ttl)
	}
	// A settled request frees its slot at once.
	tk.Settle(provider.Usage{}, 0, true)
	if _, err := admit(g2); err != nil {
		t.Errorf("after a settle: %v", err)
	}
}
