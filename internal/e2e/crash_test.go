package e2e_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// buildLlmgate compiles cmd/llmgate once per test binary.
var buildLlmgate = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "llmgate-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "llmgate")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/llmgate/llmgate/cmd/llmgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// gatewayProc is an `llmgate serve` subprocess.
type gatewayProc struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
	logs *strings.Builder
}

func startProc(t *testing.T, bin, configPath, url string) *gatewayProc {
	t.Helper()
	p := &gatewayProc{URL: url, done: make(chan struct{}), logs: &strings.Builder{}}
	p.cmd = exec.Command(bin, "serve", "--config", configPath)
	p.cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var mu sync.Mutex
	w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return p.logs.Write(b) })
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("llmgate serve exited:\n%s", p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("llmgate serve did not come up:\n%s", p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *gatewayProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A gateway on SQLite SIGKILLed after at least a second of load: after a
// restart the key's spend counter equals the sum of its ledger rows, and
// the answered requests missing from the ledger are at most those of the
// request log's last flush window (reqlog.Options.FlushInterval, 100 ms)
// plus one batch in flight (BatchSize, 256 rows), the window the README
// documents.
func TestSIGKILLKeepsCountersEqualToTheLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs llmgate serve")
	}
	const (
		flushInterval = 100 * time.Millisecond // reqlog's default FlushInterval
		batchRows     = 256                    // reqlog's default BatchSize
		minLoad       = time.Second
	)
	bin, err := buildLlmgate()
	if err != nil {
		t.Fatal(err)
	}
	m := mock.New(mock.Options{MaxRecorded: -1})
	up := httptest.NewServer(m)
	t.Cleanup(func() { m.Close(); up.Close() })
	addr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "llmgate.yaml")
	cfg := fmt.Sprintf(`listen: %s
master_key: %q
storage: {data_dir: %q}
providers:
  oa: {type: openai, base_url: %q, api_key: up}
models:
  %s: {route: [oa/%s]}
`, addr, govMaster, t.TempDir(), up.URL+"/v1", govOA, govOA)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr
	p := startProc(t, bin, cfgPath, url)

	var nk governance.NewKey
	govAdmin(t, url, http.MethodPost, "/admin/keys", governance.KeySpec{Name: "crash", BudgetUSD: 1000, BudgetPeriod: "total"}, &nk)

	// Load from 16 clients; each answer's time is kept, to count the
	// answers of the last flush window before the kill.
	var (
		answered atomic.Int64
		timesMu  sync.Mutex
		times    []time.Time // when each answer was read
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"count the ledger rows, please"}],"max_tokens":50}`, govOA)
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+nk.Secret)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				_, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && rerr == nil {
					now := time.Now()
					timesMu.Lock()
					times = append(times, now)
					timesMu.Unlock()
					answered.Add(1)
				}
			}
		})
	}
	// SIGKILL once the load has answered for minLoad, 400 times at least.
	loaded := func() bool {
		timesMu.Lock()
		defer timesMu.Unlock()
		return len(times) >= 400 && time.Since(times[0]) >= minLoad
	}
	if !waitUntil(60*time.Second, loaded) {
		t.Fatalf("only %d answers in 60s:\n%s", answered.Load(), p.logs)
	}
	killAt := time.Now()
	p.kill()
	stop()
	wg.Wait()
	n := answered.Load()
	inWindow := 0
	for _, at := range times {
		if !at.Before(killAt.Add(-flushInterval)) {
			inWindow++
		}
	}
	loadFor := killAt.Sub(times[0])

	p = startProc(t, bin, cfgPath, url)
	var rep admin.UsageReport
	govAdmin(t, url, http.MethodGet, "/admin/usage?group_by=key&key="+nk.Key.ID, nil, &rep)
	var key governance.KeyInfo
	govAdmin(t, url, http.MethodGet, "/admin/keys/"+nk.Key.ID, nil, &key)
	if len(rep.Rows) != 1 || key.Budget == nil {
		t.Fatalf("after restart: usage %+v, budget %+v", rep.Rows, key.Budget)
	}
	rows, ledger := rep.Rows[0].Requests, rep.Rows[0].CostUSD
	spent := key.Budget.SpentUSD
	bound := int64(inWindow + batchRows)
	t.Logf("SIGKILL after %v of load: answered %d, ledger rows %d, lost %d; window: %d answers in the last %v + %d rows in flight = %d",
		loadFor.Round(time.Millisecond), n, rows, n-rows, inWindow, flushInterval, batchRows, bound)
	t.Logf("after restart: key counter $%.9f, ledger $%.9f in %d rows (%+.1f nano-USD), reserved $%.9f",
		spent, ledger, rows, (spent-ledger)*1e9, key.Budget.ReservedUSD)
	if loadFor < minLoad {
		t.Errorf("the kill came %v into the load, want at least %v", loadFor, minLoad)
	}
	if math.Abs(spent-ledger) > float64(rows)*1e-9 {
		t.Errorf("after SIGKILL the key's spend $%.9f differs from its ledger $%.9f", spent, ledger)
	}
	if key.Budget.ReservedUSD != 0 {
		t.Errorf("$%.9f still reserved after the restart", key.Budget.ReservedUSD)
	}
	if rows > n+16 { // a row may be in for an answer its client had not read when the process died
		t.Errorf("%d rows for %d answers", rows, n)
	}
	if lost := n - rows; lost > bound {
		t.Errorf("%d answered requests lost from the ledger, more than the documented window: %d answers in the last %v + %d rows in flight",
			lost, inWindow, flushInterval, batchRows)
	}
}
