// Package testenv finds the real services integration tests run against.
// Without a service a test is skipped, or fails when CI or the service's
// LLMGATE_REQUIRE_* variable is set, so that CI can never pass by
// skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis returns the address of the Redis the tests share (127.0.0.1:6379,
// or LLMGATE_TEST_REDIS_ADDR) and a key prefix of the test's own, starting
// with name, whose keys are deleted after the test.
func Redis(t testing.TB, name string) (addr, prefix string) {
	t.Helper()
	addr = os.Getenv("LLMGATE_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		if os.Getenv("CI") != "" || os.Getenv("LLMGATE_REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis is required (CI or LLMGATE_REQUIRE_REDIS=1): %v", err)
		}
		t.Skipf("no Redis at %s (set LLMGATE_TEST_REDIS_ADDR): %v", addr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix = name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return addr, prefix
}
