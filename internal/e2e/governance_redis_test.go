package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/testenv"
)

// govRedis returns the address of the Redis the tests share (127.0.0.1:6379,
// or LLMGATE_TEST_REDIS_ADDR) and a key prefix of the test's own, whose keys
// are deleted after it. Without a Redis the test is skipped, or fails when
// CI or LLMGATE_REQUIRE_REDIS=1 is set.
func govRedis(t *testing.T) (addr, prefix string) {
	t.Helper()
	return testenv.Redis(t, "llmgate-e2e")
}

// TestGovernanceRedisSharedRPM: two gateway replicas (each with its own
// SQLite store) share one Redis; a team's RPM of M admits exactly M of N
// concurrent requests sent through both, and the X-RateLimit-Remaining
// headers count down one shared allowance.
func TestGovernanceRedisSharedRPM(t *testing.T) {
	const n, m = 30, 7
	addr, prefix := govRedis(t)
	govClearEnv(t)
	_, _, urls := govUpstreams(t, mock.Options{Latency: 10 * time.Millisecond})
	o := govGateOptions{YAML: fmt.Sprintf("governance: {redis: {addr: %q, prefix: %q}}", addr, prefix)}
	_, a := govStart(t, govConfig(t, urls, o))
	_, b := govStart(t, govConfig(t, urls, o))
	secrets := map[string]string{}
	for _, base := range []string{a, b} {
		govAdmin(t, base, http.MethodPost, "/admin/teams", governance.TeamSpec{Name: "shared", RPM: m}, nil)
		var nk governance.NewKey
		govAdmin(t, base, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "replica", Team: "shared"}, &nk)
		secrets[base] = nk.Secret
	}
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		admitted, limited int
		remaining         = map[string]int{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := a
			if i%2 == 1 {
				base = b
			}
			resp, body := govRaw(t, base, secrets[base], "openai", govOA)
			mu.Lock()
			defer mu.Unlock()
			switch resp.StatusCode {
			case 200:
				admitted++
				remaining[resp.Header.Get("X-Ratelimit-Remaining-Requests")]++
			case 429:
				limited++
			default:
				t.Errorf("HTTP %d: %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if admitted != m || limited != n-m {
		t.Errorf("%d admitted and %d limited of %d requests through two replicas under a shared RPM of %d; want exactly %d admitted",
			admitted, limited, n, m, m)
	}
	for r := range m {
		if remaining[strconv.Itoa(r)] != 1 {
			t.Errorf("X-Ratelimit-Remaining-Requests: counts seen %v, want each of 0..%d once", remaining, m-1)
			break
		}
	}
	// The next request on either replica is over the limit too.
	resp, _ := govRaw(t, b, secrets[b], "openai", govOA)
	if resp.StatusCode != 429 || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after the allowance: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestGovernanceRedisUnreachable: a gateway configured with a Redis it
// cannot reach does not start, and says why.
func TestGovernanceRedisUnreachable(t *testing.T) {
	govClearEnv(t)
	_, _, urls := govUpstreams(t, mock.Options{})
	cfg := govConfig(t, urls, govGateOptions{YAML: "governance: {redis: {addr: 127.0.0.1:1}}"})
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err == nil {
		app.Close(context.Background())
		t.Fatal("NewApp succeeded with Redis unreachable")
	}
	if want := "governance.redis: cannot reach Redis at 127.0.0.1:1"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}
