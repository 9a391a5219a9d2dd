package e2e_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
)

// waitUntil polls cond every 10ms until it holds or d has passed, and
// says whether it held.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// healthBody is GET /health with the master key (the detailed answer).
func healthBody(base string) string {
	req, _ := http.NewRequest(http.MethodGet, base+"/health", nil)
	req.Header.Set("Authorization", "Bearer "+govMaster)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// replicaChat sends one chat request to base with key and the given
// headers, and returns the status (0 when the replica is gone), the
// headers and the body.
func replicaChat(ctx context.Context, hc *http.Client, base, key string, header map[string]string) (int, http.Header, string) {
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"three replicas, one killed"}],"max_tokens":50}`, govOA)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, ""
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, ""
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestThreeReplicasKill9: three `llmgate serve` replicas on one PostgreSQL
// and one Redis (hold_ttl 1s), model routed to a primary that always
// answers 503 and a healthy secondary.
//
//   - The primary, ejected by one replica, is skipped by the other two
//     within 1 s, and stays skipped under load.
//   - One Idempotency-Key sent to two replicas at once makes one upstream
//     call.
//   - 16 clients load all three round-robin, on a key with a large budget
//     and a key with a small one; one replica is SIGKILLed mid-load. No
//     key spends past its budget; the dead replica's holds are released
//     within 30 s (reserved back to 0) and the survivors admit again; after
//     the killed replica restarts, each key's spend counter equals the sum
//     of its ledger rows (to the nano-dollar per row), and the answers lost
//     from the ledger are all the dead replica's and at most the request
//     log's flush window (256 rows).
func TestThreeReplicasKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three llmgate serve processes")
	}
	const (
		ttl        = time.Second
		smallUSD   = 0.002 // about 60 requests of max_tokens 50
		flushRows  = 256   // the request log's documented flush window
		primaryDep = `"bad/` + govOA + `":"open"`
	)
	dsn := govPostgres(t)
	raddr, prefix := govRedis(t)
	bin, err := buildLlmgate()
	if err != nil {
		t.Fatal(err)
	}
	bad := mock.New(mock.Options{Faults: mock.Fault{Status: 503}, MaxRecorded: -1})
	// 20 ms per answer: requests hold their reservations long enough that
	// the killed replica dies with some.
	good := mock.New(mock.Options{Latency: 20 * time.Millisecond, MaxRecorded: -1})
	badUp, goodUp := httptest.NewServer(bad), httptest.NewServer(good)
	t.Cleanup(func() {
		badUp.CloseClientConnections()
		goodUp.CloseClientConnections()
		badUp.Close()
		goodUp.Close()
		bad.Close()
		good.Close()
	})
	var (
		reps  [3]*gatewayProc
		paths [3]string
	)
	for i := range reps {
		addr := freeAddr(t)
		cfg := fmt.Sprintf(`listen: %s
master_key: %q
storage: {driver: postgres, dsn: %q}
governance: {key_cache_ttl: 1s, hold_ttl: %s, redis: {addr: %q, prefix: %q}}
resilience: {breaker: {ejection_time: 60s}}
providers:
  bad: {type: openai, base_url: %q, api_key: up}
  good: {type: openai, base_url: %q, api_key: up}
models:
  %s: {route: [bad/%s, good/%s]}
`, addr, govMaster, dsn, ttl, raddr, prefix, badUp.URL+"/v1", goodUp.URL+"/v1", govOA, govOA, govOA)
		path := filepath.Join(t.TempDir(), "llmgate.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		reps[i], paths[i] = startProc(t, bin, path, "http://"+addr), path
	}
	var probe, load, small governance.NewKey
	govAdmin(t, reps[0].URL, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "probe"}, &probe)
	// The load key is in a team with a budget of its own: the team's
	// counter goes through the same in-transaction charge as the key's.
	govAdmin(t, reps[0].URL, http.MethodPost, "/admin/teams", governance.TeamSpec{Name: "ops", BudgetUSD: 1000, BudgetPeriod: "total"}, &governance.TeamInfo{})
	govAdmin(t, reps[0].URL, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "load", Team: "ops", BudgetUSD: 1000, BudgetPeriod: "total"}, &load)
	govAdmin(t, reps[0].URL, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "small", BudgetUSD: smallUSD, BudgetPeriod: "total"}, &small)
	hc := &http.Client{Timeout: 10 * time.Second}
	ctx := context.Background()

	// (d) Replica 0 alone meets the failing primary until it ejects it;
	// the other two show it ejected within 1 s, having never called it.
	if !waitUntil(20*time.Second, func() bool {
		if c, _, b := replicaChat(ctx, hc, reps[0].URL, probe.Secret, nil); c != 200 {
			t.Fatalf("replica 0 with a failing primary and a healthy secondary: HTTP %d: %s", c, b)
		}
		return strings.Contains(healthBody(reps[0].URL), primaryDep)
	}) {
		t.Fatalf("replica 0 never ejected the failing primary (%d calls): %s", bad.Count(), healthBody(reps[0].URL))
	}
	ejected := time.Now()
	badCalls := bad.Count()
	if !waitUntil(time.Second, func() bool {
		return strings.Contains(healthBody(reps[1].URL), primaryDep) && strings.Contains(healthBody(reps[2].URL), primaryDep)
	}) {
		t.Fatalf("replicas 1 and 2 do not both show the primary ejected 1s after replica 0 did:\n%s\n%s",
			healthBody(reps[1].URL), healthBody(reps[2].URL))
	}
	skipAfter := time.Since(ejected)

	// (e) One Idempotency-Key on replicas 1 and 2 at once: one upstream call.
	before := good.Count()
	var (
		wg       sync.WaitGroup
		idem     [2]string
		replayed atomic.Int32
	)
	for i := range 2 {
		wg.Go(func() {
			c, h, b := replicaChat(ctx, hc, reps[i+1].URL, probe.Secret, map[string]string{"Idempotency-Key": "kill9-order-1"})
			if c != 200 {
				t.Errorf("replica %d with an Idempotency-Key: HTTP %d: %s", i+1, c, b)
			}
			if h.Get("X-Llmgate-Idempotent-Replay") == "true" {
				replayed.Add(1)
			}
			idem[i] = b
		})
	}
	wg.Wait()
	t.Logf("one Idempotency-Key on two replicas at once: %d upstream call(s), %d replay(s)", good.Count()-before, replayed.Load())
	if n := good.Count() - before; n != 1 || replayed.Load() != 1 || idem[0] != idem[1] {
		t.Errorf("one Idempotency-Key on two replicas: %d upstream calls, %d replays, same answer %v; want 1, 1, true",
			n, replayed.Load(), idem[0] == idem[1])
	}

	// Load: 16 clients, round-robin over the live replicas; odd clients
	// spend the small budget, which runs out.
	var (
		answered     [3]atomic.Int64 // load key answers, by replica
		smallOK      atomic.Int64
		dead         atomic.Int32 // 1 + index of the killed replica, 0 before
		rr           atomic.Uint64
		unexpectedMu sync.Mutex
		unexpected   = map[int]int{} // load key statuses other than 200
	)
	// startLoad starts the 16 clients; stop lets each finish the request
	// it is waiting for (so that every answer sent is counted) and waits.
	startLoad := func() (stop func()) {
		var stopped atomic.Bool
		var clients sync.WaitGroup
		for c := range 16 {
			key := load.Secret
			if c%2 == 1 {
				key = small.Secret
			}
			clients.Go(func() {
				for !stopped.Load() {
					i := int(rr.Add(1) % 3)
					if int(dead.Load()) == i+1 {
						continue
					}
					code, _, _ := replicaChat(ctx, hc, reps[i].URL, key, nil)
					switch {
					case key == small.Secret && code == 200:
						smallOK.Add(1)
					case key == small.Secret && code == http.StatusPaymentRequired:
						return // the small budget is spent: this client stops
					case code == 200:
						answered[i].Add(1)
					case code != 0:
						unexpectedMu.Lock()
						unexpected[code]++
						unexpectedMu.Unlock()
					}
				}
			})
		}
		return func() { stopped.Store(true); clients.Wait() }
	}
	total := func() int64 { return answered[0].Load() + answered[1].Load() + answered[2].Load() }
	stop := startLoad()
	if !waitUntil(60*time.Second, func() bool { return total() >= 600 }) {
		t.Fatalf("only %d answers in 60s", total())
	}
	const victim = 2
	dead.Store(victim + 1)
	reps[victim].kill()
	killed := time.Now()
	stop()
	killedAnswered := answered[victim].Load()
	if badNow := bad.Count(); badNow-badCalls > 3 {
		t.Errorf("the ejected primary got %d more calls under load, want at most one probe per replica", badNow-badCalls)
	}

	// (b) The dead replica's holds go within 30 s; nothing else holds any.
	keyInfo := func(id string) governance.KeyInfo {
		var k governance.KeyInfo
		govAdmin(t, reps[0].URL, http.MethodGet, "/admin/keys/"+id, nil, &k)
		if k.Budget == nil {
			t.Fatalf("key %s has no budget: %+v", id, k)
		}
		return k
	}
	// The survivors' requests are over: what is still reserved is the
	// dead replica's.
	orphan := keyInfo(load.Key.ID).Budget.ReservedUSD + keyInfo(small.Key.ID).Budget.ReservedUSD
	if !waitUntil(30*time.Second, func() bool {
		return keyInfo(load.Key.ID).Budget.ReservedUSD == 0 && keyInfo(small.Key.ID).Budget.ReservedUSD == 0
	}) {
		t.Fatalf("30s after the kill still reserved: load $%.9f, small $%.9f",
			keyInfo(load.Key.ID).Budget.ReservedUSD, keyInfo(small.Key.ID).Budget.ReservedUSD)
	}
	released := time.Since(killed)
	if orphan == 0 && released < ttl/2 {
		t.Logf("the killed replica held no reservation when it died: (b) checked nothing this run")
	}
	// The survivors admit again: the same load, on the two of them.
	atHeal := answered[0].Load() + answered[1].Load()
	stop = startLoad()
	if !waitUntil(20*time.Second, func() bool { return answered[0].Load()+answered[1].Load() >= atHeal+200 }) {
		t.Errorf("the survivors answered %d requests in 20s after the heal", answered[0].Load()+answered[1].Load()-atHeal)
	}
	stop()
	if n := answered[victim].Load(); n != killedAnswered {
		t.Errorf("%d answers counted for the killed replica after it died", n-killedAnswered)
	}
	survivors := answered[0].Load() + answered[1].Load()

	// (a) and (c): the survivors stop gracefully (their request logs
	// flush everything), and the killed replica, restarted on the same
	// database, reads the figures. The killed replica's request-log window
	// is all that may be missing from the ledger, and each key's spend
	// counter equals the sum of its ledger rows: a row and its charge are
	// written in one transaction, and the spend of a row the killed
	// replica never wrote went with its holds.
	for i := range victim {
		reps[i].term(t)
	}
	reps[victim] = startProc(t, bin, paths[victim], reps[victim].URL)
	reps[0] = reps[victim] // keyInfo and usage read through reps[0]
	usage := func(id string) admin.UsageRow {
		var rep admin.UsageReport
		govAdmin(t, reps[0].URL, http.MethodGet, "/admin/usage?group_by=key&key="+id, nil, &rep)
		if len(rep.Rows) != 1 {
			t.Fatalf("usage of key %s: %+v", id, rep.Rows)
		}
		return rep.Rows[0]
	}
	var figures []string
	for _, name := range []string{"load", "small"} {
		id := map[string]string{"load": load.Key.ID, "small": small.Key.ID}[name]
		b, u := keyInfo(id).Budget, usage(id)
		// Counters are integer nano-dollars, one rounding per row; the
		// ledger sums each row's float cost.
		diff := b.SpentUSD - u.CostUSD
		figures = append(figures, fmt.Sprintf("%s: counter $%.9f, ledger $%.9f in %d rows (%+.1f nano-USD), reserved $%.9f",
			name, b.SpentUSD, u.CostUSD, u.Requests, diff*1e9, b.ReservedUSD))
		if math.Abs(diff) > float64(u.Requests)*1e-9 {
			t.Errorf("key %s after the restart: spend counter $%.9f, ledger $%.9f in %d rows; want equal (to a nano-dollar per row)",
				name, b.SpentUSD, u.CostUSD, u.Requests)
		}
		if b.ReservedUSD != 0 {
			t.Errorf("key %s after the restart: $%.9f still reserved", name, b.ReservedUSD)
		}
	}
	// The team's counter against the team's ledger rows (the load key's).
	var team governance.TeamInfo
	govAdmin(t, reps[0].URL, http.MethodGet, "/admin/teams/ops", nil, &team)
	var teamRep admin.UsageReport
	govAdmin(t, reps[0].URL, http.MethodGet, "/admin/usage?group_by=team&team=ops", nil, &teamRep)
	if team.Budget == nil || len(teamRep.Rows) != 1 {
		t.Fatalf("team ops after the restart: %+v, usage %+v", team, teamRep.Rows)
	}
	tu := teamRep.Rows[0]
	figures = append(figures, fmt.Sprintf("team ops: counter $%.9f, ledger $%.9f in %d rows (%+.1f nano-USD), reserved $%.9f",
		team.Budget.SpentUSD, tu.CostUSD, tu.Requests, (team.Budget.SpentUSD-tu.CostUSD)*1e9, team.Budget.ReservedUSD))
	if math.Abs(team.Budget.SpentUSD-tu.CostUSD) > float64(tu.Requests)*1e-9 || team.Budget.ReservedUSD != 0 {
		t.Errorf("team ops after the restart: spend counter $%.9f, ledger $%.9f in %d rows, $%.9f reserved; want equal (to a nano-dollar per row), none reserved",
			team.Budget.SpentUSD, tu.CostUSD, tu.Requests, team.Budget.ReservedUSD)
	}
	ls, ss := keyInfo(load.Key.ID).Budget, keyInfo(small.Key.ID).Budget
	if ls.SpentUSD > ls.LimitUSD || ss.SpentUSD > ss.LimitUSD {
		t.Errorf("budget overshoot: load $%.9f of $%v, small $%.9f of $%v", ls.SpentUSD, ls.LimitUSD, ss.SpentUSD, ss.LimitUSD)
	}
	if smallOK.Load() == 0 || ss.SpentUSD < smallUSD/2 {
		t.Errorf("the small budget saw %d answers, $%.9f spent: the overshoot check did not reach its limit", smallOK.Load(), ss.SpentUSD)
	}
	lu := usage(load.Key.ID)
	rows := lu.Requests
	killedRows := rows - survivors // the survivors lose nothing
	lost := killedAnswered - killedRows
	t.Logf("primary ejected by one replica, shown ejected by the other two after %v; %d primary calls before, %d more under load",
		skipAfter.Round(time.Millisecond), badCalls, bad.Count()-badCalls)
	t.Logf("load key: %d answers (%d by the killed replica), %d ledger rows: %d of the killed replica's answers lost (window %d rows)",
		killedAnswered+survivors, killedAnswered, rows, lost, flushRows)
	t.Logf("counters vs ledger after the killed replica restarted: %s", strings.Join(figures, "; "))
	t.Logf("$%.9f held by the killed replica, released %v after the kill (hold_ttl %v); small key $%.9f of $%v in %d answers; unexpected statuses %v",
		orphan, released.Round(time.Millisecond), ttl, ss.SpentUSD, ss.LimitUSD, smallOK.Load(), unexpected)
	if rows < survivors {
		t.Errorf("the ledger has %d rows, fewer than the %d answers of the survivors", rows, survivors)
	}
	if lost > flushRows {
		t.Errorf("%d of the killed replica's answers lost from the ledger, more than the flush window (%d rows)", lost, flushRows)
	}
	if killedRows > killedAnswered+16 { // a row may exist for an answer its client never read
		t.Errorf("%d ledger rows for the killed replica's %d answers", killedRows, killedAnswered)
	}
	if len(unexpected) > 0 {
		t.Errorf("load key answers other than 200: %v", unexpected)
	}
}

// term sends SIGTERM and waits up to 20 s for a graceful exit.
func (p *gatewayProc) term(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("llmgate serve did not stop 20s after SIGTERM:\n%s", p.logs)
	}
}
