package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
)

// Two `llmgate serve` replicas on one PostgreSQL and one Redis, with
// governance.hold_ttl 1s. Replica a holds both max_parallel slots of one
// key and most of another key's budget with requests in flight, so replica
// b refuses those keys (429, 402). a is SIGKILLed mid-request: within about
// the hold TTL, b admits both keys again, and the dead replica's
// reservation no longer counts in the budget.
func TestSIGKILLReleasesHoldsOfTheDeadReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs llmgate serve")
	}
	const ttl = time.Second
	dsn := govPostgres(t)
	raddr, prefix := govRedis(t)
	bin, err := buildLlmgate()
	if err != nil {
		t.Fatal(err)
	}
	// The upstream answers at once, except prompts with "hold me", which
	// it keeps until their client (the replica) goes away.
	m := mock.New(mock.Options{})
	var inFlight sync.WaitGroup
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("hold me")) {
			inFlight.Done()
			<-r.Context().Done()
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { up.CloseClientConnections(); up.Close(); m.Close() })
	start := func() *gatewayProc {
		addr := freeAddr(t)
		cfg := fmt.Sprintf(`listen: %s
master_key: %q
storage: {driver: postgres, dsn: %q}
governance: {key_cache_ttl: 1s, hold_ttl: %s, redis: {addr: %q, prefix: %q}}
providers:
  oa: {type: openai, base_url: %q, api_key: up}
models:
  %s: {route: [oa/%s]}
`, addr, govMaster, dsn, ttl, raddr, prefix, up.URL+"/v1", govOA, govOA)
		path := filepath.Join(t.TempDir(), "llmgate.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return startProc(t, bin, path, "http://"+addr)
	}
	a, b := start(), start()
	var par, bud governance.NewKey
	govAdmin(t, a.URL, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "parallel", MaxParallel: 2}, &par)
	// A request of 1000 output tokens reserves about $0.0006 of $0.001.
	govAdmin(t, a.URL, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "budget", BudgetUSD: 0.001, BudgetPeriod: "total"}, &bud)

	send := func(base, key, prompt string) int {
		body := fmt.Sprintf(`{"model": %q, "max_tokens": 1000, "messages": [{"role": "user", "content": %q}]}`, govOA, prompt)
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0 // the replica was killed
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	inFlight.Add(3)
	for _, k := range []string{par.Secret, par.Secret, bud.Secret} {
		go send(a.URL, k, "hold me")
	}
	inFlight.Wait() // all three are at the upstream, admitted by a
	if c := send(b.URL, par.Secret, "hi"); c != 429 {
		t.Fatalf("replica b, key with max_parallel 2 and two requests in flight on a: HTTP %d, want 429", c)
	}
	if c := send(b.URL, bud.Secret, "hi"); c != 402 {
		t.Fatalf("replica b, key with $0.0006 of $0.001 reserved on a, asking $0.0006: HTTP %d, want 402", c)
	}
	// Hold longer than two TTLs: a's heartbeat keeps its holds.
	for deadline := time.Now().Add(2 * ttl); time.Now().Before(deadline); time.Sleep(ttl / 4) {
		if c := send(b.URL, par.Secret, "hi"); c != 429 {
			t.Fatalf("replica b while a is alive and holds both slots: HTTP %d, want 429", c)
		}
	}

	a.kill()
	killed := time.Now()
	healed := map[string]time.Duration{}
	for len(healed) < 2 {
		if time.Since(killed) > 10*ttl {
			t.Fatalf("after %v the dead replica's holds still count; healed so far: %v\n%s", time.Since(killed), healed, b.logs)
		}
		for name, k := range map[string]string{"max_parallel": par.Secret, "budget": bud.Secret} {
			if _, ok := healed[name]; !ok && send(b.URL, k, "hi") == 200 {
				healed[name] = time.Since(killed)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after SIGKILL of one replica (hold_ttl %v), the other admits again after: %v", ttl, healed)
	for name, d := range healed {
		if d > 2*ttl {
			t.Errorf("%s hold released %v after the kill, want within about the hold TTL %v", name, d, ttl)
		}
	}
	var info governance.KeyInfo
	govAdmin(t, b.URL, http.MethodGet, "/admin/keys/"+bud.Key.ID, nil, &info)
	if info.Budget == nil || info.Budget.ReservedUSD != 0 || info.Budget.SpentUSD <= 0 || info.Budget.SpentUSD > 0.001 {
		t.Errorf("budget after the heal: %+v, want nothing reserved and some spend within $0.001", info.Budget)
	}
}
